"""Slow work: where the time went in a scope, by operation or by single span.

Both rankings put time on the critical path first (what the user waited for), then self
time, never plain duration (a parent always looks slowest); the store keeps those per span
since ingest, so a ranking over all data is one indexed question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mcp_sessions.answers.lookup import ScopeQuery, checked_scope
from mcp_sessions.model import OperationRanking, SpanRanking, SpanScope
from mcp_sessions.store.protocol import TraceStore

GroupBy = Literal["operation", "span"]


@dataclass(frozen=True)
class SlowWork:
    query: ScopeQuery
    scope: SpanScope
    group_by: GroupBy
    limit: int
    ranking: OperationRanking | SpanRanking


def slow_work(store: TraceStore, q: ScopeQuery, *, group_by: GroupBy, limit: int) -> SlowWork:
    scope = checked_scope(store, q)
    ranking = store.slow_spans(scope, limit) if group_by == "span" else store.slow_operations(scope, limit)
    return SlowWork(q, scope, group_by, limit, ranking)
