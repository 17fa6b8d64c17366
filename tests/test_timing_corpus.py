"""Timing answers on recordings real tools made: children that outlive their root, a span without an end, streams.

`zipkin-no-duration` is the OpenTelemetry Python SDK's Zipkin v2 JSON export of an async fan-out
(tests/corpus/apps/zipkin_fanout.py: a server span answers after ~20 ms while the three workers
it started run on for up to ~65 ms, the last one failing), with one worker's `duration` removed
as a collector receives a span whose process died. `grpc-stream` is grpcio under
opentelemetry-instrumentation-grpc: unary `Get` calls and a server-streaming `Watch`.
get_trace, find_slow_spans and find_errors are asked through the MCP client, and every figure is
checked against the recording's bytes as tests/corpus/raw.py reads them.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_sessions.analysis.streams import stream_kind
from mcp_sessions.ingest import ingest_paths
from mcp_sessions.model import SpanEvent
from mcp_sessions.render.markdown import duration
from mcp_sessions.server import create_server
from mcp_sessions.store import Store

sys.path.insert(0, str(Path(__file__).parent / "corpus"))
import generate
import raw

MS = 1e6


def _built(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    status = generate.build(out, only={name})
    if status[name] is not None:
        if status[name].startswith("not built: needs"):
            pytest.skip(f"{name}: {status[name]}")
        pytest.fail(f"{name}: {status[name]}")
    return out / name


def _ask(path: Path, db: Path, calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    with Store(db) as store:
        assert all(r.status == "stored" for r in ingest_paths(store, [str(path)]))
    replies = []

    async def run() -> None:
        async with Client(create_server(db)) as client:
            for tool, args in calls:
                result = await client.call_tool(tool, args)
                assert not result.is_error, result.content
                text = "\n".join(c.text for c in result.content if hasattr(c, "text"))
                replies.append((text, result.structured_content or {}))

    anyio.run(run)
    return replies


@pytest.fixture(scope="module")
def fanout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, raw.RawRecording]:
    path = _built(tmp_path_factory, "zipkin-no-duration")
    return path, raw.read(path)


def _trace_with_no_end(rec: raw.RawRecording) -> tuple[str, list[raw.RawSpan]]:
    return next((tid, spans) for tid, spans in rec.traces().items() if any(s.end_ns is None for s in spans))


def test_a_fan_out_with_a_span_without_end_reads_as_recorded(fanout, tmp_path: Path) -> None:
    path, rec = fanout
    tid, spans = _trace_with_no_end(rec)
    by_id = {s.span_id: s for s in spans}
    (root,) = [s for s in spans if s.parent_id is None]
    assert root.end_ns is not None
    t0 = min(s.start_ns for s in spans)
    no_end = next(s for s in spans if s.end_ns is None)
    inferred_end = max(c.end_ns or c.start_ns for c in spans if c.parent_id == no_end.span_id)
    outliving = [s for s in spans if s.end_ns is not None and s.end_ns > root.end_ns]
    assert outliving, "the recording's workers outlive the root"

    (trace_text, trace), (spans_text, slow), (ops_text, ops), (errors_text, errors) = _ask(
        path,
        tmp_path / "s.db",
        [
            ("get_trace", {"trace_id": tid, "max_spans": 300, "budget_tokens": 6000}),
            ("find_slow_spans", {"trace_id": tid, "group_by": "span", "limit": 100, "budget_tokens": 6000}),
            ("find_slow_spans", {"trace_id": tid, "limit": 100, "budget_tokens": 6000}),
            ("find_errors", {"trace_id": tid, "limit": 100, "budget_tokens": 6000}),
        ],
    )

    # get_trace: every span at its own offset and duration; the span without an end says so, with
    # the end its children imply; the workers that outlived the root say by how much
    nodes = {n["span_id"]: n for n in trace["spans"]}
    assert set(nodes) == set(by_id)
    for span_id, node in nodes.items():
        span = by_id[span_id]
        assert node["offset_ms"] == pytest.approx((span.start_ns - t0) / MS, abs=1e-3)
        end = span.end_ns if span.end_ns is not None else inferred_end
        assert node["duration_ms"] == pytest.approx((end - span.start_ns) / MS, abs=1e-3)
        assert node["end_recorded"] is (span.end_ns is not None)
        assert node["after_root_ms"] == pytest.approx(max(0, end - max(span.start_ns, root.end_ns)) / MS, abs=1e-3)
    line = next(ln for ln in trace_text.splitlines() if f"`{no_end.span_id}`" in ln)
    assert f"no recorded end (≥ {duration(inferred_end - no_end.start_ns)} inferred from children)" in line
    for span in outliving:
        line = next(ln for ln in trace_text.splitlines() if f"`{span.span_id}`" in ln)
        assert f"{duration(span.end_ns - max(span.start_ns, root.end_ns))} after the root answered" in line
    assert trace["error_spans"] == sum(s.error for s in spans)

    # find_slow_spans by span: the same durations, the caller's critical path no longer than the root
    # it waited for, and the work after the root answered measured, never 0
    rows = {r["span_id"]: r for r in slow["spans"]}
    assert set(rows) == set(by_id)
    for span_id, row in rows.items():
        assert row["duration_ms"] == nodes[span_id]["duration_ms"]
        assert row["self_ms"] == nodes[span_id]["self_ms"]
        assert row["after_root_ms"] == nodes[span_id]["after_root_ms"]
    assert sum(r["critical_ms"] for r in rows.values()) == pytest.approx((root.end_ns - root.start_ns) / MS, abs=0.05)
    ranked = [r["span_id"] for r in slow["spans"]]
    late = sorted(
        (s for s in spans if rows[s.span_id]["critical_ms"] == 0 and rows[s.span_id]["after_root_ms"] > 0),
        key=lambda s: -rows[s.span_id]["after_root_ms"],
    )
    assert late, "some work went on only after the root answered"
    positions = [ranked.index(s.span_id) for s in late]
    assert positions == sorted(positions), "off the path, spans rank by their time after the root answered"
    assert "then time after the root answered" in spans_text

    # by operation: the ranking of work after the root answered, the worker that ran longest after it first
    after = ops["after_root"]
    assert after and after[0]["after_root_ms"] == max(a["after_root_ms"] for a in after)
    longest = max(outliving, key=lambda s: s.end_ns - max(s.start_ns, root.end_ns))
    assert any(a["worst_span_id"] == longest.span_id for a in after)
    assert "## After the root answered" in ops_text

    # find_errors: the recorded failures, the spans it names the recorded error spans
    failed = {s.span_id for s in spans if s.error}
    assert errors["occurrences"] >= 1 and errors["errors"]
    named = {e["span_id"] for e in errors["errors"] if e["span_id"]}
    assert named and named <= failed
    assert sum(e["count"] for e in errors["errors"]) <= len(failed)
    assert errors_text


def test_a_grpc_server_stream_is_shown_apart(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    path = _built(tmp_path_factory, "grpc-stream")
    rec = raw.read(path)
    watch = {s.span_id for s in rec.spans if s.name.endswith("/Watch")}
    (tid,) = {s.trace_id for s in rec.spans if s.span_id in watch}
    (trace_text, trace), (_, slow), (ops_text, ops) = _ask(
        path,
        tmp_path / "s.db",
        [
            ("get_trace", {"trace_id": tid, "max_spans": 300}),
            ("find_slow_spans", {"group_by": "span", "limit": 100}),
            ("find_slow_spans", {"limit": 100}),
        ],
    )
    assert {n["span_id"] for n in trace["spans"] if n["stream"]} == watch
    for span_id in watch:
        assert "**stream**" in next(ln for ln in trace_text.splitlines() if f"`{span_id}`" in ln)
    flags = [r["stream"] for r in slow["spans"]]
    assert {r["span_id"] for r in slow["spans"] if r["stream"]} == watch
    assert flags == sorted(flags), "streams come after all the work"
    assert all(r["share"] is None for r in slow["spans"] if r["stream"])
    assert [o["stream"] for o in ops["operations"]][-1] and not ops["operations"][0]["stream"]
    assert ops["stream_count"] == len(watch) and {s["span_id"] for s in ops["streams"]} == watch
    assert re.search(r"## Streams \(2: ", ops_text)


@pytest.mark.parametrize(
    ("name", "attributes", "messages", "duration_ms", "kind"),
    [
        ("GET /events", {"http.response.header.content-type": ["text/event-stream"]}, 0, 5, "sse"),
        ("GET /feed", {"http.request.header.accept": "text/event-stream"}, 0, 5, "sse"),
        ("GET /ws", {"http.request.header.upgrade": ["websocket"]}, 0, 5, "websocket"),
        ("GET", {"url.full": "wss://example.test/live"}, 0, 5, "websocket"),
        ("websocket /chat", {}, 0, 5, "websocket"),
        ("orders receive", {"messaging.operation.type": "receive"}, 0, 30_000, "message wait"),
        ("orders receive", {"messaging.operation": "receive"}, 0, 20, None),
        ("orders process", {"messaging.operation.type": "process"}, 0, 30_000, None),
        ("/shop.Cart/Get", {"rpc.system": "grpc", "rpc.method": "Get"}, 2, 5, None),
        ("/shop.Cart/Get", {"rpc.system": "grpc", "rpc.method": "Get"}, 7, 5, "rpc stream"),
        ("/shop.Prices/WatchPrices", {"rpc.system": "grpc"}, 0, 5, "rpc stream"),
        ("/shop.Logs/Tail", {"rpc.system": "grpc", "rpc.method": "Tail"}, 0, 5, "rpc stream"),
        ("/shop.Dog/Watchdog", {"rpc.system": "grpc", "rpc.method": "Watchdog"}, 0, 5, None),
        ("/shop.Up/Upstream", {"rpc.system": "grpc", "rpc.method": "Upstream"}, 0, 5, None),
        ("GET /watch", {"http.request.method": "GET"}, 0, 60_000, None),
    ],
)
def test_what_counts_as_a_stream(
    name: str, attributes: dict[str, Any], messages: int, duration_ms: int, kind: str | None
) -> None:
    events = [SpanEvent(i, "message", {"message.type": "SENT"}) for i in range(messages)]
    before = dict(attributes)
    assert stream_kind(name, attributes, events, duration_ms * 1_000_000) == kind
    assert attributes == before
