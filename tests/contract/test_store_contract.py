"""The store contract: what any store behind store/protocol.py must answer, checked on the protocol alone.

Each test reads only protocol methods and model records, so a second implementation passes
by answering the same questions the same way. Invariants hold for any corpus (pages cover
every row once, totals agree, rankings are ordered); a few facts are pinned on the hostile
session conftest.py adds (a request with no answer, a 404, a padded trace id).
"""

from __future__ import annotations

import typing
from collections import Counter
from collections.abc import Callable

import pytest

from mcp_sessions.analysis.patterns import calls_tree, trace_patterns
from mcp_sessions.analysis.tree import build_tree
from mcp_sessions.errors import QueryError
from mcp_sessions.model import Page, SessionFilter, SpanScope, TraceFilter, TraceSummary, copy_key
from mcp_sessions.store import protocol
from mcp_sessions.store.protocol import SessionStore

from .conftest import HOSTILE_SESSION, HOSTILE_TRACE

SORT_KEYS = {
    "recent": ("start_ns", True),
    "oldest": ("start_ns", False),
    "slowest": ("duration_ns", True),
    "errors": ("error_count", True),
    "largest": ("span_count", True),
}
ACTIONS = {"click", "dblclick", "input", "navigation", "focus"}


def walk(fetch: Callable[[str | None], Page], key: Callable[[object], str]) -> tuple[list, set[int]]:
    """Every row of a list, page after page, and the totals each page reported."""
    rows, totals, cursor = [], set(), None
    for _ in range(1000):
        page = fetch(cursor)
        rows += page.rows
        totals.add(page.total)
        assert len(page.resume) == len(page.rows)
        if page.next_cursor is None:
            return rows, totals
        assert page.next_cursor == page.resume[-1]
        cursor = page.next_cursor
    raise AssertionError("the list never ended")


def sessions_with_traces(store: SessionStore) -> list[str]:
    page = store.sessions(SessionFilter(), sort="oldest", limit=500, cursor=None)
    return [s.session_id for s in page.rows if s.trace_count]


def test_no_database_type_crosses_the_seam():
    for cls in (protocol.TraceStore, protocol.EventStore):
        for name, member in vars(cls).items():
            if callable(member) and not name.startswith("_"):
                hints = typing.get_type_hints(member, vars(protocol))
                assert all("sqlite" not in repr(h).lower() for h in hints.values()), (cls.__name__, name)


@pytest.mark.parametrize("sort", sorted(SORT_KEYS))
def test_session_pages_visit_every_session_once_in_order(store: SessionStore, sort):
    everything = store.sessions(SessionFilter(), sort=sort, limit=500, cursor=None)
    rows, totals = walk(lambda c: store.sessions(SessionFilter(), sort=sort, limit=3, cursor=c), lambda s: s)
    assert totals == {everything.total} and everything.total == len(everything.rows) > 3
    assert [s.session_id for s in rows] == [s.session_id for s in everything.rows]
    column, descending = SORT_KEYS[sort]
    values = [getattr(s, column) for s in rows]
    assert values == sorted(values, reverse=descending)


def test_a_cut_page_resumes_right_after_any_row(store: SessionStore):
    first = store.traces(TraceFilter(), sort="slowest", limit=12, cursor=None)
    for i in (0, 4, 8):
        after = store.traces(TraceFilter(), sort="slowest", limit=2, cursor=first.resume[i])
        assert [t.trace_id for t in after.rows] == [t.trace_id for t in first.rows[i + 1 : i + 3]]


def test_a_cursor_from_another_list_or_nowhere_is_a_query_error(store: SessionStore):
    page = store.sessions(SessionFilter(), sort="recent", limit=1, cursor=None)
    with pytest.raises(QueryError):
        store.sessions(SessionFilter(), sort="slowest", limit=1, cursor=page.next_cursor)
    with pytest.raises(QueryError):
        store.traces(TraceFilter(), sort="recent", limit=1, cursor="not a cursor")
    timeline = store.timeline(HOSTILE_SESSION, kinds=None, from_ns=None, to_ns=None, cursor=None, limit=1)
    other = next(sid for sid in sessions_with_traces(store) if sid != HOSTILE_SESSION)
    with pytest.raises(QueryError):
        store.timeline(other, kinds=None, from_ns=None, to_ns=None, cursor=timeline.cursor_for[1], limit=1)


def test_lookups_agree_with_the_lists(store: SessionStore):
    listed = store.sessions(SessionFilter(), sort="recent", limit=500, cursor=None).rows
    for s in listed:
        assert store.session(s.session_id) == s
    assert store.session("no-such-session") is None
    assert store.trace("f" * 32) is None
    wanted = listed[0].session_id
    assert wanted in store.similar_ids("sessions", wanted[:-1] + "~")
    assert store.similar_ids("traces", HOSTILE_TRACE[:-1] + "0")


def test_session_traces_are_the_traces_listed_for_the_session(store: SessionStore):
    for sid in sessions_with_traces(store):
        session = store.session(sid)
        assert session is not None
        listed = store.traces(TraceFilter(session_id=sid), sort="oldest", limit=500, cursor=None).rows
        traces = store.session_traces(sid)
        assert list(traces) == [t.trace_id for t in listed]
        assert session.trace_count == len(listed)
        assert session.span_count == sum(len(spans) for spans in traces.values())
        for summary in listed:
            spans = traces[summary.trace_id]
            assert spans == store.trace_spans(summary.trace_id)
            assert summary.span_count == len(spans) and store.trace(summary.trace_id) == summary
            assert [s.start_ns for s in spans] == sorted(s.start_ns for s in spans)
            assert summary.error_count == sum(1 for s in spans if s.is_error)


def test_trace_filters_keep_exactly_the_matching_traces(store: SessionStore):
    every = store.traces(TraceFilter(), sort="recent", limit=10_000, cursor=None).rows
    middle = sorted(t.start_ns for t in every)[len(every) // 2]
    cases = [
        (TraceFilter(has_errors=True), lambda t: t.error_count > 0),
        (TraceFilter(has_errors=False), lambda t: t.error_count == 0),
        (TraceFilter(unsessioned=True), lambda t: t.session_id is None),
        (TraceFilter(min_duration_ns=10_000_000), lambda t: t.duration_ns >= 10_000_000),
        (TraceFilter(since_ns=middle), lambda t: t.end_ns >= middle),
        (TraceFilter(until_ns=middle), lambda t: t.start_ns <= middle),
        (TraceFilter(service="payments"), lambda t: "payments" in t.services),
        (TraceFilter(text="wéird"), lambda t: "wéird" in (t.root_name or "") + (t.http_route or "")),
    ]
    for f, keep in cases:
        got = store.traces(f, sort="recent", limit=10_000, cursor=None)
        assert {t.trace_id for t in got.rows} == {t.trace_id for t in every if keep(t)}, f
        assert got.total == len(got.rows)
    assert (
        store.unsessioned_trace_count()
        == store.traces(TraceFilter(unsessioned=True), sort="recent", limit=1, cursor=None).total
    )


def test_session_filters_keep_exactly_the_matching_sessions(store: SessionStore):
    every = store.sessions(SessionFilter(), sort="recent", limit=500, cursor=None).rows
    user = next(s.user_id for s in every if s.user_id)
    cases = [
        (SessionFilter(user_id=user), lambda s: s.user_id == user),
        (SessionFilter(has_errors=True), lambda s: s.error_count > 0),
        (SessionFilter(service="elsewhere"), lambda s: "elsewhere" in s.services),
        (SessionFilter(text=HOSTILE_SESSION), lambda s: s.session_id == HOSTILE_SESSION),
    ]
    for f, keep in cases:
        got = store.sessions(f, sort="oldest", limit=500, cursor=None)
        assert {s.session_id for s in got.rows} == {s.session_id for s in every if keep(s)}, f


def test_timeline_pages_cover_the_merged_story_once_in_time_order(store: SessionStore):
    for sid in [HOSTILE_SESSION, *sessions_with_traces(store)[:4]]:
        whole = store.timeline(sid, kinds=None, from_ns=None, to_ns=None, cursor=None, limit=10_000)
        items, cursor = [], None
        while True:
            page = store.timeline(sid, kinds=None, from_ns=None, to_ns=None, cursor=cursor, limit=4)
            assert page.total == whole.total and page.offset == len(items)
            items += page.items
            if len(items) >= page.total or not page.items:
                break
            cursor = page.cursor_for[len(page.items)]
        assert items == whole.items and len(items) == whole.total
        times = [i.time_ns or 0 for i in items]
        assert times == sorted(times)
        events = [e for e in store.session_events(sid)]
        assert sum(1 for i in items if i.origin == "event") == len(events)
        counts = store.event_counts(sid)
        assert {k: v for k, v in counts.items() if k not in ("linked_requests", "times_unknown")} == dict(
            Counter(e.kind for e in events)
        )
        assert counts["times_unknown"] >= sum(1 for e in events if e.time_ns is None)


def test_timeline_filters_by_kind_and_window(store: SessionStore):
    page = store.timeline(HOSTILE_SESSION, kinds=["network"], from_ns=None, to_ns=None, cursor=None, limit=100)
    assert {i.kind for i in page.items} == {"network"} and page.total == 3
    cut = store.timeline(HOSTILE_SESSION, kinds=None, from_ns=page.items[1].time_ns, to_ns=None, cursor=None, limit=100)
    assert all(i.time_ns is not None and i.time_ns >= page.items[1].time_ns for i in cut.items)


def test_copies_and_twins(store: SessionStore):
    paired = 0
    for sid in sessions_with_traces(store):
        shown = store.session_events(sid)
        every = store.session_events(sid, with_copies=True)
        assert all(e in every for e in shown)
        twins = store.har_twins(sid, 100)
        copies = [e for e in every if e not in shown]
        # each twin is a HAR copy, under the copy_key of the shown request it repeats, and no copy twice
        assert all(t in copies for t in twins.values())
        assert set(twins) <= {copy_key(e) for e in shown if e.kind == "network"}
        assert len({(t.source, t.seq, t.time_ns, t.url) for t in twins.values()}) == len(twins)
        paired += len(twins)
        sizes = store.response_sizes(sid)
        assert all(size >= 0 for size in sizes.values())
        assert set(sizes) <= {e.trace_id for e in every}
        assert store.all_have_browser_events([sid]) == bool(shown)
    assert paired  # the corpus records requests in both rrweb and a HAR


def test_user_actions_are_the_sessions_actions_in_order(store: SessionStore):
    sids = [HOSTILE_SESSION, *sessions_with_traces(store)[:3]]
    actions = store.user_actions(sids)
    for sid in sids:
        assert actions[sid] == [e for e in store.session_events(sid) if e.kind in ACTIONS]


def test_request_times_are_when_the_linked_request_was_sent(store: SessionStore):
    checked = 0
    for sid in sessions_with_traces(store):
        linked = [e for e in store.session_events(sid, with_copies=True) if e.trace_id and e.time_ns is not None]
        times = store.request_times(sorted({e.trace_id for e in linked if e.trace_id}))
        assert set(times) == {e.trace_id for e in linked}
        for trace_id, sent in times.items():
            assert sent == min(e.time_ns or 0 for e in linked if e.trace_id == trace_id)
        checked += len(times)
    assert checked


@pytest.mark.parametrize(
    "scope",
    [SpanScope(), SpanScope(session_id=HOSTILE_SESSION), SpanScope(trace_id=HOSTILE_TRACE), SpanScope(service="shop")],
    ids=["everything", "session", "trace", "service"],
)
def test_rankings_are_ordered_and_consistent(store: SessionStore, scope: SpanScope):
    ops = store.slow_operations(scope, 5)
    assert len(ops.rows) <= 5 and ops.total >= len(ops.rows)
    assert [(r.critical_ns, r.self_ns) for r in ops.rows] == sorted(
        ((r.critical_ns, r.self_ns) for r in ops.rows), reverse=True
    )
    for r in ops.rows:
        assert r.p50_ns is not None and r.p95_ns is not None
        assert r.p50_ns <= r.p95_ns <= r.max_ns and r.count >= r.trace_count >= 1
        worst = [s for s in store.trace_spans(r.worst_trace_id) if s.span_id == r.worst_span_id]
        assert worst and worst[0].name == r.worst_name
        assert scope.service is None or r.service == scope.service
    assert ops.critical_total_ns >= sum(r.critical_ns for r in ops.rows)
    spans = store.slow_spans(scope, 5)
    assert [(r.critical_ns, r.self_ns) for r in spans.rows] == sorted(
        ((r.critical_ns, r.self_ns) for r in spans.rows), reverse=True
    )
    assert spans.total >= len(spans.rows)
    if scope.trace_id:
        assert spans.total == len(store.trace_spans(scope.trace_id))


def test_failures_hold_every_kind_of_failure(store: SessionStore):
    found = store.failures(SpanScope(session_id=HOSTILE_SESSION))
    assert not found.truncated
    assert {s.span_id for _, s in found.spans} == {"00000000000000a1"}
    assert all(sid == HOSTILE_SESSION for sid, _ in found.spans + found.events + found.logs)
    problems = {(e.kind, e.status) for _, e in found.events}
    # a 5xx, a 4xx, a request that got no answer, a console error; not the click or the navigation
    assert problems == {("network", 500), ("network", 404), ("network", None), ("console", None)}
    assert [r.body for _, r in found.logs] == ["it broke"]
    everywhere = store.failures(SpanScope())
    assert {s.span_id for _, s in found.spans} <= {s.span_id for _, s in everywhere.spans}
    for sid in sessions_with_traces(store):
        errors = {s.span_id for spans in store.session_traces(sid).values() for s in spans if s.is_error}
        assert errors <= {s.span_id for _, s in store.failures(SpanScope(session_id=sid)).spans}


def test_baseline_candidates_started_earlier_and_are_alike(store: SessionStore):
    seen = 0
    for sid in sessions_with_traces(store):
        session = store.session(sid)
        assert session is not None and store.route_count(sid) >= 1
        candidates = store.baseline_candidates(sid, session.start_ns)
        similarities = [c.similarity for c in candidates]
        assert similarities == sorted(similarities, reverse=True)
        for c in candidates:
            other = store.session(c.session_id)
            # started no later (two sessions may start in the same instant), never the session itself
            assert other is not None and other.start_ns <= session.start_ns and c.session_id != sid
            assert 0 < c.similarity <= 1
            seen += 1
    assert seen, "no session of the corpus found a baseline"


def all_traces(store: SessionStore) -> list[TraceSummary]:
    rows, _ = walk(lambda c: store.traces(TraceFilter(), sort="oldest", limit=100, cursor=c), lambda t: t)
    return rows


def all_trace_ids(store: SessionStore) -> list[str]:
    return [t.trace_id for t in all_traces(store)]


def test_trace_patterns_are_what_the_trace_read_back_shows(store: SessionStore):
    """The patterns a store keeps per trace are the ones trace_patterns finds on its spans, most avoidable first."""
    ids = all_trace_ids(store)
    kept = store.trace_patterns(ids)
    assert set(kept) <= set(ids) and any(p.kind == "n_plus_one" for ps in kept.values() for p in ps)
    for tid in ids:
        found = trace_patterns(calls_tree(build_tree(store.trace_spans(tid))))
        assert Counter(
            (p.kind, p.service, p.fingerprint, p.parent_span_id, p.count, p.impact_ns, p.span_id)
            for p in kept.get(tid, [])
        ) == Counter(
            (p.kind, p.service, p.fingerprint, p.parent_span_id, p.count, p.impact_ns, p.span_ids[0]) for p in found
        )
        impacts = [p.impact_ns for p in kept.get(tid, [])]
        assert impacts == sorted(impacts, reverse=True)
    assert store.trace_patterns([]) == {} and store.trace_patterns(["f" * 32]) == {}


def test_operation_loops_add_up_the_loops_of_each_trace_in_scope(store: SessionStore):
    kept = store.trace_patterns(all_trace_ids(store))
    loops_by_operation: dict[tuple[str | None, str], dict[str, int]] = {}
    for tid, patterns in kept.items():
        for p in patterns:
            if p.kind == "n_plus_one":
                per_trace = loops_by_operation.setdefault((p.service, p.fingerprint), {})
                per_trace[tid] = per_trace.get(tid, 0) + p.count
    assert loops_by_operation
    everywhere = store.operation_loops(SpanScope(), [*loops_by_operation, (None, "no such operation")])
    assert set(everywhere) == set(loops_by_operation)
    for operation, per_trace in loops_by_operation.items():
        loops = everywhere[operation]
        assert (loops.traces, loops.fewest, loops.most, loops.calls) == (
            len(per_trace),
            min(per_trace.values()),
            max(per_trace.values()),
            sum(per_trace.values()),
        )
        assert per_trace[loops.worst_trace_id] >= 1
        tid = loops.worst_trace_id
        one = store.operation_loops(SpanScope(trace_id=tid), [operation])[operation]
        assert (one.traces, one.calls, one.worst_trace_id) == (1, per_trace[tid], tid)
        trace = store.trace(tid)
        assert trace is not None
        if trace.session_id:
            session = store.operation_loops(SpanScope(session_id=trace.session_id), [operation])[operation]
            assert 1 <= session.traces <= loops.traces
        window = SpanScope(since_ns=trace.start_ns, until_ns=trace.end_ns)
        assert store.operation_loops(window, [operation])[operation].traces >= 1
    before_all = SpanScope(until_ns=min(t.start_ns for t in all_traces(store)) - 1)
    assert store.operation_loops(before_all, list(loops_by_operation)) == {}


def test_span_parents_are_the_parent_links_of_every_span_of_the_traces(store: SessionStore):
    ids = [*all_trace_ids(store)[:20], HOSTILE_TRACE]
    parents = store.span_parents(ids)
    for tid in ids:
        spans = store.trace_spans(tid)
        assert {(tid, s.span_id) for s in spans} == {k for k in parents if k[0] == tid}
        for s in spans:
            # a Zipkin shared (server) half reuses its client's id: the client's parent is the one named
            same_id = [o for o in spans if o.span_id == s.span_id]
            clients = [o for o in same_id if not o.shared] or same_id
            assert parents[(tid, s.span_id)] in {o.parent_span_id for o in clients}
    assert parents[(HOSTILE_TRACE, "00000000000000a2")] == "00000000000000a1"
    assert store.span_parents([]) == {} and store.span_parents(["f" * 32]) == {}


def test_a_span_is_every_record_under_its_id_with_its_parent_and_children(store: SessionStore):
    for tid in [*all_trace_ids(store)[:20], HOSTILE_TRACE]:
        spans = store.trace_spans(tid)
        for sid in {s.span_id for s in spans}:
            found = store.span(tid, sid)
            assert found is not None and (found.trace_id, found.span_id) == (tid, sid)
            same = [s for s in spans if s.span_id == sid]
            assert sorted(found.records, key=repr) == sorted(same, key=repr)
            assert [r.start_ns for r in found.records] == sorted(r.start_ns for r in found.records)
            own = next((r for r in found.records if not r.shared), found.records[0])
            parent_id = own.parent_span_id if own.parent_span_id != sid else None
            parents = [s for s in spans if s.span_id == parent_id]
            if parents:
                assert found.parent in parents and (found.parent.shared is False or all(p.shared for p in parents))
            else:
                assert found.parent is None
            assert found.children == sum(1 for s in spans if s.parent_span_id == sid and s.span_id != sid)
    root = store.span(HOSTILE_TRACE, "00000000000000a1")
    assert root is not None and root.parent is None and root.children == 1
    child = store.span(HOSTILE_TRACE, "00000000000000a2")
    assert child is not None and child.parent is not None and child.parent.name == "GET /wéird/{id}"
    assert child.records[0].attributes["db.statement"] == "SELECT * FROM t WHERE id = 42"
    assert store.span(HOSTILE_TRACE, "f" * 16) is None and store.span("f" * 32, "00000000000000a1") is None
