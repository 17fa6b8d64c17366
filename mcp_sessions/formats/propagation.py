"""Trace context and session keys carried by recorded HTTP request headers.

A browser request that carries `traceparent` (W3C), `sentry-trace` or `b3` names the
backend trace it started; a `baggage` header may carry `session.id` / `user.id`. Header
names are matched case-insensitively; malformed values are ignored (a recording is not
wrong because a header was).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from mcp_sessions import urls
from mcp_sessions.config import SESSION_KEYS, USER_KEYS

_TRACEPARENT = re.compile(r"\A\s*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})", re.IGNORECASE)
_SENTRY = re.compile(r"\A\s*([0-9a-f]{32})-([0-9a-f]{16})(?:-[01])?\s*\Z", re.IGNORECASE)
_B3_SINGLE = re.compile(r"\A\s*([0-9a-f]{16}|[0-9a-f]{32})-([0-9a-f]{16})", re.IGNORECASE)
_HEX = re.compile(r"\A[0-9a-f]+\Z", re.IGNORECASE)


def lower_headers(headers: Mapping[str, object] | Iterable[tuple[str, object]]) -> dict[str, str]:
    """Header names lowercased (HTTP/2 pseudo-headers dropped), values as strings."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {str(k).lower(): str(v) for k, v in items if not str(k).startswith(":")}


def trace_context(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(trace_id, span_id) from lowercased request headers, or (None, None)."""
    match = _TRACEPARENT.match(headers.get("traceparent", ""))
    if match and set(match.group(2)) != {"0"}:
        return match.group(2).lower(), match.group(3).lower()
    match = _SENTRY.match(headers.get("sentry-trace", ""))
    if match:
        return match.group(1).lower(), match.group(2).lower()
    match = _B3_SINGLE.match(headers.get("b3", ""))
    if match:
        return match.group(1).lower().rjust(32, "0"), match.group(2).lower()
    trace_id, span_id = headers.get("x-b3-traceid", ""), headers.get("x-b3-spanid", "")
    if _HEX.match(trace_id) and _HEX.match(span_id) and len(trace_id) in (16, 32) and len(span_id) == 16:
        return trace_id.lower().rjust(32, "0"), span_id.lower()
    return None, None


def baggage(headers: Mapping[str, str]) -> dict[str, str]:
    """W3C baggage entries (`k=v;props, k2=v2`), percent-decoded."""
    out: dict[str, str] = {}
    for member in headers.get("baggage", "").split(","):
        key, sep, value = member.split(";", 1)[0].partition("=")
        if sep and key.strip():
            out[urls.unquote(key.strip())] = urls.unquote(value.strip())
    return out


def session_and_user(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """A session key and user id from baggage (the OTel way to carry them across services)."""
    entries = baggage(headers)
    session = next((entries[k] for k in SESSION_KEYS if entries.get(k)), None)
    user = next((entries[k] for k in USER_KEYS if entries.get(k)), None)
    return session, user


def url_path(url: str) -> str:
    """Path and query of a URL, without scheme and host (the whole text when it has no host)."""
    parts = urls.split(url)
    return parts.path_and_query if parts.has_authority else url
