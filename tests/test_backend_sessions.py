"""Backend sessions: `session.id` onto backend spans the ways the README shows, with real instrumentation.

    client ──x-session-id / baggage──► Flask app (opentelemetry-instrument) ──OTLP──► mcp-sessions collect

Two ways, each tested for real: the app records the request headers on its server span
(`OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST`, which the Python instrumentations
write as `http.request.header.x_session_id`), or the baggage span processor
(`opentelemetry-processor-baggage`) copies the `session.id` baggage entry onto every span. A
request that carries neither stays unsessioned, and the answers say how to find it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from mcp import Client
from otelrun import ROOT, clean_env, running_collect, running_flask

from mcp_sessions import semconv
from mcp_sessions.config import SESSION_HEADERS, name_list
from mcp_sessions.model import Span, TraceFilter
from mcp_sessions.redact_rules import is_sensitive_key
from mcp_sessions.server import create_server
from mcp_sessions.store import SqliteStore

NEEDS = ("flask", "sqlalchemy", "opentelemetry.instrumentation.flask", "opentelemetry.processor.baggage")


def span(**attributes: object) -> Span:
    return Span("1" * 32, "2" * 16, None, "GET /x", "server", 1, 2, attributes=attributes)


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"session.id": "own", "http.request.header.x-session-id": ["header"]}, "own"),
        ({"http.request.header.x-session-id": ["semconv-spelling"]}, "semconv-spelling"),
        ({"http.request.header.x_session_id": ["python-spelling"]}, "python-spelling"),
        ({"http.request.header.x-session-id": '["zipkin-json-text"]'}, "zipkin-json-text"),
        ({"http.request.header.x-session-id": "plain"}, "plain"),
        ({"http.request.header.baggage": ["user.id=u1, session.id=from%20baggage;p=1"]}, "from baggage"),
        (
            {"http.request.header.baggage": ["session.id=b"], "http.request.header.x-session-id": ["h"]},
            "b",
        ),
        ({"http.request.header.x-session-id": ["", "  "]}, None),
        ({"http.request.header.x-session-id": ["[REDACTED]"]}, None),
        ({"http.request.header.x-other": ["nope"]}, None),
    ],
)
def test_the_session_key_is_read_from_recorded_headers_in_order_of_trust(attributes, expected):
    assert semconv.promote(span(**attributes)).session_id == expected
    assert semconv.session_key(attributes, {}) == expected


def test_the_resource_key_comes_after_the_span_s_own_headers():
    resource_only = Span("1" * 32, "2" * 16, None, "n", "server", 1, 2, resource={"session.id": "res"})
    assert semconv.promote(resource_only).session_id == "res"
    both = span(**{"http.request.header.x-session-id": ["hdr"]})
    both = Span(**{**{f: getattr(both, f) for f in Span.__slots__}, "resource": {"session.id": "r"}})
    assert semconv.promote(both).session_id == "hdr"


def test_the_header_list_is_configurable_and_session_headers_are_join_keys_not_masked():
    assert SESSION_HEADERS == ("x-session-id",)
    assert name_list(" X-Tenant-Session, x-session-id ,,", ("d",), lower=True) == ("x-tenant-session", "x-session-id")
    assert name_list("", ("d",), lower=True) == ("d",)
    assert is_sensitive_key("http.request.header.x-session-id") is None
    assert is_sensitive_key("http.request.header.x_session_id") is None
    assert is_sensitive_key("http.response.header.x-session-id") == "sensitive_header"
    assert is_sensitive_key("http.request.header.x-sid") == "sensitive_header"
    code = (
        "from mcp_sessions import semconv\n"
        "from mcp_sessions.redact_rules import is_sensitive_key\n"
        "attrs = {'http.request.header.x_tenant_session': ['t-1'], 'http.request.header.x-session-id': ['no']}\n"
        "print(semconv.session_key(attrs, {}), is_sensitive_key('http.request.header.x-tenant-session'))\n"
    )
    env = clean_env(MCP_SESSIONS_SESSION_HEADERS="X-Tenant-Session", MCP_SESSIONS_SESSION_BAGGAGE_KEYS="tenant.sid")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["t-1", "None"]
    code = "from mcp_sessions import semconv\nprint(semconv.session_key({'http.request.header.baggage': "
    code += "['session.id=a,tenant.sid=b']}, {}))\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "b"


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Traces of real requests to the Flask app under opentelemetry-instrument, received by `collect`."""
    for module in NEEDS:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"needs {module}: pip install -e '.[test]'")
    work = tmp_path_factory.mktemp("backend-sessions")
    db = work / "sessions.db"
    with running_collect(db, work, MCP_SESSIONS_SESSION_HEADERS="x-session-id,x-tenant-session") as collect:
        endpoint = f"{collect}/v1/traces"
        capture = {"OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": "x-session-id,x-tenant-session,baggage"}
        with running_flask("good", work / "headers", endpoint, **capture) as app:
            for headers in (
                {"x-session-id": "s-header"},
                {"baggage": "session.id=s-baggage"},
                {"x-tenant-session": "s-tenant"},
                {},
            ):
                httpx.get(f"{app}/api/orders/3", headers=headers, timeout=10).raise_for_status()
        with running_flask("good", work / "processor", endpoint, "--baggage-processor") as app:
            httpx.get(f"{app}/api/orders", headers={"baggage": "session.id=s-processor"}, timeout=10)
            httpx.get(f"{app}/api/orders", headers={"x-session-id": "not-captured"}, timeout=10)
    return db


def test_each_way_puts_the_trace_in_its_session_and_nothing_else_links(collected: Path):
    with SqliteStore(collected) as store:
        for session_id in ("s-header", "s-baggage", "s-tenant", "s-processor"):
            session = store.session(session_id)
            assert session is not None and session.trace_count == 1, session_id
            traces = store.traces(TraceFilter(session_id=session_id), sort="oldest", limit=5, cursor=None).rows
            spans = store.trace_spans(traces[0].trace_id)
            assert any(s.attributes.get("db.statement") for s in spans), "the SQLAlchemy spans came along"
        processor = store.trace_spans(
            store.traces(TraceFilter(session_id="s-processor"), sort="oldest", limit=1, cursor=None).rows[0].trace_id
        )
        assert all(s.attributes.get("session.id") == "s-processor" for s in processor), "on every span"
        header = store.traces(TraceFilter(session_id="s-header"), sort="oldest", limit=1, cursor=None).rows[0]
        root = next(s for s in store.trace_spans(header.trace_id) if s.kind == "server")
        assert root.attributes["http.request.header.x_session_id"] == ["s-header"]  # the Python spelling, kept
        assert store.session("not-captured") is None
        unsessioned = store.traces(TraceFilter(unsessioned=True), sort="oldest", limit=500, cursor=None).rows
        requests = [t for t in unsessioned if t.root_kind == "server"]
        assert len(requests) == 2  # no header at all; a header the app did not record
        assert len(unsessioned) == store.unsessioned_trace_count()  # the rest: the schema set-up's queries


@pytest.mark.anyio
async def test_what_is_shown_when_nothing_links(collected: Path):
    with SqliteStore(collected) as store:
        count = store.unsessioned_trace_count()
    async with Client(create_server(collected)) as client:
        sessions = await client.call_tool("list_sessions", {})
        text = sessions.content[0].text
        assert f"**Unsessioned traces**: {count} traces carry no session key" in text
        assert "list_traces(unsessioned=True)" in text
        traces = await client.call_tool("list_traces", {"unsessioned": True, "query": "/api/orders"})
        assert not traces.is_error, traces.content[0].text
        assert all(t["session_id"] is None for t in traces.structured_content["traces"])
        assert json.dumps(traces.structured_content).count("GET /api/orders") == 2


def test_the_readme_shows_the_python_setup_these_tests_run():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Backend sessions", 1)[1].split("\n### ", 1)[0]
    app = (ROOT / "tests" / "flask_orders.py").read_text()
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    for line in filter(None, (line.strip() for line in snippet.splitlines())):
        assert line in app, line  # the README's snippet is the code the app under test runs
    assert "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST=x-session-id,baggage" in section
    assert "opentelemetry-processor-baggage" in section and "@opentelemetry/baggage-span-processor" in section
    assert "list_traces(unsessioned=True)" in section and "Unsessioned traces" in section
