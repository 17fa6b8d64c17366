"""What a regression-test draft reads: a session's browser events with their full details.

Where rrweb and a HAR recorded the same request, the timeline shows the rrweb copy and
marks the HAR one `shadowed`; the draft needs both (the HAR copy holds the response's
content type and body), so the shadowed copies are returned by trace id beside the events.
A session with no browser recording is drafted from its traces' entry requests.
"""

from __future__ import annotations

import sqlite3

import orjson

from mcp_sessions.model import Event, TraceSummary
from mcp_sessions.store.queries import TraceFilter, list_traces, session_events

MAX_EVENTS = 5_000  # a draft replays at most a few hundred requests; this bounds what is read
MAX_TRACES = 500

_COLUMNS = (
    "source, seq, time_ns, kind, summary, url, target, level, method, status, duration_ns, trace_id, "
    "span_id, session_key, client_key, user_id, detail, url_template"
)


def browser_events(conn: sqlite3.Connection, session_id: str) -> list[Event]:
    """The session's browser events in order (the HAR copies of rrweb requests left out), bounded."""
    return session_events(conn, session_id)[:MAX_EVENTS]


def har_twins(conn: sqlite3.Connection, session_id: str) -> dict[str, Event]:
    """The HAR copies of the session's rrweb requests, by the trace id both carry (first copy wins)."""
    cur = conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE session_id = ? AND shadowed = 1 AND kind = 'network' "
        "AND trace_id IS NOT NULL ORDER BY coalesce(time_ns, 0), seq, id LIMIT ?",
        (session_id, MAX_EVENTS),
    )
    twins: dict[str, Event] = {}
    for row in cur:
        event = Event(*row[:16], detail=orjson.loads(row[16]), url_template=row[17])
        twins.setdefault(str(event.trace_id), event)
    return twins


def entry_traces(conn: sqlite3.Connection, session_id: str) -> list[TraceSummary]:
    """The session's traces, oldest first (a backend-only session's requests), bounded."""
    page = list_traces(conn, TraceFilter(session_id=session_id), sort="oldest", limit=MAX_TRACES)
    return page.rows
