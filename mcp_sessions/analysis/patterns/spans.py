"""Patterns inside backend traces: N+1, repeated identical calls, calls that could overlap.

All three look at the outbound calls (client, producer and database spans) a span makes,
on the tree's clamped times. Internal spans (template rendering, ASGI send events) are
left out: repeating them is CPU work, not round trips a batch would save.

N+1: one parent runs the same operation again and again, one after another.

    POST /api/checkout |==================================================|
    SELECT … id = ?       |-| |-| |-| |-| |-| |-| |-| |-| |-| |-|            10 × under one parent,
                                                                             serial: an N+1
    (the same ten overlapping, as a pool running them at once, is not one:
    their union must cover at least N_PLUS_ONE_MIN_SERIAL of their summed time)

Duplicate calls: the very same read (full statement text without bind parameters, or
method + full URL) sent more than once in a trace within DUPLICATE_WINDOW_NS, with no
write in between that could have changed its answer.

    GET /user/7  |---|                 duplicate (same text, nothing written between)
    GET /user/7         |---|
    POST /user/7                |--|   a write: a GET /user/7 after it is a fresh read

Sequential calls: reads to different targets under one parent, each starting after the
previous one ended, whose overlap would save at least SEQUENTIAL_MIN_SAVING_NS.

    GET /a  |------|                      run in parallel they would take the longest one:
    GET /b          |----------|          saving = sum − max
    GET /c                      |----|

Duplicate requests: when a session has no browser requests to compare, the server spans
that root its traces stand in for them (same method + full URL, within the window).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from mcp_sessions.analysis.patterns.model import (
    SAFE_METHODS,
    CallSpan,
    CallT,
    Pattern,
    PatternKind,
    bounded,
    code_location,
    fingerprint,
    http_method,
    is_outbound,
    is_read,
    is_static_asset,
    rank,
    statement,
)
from mcp_sessions.analysis.selftime import union_ns
from mcp_sessions.analysis.tree import TraceTree

MS = 1_000_000

# Sentry's N+1 detector asks for "usually five" repeats: ORMs loading a relation per row
# produce one query per row, so a list of five or more is where batching clearly pays,
# while two or three lookups of one shape (two inserts, a retry) are ordinary code.
N_PLUS_ONE_MIN_REPEATS = 5
# "One after another": the repeats' union covers at least 80% of their summed durations.
# Queries issued in parallel (asyncio.gather, a pool) overlap far more than that.
N_PLUS_ONE_MIN_SERIAL = 0.8
# Repeats of one request closer than this are the same need asked twice (two components
# mounting, a double effect, a retry loop); users and polling loops take seconds.
DUPLICATE_WINDOW_NS = 2_000 * MS
# Three or more independent reads in a row; two in a row are too often a lookup and its use.
SEQUENTIAL_MIN_CALLS = 3
# Half of RAIL's 100 ms response budget: below that, overlapping the calls is not worth it.
SEQUENTIAL_MIN_SAVING_NS = 50 * MS

_BIND_MARKER = re.compile(r"\?|\$\d+|%s|%\(\w+\)s|(?<![:\w]):[A-Za-z_]\w*")
_SQL_STRING = re.compile(r"'(?:[^'\\]|\\.|'')*'")


def trace_patterns(tree: TraceTree[CallT]) -> list[Pattern]:
    """Every N+1, duplicate and sequential finding inside one trace, most avoidable time first.

    The spans of an N+1 are not reported again as duplicates or as sequential calls. This is
    what ingest stores per trace and what `get_trace` shows: the same function on the same spans.
    """
    if sum(map(is_outbound, tree.spans)) < 2:  # every finding needs two calls at least
        return []
    repeats = n_plus_one(tree)
    claimed = frozenset(node for _, members in repeats for node in members)
    return rank(
        [
            *(pattern for pattern, _ in repeats),
            *duplicate_spans(tree, exclude=claimed),
            *sequential_calls(tree, exclude=claimed),
        ]
    )


def n_plus_one(tree: TraceTree[CallT]) -> list[tuple[Pattern, tuple[int, ...]]]:
    """Every parent's serial repeats of one outbound operation: (finding, all its spans' tree indices)."""
    found = []
    for parent in range(len(tree)):
        groups: dict[tuple[str | None, str], list[int]] = {}
        for child in tree.children[parent]:
            span = tree.spans[child]
            if is_outbound(span):
                groups.setdefault((span.service, fingerprint(span)), []).append(child)
        for (service, operation), members in groups.items():
            if len(members) < N_PLUS_ONE_MIN_REPEATS:
                continue
            intervals = [tree.clamped[m] for m in members]
            total = sum(end - start for start, end in intervals)
            if total and union_ns(intervals) < N_PLUS_ONE_MIN_SERIAL * total:
                continue
            pattern = _span_pattern(tree, "n_plus_one", members, operation, service, parent, intervals)
            found.append((pattern, tuple(members)))
    return found


def duplicate_spans(tree: TraceTree[CallT], exclude: frozenset[int] = frozenset()) -> list[Pattern]:
    """Identical reads within one trace (statements with literals only, or client requests)."""
    keyed: dict[tuple[str | None, str], list[int]] = {}
    writes: list[int] = []
    for node in sorted(range(len(tree)), key=lambda n: (tree.clamped[n][0], n)):
        span = tree.spans[node]
        if node in exclude or not is_outbound(span):
            continue
        if not is_read(span):
            writes.append(tree.clamped[node][0])
            continue
        key = _exact_key(span)
        # Two instrumentation layers (requests over urllib3) record one call twice, nested.
        if key is not None and not any(_exact_key(tree.spans[a]) == key for a in tree.ancestors(node)):
            keyed.setdefault((span.service, key), []).append(node)
    found = []
    for (service, _), nodes in keyed.items():
        for cluster in _clusters([tree.clamped[n][0] for n in nodes], writes):
            members = [nodes[i] for i in cluster]
            parents = {tree.parent[m] for m in members}
            parent = parents.pop() if len(parents) == 1 else None
            intervals = [tree.clamped[m] for m in members]
            found.append(
                _span_pattern(
                    tree,
                    "duplicate_calls",
                    members,
                    fingerprint(tree.spans[members[0]]),
                    service,
                    parent,
                    intervals,
                    impact=sum(e - s for s, e in intervals[1:]),
                )
            )
    return found


def sequential_calls(tree: TraceTree[CallT], exclude: frozenset[int] = frozenset()) -> list[Pattern]:
    """Runs of back-to-back reads to different targets under one parent."""
    found = []
    for parent in range(len(tree)):
        run: list[int] = []
        for child in tree.children[parent]:  # in start order
            span = tree.spans[child]
            if not is_outbound(span):
                continue
            if child in exclude or not is_read(span):
                found.extend(_flush_run(tree, parent, run))
                run = []
                continue
            operation = fingerprint(span)
            follows = run and tree.clamped[child][0] >= tree.clamped[run[-1]][1]
            if run and (not follows or operation in {fingerprint(tree.spans[r]) for r in run}):
                found.extend(_flush_run(tree, parent, run))
                run = []
            run.append(child)
        found.extend(_flush_run(tree, parent, run))
    return found


def duplicate_roots(trees: Sequence[TraceTree[CallT]], actions: Sequence[int] = ()) -> list[Pattern]:
    """The same read request served more than once (server spans rooting the given traces).

    `actions` are the times the user acted (`user_action_times`): requests either side of one
    were each caused by their own action, never duplicates of each other.
    """
    roots = []
    for tree in trees:
        for root in tree.roots:
            if tree.spans[root].kind == "server":
                roots.append((tree.spans[root].start_ns, tree.spans[root].trace_id, tree, root))
    roots.sort(key=lambda r: (r[0], r[1], r[3]))
    keyed: dict[tuple[str | None, str, str], list[tuple[TraceTree, int]]] = {}
    writes: list[int] = []
    for start, _, tree, root in roots:
        span = tree.spans[root]
        method, url = http_method(span), span.http_url
        if method is None or url is None:
            continue
        if method not in SAFE_METHODS:
            writes.append(start)
        elif not is_static_asset(url):
            keyed.setdefault((span.service, method, url), []).append((tree, root))
    found = []
    for (service, method, url), members in keyed.items():
        for cluster in _clusters([t.spans[r].start_ns for t, r in members], [*writes, *actions]):
            picked = [members[i] for i in cluster]
            durations = [max(0, t.spans[r].end_ns - t.spans[r].start_ns) for t, r in picked]
            starts = [t.spans[r].start_ns for t, r in picked]
            trace_ids = bounded(t.spans[r].trace_id for t, r in picked)
            found.append(
                Pattern(
                    kind="duplicate_calls",
                    fingerprint=fingerprint(picked[0][0].spans[picked[0][1]]),
                    service=service,
                    count=len(picked),
                    total_ns=sum(durations),
                    impact_ns=sum(durations[1:]),
                    wall_ns=max(s + d for s, d in zip(starts, durations, strict=True)) - starts[0],
                    start_ns=starts[0],
                    trace_id=trace_ids[0] if len(set(t.spans[r].trace_id for t, r in picked)) == 1 else None,
                    trace_ids=trace_ids,
                    parent_span_id=None,
                    parent_name=None,
                    span_ids=bounded(t.spans[r].span_id for t, r in picked),
                    example=f"{method} {url}",
                    facts={"method": method, "url": url, "source": "server spans"},
                )
            )
    return found


def _exact_key(span: CallSpan) -> str | None:
    text = statement(span)
    if text is not None:
        return None if _has_bind_parameters(text) else text
    method, url = http_method(span), span.http_url
    return f"{method} {url}" if method and url else None


@lru_cache(maxsize=4096)
def _has_bind_parameters(text: str) -> bool:
    """With bind parameters the text says nothing of the values: equal text is not the same query."""
    return bool(_BIND_MARKER.search(_SQL_STRING.sub("", text)))


def _clusters(starts: Sequence[int], boundaries: Sequence[int]) -> Iterable[list[int]]:
    """Indices (into time-ordered `starts`) of runs within the window with no boundary between, ≥ 2 long.

    A boundary is a write (reading again after one is how a page refreshes) or a user action.
    """
    cluster: list[int] = []
    for i, start in enumerate(starts):
        if cluster:
            first_start, last_start = starts[cluster[0]], starts[cluster[-1]]
            crossed = any(last_start < b <= start for b in boundaries)
            if start - first_start > DUPLICATE_WINDOW_NS or crossed:
                if len(cluster) >= 2:
                    yield cluster
                cluster = []
        cluster.append(i)
    if len(cluster) >= 2:
        yield cluster


def _flush_run(tree: TraceTree[CallT], parent: int, run: list[int]) -> list[Pattern]:
    if len(run) < SEQUENTIAL_MIN_CALLS:
        return []
    intervals = [tree.clamped[r] for r in run]
    durations = [end - start for start, end in intervals]
    saving = sum(durations) - max(durations)
    if saving < SEQUENTIAL_MIN_SAVING_NS:
        return []
    steps = tuple(fingerprint(tree.spans[r]) for r in run)
    services = {tree.spans[r].service for r in run}
    return [
        _span_pattern(
            tree,
            "sequential_calls",
            run,
            " → ".join(steps)[:300],
            services.pop() if len(services) == 1 else tree.spans[parent].service,
            parent,
            intervals,
            impact=saving,
            facts={"steps": steps[:20]},
        )
    ]


def _span_pattern(
    tree: TraceTree[CallT],
    kind: PatternKind,
    members: list[int],
    operation: str,
    service: str | None,
    parent: int | None,
    intervals: list[tuple[int, int]],
    *,
    impact: int | None = None,
    facts: Mapping[str, Any] | None = None,
) -> Pattern:
    """A finding over spans of one tree (members in start order)."""
    spans = [tree.spans[m] for m in members]
    durations = [end - start for start, end in intervals]
    total = sum(durations)
    function, path, line = code_location(spans)
    raw = statement(spans[0])
    if raw is None:
        method, url = http_method(spans[0]), spans[0].http_url
        raw = f"{method} {url}" if method and url else spans[0].name
    extra = {"max_ns": max(durations), "distinct_statements": len({statement(s) for s in spans})}
    return Pattern(
        kind=kind,
        fingerprint=operation,
        service=service,
        count=len(members),
        total_ns=total,
        impact_ns=total - max(durations) if impact is None else impact,
        wall_ns=max(end for _, end in intervals) - min(start for start, _ in intervals),
        start_ns=min(start for start, _ in intervals),
        trace_id=spans[0].trace_id,
        trace_ids=(spans[0].trace_id,),
        parent_span_id=tree.spans[parent].span_id if parent is not None else None,
        parent_name=tree.spans[parent].name if parent is not None else None,
        span_ids=bounded(s.span_id for s in spans),
        example=raw,
        code_function=function,
        code_filepath=path,
        code_lineno=line,
        facts={**extra, **(facts or {})},
    )
