"""ClickHouseStore: the exporter's tables on a cluster behind the store seam, read-only, with a local cache.

Every question first makes sure the local SQLite file holds the traces it is about, then
answers as the SQLite store does (so fingerprints, self time, critical path, patterns and
sessions are derived by the same code as for a recording, once per trace):

    question                         what is fetched from the cluster (remote.py)
    a trace (get_trace, patterns)    that trace's spans and logs, unless the cache has it
    a session                        the traces carrying its key, and those its browser requests
                                     (recorded locally) name
    failures in a window             the traces with a failed span, and the error logs, in the
                                     window: found by SQL on the cluster, so the answer is exact
    N+1 loops in a window            the traces where one parent has N_PLUS_ONE_MIN_REPEATS or more
                                     children of one service (every trace a loop can be in)
    lists, slow work in a window     the newest `max_traces` trace ids in the window (`describe()`,
                                     which the server adds to every answer, says when it holds more)
    automatic baselines              the CANDIDATE_POOL sessions that started last before it
                                     (within `baseline_lookback_s`), whole: the pool SQLite ranks

What is fetched goes through the normal ingest path: checked, redacted under the same rules
(the cluster holds what the exporter wrote), and written by IngestWriter, whose INSERT OR
IGNORE keeps a trace fetched twice (or a span inserted twice by a Collector retry) once.
A window or a session is asked of the cluster again after `refresh_s`; a trace already held
is not fetched again unless it was still growing (its end within `refresh_s` of the fetch).
Browser recordings ingested into the same file pair with the cluster's traces as usual.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from mcp_sessions.analysis.patterns import N_PLUS_ONE_MIN_REPEATS
from mcp_sessions.formats.coerce import checked_records
from mcp_sessions.model import (
    Candidate,
    CopyKey,
    Event,
    Failures,
    LogRecord,
    OperationLoops,
    OperationRanking,
    Page,
    Record,
    SessionFilter,
    SessionSummary,
    Sort,
    Span,
    SpanRanking,
    SpanRecords,
    SpanScope,
    StoredPattern,
    TimelinePage,
    TraceFilter,
    TraceSummary,
)
from mcp_sessions.redact import DEFAULT_RULES, RedactionReport, RedactionRules, redact_records
from mcp_sessions.store.clickhouse.remote import Remote, Window
from mcp_sessions.store.sqlite.baselines import CANDIDATE_POOL
from mcp_sessions.store.sqlite.derive import LINK_WINDOW_NS
from mcp_sessions.store.sqlite.insights import MAX_FAILURES
from mcp_sessions.store.sqlite.store import SqliteStore
from mcp_sessions.store.sqlite.writer import IngestWriter
from mcp_sessions.visible import code

log = logging.getLogger(__name__)

SOURCE = "clickhouse"
DEFAULT_MAX_TRACES = 20_000
DEFAULT_REFRESH_S = 60.0
DEFAULT_BASELINE_LOOKBACK_S = 3600.0
NS = 1_000_000_000


@dataclass(frozen=True)
class CacheStatus:
    """What the local cache holds from the cluster, and how old it is."""

    traces: int
    spans: int
    fetches: int
    oldest_fetch_ns: int | None
    newest_fetch_ns: int | None
    windows: tuple[tuple[Window, int, int], ...]  # (window, traces mirrored, traces in it on the cluster)


class ClickHouseStore(SqliteStore):
    """The cluster's traces as a SessionStore, answered from a local SQLite cache it fills on demand."""

    def __init__(
        self,
        remote: Remote,
        cache_path: Path,
        *,
        rules: RedactionRules = DEFAULT_RULES,
        max_traces: int = DEFAULT_MAX_TRACES,
        refresh_s: float = DEFAULT_REFRESH_S,
        baseline_lookback_s: float = DEFAULT_BASELINE_LOOKBACK_S,
    ) -> None:
        super().__init__(cache_path)
        self.remote = remote
        self.rules = rules
        self.max_traces = max_traces
        self.refresh_s = refresh_s
        self.baseline_lookback_s = baseline_lookback_s
        self._asked: dict[object, float] = {}  # window / session / trace → when the cluster was last asked
        self._windows: dict[Window, tuple[int, int]] = {}
        self._last_window: Window | None = None
        self._growing: set[str] = set()
        # One filler at a time: two tool calls about the same session fetch and write it once.
        self._filling = threading.RLock()

    def close(self) -> None:
        try:
            self.remote.client.close()
        finally:
            super().close()

    # ---- filling the cache ----

    def _fresh(self, key: object) -> bool:
        asked = self._asked.get(key)
        return asked is not None and time.monotonic() - asked < self.refresh_s

    def _held(self, trace_ids: Iterable[str]) -> set[str]:
        ids = list(dict.fromkeys(trace_ids))
        held: set[str] = set()
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            held |= {r[0] for r in self.conn.execute(f"SELECT trace_id FROM traces WHERE trace_id IN ({marks})", part)}
        return held - self._growing

    def ensure_traces(self, trace_ids: Iterable[str]) -> None:
        """Fetch the traces the cache lacks (or that were still growing), in one ingest."""
        with self._filling:
            self._ensure_traces(trace_ids)

    def _ensure_traces(self, trace_ids: Iterable[str]) -> None:
        wanted = [t for t in dict.fromkeys(trace_ids) if t and not self._fresh(("trace", t))]
        missing = sorted(set(wanted) - self._held(wanted))
        now = time.monotonic()
        for t in wanted:
            self._asked[("trace", t)] = now
        if not missing:
            return
        spans = self.remote.spans(missing)
        logs = self.remote.logs(missing)
        cutoff = time.time_ns() - int(self.refresh_s * NS)
        ends: dict[str, int] = {}
        for span in spans:
            ends[span.trace_id] = max(ends.get(span.trace_id, 0), span.end_ns)
        self._growing = (self._growing - set(missing)) | {t for t, end in ends.items() if end > cutoff}
        self._write([*spans, *logs], missing)

    def _write_logs(self, logs: Sequence[LogRecord], window: Window) -> None:
        if logs:
            self._write(logs, [f"error logs {window}"])

    def _write(self, records: Sequence[Record], trace_ids: Sequence[str]) -> None:
        if not records:
            return
        digest = hashlib.sha256()
        for t in trace_ids:
            digest.update(t.encode())
        digest.update(str(len(records)).encode())
        with (
            self.writing() as conn,
            IngestWriter(
                conn,
                source=f"{SOURCE}:{len(trace_ids)} traces",
                fmt=SOURCE,
                content_hash=f"{SOURCE}-{digest.hexdigest()}",
            ) as writer,
        ):
            if writer.already_ingested:
                return
            report = RedactionReport(self.rules)
            writer.add(redact_records(checked_records(records, isolate=True), report))
            writer.finish(report.as_dict())

    def ensure_session(self, session_id: str) -> None:
        """Fetch the traces carrying the session's key, and those its browser requests name."""
        with self._filling:
            self._ensure_session(session_id)

    def _ensure_session(self, session_id: str) -> None:
        key = ("session", session_id)
        if self._fresh(key):
            return
        from_cluster = self.remote.session_trace_ids(session_id)
        self.ensure_traces([*from_cluster, *self._browser_traces([session_id])])
        self._asked[key] = time.monotonic()

    def _browser_traces(self, session_ids: Sequence[str]) -> list[str]:
        """The traces the sessions' recorded browser requests (kept in the local file) name, or may have caused:
        a request without a trace header is linked by time window (store/sqlite/derive.py), so the server
        traces that started within LINK_WINDOW_NS of it come over too."""
        out: list[str] = []
        intervals: list[tuple[int, int]] = []
        for start in range(0, len(session_ids), 500):
            part = list(session_ids[start : start + 500])
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(
                "SELECT trace_id, time_ns, coalesce(duration_ns, 0) FROM events "
                f"WHERE session_id IN ({marks}) AND kind = 'network' AND (trace_id IS NOT NULL OR "
                "(time_ns IS NOT NULL AND method IS NOT NULL))",
                part,
            ).fetchall()
            for trace_id, time_ns, duration in rows:
                if trace_id is not None:
                    out.append(trace_id)
                elif time_ns is not None:
                    intervals.append((time_ns - LINK_WINDOW_NS, time_ns + duration + LINK_WINDOW_NS))
        if intervals:
            out += self.remote.server_traces_started_in(intervals, self.max_traces)
        return list(dict.fromkeys(out))

    def ensure_window(self, window: Window) -> None:
        """Fetch the window's newest `max_traces` traces."""
        with self._filling:
            self._ensure_window(window)

    def _ensure_window(self, window: Window) -> None:
        key = ("window", window)
        self._last_window = window
        if self._fresh(key):
            return
        ids, total = self.remote.trace_ids(window, self.max_traces)
        if total > len(ids):
            log.warning("the window holds %d traces on the cluster; mirroring the newest %d", total, len(ids))
        self.ensure_traces(ids)
        self._windows[window] = (len(ids), total)
        self._asked[key] = time.monotonic()

    def ensure_scope(self, scope: SpanScope) -> None:
        if scope.trace_id is not None:
            self.ensure_traces([scope.trace_id])
        elif scope.session_id is not None:
            self.ensure_session(scope.session_id)
        else:
            self.ensure_window(Window(scope.since_ns, scope.until_ns, scope.service, scope.route))

    def describe(self) -> str:
        """One line for every answer (the server's SourceNote): the cluster, what the cache holds, and
        whether the last all-data question covered its whole window or only its newest traces. (Calls
        answered at once share the store: the line names the window last asked, not always this call's.)"""
        # Runs after every answer: one count of trace rows, not cache_status()'s walk over every span.
        (held,) = self.conn.execute("SELECT count(*) FROM traces").fetchone()
        parts = [
            f"**Source**: ClickHouse ({self.remote.variant.database}), cached in {self.path} ({held:,} traces held)"
        ]
        window = self._last_window
        if window is not None and window in self._windows:
            mirrored, total = self._windows[window]
            if total > mirrored:
                parts.append(
                    f"the last window asked ({_window_text(window)}) holds {total:,} traces on the cluster: answers "
                    f"over it cover the newest {mirrored:,} (narrow since/until or service, or raise max_traces= "
                    "in the DSN)"
                )
            else:
                parts.append(f"the last window asked ({_window_text(window)}): all {total:,} of its traces")
        parts.append(f"answers are reused for {self.refresh_s:g} s")
        return "; ".join(parts)

    def cache_status(self) -> CacheStatus:
        """What the cache holds from the cluster and when it was fetched."""
        fetches, oldest, newest = self.conn.execute(
            "SELECT count(*), min(ingested_at_ns), max(ingested_at_ns) FROM ingests WHERE format = ?", (SOURCE,)
        ).fetchone()
        traces, spans = self.conn.execute(
            "SELECT count(DISTINCT s.trace_id), count(*) FROM spans s JOIN ingests i ON i.id = s.ingest_id "
            "WHERE i.format = ?",
            (SOURCE,),
        ).fetchone()
        return CacheStatus(
            traces, spans, fetches, oldest, newest, tuple((w, n, t) for w, (n, t) in self._windows.items())
        )

    # ---- TraceStore ----

    def session(self, session_id: str) -> SessionSummary | None:
        self._last_window = None  # a question about one session: no window to speak of
        self.ensure_session(session_id)
        return super().session(session_id)

    def sessions(self, f: SessionFilter, *, sort: Sort, limit: int, cursor: str | None) -> Page[SessionSummary]:
        self.ensure_window(Window(f.since_ns, f.until_ns, f.service))
        return super().sessions(f, sort=sort, limit=limit, cursor=cursor)

    def trace(self, trace_id: str) -> TraceSummary | None:
        self._last_window = None
        self.ensure_traces([trace_id])
        return super().trace(trace_id)

    def traces(self, f: TraceFilter, *, sort: Sort, limit: int, cursor: str | None) -> Page[TraceSummary]:
        if f.session_id is not None:
            self.ensure_session(f.session_id)
        else:
            self.ensure_window(Window(f.since_ns, f.until_ns, f.service))
        return super().traces(f, sort=sort, limit=limit, cursor=cursor)

    def unsessioned_trace_count(self) -> int:
        self.ensure_window(Window())
        return super().unsessioned_trace_count()

    def similar_ids(self, kind: Literal["sessions", "traces"], wanted: str) -> list[str]:
        self.ensure_window(Window())
        return super().similar_ids(kind, wanted)

    def trace_spans(self, trace_id: str) -> list[Span]:
        self.ensure_traces([trace_id])
        return super().trace_spans(trace_id)

    def session_traces(self, session_id: str) -> dict[str, list[Span]]:
        self.ensure_session(session_id)
        return super().session_traces(session_id)

    def trace_log_count(self, trace_id: str) -> int:
        self.ensure_traces([trace_id])
        return super().trace_log_count(trace_id)

    def span(self, trace_id: str, span_id: str) -> SpanRecords | None:
        self.ensure_traces([trace_id])
        return super().span(trace_id, span_id)

    def slow_operations(self, scope: SpanScope, limit: int) -> OperationRanking:
        self.ensure_scope(scope)
        return super().slow_operations(scope, limit)

    def slow_spans(self, scope: SpanScope, limit: int) -> SpanRanking:
        self.ensure_scope(scope)
        return super().slow_spans(scope, limit)

    def operation_loops(
        self, scope: SpanScope, operations: Sequence[tuple[str | None, str]]
    ) -> dict[tuple[str | None, str], OperationLoops]:
        if scope.trace_id is not None or scope.session_id is not None:
            self.ensure_scope(scope)
        else:
            window = Window(scope.since_ns, scope.until_ns, scope.service, scope.route)
            with self._filling:
                if not self._fresh(("loops", window)):
                    self.ensure_traces(self.remote.loop_trace_ids(window, N_PLUS_ONE_MIN_REPEATS, self.max_traces))
                    self._asked[("loops", window)] = time.monotonic()
        return super().operation_loops(scope, operations)

    def trace_patterns(self, trace_ids: Sequence[str]) -> dict[str, list[StoredPattern]]:
        self.ensure_traces(trace_ids)
        return super().trace_patterns(trace_ids)

    def failures(self, scope: SpanScope) -> Failures:
        if scope.trace_id is not None or scope.session_id is not None:
            self.ensure_scope(scope)
        else:
            window = Window(scope.since_ns, scope.until_ns, scope.service, scope.route)
            self._last_window = None  # failures are found on the cluster over the whole window
            with self._filling:
                if not self._fresh(("failures", window)):
                    self.ensure_traces(self.remote.failing_trace_ids(window, MAX_FAILURES))
                    self._write_logs(self.remote.error_logs(window, MAX_FAILURES), window)
                    self._asked[("failures", window)] = time.monotonic()
        return super().failures(scope)

    def span_parents(self, trace_ids: Sequence[str]) -> dict[tuple[str, str], str | None]:
        self.ensure_traces(trace_ids)
        return super().span_parents(trace_ids)

    def baseline_candidates(self, session_id: str, start_ns: int) -> list[Candidate]:
        # The CANDIDATE_POOL sessions that started last before this one (within the lookback) come over
        # whole, found and fetched by two statements; the SQLite store then ranks them as always.
        self.ensure_session(session_id)
        key = ("baselines", session_id, start_ns)
        with self._filling:
            if not self._fresh(key):
                lookback = int(self.baseline_lookback_s * NS)
                if self.remote.variant.attributes == "json":  # no per-row session expression: the window itself
                    self.ensure_window(Window(since_ns=start_ns - lookback, until_ns=start_ns))
                else:
                    pool = self.remote.recent_sessions(start_ns, lookback, CANDIDATE_POOL + 1)
                    others = [s for s in pool if s != session_id]
                    found = self.remote.sessions_trace_ids(others, start_ns - lookback)
                    self.ensure_traces([*found, *self._browser_traces(others)])
                self._asked[key] = time.monotonic()
        return super().baseline_candidates(session_id, start_ns)

    def route_count(self, session_id: str) -> int:
        self.ensure_session(session_id)
        return super().route_count(session_id)

    # ---- EventStore: browser events live in the local file; the traces they name come from the cluster ----

    def session_events(self, session_id: str, *, with_copies: bool = False) -> list[Event]:
        self.ensure_session(session_id)
        return super().session_events(session_id, with_copies=with_copies)

    def timeline(
        self,
        session_id: str,
        *,
        kinds: Sequence[str] | None,
        from_ns: int | None,
        to_ns: int | None,
        cursor: str | None,
        limit: int,
    ) -> TimelinePage:
        self.ensure_session(session_id)
        return super().timeline(session_id, kinds=kinds, from_ns=from_ns, to_ns=to_ns, cursor=cursor, limit=limit)

    def event_counts(self, session_id: str) -> dict[str, int]:
        self.ensure_session(session_id)
        return super().event_counts(session_id)

    def user_actions(self, session_ids: Sequence[str]) -> dict[str, list[Event]]:
        for session_id in session_ids:
            self.ensure_session(session_id)
        return super().user_actions(session_ids)

    def request_times(self, trace_ids: Sequence[str]) -> dict[str, int]:
        self.ensure_traces(trace_ids)
        return super().request_times(trace_ids)

    def har_twins(self, session_id: str, limit: int) -> dict[CopyKey, Event]:
        self.ensure_session(session_id)
        return super().har_twins(session_id, limit)

    def all_have_browser_events(self, session_ids: Sequence[str]) -> bool:
        return super().all_have_browser_events(session_ids)

    def response_sizes(self, session_id: str) -> dict[str, int]:
        self.ensure_session(session_id)
        return super().response_sizes(session_id)


def _window_text(window: Window) -> str:
    """A window as a reader names it: its times (UTC), service and route, or "all data"."""
    parts = []
    if window.since_ns is not None or window.until_ns is not None:
        since = _clock(window.since_ns) if window.since_ns is not None else "…"
        parts.append(f"{since} – {_clock(window.until_ns) if window.until_ns is not None else 'now'}")
    if window.service:
        parts.append(f"service {code(window.service)}")
    if window.route:
        parts.append(f"route {code(window.route)}")
    return ", ".join(parts) or "all data"


def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
