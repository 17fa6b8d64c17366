"""Parsing tool and CLI arguments that arrive as text: times, durations, ids."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.formats.coerce import MAX_TIME_NS

_RELATIVE = re.compile(r"\A\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|days|w)\s*(?:ago)?\s*\Z", re.IGNORECASE)
_UNIT_SECONDS = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "hr": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
}


def parse_time(text: str | None, field: str, *, now_ns: int | None = None) -> int | None:
    """ISO 8601 (`2026-11-20T14:00:00Z`, a date alone) or an age (`90m`, `2h`, `7d`) → ns since epoch.

    A time outside what is ever stored (before 1970, after 2100) is clamped to that range: it
    selects exactly what it would have selected, and never overflows a query.
    """
    if text is None or not text.strip():
        return None
    match = _RELATIVE.match(text)
    if match:
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        now = now_ns if now_ns is not None else time.time_ns()
        return _clamp(now - int(seconds * 1e9)) if seconds < MAX_TIME_NS / 1e9 else 0
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidArgumentError(
            f"{field}={text!r} is not a time; use ISO 8601 such as '2026-11-20T14:00:00Z' or an age such as '2h'"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return _clamp(int(parsed.timestamp() * 1_000_000) * 1_000)


def _clamp(ns: int) -> int:
    return min(max(ns, 0), MAX_TIME_NS)


def parse_age(text: str, field: str, *, now_ns: int | None = None) -> int:
    """An age such as `30d` → the time that long ago, in ns since the epoch (ages only, no dates)."""
    if not _RELATIVE.match(text or ""):
        raise InvalidArgumentError(f"{field} {text!r} is not an age; use a number and a unit: 90m, 12h, 30d, 2w")
    value = parse_time(text, field, now_ns=now_ns)
    assert value is not None
    return value


def check_range(since_ns: int | None, until_ns: int | None) -> None:
    if since_ns is not None and until_ns is not None and since_ns > until_ns:
        raise InvalidArgumentError("`since` is later than `until`; swap them or drop one")


_HEX = re.compile(r"\A[0-9a-f]+\Z")


def normalize_trace_id(text: str) -> str:
    """A trace id as stored: lowercase hex, dashes dropped, 64-bit ids left-padded to 32."""
    value = text.strip().lower().replace("-", "")
    if not _HEX.match(value) or len(value) > 32:
        raise InvalidArgumentError(
            f"trace_id {text[:40]!r} is not a hex trace id; copy one from list_traces or list_sessions"
        )
    return value.rjust(32, "0")


def normalize_span_id(text: str) -> str:
    value = text.strip().lower()
    if not _HEX.match(value) or len(value) > 16:
        raise InvalidArgumentError(f"span_id {text[:40]!r} is not a hex span id; copy one from get_trace")
    return value.rjust(16, "0")
