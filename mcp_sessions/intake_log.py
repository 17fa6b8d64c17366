"""The collector's log of what arrives: a line per request on stderr, rate-limited under load.

    14:02:03 traces http/protobuf: stored 512 spans, masked authorization 2, rejected 1 span (spans[3]: …)
    14:02:03 rrweb http: stored 57 events (session s-1, page p-2, batch 3), masked input 4
    14:02:04 logs grpc: refused (503): the database is busy; nothing stored
    14:02:14 … 1204 more requests in 10.0 s: 120400 spans, 12 logs, 0 events stored; 3 refused

Up to `burst` lines are written at once and then `rate` a second (a token bucket). The
requests whose lines were held back meanwhile are summed, and the sum is written as one line
as soon as a line may be written again (`flush_due`, which the collector calls every second)
or when the collector stops (`close`). Counts are what the commit added: records already
stored (an exporter's retry) are counted apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

REASON_CHARS = 160


@dataclass(frozen=True)
class BatchReport:
    """What became of one request, for its line."""

    signal: str  # traces, logs, metrics, rrweb
    transport: str  # http/protobuf, http/json, grpc, http
    spans: int = 0  # rows the commit added
    logs: int = 0
    events: int = 0
    duplicates: int = 0  # records already stored (an exporter's retry)
    already: bool = False  # the request as a whole was stored before (a resend)
    masked: dict[str, int] = field(default_factory=dict)
    rejected: int = 0  # records rejected alone (OTLP partial success)
    reason: str | None = None  # the first rejected record's reason, or why the request was refused
    status: int | None = None  # set when the request was refused: its HTTP status
    counted: int = 0  # metric data points counted, not stored
    subject: str | None = None  # which batch: rrweb's session, page and number

    @property
    def refused(self) -> bool:
        return self.status is not None


_SINGULAR = {"traces": "span", "logs": "log", "metrics": "metric", "rrweb": "event"}


def batch_line(report: BatchReport, now: float | None = None) -> str:
    """One request's line (the module docstring shows the shapes)."""
    clock = time.strftime("%H:%M:%S", time.localtime(now))
    head = f"{clock} {report.signal} {report.transport}:"
    r = report
    if r.refused:
        return f"{head} refused ({r.status}): {_clip(r.reason or 'no reason given')}"
    if r.already:
        what = "already stored (a resend); nothing added"
    elif r.signal == "metrics":
        what = f"{r.counted} metrics counted, not stored"
    else:
        parts = [f"{n} {name}" for n, name in ((r.spans, "spans"), (r.logs, "logs"), (r.events, "events")) if n]
        what = "stored " + (", ".join(parts) or "nothing")
        if r.duplicates:
            what += f" ({r.duplicates} already stored)"
    if report.subject:
        what += f" ({report.subject})"
    pieces = [what]
    if report.masked:
        pieces.append("masked " + ", ".join(f"{rule} {n}" for rule, n in sorted(report.masked.items())))
    if report.rejected:
        noun = _SINGULAR.get(report.signal, "record") + ("s" if report.rejected != 1 else "")
        pieces.append(f"rejected {report.rejected} {noun}" + (f" ({_clip(report.reason)})" if report.reason else ""))
    return f"{head} {', '.join(pieces)}"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


@dataclass
class _Held:
    requests: int = 0
    spans: int = 0
    logs: int = 0
    events: int = 0
    refused: int = 0
    since: float = 0.0

    def add(self, report: BatchReport, now: float) -> None:
        if not self.requests:
            self.since = now
        self.requests += 1
        self.refused += report.refused
        self.spans += report.spans
        self.logs += report.logs
        self.events += report.events


class BatchLines:
    """Writes `batch_line`s to `stream` at most `burst` at once and `rate` a second; the rest summed."""

    def __init__(
        self,
        stream: TextIO,
        *,
        rate: float = 5.0,
        burst: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._held = _Held()
        self.written = 0

    def __call__(self, report: BatchReport) -> None:
        now = self._refill()
        if self._held.requests:
            self._held.add(report, now)
            self.flush_due()
        elif self._tokens >= 1:
            self._tokens -= 1
            self._write(batch_line(report))
        else:
            self._held.add(report, now)

    def flush_due(self) -> None:
        """Write the sum of the held-back requests if a line may be written now."""
        now = self._refill()
        if self._held.requests and self._tokens >= 1:
            self._tokens -= 1
            self._write_held(now)

    def close(self) -> None:
        """Write whatever is held back (the collector is stopping)."""
        if self._held.requests:
            self._write_held(self._refill())

    def _write_held(self, now: float) -> None:
        h, self._held = self._held, _Held()
        clock = time.strftime("%H:%M:%S")
        line = (
            f"{clock} … {h.requests} more requests in {max(now - h.since, 0.0):.1f} s: "
            f"{h.spans} spans, {h.logs} logs, {h.events} events stored"
        )
        self._write(line + (f"; {h.refused} refused" if h.refused else ""))

    def _refill(self) -> float:
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now
        return now

    def _write(self, line: str) -> None:
        self.written += 1
        self.stream.write(line + "\n")
        self.stream.flush()
