"""Jaeger and Tempo behind the store seam: the tools answer over a fake source as over the same data ingested.

The fakes (tests/remote_fakes.py) answer in the documented shapes, from the shop fixtures and the
public Jaeger samples; most tests reach them through httpx.MockTransport, one over a real socket.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.ingest import ingest_paths
from mcp_sessions.model import TraceFilter
from mcp_sessions.server import create_server
from mcp_sessions.store import Store
from mcp_sessions.store.open import open_store
from mcp_sessions.store.remote import RemoteStore, parse_dsn
from tests.remote_fakes import FakeSource, Traces, serve_on_socket

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "fixtures" / "recordings" / "shop" / "otlp"
SERVER_ERROR = SHOP / "server-error.jsonl"
SECRETS = SHOP / "secrets.jsonl"
SERVER_ERROR_SESSION = "sess_218ccee84f7164d7"
SECRETS_SESSION = "sess_6ccdb0325d5e4631"
PLANTED = "pat_PLANTED_erin_7Hq2Lx9Vb4Kd"
JAEGER_SAMPLE = ROOT.parent / "shared" / "samples" / "jaeger" / "jaeger-query-otlp2jaeger-out.json"
NOTE_KEY = "mcp-sessions/source"


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content)


def local_db(tmp_path: Path, *files: Path) -> Path:
    """The same files ingested locally, their spans only (a trace source holds no OTLP log records)."""
    path = tmp_path / "local.db"
    inputs = []
    for n, f in enumerate(files):
        if f.suffix == ".jsonl":
            lines = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
            spans_only = [json.dumps({"resourceSpans": d["resourceSpans"]}) for d in lines if d.get("resourceSpans")]
            f = tmp_path / f"spans-{n}-{f.name}"
            f.write_text("\n".join(spans_only) + "\n")
        inputs.append(str(f))
    with Store(path) as s:
        results = list(ingest_paths(s, inputs))
    assert all(r.status == "stored" for r in results), [r.error for r in results]
    return path


def remote(tmp_path: Path, fake: FakeSource, dsn_tail: str = "") -> RemoteStore:
    scheme = "jaeger" if fake.kind.startswith("jaeger") else "tempo"
    api = "api=v1&" if fake.kind == "jaeger1" else ""
    # The fixtures were recorded on fixed dates: a session search looks back far enough to reach them.
    config = parse_dsn(f"{scheme}+http://source.test:1?{api}lookback=3650d&cache={tmp_path / 'cache.db'}{dsn_tail}")
    return RemoteStore(config, transport=httpx.MockTransport(fake.handle))


def remote_server(store: RemoteStore):
    return create_server(Path("/nonexistent"), store_factory=lambda: store)


def same_answer(result: Any) -> dict[str, Any]:
    """The structured answer, without what names where the data came from (a file's format, or the source)."""
    data = json.loads(json.dumps(result.structured_content))
    for session in [data.get("session"), *data.get("sessions", [])]:
        if isinstance(session, dict):
            session.pop("sources", None)
    return data


async def both(local: Path, store: RemoteStore, tool: str, args: dict[str, Any]) -> tuple[Any, Any]:
    async with Client(create_server(local)) as client:
        here = await client.call_tool(tool, args)
    async with Client(remote_server(store)) as client:
        there = await client.call_tool(tool, args)
    return here, there


def a_trace_with_errors(traces: Traces) -> str:
    return next(
        t
        for t, spans in traces.spans.items()
        if any(s.get("status", {}).get("code") in (2, "STATUS_CODE_ERROR") for _, _, s in spans)
    )


@pytest.mark.parametrize("kind", ["jaeger", "tempo"])
async def test_get_trace_answers_as_over_the_same_data_ingested(tmp_path: Path, kind: str):
    traces = Traces([SERVER_ERROR])
    fake = FakeSource(kind, traces)
    trace_id = a_trace_with_errors(traces)
    here, there = await both(
        local_db(tmp_path, SERVER_ERROR), remote(tmp_path, fake), "get_trace", {"trace_id": trace_id}
    )
    assert not here.is_error and not there.is_error, text(there)
    assert there.structured_content == here.structured_content
    assert text(there).startswith(text(here))  # the same answer, then the source's line
    assert "**Source**: " in text(there) and NOTE_KEY in (there.meta or {})
    assert here.structured_content["trace"]["error_count"] > 0


@pytest.mark.parametrize("kind", ["jaeger", "tempo"])
async def test_a_session_is_found_by_its_attribute_and_answers_as_ingested(tmp_path: Path, kind: str):
    fake = FakeSource(kind, Traces([SERVER_ERROR]))
    store = remote(tmp_path, fake)
    local = local_db(tmp_path, SERVER_ERROR)
    for tool in ("get_session", "find_slow_spans", "find_errors"):
        here, there = await both(local, store, tool, {"session_id": SERVER_ERROR_SESSION})
        assert not there.is_error, text(there)
        assert same_answer(there) == same_answer(here), tool
        if tool == "get_session":
            assert there.structured_content["session"]["sources"] == [kind]
    if kind == "jaeger":
        search = next(r for r in fake.requests if r.url.path == "/api/v3/traces")
        assert json.loads(search.url.params["query.attributes"]) == {"session.id": SERVER_ERROR_SESSION}
    else:
        search = next(r for r in fake.requests if r.url.path == "/api/search")
        assert f'.session.id = "{SERVER_ERROR_SESSION}"' in search.url.params["q"]


@pytest.mark.parametrize("kind", ["jaeger", "tempo"])
async def test_the_second_question_is_answered_from_the_cache(tmp_path: Path, kind: str):
    traces = Traces([SERVER_ERROR])
    fake = FakeSource(kind, traces)
    store = remote(tmp_path, fake, "&ttl=1h")
    trace_id = a_trace_with_errors(traces)
    async with Client(remote_server(store)) as client:
        await client.call_tool("get_trace", {"trace_id": trace_id})
        sent = len(fake.requests)
        again = await client.call_tool("get_trace", {"trace_id": trace_id})
        assert not again.is_error and len(fake.requests) == sent
        await client.call_tool("get_session", {"session_id": SERVER_ERROR_SESSION})
        sent = len(fake.requests)
        for tool in ("get_session", "get_timeline", "find_slow_spans", "find_errors"):
            await client.call_tool(tool, {"session_id": SERVER_ERROR_SESSION})
        assert len(fake.requests) == sent
        # a trace the session search brought is not fetched again either
        other = next(
            t
            for t in traces.spans
            if t != trace_id and SERVER_ERROR_SESSION in traces.attribute_values(t, "session.id")
        )
        await client.call_tool("get_trace", {"trace_id": other})
        assert len(fake.requests) == sent


async def test_tempo_falls_back_to_api_traces_and_reads_protobuf(tmp_path: Path):
    traces = Traces([SERVER_ERROR])
    fake = FakeSource("tempo", traces, protobuf=True, no_v2=True)
    trace_id = a_trace_with_errors(traces)
    here, there = await both(
        local_db(tmp_path, SERVER_ERROR), remote(tmp_path, fake), "get_trace", {"trace_id": trace_id}
    )
    assert there.structured_content == here.structured_content
    assert fake.paths() == [f"/api/v2/traces/{trace_id}", f"/api/traces/{trace_id}"]


async def test_jaeger_classic_api_reads_the_query_json(tmp_path: Path):
    if not JAEGER_SAMPLE.exists():
        pytest.skip("the public samples are not here")
    doc = json.loads(JAEGER_SAMPLE.read_text())
    docs = {t["traceID"]: t for t in doc["data"]}
    fake = FakeSource("jaeger1", Traces([]), jaeger_docs=docs)
    trace_id = next(iter(docs))
    here, there = await both(
        local_db(tmp_path, JAEGER_SAMPLE), remote(tmp_path, fake), "get_trace", {"trace_id": trace_id}
    )
    assert not there.is_error, text(there)
    assert there.structured_content == here.structured_content
    assert fake.paths() == [f"/api/traces/{trace_id}"]


async def test_lists_search_a_bounded_window_and_say_what_it_covered(tmp_path: Path):
    traces = Traces([SERVER_ERROR])
    fake = FakeSource("jaeger", traces)
    store = remote(tmp_path, fake, "&limit=3")
    start = min(traces.start_ns(t) for t in traces.spans)
    since = "2000-01-01T00:00:00Z"
    async with Client(remote_server(store)) as client:
        listed = await client.call_tool("list_traces", {"since": since, "limit": 50})
    assert not listed.is_error, text(listed)
    assert listed.structured_content["total"] == 3
    note = listed.meta[NOTE_KEY]
    assert "covered traces started 2000-01-01 00:00:00" in note and "3 fetched, the limit of 3" in note
    assert start > 0
    # without the limit, the list is the local one
    fake_all = FakeSource("jaeger", traces)
    here, there = await both(
        local_db(tmp_path, SERVER_ERROR), remote(tmp_path / "b", fake_all), "list_traces", {"since": since}
    )
    assert there.structured_content == here.structured_content


async def test_nothing_secret_from_a_response_reaches_an_answer_or_the_cache(tmp_path: Path):
    traces = Traces([SECRETS])
    assert any(PLANTED in json.dumps(spans) for spans in traces.spans.values())
    fake = FakeSource("jaeger", traces)
    store = remote(tmp_path, fake)
    async with Client(remote_server(store)) as client:
        answers = [await client.call_tool("get_session", {"session_id": SECRETS_SESSION})]
        for trace_id in traces.spans:
            answers.append(await client.call_tool("get_trace", {"trace_id": trace_id, "max_spans": 200}))
    for answer in answers:
        assert not answer.is_error, text(answer)
        assert PLANTED not in text(answer) and PLANTED not in json.dumps(answer.structured_content)
    store.close()
    assert PLANTED.encode() not in (tmp_path / "cache.db").read_bytes()


def _answer(status: int, **kwargs: Any):
    return lambda request: httpx.Response(status, **kwargs)


def _timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


@pytest.mark.parametrize(
    ("kind", "override", "expected"),
    [
        (
            "jaeger",
            _answer(500, json={"error": {"httpCode": 500, "message": "storage unavailable"}}),
            "failed (500: 'storage unavailable')",
        ),
        (
            "tempo",
            _answer(503, text="upstream down", headers={"content-type": "text/plain"}),
            "failed (503: 'upstream down')",
        ),
        ("jaeger", _timeout, "did not answer within 10 s"),
        (
            "jaeger",
            _answer(200, text="<html>login</html>", headers={"content-type": "text/html"}),
            "bytes of text/html, not JSON",
        ),
        ("jaeger", _answer(200, json={"something": "else"}), "in a shape we do not read"),
        ("tempo", _answer(200, json={"batches": [{"scopeSpans": [{"spans": [{"name": "x"}]}]}]}), "could not be read"),
        ("jaeger", _answer(401, json={"error": {"message": "no"}}), "refused us (401"),
        (
            "jaeger",
            _answer(404, text="404 page not found", headers={"content-type": "text/plain"}),
            "not a Jaeger query API route",
        ),
    ],
)
async def test_source_failures_are_tool_errors_naming_the_url(tmp_path: Path, kind: str, override, expected: str):
    fake = FakeSource(kind, Traces([SERVER_ERROR]))
    fake.override = override
    trace_id = "0123456789abcdef0123456789abcdef"
    async with Client(remote_server(remote(tmp_path, fake))) as client:
        result = await client.call_tool("get_trace", {"trace_id": trace_id})
    assert result.is_error
    message = text(result)
    assert expected in message, message
    assert "http://source.test:1/api/" in message or "http://source.test:1" in message


async def test_a_trace_the_source_does_not_have_is_not_found(tmp_path: Path):
    fake = FakeSource("jaeger", Traces([SERVER_ERROR]))
    async with Client(remote_server(remote(tmp_path, fake))) as client:
        result = await client.call_tool("get_trace", {"trace_id": "0123456789abcdef0123456789abcdef"})
    assert result.is_error and "0123456789abcdef0123456789abcdef" in text(result)


async def test_when_the_source_fails_the_cache_answers_and_says_so(tmp_path: Path):
    traces = Traces([SERVER_ERROR])
    fake = FakeSource("jaeger", traces)
    store = remote(tmp_path, fake, "&ttl=0")
    trace_id = a_trace_with_errors(traces)
    async with Client(remote_server(store)) as client:
        first = await client.call_tool("get_trace", {"trace_id": trace_id})
        fake.override = _answer(502, text="bad gateway", headers={"content-type": "text/plain"})
        second = await client.call_tool("get_trace", {"trace_id": trace_id})
    assert not second.is_error and second.structured_content == first.structured_content
    assert "the source is failing" in second.meta[NOTE_KEY] and "502" in second.meta[NOTE_KEY]


async def test_over_a_real_socket_with_a_bearer_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    traces = Traces([SERVER_ERROR])
    fake = FakeSource("jaeger", traces, token="s3cret-token-value")
    monkeypatch.setenv("JAEGER_TOKEN", "s3cret-token-value")
    trace_id = a_trace_with_errors(traces)
    local = local_db(tmp_path, SERVER_ERROR)
    with serve_on_socket(fake.handle) as address:
        dsn = f"jaeger+http://{address}?token_env=JAEGER_TOKEN&timeout=5&cache={tmp_path / 'socket.db'}"
        opened = lambda: open_store(dsn, database=tmp_path / "unused.db")  # noqa: E731
        async with Client(create_server(Path("/nonexistent"), store_factory=opened)) as client:
            there = await client.call_tool("get_trace", {"trace_id": trace_id})
    async with Client(create_server(local)) as client:
        here = await client.call_tool("get_trace", {"trace_id": trace_id})
    assert not there.is_error, text(there)
    assert there.structured_content == here.structured_content
    assert "s3cret-token-value" not in text(there)
    assert fake.requests[0].headers["authorization"] == "Bearer s3cret-token-value"


async def test_a_source_that_is_down_is_a_clear_error(tmp_path: Path):
    from tests.netutil import free_port

    dsn = f"tempo+http://127.0.0.1:{free_port()}?timeout=2&cache={tmp_path / 'down.db'}"
    opened = lambda: open_store(dsn, database=tmp_path / "unused.db")  # noqa: E731
    async with Client(create_server(Path("/nonexistent"), store_factory=opened)) as client:
        result = await client.call_tool("get_trace", {"trace_id": "0123456789abcdef0123456789abcdef"})
    assert result.is_error
    assert "cannot connect to http://127.0.0.1:" in text(result) and "Tempo" in text(result)


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("zipkin+http://h:9411", "unknown scheme"),
        ("jaeger+http://user:pw@h:16686", "credentials in the URL are refused"),
        ("jaeger+http://h:16686?colour=red", "unknown option 'colour'"),
        ("tempo+http://h:3200?api=v1", "only for Jaeger"),
        ("jaeger+http://h:16686?limit=0", "from 1 to 1000"),
        ("jaeger+http://h:16686?window=soon", "an age like"),
        ("jaeger+http://h:16686?token_env=NOT_SET_ANYWHERE", "is not set"),
    ],
)
def test_bad_store_urls_say_what_to_write(dsn: str, expected: str):
    with pytest.raises(InvalidArgumentError, match=expected):
        open_store(dsn, database=Path("/nonexistent"))


def test_store_url_options_are_read(tmp_path: Path):
    config = parse_dsn(
        f"jaeger+https://h.example/jaeger/?api=v1&limit=7&window=15m&lookback=2d&ttl=0&timeout=3&cache={tmp_path}/c.db"
        "&session_key=app.session.id&session_key=session.id",
        environ={},
    )
    assert config.base_url == "https://h.example/jaeger" and config.api == "v1" and config.limit == 7
    assert config.window_ns == 15 * 60 * 10**9 and config.lookback_ns == 2 * 86400 * 10**9 and config.ttl_ns == 0
    assert config.timeout_s == 3 and config.cache_path == tmp_path / "c.db"
    assert config.session_keys == ("app.session.id", "session.id")


def test_serve_refuses_store_with_ingest(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from mcp_sessions.cli import main

    code = main(["serve", "--store", f"jaeger+http://h:1?cache={tmp_path}/c.db", "--allow-ingest", str(tmp_path)])
    assert code == 2 and "does not go with --allow-ingest" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["jaeger", "tempo"])
async def test_list_sessions_over_a_window_answers_as_ingested(tmp_path: Path, kind: str):
    fake = FakeSource(kind, Traces([SERVER_ERROR, SECRETS]))
    args = {"since": "2000-01-01T00:00:00Z"}
    here, there = await both(local_db(tmp_path, SERVER_ERROR, SECRETS), remote(tmp_path, fake), "list_sessions", args)
    assert not there.is_error, text(there)
    assert same_answer(there) == same_answer(here)
    assert {s["session_id"] for s in there.structured_content["sessions"]} == {SERVER_ERROR_SESSION, SECRETS_SESSION}
    searches = [r for r in fake.requests if r.url.path in ("/api/v3/traces", "/api/search")]
    if kind == "jaeger":  # one search per service, each asking for what the limit leaves
        assert [r.url.params["query.service_name"] for r in searches] == ["payments", "shop"]
        assert int(searches[1].url.params["query.search_depth"]) == 50 - 1
    else:
        assert searches[0].url.params["q"] == "{}" and searches[0].url.params["limit"] == "50"


async def test_jaeger_answers_streamed_as_several_documents_are_read_whole(tmp_path: Path):
    traces = Traces([SERVER_ERROR])
    fake = FakeSource("jaeger", traces)
    ids = sorted(traces.spans)[:2]

    def streamed(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v3/services":
            return httpx.Response(200, json={"services": ["shop"]})
        body = "".join(json.dumps({"result": traces.otlp([t], hex_ids=True)}) + "\n" for t in ids)
        return httpx.Response(200, text=body, headers={"content-type": "application/json"})

    fake.override = streamed
    store = remote(tmp_path, fake)
    async with Client(remote_server(store)) as client:
        listed = await client.call_tool("list_traces", {"since": "2000-01-01T00:00:00Z"})
    assert not listed.is_error, text(listed)
    assert {t["trace_id"] for t in listed.structured_content["traces"]} == set(ids)


async def test_a_session_id_cannot_change_the_search(tmp_path: Path):
    fake = FakeSource("tempo", Traces([SERVER_ERROR]))
    hostile = 'x" } || { .a = "b'
    async with Client(remote_server(remote(tmp_path, fake))) as client:
        result = await client.call_tool("get_session", {"session_id": hostile})
    assert result.is_error and "no session" in text(result)
    q = next(r for r in fake.requests if r.url.path == "/api/search").url.params["q"]
    assert '.session.id = "x\\" } || { .a = \\"b"' in q


async def test_an_answer_over_the_size_limit_is_refused_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import mcp_sessions.store.remote.client as client_module

    monkeypatch.setattr(client_module, "MAX_DOCUMENT_BYTES", 2048)
    traces = Traces([SERVER_ERROR])
    fake = FakeSource("jaeger", traces)
    store = remote(tmp_path, fake)
    async with Client(remote_server(store)) as client:
        result = await client.call_tool(
            "get_trace", {"trace_id": max(traces.spans, key=lambda t: len(traces.spans[t]))}
        )
    assert result.is_error and "more than 2048 bytes" in text(result) and "nothing of it was cached" in text(result)
    assert store.cache.traces(TraceFilter(), sort="recent", limit=1, cursor=None).total == 0


async def test_serve_store_over_stdio_answers_from_tempo(tmp_path: Path):
    import os
    import sys

    from mcp import StdioServerParameters

    traces = Traces([SERVER_ERROR])
    fake = FakeSource("tempo", traces)
    trace_id = a_trace_with_errors(traces)
    with serve_on_socket(fake.handle) as address:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "mcp_sessions", "serve", "--store", f"tempo+http://{address}?cache={tmp_path / 'stdio.db'}"],
            env={**os.environ, "PYTHONUNBUFFERED": "1", "MCP_SESSIONS_DB": str(tmp_path / "unused.db")},
        )
        async with Client(params, read_timeout_seconds=60) as client:
            trace = await client.call_tool("get_trace", {"trace_id": trace_id})
    assert not trace.is_error, text(trace)
    assert trace.structured_content["trace"]["trace_id"] == trace_id
    assert "**Source**: Tempo at http://127.0.0.1:" in text(trace)
    assert not (tmp_path / "unused.db").exists()  # the database the settings name is never opened


async def test_a_relative_window_asked_again_is_answered_from_the_cache(tmp_path: Path):
    fake = FakeSource("jaeger", Traces([SERVER_ERROR]))
    store = remote(tmp_path, fake, "&window=3650d")
    async with Client(remote_server(store)) as client:
        await client.call_tool("list_traces", {})
        sent = len(fake.requests)
        for args in ({}, {"since": "30d"}, {"has_errors": True}):
            again = await client.call_tool("list_traces", args)
            assert not again.is_error
        assert len(fake.requests) == sent  # inside the window searched a moment ago
        await client.call_tool("list_traces", {"service": "payments"})
        assert len(fake.requests) == sent + 1  # another filter the source applies: asked


async def test_what_was_erased_from_the_cache_is_not_fetched_back(tmp_path: Path):
    from mcp_sessions.cli import main

    fake = FakeSource("jaeger", Traces([SERVER_ERROR]))
    store = remote(tmp_path, fake, "&ttl=0")
    async with Client(remote_server(store)) as client:
        assert not (await client.call_tool("get_session", {"session_id": SERVER_ERROR_SESSION})).is_error
    store.close()
    assert main(["--db", str(tmp_path / "cache.db"), "prune", "--older-than", "1d"]) == 0
    store = remote(tmp_path, fake, "&ttl=0")
    sent = len(fake.requests)
    async with Client(remote_server(store)) as client:
        again = await client.call_tool("get_session", {"session_id": SERVER_ERROR_SESSION})
    assert len(fake.requests) > sent  # the source was asked, and answered with the session's traces
    assert again.is_error and "no session" in text(again)


async def test_tempo_v2_protobuf_is_read(tmp_path: Path):
    traces = Traces([SERVER_ERROR])
    fake = FakeSource("tempo", traces, protobuf=True)
    trace_id = a_trace_with_errors(traces)
    here, there = await both(
        local_db(tmp_path, SERVER_ERROR), remote(tmp_path, fake), "get_trace", {"trace_id": trace_id}
    )
    assert there.structured_content == here.structured_content
    assert fake.paths() == [f"/api/v2/traces/{trace_id}"]


async def test_jaeger_classic_api_searches_a_window_by_service(tmp_path: Path):
    if not JAEGER_SAMPLE.exists():
        pytest.skip("the public samples are not here")
    docs = {t["traceID"]: t for t in json.loads(JAEGER_SAMPLE.read_text())["data"]}
    fake = FakeSource("jaeger1", Traces([]), jaeger_docs=docs)
    args = {"since": "2000-01-01T00:00:00Z"}
    here, there = await both(local_db(tmp_path, JAEGER_SAMPLE), remote(tmp_path, fake), "list_traces", args)
    assert not there.is_error, text(there)
    assert same_answer(there) == same_answer(here) and there.structured_content["total"] == len(docs)
    search = next(r for r in fake.requests if r.url.path == "/api/traces")
    assert search.url.params["start"] == str(946_684_800 * 1_000_000)  # microseconds, as the classic API takes
