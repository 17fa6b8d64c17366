"""Over-fetching: responses far larger than what was asked for, where sizes are recorded.

Two rules, the first much stronger:

    limit      the URL asks for N records (`limit=10`, `per_page=10`, ...) and the JSON body
               holds at least OVERFETCH_FACTOR × N, and OVERFETCH_MIN_EXCESS more than N
               GET /api/products?limit=10  → 241 records, 29,157 bytes
    size       an API response (fetch/XHR, JSON) of at least LARGE_RESPONSE_BYTES

Sizes come from the HAR (`response_body_size`, `transfer_size`, a `content-length`
header), rrweb's network plugin (`response_body_size` when bodies are recorded) or span
attributes (`http.response.body.size`, `http.response_content_length`). Recorders keep
only the start of a body (HAR: 2,000 characters): when the body is cut, the records are
counted in the part kept and the rest estimated from the bytes left at their average
size (`records_estimated`).

    {"products":[{…},{…},…,{…},{"id":17,"na│me"…   29,157 bytes in all
                 └─ 16 whole records in 1,880 bytes ─┘ → ≈ 16 + (29,157 − 1,880) / 117.5
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mcp_sessions import urls
from mcp_sessions.analysis.fingerprint import request_fingerprint
from mcp_sessions.analysis.patterns.model import EventRef, Pattern, bounded, is_static_asset
from mcp_sessions.analysis.patterns.requests import Request, linked_roots
from mcp_sessions.analysis.tree import TraceTree
from mcp_sessions.numbers import whole_number
from mcp_sessions.semconv import first, http_url

# "Far more than asked": twice the page size, and not a rounding matter (10 more at least).
OVERFETCH_FACTOR = 2
OVERFETCH_MIN_EXCESS = 10
# One API response of a megabyte is hundreds of times what a screen of rows needs (a page of
# fifty 1 KB records is 50 KB); static assets (scripts, images) are never judged by size.
LARGE_RESPONSE_BYTES = 1 << 20

LIMIT_PARAMS = frozenset(
    {"limit", "per_page", "perpage", "page_size", "pagesize", "size", "take", "top", "$top", "first", "max_results"}
)
_SPAN_SIZE_KEYS = ("http.response.body.size", "http.response_content_length", "http.response.header.content-length")


def over_fetching_requests(requests: Sequence[Request], trees: Sequence[TraceTree]) -> list[Pattern]:
    found = []
    roots = linked_roots(trees)
    for request in requests:
        if not request.is_api or is_static_asset(request.url):
            continue
        size = _size(request.detail)
        counted = count_records(_text(request.detail.get("response_body")), size)
        limit = requested_limit(request.url)
        rule = _rule(size, counted, limit)
        if rule is None:
            continue
        link = roots.get(request.trace_id or "")
        route = first(link[0].spans[link[1]].attributes, "http.route") if link else None
        timings = request.detail.get("timings")
        receive_ms = timings.get("receive") if isinstance(timings, Mapping) else None
        found.append(
            _pattern(
                request_fingerprint(
                    request.method, request.url, str(route) if route else None, url_template=request.url_template
                ),
                link[0].spans[link[1]].service if link else None,
                request.duration_ns,
                _impact(request.duration_ns, rule, counted, limit, receive_ms),
                request.start_ns,
                request.trace_id,
                (link[0].spans[link[1]].span_id,) if link else (),
                f"{request.method} {request.url}",
                _facts(rule, size, counted, limit, request.url),
                events=(request.ref,),
            )
        )
    return found


def over_fetching_spans(trees: Sequence[TraceTree], reported: set[str]) -> list[Pattern]:
    """Large responses seen only on spans (`reported`: trace ids a browser request already covered)."""
    found = []
    for tree in trees:
        for span in tree.spans:
            if span.kind not in ("server", "client") or span.trace_id in reported:
                continue
            size = _int(first(span.attributes, *_SPAN_SIZE_KEYS))
            url = http_url(span.attributes)
            if size is None or size < LARGE_RESPONSE_BYTES or (url and is_static_asset(url)):
                continue
            method = str(first(span.attributes, "http.request.method", "http.method") or "GET")
            route = first(span.attributes, "http.route")
            found.append(
                _pattern(
                    request_fingerprint(method, url, str(route) if route else None) if url else span.name,
                    span.service,
                    span.duration_ns,
                    0,
                    span.start_ns,
                    span.trace_id,
                    (span.span_id,),
                    f"{method} {url}" if url else span.name,
                    _facts("size", size, None, requested_limit(url) if url else None, url),
                )
            )
    return found


def requested_limit(url: str) -> int | None:
    """The page size a URL asks for (`?limit=10`), if it names one."""
    for key, value in urls.query_items(urls.split(url).query):
        if key.lower() in LIMIT_PARAMS and (number := whole_number(value) or 0) > 0:
            return number
    return None


def count_records(body: str | None, size: int | None) -> tuple[int, bool] | None:
    """(records, estimated) of a JSON body: a top-level array, or the first array in a top-level object.

    A body cut short is counted up to its last whole record and, when the full `size` is
    known, the rest is estimated from the average record size. None when there is no array.
    """
    if not body:
        return None
    try:
        whole = json.loads(body)
    except ValueError:
        return _estimate(body, size)
    if isinstance(whole, list):
        return len(whole), False
    if isinstance(whole, dict):
        arrays = [v for v in whole.values() if isinstance(v, list)]
        return (len(arrays[0]), False) if arrays else None
    return None


_DECODER = json.JSONDecoder()


def _estimate(body: str, size: int | None) -> tuple[int, bool] | None:
    found = _array_start(body)
    if found is None:
        return None
    pos, depth = found
    start, count = pos, 0
    while True:
        pos = _skip(body, pos)
        try:
            _, end = _DECODER.raw_decode(body, pos)
        except ValueError:
            break
        count, last_end = count + 1, end
        pos = _skip(body, end)
        if pos < len(body) and body[pos] == ",":
            pos += 1
        else:
            break
    if count == 0:
        return None
    used = len(body[start:last_end].encode("utf-8", "replace"))
    kept = len(body[:last_end].encode("utf-8", "replace"))
    if size is None or size <= kept:
        return count, True
    per_record = (used + 1) / count  # each record with the comma after it
    rest = max(0, size - kept - depth)  # what is left, less the closing brackets
    return count + round(rest / per_record), True


def _array_start(body: str) -> tuple[int, int] | None:
    """Where the records begin (just after `[`) and how many brackets enclose them."""
    pos = _skip(body, 0)
    if body.startswith("[", pos):
        return pos + 1, 1
    if not body.startswith("{", pos):
        return None
    pos += 1
    while True:
        pos = _skip(body, pos)
        try:
            _, pos = _DECODER.raw_decode(body, pos)  # the key
        except ValueError:
            return None
        pos = _skip(body, pos)
        if not body.startswith(":", pos):
            return None
        pos = _skip(body, pos + 1)
        if body.startswith("[", pos):
            return pos + 1, 2
        try:
            _, pos = _DECODER.raw_decode(body, pos)  # a value before the array: skip it
        except ValueError:
            return None
        pos = _skip(body, pos)
        if not body.startswith(",", pos):
            return None
        pos += 1


def _skip(body: str, pos: int) -> int:
    """The index of the first non-whitespace character at or after `pos`."""
    while pos < len(body) and body[pos] in " \t\r\n":
        pos += 1
    return pos


def _rule(size: int | None, counted: tuple[int, bool] | None, limit: int | None) -> str | None:
    if limit is not None and counted is not None:
        records = counted[0]
        if records >= OVERFETCH_FACTOR * limit and records - limit >= OVERFETCH_MIN_EXCESS:
            return "limit"
    if size is not None and size >= LARGE_RESPONSE_BYTES:
        return "size"
    return None


def _impact(duration: int, rule: str, counted: tuple[int, bool] | None, limit: int | None, receive_ms: Any) -> int:
    """The share of the request spent on records nobody asked for; for size alone, the download time."""
    if rule == "limit" and counted and limit:
        return duration * (counted[0] - limit) // counted[0]
    receive = _number(receive_ms)
    return min(duration, int(receive * 1_000_000)) if receive is not None else 0


def _facts(
    rule: str, size: int | None, counted: tuple[int, bool] | None, limit: int | None, url: str | None
) -> dict[str, Any]:
    return {
        "rule": rule,
        "response_bytes": size,
        "records": counted[0] if counted else None,
        "records_estimated": counted[1] if counted else False,
        "limit": limit,
        "url": url,
    }


def _pattern(
    fingerprint: str,
    service: str | None,
    duration: int,
    impact: int,
    start: int,
    trace_id: str | None,
    span_ids: tuple[str, ...],
    example: str,
    facts: dict[str, Any],
    *,
    events: tuple[EventRef, ...] = (),
) -> Pattern:
    return Pattern(
        kind="over_fetching",
        fingerprint=fingerprint,
        service=service,
        count=1,
        total_ns=duration,
        impact_ns=impact,
        wall_ns=duration,
        start_ns=start,
        trace_id=trace_id,
        trace_ids=bounded([trace_id] if trace_id else []),
        parent_span_id=None,
        parent_name=None,
        span_ids=span_ids,
        events=events,
        example=example,
        facts=facts,
    )


def _size(detail: Mapping[str, Any]) -> int | None:
    headers = detail.get("response_headers")
    length = headers.get("content-length") if isinstance(headers, Mapping) else None
    for value in (detail.get("response_body_size"), length, detail.get("transfer_size")):
        size = _int(value)
        if size is not None and size > 0:
            return size
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, list) and value:
        value = value[0]
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
