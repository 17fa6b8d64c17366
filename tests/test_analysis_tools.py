"""get_session, find_slow_spans, find_errors, the resources and prompts, through a real MCP client.

The demo shop's recordings carry the answers (fixtures/expected): the slow downstream call,
the server error with its code location and the click before it, the planted N+1 and the
redundant calls. On every public sample trace each tool stays within its output budget.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from mcp_sessions.analysis.errors import Occurrence, group_errors
from mcp_sessions.config import CHARS_PER_TOKEN, DEFAULT_BUDGET_TOKENS, MAX_BUDGET_TOKENS
from mcp_sessions.ingest import ingest_paths
from mcp_sessions.model import Event
from mcp_sessions.server import create_server
from mcp_sessions.store import Store

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = [ROOT / "fixtures" / "recordings", ROOT / "fixtures" / "recordings-browser"]
EXPECTED = {p.stem: json.loads(p.read_text()) for p in (ROOT / "fixtures" / "expected").glob("*.json")}

pytestmark = pytest.mark.anyio


def session_of(scenario: str) -> str:
    return EXPECTED[scenario]["sessions"][0]["session_id"]


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("analysis") / "shop.db"
    with Store(db) as store:
        results = list(ingest_paths(store, [str(p) for p in RECORDINGS]))
    assert all(r.status == "stored" for r in results), [(r.source, r.error) for r in results]
    return db


async def call(db: Path, tool: str, **args: object) -> tuple[str, dict]:
    async with Client(create_server(db)) as client:
        result = await client.call_tool(tool, args)
    text = result.content[0].text
    assert not result.is_error, text
    return text, result.structured_content


async def test_the_slow_downstream_call_ranks_first_on_its_traces_critical_path(shop_db: Path):
    slow = EXPECTED["slow-payment"]["slow_span"]
    text, data = await call(shop_db, "find_slow_spans", trace_id=slow["trace_id"])
    top = data["operations"][0]
    assert (top["fingerprint"], top["service"]) == (slow["name"], slow["service"])
    assert top["worst_span_id"] == slow["span_id"]
    assert top["share"] > 0.9
    assert text.index("fraud.review") < text.index("POST /api/checkout")
    # per span, the same answer: the parent that merely waited is not ranked above it
    _, spans = await call(shop_db, "find_slow_spans", trace_id=slow["trace_id"], group_by="span")
    assert spans["spans"][0]["span_id"] == slow["span_id"]


async def test_slow_operations_of_a_session_carry_counts_percentiles_and_full_ids(shop_db: Path):
    expected = EXPECTED["n-plus-one"]["n_plus_one"]
    _, data = await call(shop_db, "find_slow_spans", session_id=session_of("n-plus-one"), limit=100)
    by_fp = {op["fingerprint"]: op for op in data["operations"]}
    products = by_fp[expected["fingerprint"]]
    assert products["count"] >= expected["count"]
    assert products["p50_ms"] <= products["p95_ms"] <= products["max_ms"]
    assert len(products["worst_trace_id"]) == 32 and len(products["worst_span_id"]) == 16
    criticals = [op["critical_ms"] for op in data["operations"]]
    assert criticals == sorted(criticals, reverse=True)


async def test_global_scope_filters_by_service_and_route(shop_db: Path):
    _, everything = await call(shop_db, "find_slow_spans", limit=100)
    _, payments = await call(shop_db, "find_slow_spans", service="payments", limit=100)
    assert {op["service"] for op in payments["operations"]} == {"payments"}
    assert payments["total"] < everything["total"]
    _, checkout = await call(shop_db, "find_slow_spans", route="/api/checkout", limit=100)
    assert any(op["fingerprint"] == "fraud.review" for op in checkout["operations"])
    assert all(op["fingerprint"] != "GET /api/products/{product_id}" for op in checkout["operations"])


async def test_the_server_error_is_found_with_its_code_location_and_the_action_before_it(shop_db: Path):
    error = EXPECTED["server-error"]["error"]
    text, data = await call(shop_db, "find_errors", session_id=session_of("server-error"))
    top = data["errors"][0]
    assert top["kind"] == "exception" and top["title"].startswith(error["exception_type"])
    assert f"{error['code_filepath']}:{error['code_lineno']}" in top["code_location"]
    assert error["code_function"] in top["code_location"]
    assert (top["trace_id"], top["span_id"]) == (error["trace_id"], error["span_id"])
    assert top["preceding_action"] and "click" in top["preceding_action"] and "Apply" in top["preceding_action"]
    assert any("coupons.py" in line for line in top["stack"])
    # the browser's side of the same failure: the failed request and both console errors
    kinds = {e["kind"] for e in data["errors"]}
    assert {"failed request", "console error"} <= kinds
    for message in error["console_errors"]:
        assert message.strip('"') in text


async def test_find_errors_sources_filter_and_a_clean_session(shop_db: Path):
    _, browser = await call(shop_db, "find_errors", session_id=session_of("server-error"), sources=["browser"])
    assert browser["errors"] and {e["source"] for e in browser["errors"]} == {"browser"}
    text, clean = await call(shop_db, "find_errors", session_id=session_of("baseline"), sources=["backend"])
    assert clean["total"] == 0 and "No errors" in text


async def test_get_session_reads_first_and_names_the_next_calls(shop_db: Path):
    sid = session_of("server-error")
    text, data = await call(shop_db, "get_session", session_id=sid)
    assert data["session"]["session_id"] == sid
    assert data["pages"] and data["counts"]["traces"] > 0
    assert data["errors"][0]["kind"] == "exception"
    assert data["slowest_requests"][0]["duration_ms"] >= data["slowest_requests"][-1]["duration_ms"]
    for tool in ("get_timeline", "find_slow_spans", "find_errors", "draft_regression_test"):
        assert f"{tool}(session_id='{sid}')" in text
    # no earlier session of its flow: the automatic diff would fail, so it is not offered (render/offers.py)
    assert "diff_against_baseline" not in text
    async with Client(create_server(shop_db)) as client:
        diff = await client.call_tool("diff_against_baseline", {"session_id": sid})
    assert diff.is_error and "no automatic baseline" in diff.content[0].text


async def test_get_session_reports_the_planted_n_plus_one_and_redundant_calls(shop_db: Path):
    expected = EXPECTED["n-plus-one"]["n_plus_one"]
    _, data = await call(shop_db, "get_session", session_id=session_of("n-plus-one"))
    n_plus_one = [p for p in data["patterns"] if p["kind"] == "n_plus_one"]
    top = next(p for p in n_plus_one if p["fingerprint"] == expected["fingerprint"])
    assert top["count"] == expected["count"] and top["trace_id"] == expected["trace_id"]
    redundant = EXPECTED["redundant-calls"]["redundant"]
    _, data = await call(shop_db, "get_session", session_id=session_of("redundant-calls"))
    duplicates = [p for p in data["patterns"] if p["kind"] == "duplicate_calls"]
    assert any(p["count"] == redundant["count"] and "reviews" in p["fingerprint"] for p in duplicates)
    _, baseline = await call(shop_db, "get_session", session_id=session_of("baseline"))
    assert not [p for p in baseline["patterns"] if p["kind"] in ("n_plus_one", "duplicate_calls")]


async def test_unknown_ids_are_errors_that_say_what_to_do(shop_db: Path):
    async with Client(create_server(shop_db)) as client:
        for tool, args in [
            ("get_session", {"session_id": "sess_nope"}),
            ("find_slow_spans", {"session_id": "sess_nope"}),
            ("find_errors", {"trace_id": "f" * 32}),
            ("find_errors", {"sources": []}),
            ("find_slow_spans", {"since": "1h", "until": "2h"}),
        ]:
            result = await client.call_tool(tool, args)
            assert result.is_error, (tool, args)
            message = result.content[0].text
            assert "list_sessions" in message or "list_traces" in message or "`" in message, message


async def test_resources_and_prompts(shop_db: Path):
    sid = session_of("slow-payment")
    trace = EXPECTED["slow-payment"]["slow_span"]["trace_id"]
    async with Client(create_server(shop_db)) as client:
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert {"session://{session_id}", "trace://{trace_id}"} <= templates
        session = await client.read_resource(f"session://{sid}")
        assert f"# Session `{sid}`" in session.contents[0].text
        tree = await client.read_resource(f"trace://{trace}")
        assert "fraud.review" in tree.contents[0].text
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        assert {"investigate_session", "explain_slowness", "write_regression_test"} <= prompts
        prompt = await client.get_prompt("explain_slowness", {"session_id": sid})
        assert "find_slow_spans" in prompt.messages[0].content.text


@pytest.fixture(scope="module")
def samples_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples = ROOT.parent / "shared" / "samples"
    if not samples.is_dir():
        pytest.skip(f"public samples not found at {samples}")
    db = tmp_path_factory.mktemp("samples") / "samples.db"
    with Store(db) as store:
        list(ingest_paths(store, [str(samples)]))
    return db


async def test_every_tool_stays_within_budget_on_every_sample_trace(samples_db: Path):
    with Store(samples_db) as store:
        traces = [r[0] for r in store.conn.execute("SELECT trace_id FROM traces")]
        sessions = [r[0] for r in store.conn.execute("SELECT session_id FROM sessions")]
    assert traces
    calls = [("find_slow_spans", {"trace_id": t}) for t in traces]
    calls += [("find_slow_spans", {"trace_id": t, "group_by": "span"}) for t in traces]
    calls += [("find_errors", {"trace_id": t}) for t in traces]
    calls += [("get_session", {"session_id": s}) for s in sessions]
    calls += [("find_slow_spans", {"limit": 100}), ("find_errors", {"limit": 100})]
    async with Client(create_server(samples_db)) as client:
        for tool, args in calls:
            for budget in (DEFAULT_BUDGET_TOKENS, MAX_BUDGET_TOKENS):
                result = await client.call_tool(tool, {**args, "budget_tokens": budget})
                text = result.content[0].text
                assert not result.is_error, (tool, args, text)
                assert len(text) <= budget * CHARS_PER_TOKEN, (tool, args, len(text))


def occurrence(kind: str, trace: str, fp: str, t: int, session: str | None = "s1") -> Occurrence:
    return Occurrence("backend", kind, fp, f"{kind} {fp}", t, session, trace_id=trace)


def test_errors_group_by_fingerprint_and_fold_restatements_of_an_exception():
    occurrences = [
        occurrence("exception", "t1", "ValueError@parse", 30),
        occurrence("failed span", "t1", "span", 31),
        occurrence("error log", "t1", "log", 32),
        occurrence("exception", "t2", "ValueError@parse", 50),
        occurrence("failed span", "t3", "other span", 60),
    ]
    actions = {
        "s1": [
            Event("rrweb", 1, 10, "click", 'click button "Apply"'),
            Event("rrweb", 2, 40, "input", "input #code"),
        ]
    }
    snapshot = repr((occurrences, actions))
    groups = group_errors(occurrences, actions)
    assert repr((occurrences, actions)) == snapshot
    assert [(g.fingerprint, g.count) for g in groups] == [("ValueError@parse", 2), ("other span", 1)]
    first = groups[0]
    assert first.related == {"failed span": 1, "error log": 1}
    assert (first.first_ns, first.last_ns) == (30, 50)
    assert first.preceding_action is not None and first.preceding_action.seq == 1
    assert groups[1].preceding_action is not None and groups[1].preceding_action.seq == 2
