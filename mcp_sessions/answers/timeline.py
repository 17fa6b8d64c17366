"""A session's timeline: its browser events merged with the backend traces no request started.

Offsets the caller gives in milliseconds after the session start become absolute times
here; the page and the cursors that continue it come from the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mcp_sessions.answers.lookup import offsets, require_session
from mcp_sessions.model import SessionSummary, TimelinePage
from mcp_sessions.store.protocol import SessionStore


@dataclass(frozen=True)
class TimelineAnswer:
    session: SessionSummary
    page: TimelinePage
    counts: dict[str, int]


def session_timeline(
    store: SessionStore,
    session_id: str,
    *,
    kinds: Sequence[str] | None,
    from_ms: float | None,
    to_ms: float | None,
    cursor: str | None,
    limit: int,
) -> TimelineAnswer:
    session = require_session(store, session_id)
    from_ns, to_ns = offsets(session.start_ns, from_ms, to_ms)
    page = store.timeline(session_id, kinds=kinds, from_ns=from_ns, to_ns=to_ns, cursor=cursor, limit=limit)
    return TimelineAnswer(session, page, store.event_counts(session_id))
