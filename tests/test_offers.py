"""Next-call hints offer only calls that answer something: each one is made, for every session.

Every session of the shop's recordings, of the public samples, and of the shop's browser
recordings ingested alone (browser-only sessions), is asked for its overview; every call the
overview offers, and the one list_sessions offers, is then made through the MCP client and
must answer without error and with something in it.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from shoprun import ROOT

from mcp_sessions.ingest import ingest_paths
from mcp_sessions.render.offers import SessionFacts, SpanFacts, list_offer, session_offers, span_offers
from mcp_sessions.server import create_server
from mcp_sessions.store import Store

FIXTURES = ROOT / "fixtures"


def parse_call(text: str) -> tuple[str, dict[str, Any]]:
    """`tool(a='x', b=1)` (in backticks, as the answers write it) → ("tool", {"a": "x", "b": 1})."""
    node = ast.parse(text.strip().strip("`"), mode="eval").body
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args, text
    return node.func.id, {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}


def answered(tool: str, data: dict[str, Any]) -> bool:
    """Whether a tool's structured content holds something (not an empty list)."""
    if tool in ("get_timeline", "list_traces", "find_slow_spans", "find_errors", "list_sessions"):
        return data["total"] > 0
    if tool == "draft_regression_test":
        return bool(data["files"][0]["content"]) and len(data["steps"]) > 0
    if tool == "diff_against_baseline":
        return data["baseline"] is not None
    raise AssertionError(f"an offer of {tool} is not checked here: add how to tell it answered")


def test_the_rule_offers_nothing_a_session_lacks():
    browser_only = session_offers(SessionFacts("s", traces=0, browser_events=12, errors=0, user_actions=3))
    assert browser_only == ["`get_timeline(session_id='s')`", "`draft_regression_test(session_id='s', style='ui')`"]
    full = session_offers(
        SessionFacts("s", traces=2, browser_events=5, errors=1, baseline_candidate="b", api_requests=4, user_actions=1)
    )
    assert [parse_call(c)[0] for c in full] == [
        "get_timeline",
        "find_slow_spans",
        "find_errors",
        "diff_against_baseline",
        "draft_regression_test",
        "draft_regression_test",
    ]
    assert list_offer([SessionFacts("a", traces=0), SessionFacts("b", traces=3)]).startswith(
        "`list_traces(session_id='b')`"
    )
    assert list_offer([SessionFacts("a", traces=0)]).startswith("`get_timeline(session_id='a')`")
    assert list_offer([]) is None


def test_the_span_rule_offers_only_calls_that_answer():
    t, s = "a" * 32, "b" * 16
    assert span_offers(SpanFacts(t, s, stored=False, children=3)) == []  # a log's or a link's span never stored
    assert span_offers(SpanFacts(t, s, stored=True)) == [f"`get_span(trace_id='{t}', span_id='{s}')`"]
    assert [parse_call(c) for c in span_offers(SpanFacts(t, s, stored=True, children=2))] == [
        ("get_span", {"trace_id": t, "span_id": s}),
        ("get_trace", {"trace_id": t, "span_id": s}),
    ]
    # get_span's own answer offers the tree around the span, never itself
    assert [parse_call(c) for c in span_offers(SpanFacts(t, s, stored=True, children=0, from_detail=True))] == [
        ("get_trace", {"trace_id": t})
    ]


def databases(tmp: Path, samples: Path) -> dict[str, Path]:
    sets = {
        "shop": [FIXTURES / "recordings", FIXTURES / "recordings-browser"],
        "browser-only": [FIXTURES / "recordings-browser"],
        "samples": [samples],
    }
    out = {}
    for name, paths in sets.items():
        db = tmp / f"{name}.db"
        with Store(db) as store:
            results = list(ingest_paths(store, [str(p) for p in paths]))
        assert any(r.status == "stored" for r in results), name
        out[name] = db
    return out


@pytest.mark.anyio
async def test_every_offered_call_answers_something_for_every_session(tmp_path: Path, samples: Path):
    made: dict[str, int] = {}
    for name, db in databases(tmp_path, samples).items():
        async with Client(create_server(db)) as client:
            sessions: list[str] = []
            calls: list[str] = []
            cursor = None
            while True:
                args = {"limit": 100, "budget_tokens": 6_000, **({"cursor": cursor} if cursor else {})}
                listed = await client.call_tool("list_sessions", args)
                assert not listed.is_error, listed.content[0].text
                sessions += [s["session_id"] for s in listed.structured_content["sessions"]]
                text = listed.content[0].text
                calls += [line.split("`")[1] for line in text.splitlines() if line.startswith("**Next**")]
                cursor = listed.structured_content["next_cursor"]
                if not cursor:
                    break
            assert sessions, name
            for session_id in sessions:
                overview = await client.call_tool("get_session", {"session_id": session_id})
                assert not overview.is_error, overview.content[0].text
                calls += overview.structured_content["next_calls"]
            for text in calls:
                tool, args = parse_call(text)
                result = await client.call_tool(tool, args)
                assert not result.is_error, (name, text, result.content[0].text)
                assert answered(tool, result.structured_content), (name, text, result.content[0].text[:500])
                made[tool] = made.get(tool, 0) + 1
    # the walk made every kind of call at least once, so none of the checks above is idle
    assert set(made) >= {
        "get_timeline",
        "list_traces",
        "find_slow_spans",
        "find_errors",
        "diff_against_baseline",
        "draft_regression_test",
    }, made
