"""Slow work: where the time went in a scope, by operation or by single span.

Both rankings put time on the critical path first (what the user waited for), then self
time, never plain duration (a parent always looks slowest); the store keeps those per span
since ingest, so a ranking over all data is one indexed question. An operation row also says
whether the operation runs as an N+1 loop in the scope's traces, and how often: read from the
patterns ingest found in every trace, never from a tree walk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from mcp_sessions.answers.lookup import ScopeQuery, checked_scope
from mcp_sessions.model import OperationLoops, OperationRanking, SpanRanking, SpanScope
from mcp_sessions.store.protocol import TraceStore

GroupBy = Literal["operation", "span"]


@dataclass(frozen=True)
class SlowWork:
    query: ScopeQuery
    scope: SpanScope
    group_by: GroupBy
    limit: int
    ranking: OperationRanking | SpanRanking
    # by (service, fingerprint), for the ranked operations that run as an N+1 in scope
    loops: Mapping[tuple[str | None, str], OperationLoops] = field(default_factory=dict)


def slow_work(store: TraceStore, q: ScopeQuery, *, group_by: GroupBy, limit: int) -> SlowWork:
    scope = checked_scope(store, q)
    if group_by == "span":
        return SlowWork(q, scope, group_by, limit, store.slow_spans(scope, limit))
    ranking = store.slow_operations(scope, limit)
    loops = store.operation_loops(scope, [(r.service, r.fingerprint) for r in ranking.rows])
    return SlowWork(q, scope, group_by, limit, ranking, loops)
