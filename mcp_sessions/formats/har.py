"""HAR 1.2 (and 1.1): a browser's or proxy's network log, read as frontend `Event`s.

    log.pages[i]    ──► "navigation"  when, where, pageTimings onContentLoad/onLoad
    log.entries[j]  ──► "network"     method, URL, status, timings, sizes, headers, trace context
                    └─► "websocket"   one event per socket (message counts), never one per frame

`seq` numbers the events in order of time; a page sorts before an entry starting at the same
instant. Page timings are milliseconds after the page's own start:

    page.startedDateTime
    ├─ entry 1 ├───────┤            entry.time (ms) = sum of its timings
    │     entry 2 ├──┤
    │············ onContentLoad
    │················· onLoad

Quirks handled:
- `startedDateTime` is ISO 8601 with a zone (`Z`, `+01:00`, `+0100`, `+01`); the fraction may
  be absent or have nine digits (mitmproxy writes six). A time with no zone is read as UTC.
- Numbers may be strings ("200", "12.5"). `-1` means "not applicable" in sizes and timings
  and is dropped, as are non-numeric timing fields (`comment`).
- Headers, cookies, query and form parameters are lists of {name, value} (a plain object is
  accepted too). Header names are lowercased, repeated ones joined with ", ", HTTP/2
  pseudo-headers (`:authority`, `:path`) dropped: they repeat the URL.
- Status 0 is "no response" (offline, blocked, refused); Chrome and mitmproxy give the reason
  in `response._error`: status None, detail["error"], summary `failed: <error>`.
- Response bodies can be megabytes (or base64 images): only JSON bodies are kept, their first
  2,000 characters (base64 decoded). `postData.text` keeps its first 2,000 characters.
- WebSocket entries (`_resourceType: websocket` or `_webSocketMessages`, Chrome) are summarised.
- A HAR carries no session of its own. Requests may (baggage `session.id`, or `x-session-id`);
  when exactly one session key (or user id) appears in the file, every event gets it, so the
  page loads before the first API call join the session too. `client_key` is the creator's
  name plus the first page id (or first entry's host), for inactivity sessionization.
- Vendor fields (`_initiator`, `_priority`, `_frameref`, `_securityDetails`, ...) and
  comments are ignored; HAR 1.1 differs only in fields this parser does not need.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from mcp_sessions import urls
from mcp_sessions.errors import MalformedInputError
from mcp_sessions.formats.coerce import expect_dict, expect_list, to_int
from mcp_sessions.formats.propagation import lower_headers, session_and_user, trace_context, url_path
from mcp_sessions.model import Event
from mcp_sessions.redact import clip

TEXT_LIMIT = 2_000  # characters kept of a request or JSON response body
SUMMARY_LIMIT = 200
FIRST_MESSAGE_LIMIT = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ISO = re.compile(
    r"\A\s*(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?\s*\Z"
)
# The phases that add up to entry.time (`ssl` is already inside `connect`).
_PHASES = ("blocked", "dns", "connect", "send", "wait", "receive")


def looks_like_har(doc: Any) -> bool:
    """True for `{"log": {"entries": [...]}}` (pages optional)."""
    log = doc.get("log") if isinstance(doc, dict) else None
    return isinstance(log, dict) and isinstance(log.get("entries"), list)


def parse(doc: Any) -> Iterator[Event]:
    """Yield the pages and entries of a HAR document as events, in order of time."""
    root = expect_dict(doc, "document")
    if "log" not in root:
        raise MalformedInputError("log: missing (a HAR file is {'log': {'entries': [...]}})")
    log = expect_dict(root["log"], "log")
    pages = [expect_dict(p, f"log.pages[{i}]") for i, p in enumerate(expect_list(log.get("pages"), "log.pages"))]
    entries = [
        expect_dict(e, f"log.entries[{i}]") for i, e in enumerate(expect_list(log.get("entries"), "log.entries"))
    ]
    client_key = _client_key(log, pages, entries)

    network = [_entry(e, f"log.entries[{i}]", client_key) for i, e in enumerate(entries)]
    first_urls: dict[str, str] = {}
    for event in _by_time(network):
        if event.url and isinstance(event.detail.get("pageref"), str):
            first_urls.setdefault(event.detail["pageref"], event.url)
    navigation = [_page(p, f"log.pages[{i}]", first_urls, client_key) for i, p in enumerate(pages)]
    events = _by_time(navigation + network)

    # Buffered until here: a key seen on any request belongs to every event, if it is the only one.
    sessions = {e.session_key for e in events if e.session_key}
    users = {e.user_id for e in events if e.user_id}
    session = sessions.pop() if len(sessions) == 1 else None
    user = users.pop() if len(users) == 1 else None
    for seq, event in enumerate(events):
        yield replace(event, seq=seq, session_key=event.session_key or session, user_id=event.user_id or user)


def _by_time(events: list[Event]) -> list[Event]:
    """Stable sort by time; an untimed event stays just after the timed one before it."""
    keyed, last = [], -1
    for order, event in enumerate(events):
        last = event.time_ns if event.time_ns is not None else last
        keyed.append((last, order, event))
    return [event for _, _, event in sorted(keyed, key=lambda k: (k[0], k[1]))]


def _client_key(log: dict[str, Any], pages: list[dict[str, Any]], entries: list[dict[str, Any]]) -> str:
    creator = str(expect_dict(log.get("creator"), "log.creator").get("name") or "har")
    anchor = str(pages[0].get("id") or "") if pages else ""
    if not anchor and entries:
        request = entries[0].get("request")
        url = request.get("url") if isinstance(request, dict) else None
        anchor = _host(str(url)) if url else str(entries[0].get("serverIPAddress") or "")
    return f"{creator}:{anchor}" if anchor else creator


def _page(page: dict[str, Any], where: str, first_urls: dict[str, str], client_key: str) -> Event:
    page_id, title = str(page.get("id") or ""), str(page.get("title") or "")
    url = title if title.lower().startswith(("http://", "https://")) else first_urls.get(page_id)
    timings = _timings(page.get("pageTimings"), f"{where}.pageTimings")
    place = url_path(url) if url else (title or page_id or "an unknown page")
    return Event(
        source="har",
        seq=0,
        time_ns=_time_ns(page.get("startedDateTime"), f"{where}.startedDateTime"),
        kind="navigation",
        summary=_bounded(f"navigate to {place}"),
        url=url,
        duration_ns=_ns(timings.get("onLoad")),
        client_key=client_key,
        detail=_compact({"page_id": page_id, "title": title, "page_timings": timings}),
    )


def _entry(entry: dict[str, Any], where: str, client_key: str) -> Event:
    request = expect_dict(entry.get("request"), f"{where}.request")
    response = expect_dict(entry.get("response"), f"{where}.response")
    content = expect_dict(response.get("content"), f"{where}.response.content")
    method, url = (_text(request.get("method")) or "").upper() or None, _text(request.get("url"))
    status = to_int(response.get("status"), f"{where}.response.status")
    status = status if status and status > 0 else None
    error = str(response["_error"]) if response.get("_error") else None

    timings = _timings(entry.get("timings"), f"{where}.timings")
    duration_ms = _number(entry.get("time"), f"{where}.time")
    if duration_ms is None or duration_ms < 0:
        phases = [timings[p] for p in _PHASES if p in timings]
        duration_ms = sum(phases) if phases else None

    request_headers = _headers(request.get("headers"), f"{where}.request.headers")
    trace_id, span_id = trace_context(request_headers)
    session_key, user_id = session_and_user(request_headers)
    session_key = session_key or request_headers.get("x-session-id") or None

    # Decoded body size is best, then the bytes on the wire, then Chrome's count with headers.
    sizes = (
        _size(content.get("size"), f"{where}.response.content.size"),
        _size(response.get("bodySize"), f"{where}.response.bodySize"),
        _size(response.get("_transferSize"), f"{where}.response._transferSize"),
    )
    query = _named(request.get("queryString"), f"{where}.request.queryString")
    if not query and url and "?" in url:
        query = dict(urls.query_items(urls.split(url).query))
    detail: dict[str, Any] = {
        "timings": timings,
        "request_headers": request_headers,
        "response_headers": _headers(response.get("headers"), f"{where}.response.headers"),
        "request_cookies": _named(request.get("cookies"), f"{where}.request.cookies"),
        "mime_type": _text(content.get("mimeType")),
        "request_body_size": _size(request.get("bodySize"), f"{where}.request.bodySize"),
        "response_body_size": next((s for s in sizes if s is not None), None),
        "transfer_size": sizes[2],
        "http_version": _text(request.get("httpVersion") or response.get("httpVersion")),
        "server_ip": _text(entry.get("serverIPAddress")),
        "pageref": _text(entry.get("pageref")),
        "query": query,
        "post_data": _post_data(expect_dict(request.get("postData"), f"{where}.request.postData"), where),
        "cache": expect_dict(entry.get("cache"), f"{where}.cache"),
        "error": error,
        "response_body": _json_body(content),
    }
    duration = f" ({_ms_text(duration_ms)})" if duration_ms is not None else ""
    outcome = str(status) if status else "no response"
    if error:
        outcome = f"{status} failed: {error}" if status else f"failed: {error}"
    summary = f"{method or '?'} {url_path(url) if url else '?'} → {outcome}{duration}"

    is_socket = _text(entry.get("_resourceType")) == "websocket" or entry.get("_webSocketMessages") is not None
    if is_socket:
        detail |= _messages(entry.get("_webSocketMessages"), f"{where}._webSocketMessages")
        counts = f"{detail['messages']} messages ({detail['sent']} sent, {detail['received']} received)"
        summary = f"websocket {url_path(url) if url else '?'}: {counts}"
    return Event(
        source="har",
        seq=0,
        time_ns=_time_ns(entry.get("startedDateTime"), f"{where}.startedDateTime"),
        kind="websocket" if is_socket else "network",
        summary=_bounded(summary),
        url=url,
        method=method,
        status=status,
        duration_ns=_ns(duration_ms),
        trace_id=trace_id,
        span_id=span_id,
        session_key=session_key,
        client_key=client_key,
        user_id=user_id,
        detail=_compact(detail),
    )


def _messages(value: Any, where: str) -> dict[str, Any]:
    """Chrome's `_webSocketMessages` ({type: send|receive, time, opcode, data}) as counts."""
    frames = [expect_dict(m, f"{where}[{i}]") for i, m in enumerate(expect_list(value, where))]
    kinds = [_text(m.get("type")) or "" for m in frames]
    first = _text(frames[0].get("data")) if frames else None
    return {
        "messages": len(frames),
        "sent": sum(1 for k in kinds if k.lower().startswith("send")),
        "received": sum(1 for k in kinds if k.lower().startswith("receive")),
        "first": clip(first, FIRST_MESSAGE_LIMIT) if first else None,
    }


def _post_data(post: dict[str, Any], where: str) -> dict[str, Any]:
    text = post.get("text")
    text = text if isinstance(text, str) else ""
    out: dict[str, Any] = {
        "mime_type": post.get("mimeType") or None,
        "text": clip(text, TEXT_LIMIT) or None,
        "params": _named(post.get("params"), f"{where}.request.postData.params"),
    }
    if len(text) > TEXT_LIMIT:
        out["text_chars"] = len(text)  # says the text was cut, and how much there was
    return _compact(out)


def _json_body(content: dict[str, Any]) -> str | None:
    """The first characters of a JSON response body; every other body is dropped."""
    text = content.get("text")
    if "json" not in str(content.get("mimeType") or "").split(";")[0].lower() or not isinstance(text, str):
        return None
    if str(content.get("encoding") or "").lower() == "base64":
        try:
            text = base64.b64decode(text[: TEXT_LIMIT * 4]).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return None
    return clip(text, TEXT_LIMIT) or None


def _named(value: Any, where: str, *, lower: bool = False) -> dict[str, str]:
    """A list of {name, value} (or an object) as a dict; repeated names joined with ", "."""
    if isinstance(value, dict):
        pairs = list(value.items())
    else:
        items = [expect_dict(item, f"{where}[{i}]") for i, item in enumerate(expect_list(value, where))]
        pairs = [(item.get("name"), item.get("value")) for item in items]
    out: dict[str, str] = {}
    for name, raw in pairs:
        if name is None or str(name).strip() == "":
            continue
        key = str(name).strip().lower() if lower else str(name)
        text = "" if raw is None else str(raw)
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


def _headers(value: Any, where: str) -> dict[str, str]:
    return lower_headers(_named(value, where, lower=True))


def _timings(value: Any, where: str) -> dict[str, float]:
    """Numeric timings in ms; -1 ("does not apply") and non-numbers (comments) dropped."""
    out: dict[str, float] = {}
    for key, raw in expect_dict(value, where).items():
        try:
            number = _number(raw, f"{where}.{key}")
        except MalformedInputError:
            continue
        if number is not None and number >= 0:
            out[str(key)] = number
    return out


def _number(value: Any, where: str) -> float | None:
    """A finite number from a JSON number or a numeric string."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedInputError(f"{where}: expected a number, got {type(value).__name__}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise MalformedInputError(f"{where}: expected a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise MalformedInputError(f"{where}: expected a finite number, got {value!r}")
    return number


def _size(value: Any, where: str) -> int | None:
    size = to_int(value, where)
    return size if size is not None and size >= 0 else None


def _time_ns(value: Any, where: str) -> int | None:
    """Nanoseconds since the epoch from an ISO 8601 time; None when the field is absent."""
    if value is None or value == "":
        return None
    match = _ISO.match(value) if isinstance(value, str) else None
    if match is None:
        raise MalformedInputError(f"{where}: expected an ISO 8601 time, got {str(value)[:40]!r}")
    year, month, day, hour, minute, second = (int(g or 0) for g in match.groups()[:6])
    zone = match.group(8) or "Z"
    digits = zone[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2] or 0), minutes=int(digits[2:4] or 0))
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        moment -= -offset if zone[0] == "-" else offset
    except (ValueError, OverflowError):
        raise MalformedInputError(f"{where}: {value[:40]!r} is not a valid date and time") from None
    seconds = (moment - _EPOCH) // timedelta(seconds=1)
    return seconds * 1_000_000_000 + int((match.group(7) or "")[:9].ljust(9, "0"))


def _ns(ms: float | None) -> int | None:
    return None if ms is None or ms < 0 else round(ms * 1_000_000)


def _ms_text(ms: float) -> str:
    return "<1 ms" if 0 < ms < 1 else f"{ms:.0f} ms"


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _host(url: str) -> str:
    return urls.split(url).hostname


def _bounded(text: str) -> str:
    return clip(text, SUMMARY_LIMIT, ellipsis="…")


def _compact(detail: dict[str, Any]) -> dict[str, Any]:
    """Without absent values (None, empty text or object); zeros stay."""
    return {k: v for k, v in detail.items() if v is not None and not (isinstance(v, str | dict) and not v)}
