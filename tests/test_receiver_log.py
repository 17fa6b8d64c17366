"""The collector's line per request on stderr: what was stored, masked, rejected; rate-limited under load."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
from test_receiver import SPAN_JSON, Running

from mcp_sessions.intake_log import BatchLines, BatchReport, batch_line


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def report(spans: int = 10, **fields: object) -> BatchReport:
    return BatchReport("traces", "http/json", spans=spans, **fields)  # type: ignore[arg-type]


def test_a_line_says_what_was_stored_masked_and_rejected():
    line = batch_line(
        BatchReport(
            "traces",
            "grpc",
            spans=40,
            duplicates=2,
            masked={"authorization": 2, "jwt": 1},
            rejected=1,
            reason="resource_spans[0].scope_spans[0].spans[3]: span_id is 3 bytes, expected 8",
        )
    )
    assert "traces grpc: stored 40 spans (2 already stored)" in line
    assert "masked authorization 2, jwt 1" in line
    assert "rejected 1 span (resource_spans[0].scope_spans[0].spans[3]: span_id is 3 bytes" in line
    refused = batch_line(BatchReport("logs", "http/protobuf", reason="the database is busy\n" + "x" * 500, status=503))
    assert "logs http/protobuf: refused (503): the database is busy x" in refused and len(refused) < 220
    rrweb = batch_line(BatchReport("rrweb", "http", events=57, subject="session s-1, page p-2, batch 3"))
    assert "rrweb http: stored 57 events (session s-1, page p-2, batch 3)" in rrweb
    assert "already stored (a resend)" in batch_line(BatchReport("rrweb", "http", already=True))
    assert "3 metrics counted, not stored" in batch_line(BatchReport("metrics", "grpc", counted=3))


def test_under_load_lines_are_held_back_and_summed_nothing_uncounted():
    out, clock = io.StringIO(), Clock()
    lines = BatchLines(out, rate=5, burst=3, clock=clock)
    for _ in range(100):
        lines(report(spans=10))
    lines(BatchReport("traces", "grpc", reason="busy", status=14))
    assert lines.written == 3  # the burst, then nothing until time passes
    clock.now += 0.2  # one line's worth of time: the sum of everything held back
    lines.flush_due()
    written = out.getvalue().splitlines()
    assert len(written) == 4
    assert "… 98 more requests in" in written[3] and "970 spans" in written[3] and "1 refused" in written[3]
    assert sum(int(w.split("stored ")[1].split(" spans")[0]) for w in written[:3]) + 970 == 100 * 10
    clock.now += 10
    lines(report(spans=1))
    lines.flush_due()
    assert out.getvalue().splitlines()[-1].endswith("stored 1 spans")


def test_close_writes_what_is_held_back():
    out, clock = io.StringIO(), Clock()
    lines = BatchLines(out, rate=1, burst=1, clock=clock)
    lines(report())
    lines(report())
    lines.close()
    assert out.getvalue().splitlines()[-1].split(": ", 1)[1] == "10 spans, 0 logs, 0 events stored"


def test_the_receiver_reports_every_request_accepted_or_refused(db_path: Path):
    reports: list[BatchReport] = []
    doc = json.loads(json.dumps(SPAN_JSON))
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"].append(
        {"key": "http.request.header.authorization", "value": {"stringValue": "Bearer abc"}}
    )
    with Running(db_path, on_batch=reports.append) as r:
        httpx.post(f"{r.url}/v1/traces", json=doc)
        httpx.post(f"{r.url}/v1/traces", json=doc)  # the same request again
        httpx.post(f"{r.url}/v1/traces", content=b"{", headers={"content-type": "application/json"})
        httpx.post(f"{r.url}/v1/traces", content=b"x", headers={"content-type": "text/csv"})
        httpx.post(f"{r.url}/v1/rrweb", json={"session_id": "s", "page_id": "p", "seq": 0, "events": []})
    first, again, bad, csv, rrweb = reports
    assert (first.spans, first.duplicates, first.refused) == (1, 0, False) and sum(first.masked.values()) >= 1
    assert again.already and again.spans == 0  # the same body: known by its hash
    assert (bad.refused, bad.status) == (True, 400) and "invalid JSON" in (bad.reason or "")
    assert (csv.refused, csv.status) == (True, 415)
    assert rrweb.signal == "rrweb" and (rrweb.events, rrweb.refused) == (0, False)
    assert rrweb.subject == "session s, page p, batch 0"
    assert r.app.state.writer.stats.rejected == 2
