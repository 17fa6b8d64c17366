"""Patterns in what the browser asked for: the same request twice, fetches chained one by one.

A recording may hold a request twice, once from rrweb's network plugin and once from the
HAR; the copies are paired as the store pairs them (trace context, else method, URL and a
start within COPY_MATCH_NS: analysis/request_copies.py) and merged into one request first,
the rrweb copy named, the HAR copy's sizes and body kept.

Requests are compared only within one stretch of the page: a navigation, a document load
or a user action (click, input) starts a new stretch, since after those a request asked
again is asked for a reason. A write (POST, PUT, ...) ends the stretch for reads too:
reading again after writing is how a page refreshes.

    nav /product/7   GET …/reviews ×3 (5 ms apart)    click "Add"   POST   GET /api/cart
    |────────────── one stretch ─────────────────|    |──── new ────|──────| new (after a write)
                     └ duplicate_calls, count 3 ┘

Waterfall: three or more reads in one stretch, each starting within WATERFALL_MAX_GAP_NS
of the previous response, none repeated; the page waited for each before asking the next.

    GET /api/a  |-----|
    GET /api/b         |--------|           sequential_calls: saving = sum − max
    GET /api/c                   |----|
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mcp_sessions.analysis.fingerprint import request_fingerprint
from mcp_sessions.analysis.patterns.model import (
    MAX_IDS,
    SAFE_METHODS,
    EventRef,
    Pattern,
    PatternKind,
    bounded,
    user_action_times,
)
from mcp_sessions.analysis.patterns.spans import (
    DUPLICATE_WINDOW_NS,
    MS,
    SEQUENTIAL_MIN_CALLS,
    SEQUENTIAL_MIN_SAVING_NS,
)
from mcp_sessions.analysis.request_copies import PAIR_WINDOW_NS, RequestCopy, pair_copies
from mcp_sessions.analysis.tree import TraceTree
from mcp_sessions.model import Event
from mcp_sessions.semconv import first

COPY_MATCH_NS = PAIR_WINDOW_NS  # copies of one request start within this of each other
# A fetch chained on the previous one (`await a; fetch(b)`) starts within a few ms of the
# response; 50 ms leaves room to parse and render it. A longer pause means other work came first.
WATERFALL_MAX_GAP_NS = 50 * MS

_API_INITIATORS = frozenset({"fetch", "xmlhttprequest", "xhr", "beacon"})


@dataclass(frozen=True)
class Request:
    """One browser request, merged over its recorded copies."""

    ref: EventRef  # the copy to name (rrweb when there is one: what the timeline shows)
    method: str
    url: str
    start_ns: int
    duration_ns: int
    status: int | None
    trace_id: str | None
    detail: Mapping[str, Any]  # the named copy's detail, completed by the other copies'
    body_key: str | None  # request body digest; "" for no body; None when unknown
    url_template: str | None = None  # the store's template of `url` (learned across stored values)

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.duration_ns

    @property
    def is_write(self) -> bool:
        return self.method not in SAFE_METHODS

    @property
    def is_document(self) -> bool:
        dest = _header(self.detail, "sec-fetch-dest")
        if dest is not None:
            return dest == "document"
        if self.detail.get("initiator") == "navigation":
            return True
        return self.method == "GET" and str(self.detail.get("mime_type") or "").startswith("text/html")

    @property
    def is_api(self) -> bool:
        """Fetched by the page's code (fetch, XHR), not loaded by the browser as a page or an asset."""
        initiator = self.detail.get("initiator")
        if initiator is not None:
            return str(initiator).lower() in _API_INITIATORS
        dest = _header(self.detail, "sec-fetch-dest")
        if dest is not None:
            return dest == "empty"
        return "json" in str(self.detail.get("mime_type") or "")


def merge_requests(events: Sequence[Event]) -> list[Request]:
    """Timed network events as requests, each recorded copy merged into one; in time order.

    The copies are paired as the store pairs them (`analysis/request_copies.py`): rrweb's copy kept,
    the HAR's merged into it.
    """
    network = sorted(
        (e for e in events if e.kind == "network" and e.time_ns is not None and e.url),
        key=lambda e: (e.time_ns, e.source != "rrweb", e.seq),
    )
    shown = [
        RequestCopy(i, e.method, e.url, e.time_ns, e.trace_id) for i, e in enumerate(network) if e.source == "rrweb"
    ]
    copies = [
        RequestCopy(i, e.method, e.url, e.time_ns, e.trace_id) for i, e in enumerate(network) if e.source != "rrweb"
    ]
    kept_by = {p.copy: p.kept for p in pair_copies(shown, copies)} if shown and copies else {}
    groups: dict[int, list[Event]] = {}
    for i, event in enumerate(network):
        groups.setdefault(kept_by.get(i, i), []).append(event)
    requests = [_request(g) for g in groups.values()]
    requests.sort(key=lambda r: (r.start_ns, r.ref.source, r.ref.seq))
    return requests


def duplicate_requests(
    requests: Sequence[Request], events: Sequence[Event], trees: Sequence[TraceTree]
) -> list[Pattern]:
    """The same request (method, full URL, body) sent again within a stretch and the window."""
    stretch = _stretches(requests, events)
    write_starts = [r.start_ns for r in requests if r.is_write]  # requests are in time order
    keyed: dict[tuple[str, str, str, int, int], list[Request]] = {}
    for request, part in zip(requests, stretch, strict=True):
        if request.body_key is None or request.is_document:
            continue
        # Reads are also split by writes; a write repeated with the same body is a double submit.
        writes_before = -1 if request.is_write else bisect_left(write_starts, request.start_ns)
        keyed.setdefault((request.method, request.url, request.body_key, part, writes_before), []).append(request)
    found = []
    for (method, url, *_), members in keyed.items():
        cluster: list[Request] = []
        for request in members:
            if cluster and request.start_ns - cluster[0].start_ns > DUPLICATE_WINDOW_NS:
                found.extend(_duplicates(cluster, trees, method, url))
                cluster = []
            cluster.append(request)
        found.extend(_duplicates(cluster, trees, method, url))
    return found


def waterfalls(requests: Sequence[Request], events: Sequence[Event], trees: Sequence[TraceTree]) -> list[Pattern]:
    """Runs of API reads in one stretch, each started right after the previous one answered."""
    found: list[Pattern] = []
    run: list[Request] = []
    run_part = -1
    for request, part in zip(requests, _stretches(requests, events), strict=True):
        if not request.is_api:
            continue
        if (
            run
            and part == run_part
            and not request.is_write
            and 0 <= request.start_ns - run[-1].end_ns <= WATERFALL_MAX_GAP_NS
            and (request.method, request.url) not in {(r.method, r.url) for r in run}
        ):
            run.append(request)
            continue
        found.extend(_waterfall(run, trees))
        run = [] if request.is_write else [request]
        run_part = part
    found.extend(_waterfall(run, trees))
    return found


def _duplicates(cluster: list[Request], trees: Sequence[TraceTree], method: str, url: str) -> list[Pattern]:
    if len(cluster) < 2:
        return []
    return [_request_pattern("duplicate_calls", cluster, trees, {"method": method, "url": url})]


def _waterfall(run: list[Request], trees: Sequence[TraceTree]) -> list[Pattern]:
    durations = [r.duration_ns for r in run]
    if len(run) < SEQUENTIAL_MIN_CALLS or sum(durations) - max(durations) < SEQUENTIAL_MIN_SAVING_NS:
        return []
    return [_request_pattern("sequential_calls", run, trees, {})]


def linked_roots(trees: Sequence[TraceTree]) -> dict[str, tuple[TraceTree, int]]:
    """Each trace's first server root (else its first root), by trace id."""
    out: dict[str, tuple[TraceTree, int]] = {}
    for tree in trees:
        if not tree.roots:
            continue
        root = next((r for r in tree.roots if tree.spans[r].kind == "server"), tree.roots[0])
        out.setdefault(tree.spans[root].trace_id, (tree, root))
    return out


def _request_pattern(
    kind: PatternKind, members: Sequence[Request], trees: Sequence[TraceTree], facts: Mapping[str, Any]
) -> Pattern:
    """A finding over browser requests (in time order), named by their backend routes where linked."""
    roots = linked_roots(trees)
    linked = [roots.get(r.trace_id or "") for r in members]
    fingerprints = []
    for request, link in zip(members, linked, strict=True):
        route = first(link[0].spans[link[1]].attributes, "http.route") if link else None
        fingerprints.append(
            request_fingerprint(
                request.method, request.url, str(route) if route else None, url_template=request.url_template
            )
        )
    services = {link[0].spans[link[1]].service for link in linked if link}
    durations = [r.duration_ns for r in members]
    trace_ids = bounded(r.trace_id for r in members if r.trace_id)
    if kind == "duplicate_calls":
        fingerprint, saving = fingerprints[0], sum(durations[1:])  # every call after the first
        extra: dict[str, Any] = {"source": "browser", **facts}
    else:
        fingerprint, saving = " → ".join(fingerprints)[:300], sum(durations) - max(durations)
        extra = {"source": "browser", "steps": tuple(fingerprints[:20]), **facts}
    one_trace = len({r.trace_id for r in members}) == 1 and bool(trace_ids)
    return Pattern(
        kind=kind,
        fingerprint=fingerprint,
        service=services.pop() if len(services) == 1 else None,
        count=len(members),
        total_ns=sum(durations),
        impact_ns=saving,
        wall_ns=max(r.end_ns for r in members) - members[0].start_ns,
        start_ns=members[0].start_ns,
        trace_id=trace_ids[0] if one_trace else None,
        trace_ids=trace_ids,
        parent_span_id=None,
        parent_name=None,
        span_ids=bounded(link[0].spans[link[1]].span_id for link in linked if link),
        events=tuple(r.ref for r in members[:MAX_IDS]),
        example=f"{members[0].method} {members[0].url}",
        facts=extra,
    )


def _stretches(requests: Sequence[Request], events: Sequence[Event]) -> list[int]:
    """For each request, how many stretch boundaries (navigations, user actions, page loads) precede it."""
    marks = sorted(user_action_times(events) + [r.start_ns for r in requests if r.is_document])
    return [bisect_right(marks, r.start_ns) for r in requests]


def _request(copies: list[Event]) -> Request:
    copies = sorted(copies, key=lambda e: (e.source != "rrweb", e.seq))
    named = copies[0]
    detail: dict[str, Any] = {}
    for copy in reversed(copies):
        detail.update({k: v for k, v in copy.detail.items() if v is not None})
    duration = next((e.duration_ns for e in copies if e.duration_ns is not None), 0)
    start = named.time_ns or 0  # merge_requests keeps only timed requests with a URL
    return Request(
        ref=EventRef(named.source, named.seq, start),
        method=(next((e.method for e in copies if e.method), None) or "GET").upper(),
        url=named.url or "",
        start_ns=start,
        duration_ns=max(0, duration),
        status=next((e.status for e in copies if e.status is not None), None),
        trace_id=next((e.trace_id for e in copies if e.trace_id), None),
        detail=detail,
        body_key=_body_key(next((e.method for e in copies if e.method), None), detail),
        url_template=named.url_template,
    )


def _body_key(method: str | None, detail: Mapping[str, Any]) -> str | None:
    post = detail.get("post_data")
    body = detail.get("request_body") or (post.get("text") if isinstance(post, Mapping) else None)
    if body:
        return hashlib.sha256(str(body).encode("utf-8", "replace")).hexdigest()[:16]
    if (method or "GET").upper() in SAFE_METHODS or detail.get("request_body_size") == 0:
        return ""
    return None


def _header(detail: Mapping[str, Any], name: str) -> str | None:
    headers = detail.get("request_headers")
    if not isinstance(headers, Mapping):
        return None
    value = headers.get(name)
    return str(value).lower() if value is not None else None
