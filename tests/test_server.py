"""MCP tools through a real in-memory client: contract, bounds, paging, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from mcp_sessions.server import create_server
from mcp_sessions.store import Store

pytestmark = pytest.mark.anyio

LARGEST_SAMPLE_TRACE = "e4e2c10bce6f7e12ab14362e112995a6"  # 465 spans, highlight-traces.json
HIGHLIGHT_SESSION = "tUVyYXgmLPMuJBM5FdhaEcDIOfah"


def text(result) -> str:
    return "\n".join(c.text for c in result.content)


async def test_tools_are_listed_with_schemas_and_annotations(otlp_db: Path):
    async with Client(create_server(otlp_db)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"list_sessions", "list_traces", "get_trace"} <= set(tools)
    for tool in tools.values():
        assert tool.output_schema and tool.output_schema["type"] == "object"
        assert tool.annotations.read_only_hint is True


async def test_list_sessions_finds_the_highlight_session(otlp_db: Path):
    async with Client(create_server(otlp_db)) as client:
        result = await client.call_tool("list_sessions", {})
    assert not result.is_error
    assert HIGHLIGHT_SESSION in text(result)
    assert "**Shown**: 1 of 1 sessions" in text(result)
    assert "27 traces carry no session key" in text(result)
    data = result.structured_content
    assert data["total"] == 1 and data["sessions"][0]["trace_count"] == 4
    assert data["sessions"][0]["span_count"] == 473


@pytest.mark.parametrize(
    ("args", "total"),
    [
        ({"query": "private"}, 1),
        ({"query": "no-such-thing"}, 0),
        ({"has_errors": True}, 0),
        ({"has_errors": False}, 1),
        ({"min_duration_ms": 4000}, 1),
        ({"min_duration_ms": 5000}, 0),
        ({"since": "2023-04-13T00:00:00Z", "until": "2023-04-14"}, 1),
        ({"since": "2023-04-14T00:00:00Z"}, 0),
    ],
)
async def test_list_sessions_filters(otlp_db: Path, args, total):
    async with Client(create_server(otlp_db)) as client:
        result = await client.call_tool("list_sessions", args)
    assert result.structured_content["total"] == total


async def test_list_traces_pages_with_cursor_through_every_unsessioned_trace(otlp_db: Path):
    seen: list[str] = []
    async with Client(create_server(otlp_db)) as client:
        args = {"unsessioned": True, "limit": 10, "sort": "slowest"}
        while True:
            result = await client.call_tool("list_traces", args)
            page = result.structured_content
            seen += [t["trace_id"] for t in page["traces"]]
            if not page["next_cursor"]:
                break
            assert f"cursor='{page['next_cursor']}'" in text(result)  # the next call is spelled out
            args = {**args, "cursor": page["next_cursor"]}
    assert len(seen) == len(set(seen)) == 27


async def test_list_traces_of_a_session(otlp_db: Path):
    async with Client(create_server(otlp_db)) as client:
        result = await client.call_tool("list_traces", {"session_id": HIGHLIGHT_SESSION})
    assert result.structured_content["total"] == 4
    assert all(t["session_id"] == HIGHLIGHT_SESSION for t in result.structured_content["traces"])


async def test_get_trace_on_the_largest_sample_is_bounded_and_says_what_it_left_out(otlp_db: Path):
    async with Client(create_server(otlp_db)) as client:
        result = await client.call_tool("get_trace", {"trace_id": LARGEST_SAMPLE_TRACE})
    body = text(result)
    view = result.structured_content
    assert len(body) < 25_000
    assert view["total_spans"] == 465
    assert view["shown_spans"] < 465 and view["truncated"]
    assert f"shows {view['shown_spans']} of 465" in body
    assert f"get_trace(trace_id='{LARGEST_SAMPLE_TRACE}', span_id=" in body  # how to expand a subtree
    assert all(len(node["span_id"]) == 16 for node in view["spans"])


async def test_get_trace_keeps_errors_and_expands_a_subtree(otlp_db: Path):
    async with Client(create_server(otlp_db)) as client:
        traces = await client.call_tool("list_traces", {"has_errors": True, "sort": "largest", "limit": 1})
        trace_id = traces.structured_content["traces"][0]["trace_id"]
        whole = await client.call_tool("get_trace", {"trace_id": trace_id, "max_spans": 20})
        view = whole.structured_content
        assert view["error_spans"] == 82
        assert any(node["error"] for node in view["spans"])
        parent = next(n for n in view["spans"] if n["hidden_children"])
        sub = await client.call_tool("get_trace", {"trace_id": trace_id, "span_id": parent["span_id"]})
    assert sub.structured_content["focus_span_id"] == parent["span_id"]
    hidden = sum(g["count"] for g in parent["hidden_children"])
    assert sub.structured_content["total_spans"] >= hidden + 1


async def test_64_bit_and_uppercase_trace_ids_are_accepted(otlp_db: Path):
    async with Client(create_server(otlp_db)) as client:
        result = await client.call_tool("get_trace", {"trace_id": LARGEST_SAMPLE_TRACE.upper()})
    assert not result.is_error


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("get_trace", {"trace_id": LARGEST_SAMPLE_TRACE[:-1] + "7"}, f"closest: `{LARGEST_SAMPLE_TRACE}`"),
        ("get_trace", {"trace_id": "zzz"}, "not a hex trace id"),
        ("get_trace", {"trace_id": LARGEST_SAMPLE_TRACE, "span_id": "00000000deadbeef"}, "has no span"),
        ("list_traces", {"session_id": "tUVyYXgm-nope"}, f"closest: `{HIGHLIGHT_SESSION}`"),
        ("list_sessions", {"since": "last tuesday"}, "is not a time"),
        ("list_sessions", {"since": "1d", "until": "7d"}, "later than `until`"),
        ("list_sessions", {"cursor": "garbage!"}, "cursor is not one this server issued"),
    ],
)
async def test_errors_tell_the_model_what_to_do_next(otlp_db: Path, tool, args, message):
    async with Client(create_server(otlp_db)) as client:
        result = await client.call_tool(tool, args)
    assert result.is_error
    assert message in text(result)
    assert "SELECT" not in text(result) and "Traceback" not in text(result)


async def test_out_of_range_arguments_are_rejected_by_the_schema(otlp_db: Path):
    async with Client(create_server(otlp_db)) as client:
        result = await client.call_tool("list_sessions", {"limit": 10_000})
    assert result.is_error


async def test_empty_database_answers_with_what_to_do(db_path: Path):
    Store(db_path).close()  # created by a writer (ingest, collect), holding nothing yet
    async with Client(create_server(db_path)) as client:
        result = await client.call_tool("list_sessions", {})
    assert "mcp-sessions ingest" in text(result)


async def test_text_budget_is_respected_and_paging_continues_where_text_stopped(otlp_db: Path):
    async with Client(create_server(otlp_db)) as client:
        first = await client.call_tool("list_traces", {"limit": 100, "budget_tokens": 500})
        page = first.structured_content
        assert len(text(first)) <= 500 * 4
        assert page["shown"] < 31 and page["next_cursor"]
        rest = await client.call_tool("list_traces", {"limit": 100, "cursor": page["next_cursor"]})
    ids = [t["trace_id"] for t in page["traces"]] + [t["trace_id"] for t in rest.structured_content["traces"]]
    assert len(ids) == len(set(ids)) == 31


@pytest.mark.parametrize(
    ("tool", "args", "field"),
    [
        ("list_sessions", {"limit": "many"}, "limit"),
        ("list_sessions", {"has_errors": "perhaps"}, "has_errors"),
        ("get_trace", {"trace_id": 12345}, "trace_id"),
        ("get_trace", {}, "trace_id"),
        ("list_traces", {"sort": "fastest"}, "sort"),
    ],
)
async def test_wrong_argument_types_name_the_argument(otlp_db: Path, tool, args, field):
    async with Client(create_server(otlp_db)) as client:
        result = await client.call_tool(tool, args)
    assert result.is_error
    assert field in text(result)
