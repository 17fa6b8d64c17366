"""RemoteStore: a Jaeger or Tempo behind the store seam, answering from a local SQLite cache.

Each question first makes sure the cache holds what it is about, then asks the cache (a
SqliteStore, so every answer is the one the same data ingested locally gives):

    a trace id        fetched by id, unless fetched less than `ttl` ago
    a session id      the source's search for the session attribute over `lookback`, then as above
    everything else   (lists, rankings, failures across data) the source's search over the
                      question's since/until, else the last `window`, at most `limit` traces

    question ──► ensure(scope) ──► source (HTTP) ──► our readers ──► redaction ──► IngestWriter ──► cache
                     │ fresh enough: no request                                                    │
                     └──────────────────────────────────────────────────────────── SqliteStore ◄───┘

What comes back is parsed by our readers and redacted under the server's rules before it is
written, so the cache holds nothing a file ingest would not. Writes go through the normal writer
(one transaction per answer; a content hash makes a repeated answer a no-op), so erased ids stay
refused. When the source fails and the cache already holds what a scoped question is about, the
cached copy answers and `describe()` says the source is failing; otherwise the SourceError (naming
the URL and what to check) reaches the caller. `describe()` says what the cache holds, how old
it is, and what window and limit the last search covered: the server adds it to every answer.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import httpx

from mcp_sessions.errors import SourceError
from mcp_sessions.model import (
    Candidate,
    CopyKey,
    Event,
    Failures,
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
from mcp_sessions.store.remote.client import SourceClient
from mcp_sessions.store.remote.dsn import SourceConfig
from mcp_sessions.store.remote.sources import Fetched, Source, now_ns, open_source
from mcp_sessions.store.sqlite.store import SqliteStore
from mcp_sessions.store.sqlite.writer import IngestWriter

log = logging.getLogger(__name__)

_TRACE_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Searched:
    """One search the source answered: its window, filter, what it brought, whether the limit cut it."""

    what: str  # "traces" or "session <id>"
    start_ns: int
    end_ns: int
    service: str | None
    traces: int
    truncated: bool
    at_ns: int


class RemoteStore:
    """A SessionStore over a Jaeger or Tempo, cached in a local SQLite file (see the module docstring)."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        rules: RedactionRules = DEFAULT_RULES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        assert config.cache_path is not None
        self.config = config
        self.rules = rules
        self.client = SourceClient(config, transport)
        self.source: Source = open_source(config, self.client)
        config.cache_path.parent.mkdir(parents=True, exist_ok=True)
        self.cache = SqliteStore(config.cache_path)
        self._lock = threading.RLock()
        self._traces: dict[str, int] = {}  # trace id → when the source last answered for it (found or not)
        self._sessions: dict[str, int] = {}
        self._searches: list[Searched] = []  # the window searches younger than `ttl`
        self.last_search: Searched | None = None
        self.failing: str | None = None  # the last SourceError, while the cache answers in its place
        self.opened_ns = now_ns()

    @property
    def label(self) -> str:
        return f"{self.config.label}, cached in {self.config.cache_path}"

    def close(self) -> None:
        self.client.close()
        self.cache.close()

    # ---- what the cache holds, and how old -----------------------------------------------------------

    def describe(self) -> str:
        """One line: the source, what the cache holds and how old it is, what the last search covered."""
        cfg = self.config
        held = self.cache.traces(TraceFilter(), sort="recent", limit=1, cursor=None).total
        parts = [f"**Source**: {cfg.label}, cached in {cfg.cache_path} ({held} traces held)"]
        searched = self.last_search
        if searched is not None:
            window = f"{_clock(searched.start_ns)}–{_clock(searched.end_ns)} UTC"
            service = f" of {searched.service}" if searched.service else ""
            cut = f", the limit of {cfg.limit}: more may exist (narrow since/until)" if searched.truncated else ""
            parts.append(
                f"last search ({searched.what}{service}) covered traces started {window}, "
                f"{searched.traces} fetched{cut}, {_age(now_ns() - searched.at_ns)} ago"
            )
        else:
            parts.append("no search yet: lists show only what earlier questions fetched")
        parts.append(f"answers are reused for {_age(cfg.ttl_ns)}")
        if self.failing:
            parts.append(f"the source is failing ({self.failing}); answers come from the cache")
        return "; ".join(parts)

    # ---- making sure the cache holds a scope ---------------------------------------------------------

    def ensure_trace(self, trace_id: str) -> None:
        if not _TRACE_ID.fullmatch(trace_id):
            return  # not an id the source could hold (the answers layer says so): nothing to ask
        with self._lock:
            if self._fresh(self._traces.get(trace_id)):
                return
            try:
                records = self.source.trace(trace_id)
            except SourceError as exc:
                self._fall_back(exc, self.cache.trace(trace_id) is not None)
                return
            if records:
                self._write(records, f"{self.config.base_url} trace {trace_id}")
            self._traces[trace_id] = now_ns()

    def ensure_traces(self, trace_ids: Sequence[str]) -> None:
        for trace_id in trace_ids:
            self.ensure_trace(trace_id)

    def ensure_session(self, session_id: str) -> None:
        with self._lock:
            if self._fresh(self._sessions.get(session_id)):
                return
            end = now_ns()
            start = end - self.config.lookback_ns
            try:
                fetched = self.source.session(session_id, start, end)
            except SourceError as exc:
                self._fall_back(exc, self.cache.session(session_id) is not None)
                return
            self._store_search(fetched, f"session {session_id}", start, end, None)
            self._sessions[session_id] = now_ns()

    def ensure_window(self, since_ns: int | None, until_ns: int | None, service: str | None) -> None:
        with self._lock:
            end = until_ns if until_ns is not None else now_ns()
            start = since_ns if since_ns is not None else end - self.config.window_ns
            if self._window_covered(start, end, service):
                return
            try:
                fetched = self.source.window(start, max(end, start + 1), service)
            except SourceError as exc:
                held = self.cache.traces(TraceFilter(), sort="recent", limit=1, cursor=None).total
                self._fall_back(exc, held > 0)
                return
            self._store_search(fetched, "traces", start, end, service)

    def _window_covered(self, start: int, end: int, service: str | None) -> bool:
        """Whether a search younger than `ttl` covered this window: one that held every trace of a wider
        window, or one of this very window that hit the limit (asking again would bring the same).

        A relative window (`since="2h"`, or none) moves with the clock: asked again within `ttl`, it
        lies inside the last one but for the seconds since, less than `ttl`, which are let pass."""
        now, ttl = now_ns(), self.config.ttl_ns
        for searched in self._searches:
            if searched.service != service or now - searched.at_ns >= ttl:
                continue
            if searched.truncated:
                if abs(searched.start_ns - start) < ttl and abs(searched.end_ns - end) < ttl:
                    return True
            elif searched.start_ns <= start and end - searched.end_ns < ttl:
                return True
        return False

    def ensure_scope(self, scope: SpanScope) -> None:
        if scope.trace_id:
            self.ensure_trace(scope.trace_id)
        elif scope.session_id:
            self.ensure_session(scope.session_id)
        else:
            self.ensure_window(scope.since_ns, scope.until_ns, scope.service)

    def _store_search(self, fetched: Fetched, what: str, start: int, end: int, service: str | None) -> None:
        if fetched.records:
            self._write(fetched.records, f"{self.config.base_url} search {what}")
        at = now_ns()
        for trace_id in fetched.trace_ids:
            self._traces[trace_id] = at
        self.last_search = Searched(what, start, end, service, len(fetched.trace_ids), fetched.truncated, at)
        if what == "traces":
            self._searches = [s for s in self._searches if at - s.at_ns < self.config.ttl_ns] + [self.last_search]
        self.failing = None

    def _fresh(self, fetched_at: int | None) -> bool:
        return fetched_at is not None and now_ns() - fetched_at < self.config.ttl_ns

    def _fall_back(self, exc: SourceError, cached: bool) -> None:
        if not cached:
            raise exc
        log.warning("answering from the cache: %s", exc)
        self.failing = str(exc)

    def _write(self, records: list[Record], source: str) -> None:
        """Redact and store one answer through the normal writer, in one transaction."""
        digest = hashlib.sha256(repr(records).encode()).hexdigest()
        report = RedactionReport(self.rules)
        with (
            self.cache.writing() as conn,
            IngestWriter(conn, source=source, fmt=self.config.kind, content_hash=digest) as writer,
        ):
            if writer.already_ingested:
                return
            writer.add(redact_records(records, report))
            writer.finish(report.as_dict())

    # ---- TraceStore ------------------------------------------------------------------------------------

    def session(self, session_id: str) -> SessionSummary | None:
        self.ensure_session(session_id)
        return self.cache.session(session_id)

    def sessions(self, f: SessionFilter, *, sort: Sort, limit: int, cursor: str | None) -> Page[SessionSummary]:
        if cursor is None:
            self.ensure_window(f.since_ns, f.until_ns, f.service)
        return self.cache.sessions(f, sort=sort, limit=limit, cursor=cursor)

    def trace(self, trace_id: str) -> TraceSummary | None:
        self.ensure_trace(trace_id)
        return self.cache.trace(trace_id)

    def traces(self, f: TraceFilter, *, sort: Sort, limit: int, cursor: str | None) -> Page[TraceSummary]:
        if cursor is None:
            if f.session_id:
                self.ensure_session(f.session_id)
            else:
                self.ensure_window(f.since_ns, f.until_ns, f.service)
        return self.cache.traces(f, sort=sort, limit=limit, cursor=cursor)

    def unsessioned_trace_count(self) -> int:
        return self.cache.unsessioned_trace_count()

    def similar_ids(self, kind: Literal["sessions", "traces"], wanted: str) -> list[str]:
        return self.cache.similar_ids(kind, wanted)

    def trace_spans(self, trace_id: str) -> list[Span]:
        self.ensure_trace(trace_id)
        return self.cache.trace_spans(trace_id)

    def span(self, trace_id: str, span_id: str) -> SpanRecords | None:
        self.ensure_trace(trace_id)
        return self.cache.span(trace_id, span_id)

    def session_traces(self, session_id: str) -> dict[str, list[Span]]:
        self.ensure_session(session_id)
        return self.cache.session_traces(session_id)

    def trace_log_count(self, trace_id: str) -> int:
        self.ensure_trace(trace_id)
        return self.cache.trace_log_count(trace_id)

    def slow_operations(self, scope: SpanScope, limit: int) -> OperationRanking:
        self.ensure_scope(scope)
        return self.cache.slow_operations(scope, limit)

    def slow_spans(self, scope: SpanScope, limit: int) -> SpanRanking:
        self.ensure_scope(scope)
        return self.cache.slow_spans(scope, limit)

    def operation_loops(
        self, scope: SpanScope, operations: Sequence[tuple[str | None, str]]
    ) -> dict[tuple[str | None, str], OperationLoops]:
        self.ensure_scope(scope)
        return self.cache.operation_loops(scope, operations)

    def trace_patterns(self, trace_ids: Sequence[str]) -> dict[str, list[StoredPattern]]:
        self.ensure_traces(trace_ids)
        return self.cache.trace_patterns(trace_ids)

    def failures(self, scope: SpanScope) -> Failures:
        self.ensure_scope(scope)
        return self.cache.failures(scope)

    def span_parents(self, trace_ids: Sequence[str]) -> dict[tuple[str, str], str | None]:
        self.ensure_traces(trace_ids)
        return self.cache.span_parents(trace_ids)

    def baseline_candidates(self, session_id: str, start_ns: int) -> list[Candidate]:
        self.ensure_session(session_id)
        return self.cache.baseline_candidates(session_id, start_ns)

    def route_count(self, session_id: str) -> int:
        self.ensure_session(session_id)
        return self.cache.route_count(session_id)

    # ---- EventStore: a trace source holds no browser events; the cache answers with what it has ------

    def session_events(self, session_id: str, *, with_copies: bool = False) -> list[Event]:
        self.ensure_session(session_id)
        return self.cache.session_events(session_id, with_copies=with_copies)

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
        return self.cache.timeline(session_id, kinds=kinds, from_ns=from_ns, to_ns=to_ns, cursor=cursor, limit=limit)

    def event_counts(self, session_id: str) -> dict[str, int]:
        self.ensure_session(session_id)
        return self.cache.event_counts(session_id)

    def user_actions(self, session_ids: Sequence[str]) -> dict[str, list[Event]]:
        return self.cache.user_actions(session_ids)

    def request_times(self, trace_ids: Sequence[str]) -> dict[str, int]:
        return self.cache.request_times(trace_ids)

    def har_twins(self, session_id: str, limit: int) -> dict[CopyKey, Event]:
        return self.cache.har_twins(session_id, limit)

    def all_have_browser_events(self, session_ids: Sequence[str]) -> bool:
        return self.cache.all_have_browser_events(session_ids)

    def response_sizes(self, session_id: str) -> dict[str, int]:
        return self.cache.response_sizes(session_id)


def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _age(ns: int) -> str:
    seconds = max(0, ns) / 1e9
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"
