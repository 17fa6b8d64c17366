"""The SQL a baseline diff needs: earlier sessions of the same flow, and response sizes.

Candidates for an automatic baseline are found without loading any session. Among the
CANDIDATE_POOL sessions that started last, no later than the target (two sessions can start
in the same instant: a clock's resolution, requests from two tabs), never the target itself,
with a trace count that could still be similar enough (`sessions_start` index), the SCORED
closest in trace count have their traces counted per route (method and route of each
trace's root, `traces_session` index), and each is scored against the target's counts by
weighted Jaccard similarity, Σ min(count) / Σ max(count) over routes. Counting, not just
sharing, routes is what tells a flow apart: buying one item and buying ten hit the same
routes, ten times as often. The pool bounds the work however large the database is.

    route (three of them)      target  candidate   min  max
    GET /api/products/{id}       10        10        10   10
    GET /api/products/{id}/rev   30        10        10   30
    POST /api/checkout            1         1         1    1      21 / 41 = 0.51 on these;
                                                                  0.76 over the whole sessions
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict

from mcp_sessions.config import MIN_BASELINE_SIMILARITY as MIN_SIMILARITY
from mcp_sessions.model import Candidate

CANDIDATE_POOL = 200  # most recent sessions considered (started no later than the target)
SCORED = 40  # of those, the ones closest in trace count whose routes are compared
MAX_BASELINES = 3  # sessions folded into the median baseline: the median of 3 outvotes one odd run

_ROUTE = "coalesce(t.http_method || ' ' || t.http_route, t.root_name, '')"

_TARGET = f"SELECT {_ROUTE}, count(*) FROM traces t WHERE t.session_id = ? GROUP BY 1"

# Σ min / Σ max can only reach MIN_SIMILARITY when the trace counts themselves are that
# close (Σ min ≤ the smaller total, Σ max ≥ the larger): a bound, so it loses no candidate.
_CANDIDATES = f"""
WITH recent AS (
    SELECT session_id, start_ns, trace_count FROM sessions
    WHERE start_ns <= :start AND session_id != :session AND trace_count BETWEEN :fewest AND :most
    ORDER BY start_ns DESC LIMIT :pool
),
pool AS (
    SELECT session_id, start_ns FROM recent ORDER BY abs(trace_count - :total), start_ns DESC LIMIT :scored
)
SELECT p.session_id, p.start_ns, {_ROUTE} AS route, count(*)
FROM pool p JOIN traces t ON t.session_id = p.session_id
GROUP BY p.session_id, p.start_ns, route
"""


def baseline_candidates(
    conn: sqlite3.Connection,
    session_id: str,
    start_ns: int,
    *,
    pool: int = CANDIDATE_POOL,
    scored: int = SCORED,
    limit: int = MAX_BASELINES,
    min_similarity: float = MIN_SIMILARITY,
) -> list[Candidate]:
    """Other sessions, started no later, whose traces hit `session_id`'s routes as often; most similar first."""
    target = dict(conn.execute(_TARGET, (session_id,)).fetchall())
    if not target:
        return []
    counts: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
    total = sum(target.values())
    bounds = {"fewest": total * min_similarity, "most": total / min_similarity if min_similarity else 1 << 62}
    params = {"session": session_id, "start": start_ns, "pool": pool, "scored": scored, "total": total, **bounds}
    rows = conn.execute(_CANDIDATES, params)
    for sid, start, route, count in rows:
        counts[(sid, start)][route] = count
    out = []
    for (sid, start), theirs in counts.items():
        routes = target.keys() | theirs.keys()
        low = sum(min(target.get(r, 0), theirs.get(r, 0)) for r in routes)
        high = sum(max(target.get(r, 0), theirs.get(r, 0)) for r in routes)
        similarity = low / high if high else 0.0
        if similarity >= min_similarity:
            out.append(Candidate(sid, start, similarity))
    out.sort(key=lambda c: (-c.similarity, -c.start_ns, c.session_id))
    return out[:limit]


def session_route_count(conn: sqlite3.Connection, session_id: str) -> int:
    """How many distinct routes a session's traces hit (0: automatic baselines cannot be found)."""
    return conn.execute(
        f"SELECT count(DISTINCT {_ROUTE}) FROM traces t WHERE t.session_id = ?", (session_id,)
    ).fetchone()[0]


def all_have_browser_events(conn: sqlite3.Connection, session_ids: list[str]) -> bool:
    """Whether every one of these sessions has browser events (else a diff reads them all by traces)."""
    marks = ", ".join("?" * len(session_ids))
    row = conn.execute(
        f"SELECT count(*), sum(event_count > 0) FROM sessions WHERE session_id IN ({marks})", session_ids
    ).fetchone()
    return bool(row[0]) and row[0] == row[1]


def response_sizes(conn: sqlite3.Connection, session_id: str) -> dict[str, int]:
    """Response body sizes by trace id, from every recorded copy of a session's requests.

    The shown copy of a request (rrweb's) often lacks the size its HAR copy carries; both
    name the same trace through the request's `traceparent`.
    """
    rows = conn.execute(
        "SELECT trace_id, max(CAST(json_extract(detail, '$.response_body_size') AS INTEGER)) FROM events "
        "WHERE session_id = ? AND kind = 'network' AND trace_id IS NOT NULL "
        "AND json_extract(detail, '$.response_body_size') IS NOT NULL GROUP BY trace_id",
        (session_id,),
    )
    return {trace_id: size for trace_id, size in rows if size is not None and size >= 0}
