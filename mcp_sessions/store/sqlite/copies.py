"""The HAR copies of what rrweb also recorded: paired, marked, and their sessions joined.

Called by the writer inside its transaction (`IngestWriter.finish`) and by the schema upgrade.
The rrweb copy is the one shown (it has what the page's code sent and the trace it started);
the HAR copy stays stored with `shadowed = 1`, `copy_of` (the rrweb event's id) and
`copy_method` (how the two were matched, `analysis/request_copies.py`; `navigation` for a HAR
page whose load rrweb recorded as its own navigation). Counts and problems read `shadowed = 0`,
so a request both recorded is counted once. A method or status the rrweb copy lacks (a fetch
read from the resource timings alone; another site's resource, whose timing hides its status)
is filled in from its HAR copy, so every tool reads the request alike.

Two recordings of one visit with no session key between them (an rrweb export and the HAR of
the same page) are cut into two automatic sessions. When most requests of the smaller one are
copies of the other's, they are one visit: the HAR's events join the rrweb session.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from mcp_sessions.analysis.request_copies import PAIR_WINDOW_NS, RequestCopy, pair_copies

_COPY = "(SELECT c.{column} FROM events c WHERE c.copy_of = events.id AND c.kind = 'network' ORDER BY c.id LIMIT 1)"
_FILL_FROM_COPY = f"""
UPDATE events SET
    summary = CASE WHEN method IS NULL AND summary LIKE '? %' AND {_COPY.format(column="method")} IS NOT NULL
                   THEN {_COPY.format(column="method")} || substr(summary, 2) ELSE summary END,
    method = coalesce(method, {_COPY.format(column="method")}),
    status = coalesce(status, {_COPY.format(column="status")})
WHERE session_id = ? AND source = 'rrweb' AND kind = 'network' AND (method IS NULL OR status IS NULL)
"""


def mark_copies(conn: sqlite3.Connection, session_ids: Iterable[str]) -> None:
    """Pair the HAR and rrweb copies of each session's requests and page loads, afresh."""
    for session_id in sorted(set(session_ids)):
        conn.execute(
            "UPDATE events SET shadowed = 0, copy_of = NULL, copy_method = NULL "
            "WHERE session_id = ? AND source = 'har' AND (shadowed = 1 OR copy_of IS NOT NULL)",
            (session_id,),
        )
        rrweb, har = _requests(conn, session_id, "rrweb"), _requests(conn, session_id, "har")
        updates: list[tuple[int, str, int]] = []
        if rrweb and har:
            updates += [(p.kept, p.method, p.copy) for p in pair_copies(rrweb, har)]
        updates += _navigation_copies(conn, session_id)
        conn.executemany("UPDATE events SET shadowed = 1, copy_of = ?, copy_method = ? WHERE id = ?", updates)
        # What the shown copy could not see, its copy did: the method of a fetch rrweb read from the
        # resource timings alone, the status of another site's resource (its timing entry says 0).
        conn.execute(_FILL_FROM_COPY, (session_id,))


def _navigation_copies(conn: sqlite3.Connection, session_id: str) -> list[tuple[int, str, int]]:
    """A HAR page load repeats rrweb's navigation closest to it in time."""
    loads = conn.execute(
        "SELECT id, time_ns FROM events WHERE session_id = ? AND source = 'rrweb' AND kind = 'navigation' "
        "ORDER BY coalesce(time_ns, 0), seq",
        (session_id,),
    ).fetchall()
    if not loads:
        return []
    pages = conn.execute(
        "SELECT id, time_ns FROM events WHERE session_id = ? AND source = 'har' AND kind = 'navigation'",
        (session_id,),
    ).fetchall()
    out = []
    for page_id, time_ns in pages:
        nearest = min(loads, key=lambda row: abs((row[1] or 0) - (time_ns or 0)))
        out.append((nearest[0], "navigation", page_id))
    return out


def _requests(conn: sqlite3.Connection, session_id: str, source: str) -> list[RequestCopy]:
    return [
        RequestCopy(*row)
        for row in conn.execute(
            "SELECT id, method, url, time_ns, trace_id FROM events "
            "WHERE session_id = ? AND source = ? AND kind = 'network'",
            (session_id, source),
        )
    ]


def join_copied_sessions(conn: sqlite3.Connection, ingest_id: int | None) -> set[str]:
    """Join this ingest's automatic sessions with another source's that recorded the same requests.

    Returns every session id whose events changed (the emptied one included, so its row goes).
    """
    touched: set[str] = set()
    mine = conn.execute(
        "SELECT DISTINCT session_id, source FROM events WHERE ingest_id = ? AND session_id LIKE 'auto-%' "
        "AND source IN ('rrweb', 'har')",
        (ingest_id,),
    ).fetchall()
    for session_id, source in mine:
        if session_id in touched:
            continue
        other = _copied_session(conn, session_id, source)
        if other is None:
            continue
        rrweb_session, har_session = (session_id, other) if source == "rrweb" else (other, session_id)
        conn.execute(
            "UPDATE events SET session_id = ? WHERE session_id = ? AND source = 'har'", (rrweb_session, har_session)
        )
        touched |= {rrweb_session, har_session}
    return touched


def _copied_session(conn: sqlite3.Connection, session_id: str, source: str) -> str | None:
    """The other source's automatic session whose requests most of this one's (or its) repeat, if any."""
    requests = _requests(conn, session_id, source)
    timed = [r.time_ns for r in requests if r.time_ns is not None]
    if not timed:
        return None
    other_source = "har" if source == "rrweb" else "rrweb"
    candidates = [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT session_id FROM events WHERE kind = 'network' AND session_key IS NULL "
            "AND time_ns BETWEEN ? AND ? AND source = ? AND session_id != ? AND session_id LIKE 'auto-%'",
            (min(timed) - PAIR_WINDOW_NS, max(timed) + PAIR_WINDOW_NS, other_source, session_id),
        )
    ]
    best, best_pairs = None, 0
    for candidate in sorted(candidates):
        if conn.execute(
            "SELECT 1 FROM events WHERE session_id = ? AND session_key IS NOT NULL LIMIT 1", (candidate,)
        ).fetchone():
            continue
        theirs = _requests(conn, candidate, other_source)
        pairs = len(pair_copies(requests, theirs))
        if pairs > best_pairs and 2 * pairs >= min(len(requests), len(theirs)):
            best, best_pairs = candidate, pairs
    return best
