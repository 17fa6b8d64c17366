"""What a diff answers: ranked findings, the ones left unconfirmed, totals and trust."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mcp_sessions.analysis.diff.align import Alignment

# Below this overall trust the sides did different things, and their differences say more
# about the flows than about a regression: the output is a warning, not a list. Measured:
# same-flow sessions of the fixtures match 90-100%, different flows of the same shop 20-52%
# (the slow-payment purchase against the ten-item checkout: 52%), other applications 0%.
LOW_TRUST = 0.5
# Between LOW_TRUST and this, the list comes with a caution.
PARTIAL_TRUST = 0.8

ERROR_KINDS = frozenset({"errors", "status"})


@dataclass(frozen=True)
class Companion:
    """Another statement of the same N+1 loop."""

    label: str
    count_before: int
    count_after: int
    delta_ns: int


@dataclass(frozen=True)
class Finding:
    kind: str  # errors | status | added | removed | count | latency | size | step-added | step-removed
    level: str  # step | request | backend | op | error
    label: str
    baseline_label: str | None  # the statement it replaced (matched by the loose key)
    context: tuple[str, ...]  # the labels of its ancestors, outermost first
    service: str | None
    count_before: int
    count_after: int
    wait_before_ns: int
    wait_after_ns: int
    delta_ns: int  # time it added in all (negative: saved)
    per_wait_delta_ns: int  # time it added to a typical wait (median over the steps it touched)
    steps: int
    step_labels: tuple[str, ...]
    errors_before: int
    errors_after: int
    statuses_before: tuple[int, ...]
    statuses_after: tuple[int, ...]
    size_before: int | None  # bytes per occurrence
    size_after: int | None
    p_value: float | None
    trace_ids: tuple[str, ...]
    baseline_trace_ids: tuple[str, ...]
    span_ids: tuple[str, ...]
    baseline_span_ids: tuple[str, ...]
    parent_span_ids: tuple[str, ...]  # where to expand it in the target trace
    baseline_session_ids: tuple[str, ...]
    companions: tuple[Companion, ...] = ()

    @property
    def regression(self) -> bool:
        if self.kind in ERROR_KINDS:
            return self.errors_after > self.errors_before or bool(
                bad_statuses(self.statuses_after) - bad_statuses(self.statuses_before)
            )
        if self.kind == "size":
            return (self.size_after or 0) > (self.size_before or 0)
        if self.kind in ("added", "step-added"):
            return True
        if self.kind in ("removed", "step-removed"):
            return False
        return self.delta_ns > 0


@dataclass(frozen=True)
class Totals:
    steps_before: int
    steps_after: int
    requests_before: int
    requests_after: int
    spans_before: int
    spans_after: int
    wait_before_ns: int  # what the user waited for in requests, summed over steps
    wait_after_ns: int


@dataclass(frozen=True)
class DiffResult:
    alignment: Alignment
    findings: tuple[Finding, ...]  # significant, ranked
    unconfirmed: tuple[Finding, ...]  # timing differences the samples could not confirm, largest first
    minor: int  # structural differences below every tolerance
    totals: Totals

    @property
    def trust(self) -> float:
        return self.alignment.trust.overall

    @property
    def low_trust(self) -> bool:
        return self.trust < LOW_TRUST


def bad_statuses(statuses: Sequence[int] | set[int]) -> set[int]:
    return {s for s in statuses if s >= 400}
