"""Two browser copies of one request: rrweb's network plugin and a HAR recorded the same fetch.

A page recorded by `@rrweb/record` and by the browser's own HAR at once holds every request
twice. The copies are paired so each request is shown (and counted) once:

1. `trace-context`: both copies carry the same trace id (a `traceparent` or similar header);
2. `method-url-time`: otherwise the same method and URL (the fragment aside), starting within
   `window_ns` of each other (among the `NEAREST` on either side); the closest starts pair
   first, each copy at most once. A method
   the copy does not know (rrweb's plugin without headers recorded reads a fetch from the
   resource timings, which carry none) matches any.

        HAR    GET /app.js ├──┤      GET /api/cart ├────┤   GET /api/cart ├───┤
        rrweb   GET /app.js ├──┤     GET /api/cart ├────┤      GET /api/cart ├──┤
                └── pair ──┘         └──── pair ────┘          └──── pair ────┘

Starts differ a little: the HAR has the request's own `startedDateTime`, rrweb's is estimated
from the page's time origin (see formats/rrweb.py), so a window of a second pairs the copies
without pairing two clicks' requests to the same URL with each other.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Literal

CopyMethod = Literal["trace-context", "method-url-time"]
# Copies of one request start within this window of each other: HAR entries start up to ~80 ms
# before rrweb's estimate for the same fetch (measured on the demo recordings); a second apart is
# still the same request, two are two requests.
PAIR_WINDOW_NS = 1_000_000_000
# Candidates per copy: the requests to the same URL nearest in time, this many on each side. A page
# polling one URL every few ms still pairs each copy with its own request, in linear time.
NEAREST = 3


@dataclass(frozen=True, slots=True)
class RequestCopy:
    """One recorded copy of a request: its row id and what identifies the request."""

    id: int
    method: str | None
    url: str | None
    time_ns: int | None
    trace_id: str | None = None


@dataclass(frozen=True, slots=True)
class Pair:
    """`copy` repeats `kept` (the one shown); `method` says how they were matched."""

    kept: int
    copy: int
    method: CopyMethod


def pair_copies(kept: list[RequestCopy], copies: list[RequestCopy], window_ns: int = PAIR_WINDOW_NS) -> list[Pair]:
    """Pair each of `copies` with at most one of `kept` (and the reverse); unpaired ones are left out."""
    pairs: list[Pair] = []
    used_kept: set[int] = set()
    used_copy: set[int] = set()
    by_trace: dict[str, RequestCopy] = {}
    for k in kept:
        if k.trace_id:
            by_trace.setdefault(k.trace_id, k)
    for c in copies:
        same = by_trace.get(c.trace_id) if c.trace_id else None
        if same is not None and same.id not in used_kept:
            pairs.append(Pair(same.id, c.id, "trace-context"))
            used_kept.add(same.id)
            used_copy.add(c.id)
    keyed: dict[str, list[tuple[int, RequestCopy]]] = {}
    for k in kept:
        url = _url(k)
        if url is not None and k.time_ns is not None and k.id not in used_kept:
            keyed.setdefault(url, []).append((k.time_ns, k))
    starts = {url: [t for t, _ in sorted(group, key=lambda g: (g[0], g[1].id))] for url, group in keyed.items()}
    ordered = {url: [k for _, k in sorted(group, key=lambda g: (g[0], g[1].id))] for url, group in keyed.items()}
    candidates: list[tuple[int, int, int, RequestCopy, RequestCopy]] = []
    for c in copies:
        url = _url(c)
        if url is None or c.time_ns is None or c.id in used_copy or url not in starts:
            continue
        times = starts[url]
        at = bisect_left(times, c.time_ns)
        low = max(bisect_left(times, c.time_ns - window_ns), at - NEAREST)
        high = min(bisect_right(times, c.time_ns + window_ns), at + NEAREST)
        for k in ordered[url][low:high]:
            if _same_method(k, c):
                candidates.append((abs(c.time_ns - (k.time_ns or 0)), k.id, c.id, k, c))
    for _gap, _k, _c, k, c in sorted(candidates, key=lambda x: x[:3]):
        if k.id in used_kept or c.id in used_copy:
            continue
        pairs.append(Pair(k.id, c.id, "method-url-time"))
        used_kept.add(k.id)
        used_copy.add(c.id)
    return sorted(pairs, key=lambda p: p.copy)


def _url(request: RequestCopy) -> str | None:
    return request.url.split("#", 1)[0] if request.url else None


def _same_method(a: RequestCopy, b: RequestCopy) -> bool:
    """Equal methods; an unknown one (a fetch rrweb saw only in the resource timings) matches any."""
    return a.method is None or b.method is None or a.method.upper() == b.method.upper()
