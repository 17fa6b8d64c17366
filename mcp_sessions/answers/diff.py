"""Diff: what changed between a session (or a trace) and a known-good one.

The baseline is the session or trace the caller names, or, for a session alone, the median
of the earlier sessions of the same flow (the store finds them by their routes' counts).
Both sides are built from the same kinds of recording, then aligned and diffed
(analysis/diff/); nothing here formats.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcp_sessions.analysis.diff import (
    DiffResult,
    SessionRecording,
    Side,
    comparable_sides,
    diff_sides,
    median_side,
    trace_side,
)
from mcp_sessions.answers.lookup import not_found_trace, require_session
from mcp_sessions.config import MIN_BASELINE_SIMILARITY
from mcp_sessions.errors import InvalidArgumentError, NotFoundError
from mcp_sessions.params import normalize_trace_id
from mcp_sessions.store.protocol import SessionStore
from mcp_sessions.visible import code


@dataclass(frozen=True)
class DiffAnswer:
    result: DiffResult
    retry: dict[str, object]  # the arguments that repeat this comparison
    automatic: bool  # the baseline was chosen, not named


def diff_against_baseline(
    store: SessionStore,
    session_id: str | None,
    baseline: str | None,
    trace_id: str | None,
    baseline_trace_id: str | None,
) -> DiffAnswer:
    if _trace_mode(session_id, baseline, trace_id, baseline_trace_id):
        target, good = _trace_sides(store, trace_id or "", baseline_trace_id or "")
        retry: dict[str, object] = {"trace_id": target.name, "baseline_trace_id": good.name}
    else:
        target, good = _session_sides(store, session_id or "", baseline)
        retry = {k: v for k, v in (("session_id", session_id), ("baseline", baseline)) if v is not None}
    return DiffAnswer(diff_sides(good, target), retry, automatic=session_id is not None and baseline is None)


def _trace_mode(
    session_id: str | None, baseline: str | None, trace_id: str | None, baseline_trace_id: str | None
) -> bool:
    """Which comparison the arguments ask for; an InvalidArgumentError saying how to ask when they mix them."""
    traces = trace_id is not None or baseline_trace_id is not None
    sessions = session_id is not None or baseline is not None
    if traces and sessions:
        raise InvalidArgumentError(
            "pass either session_id (and optionally baseline) or trace_id with baseline_trace_id, not both"
        )
    if traces:
        if not trace_id or not baseline_trace_id:
            missing = "baseline_trace_id" if trace_id else "trace_id"
            raise InvalidArgumentError(
                f"comparing traces needs both trace_id and baseline_trace_id; {missing} is missing "
                f"(take trace ids from `list_traces(session_id='<session id>')`)"
            )
        return True
    if not session_id:
        raise InvalidArgumentError(
            "pass session_id (the session to explain; baseline optional) or trace_id with baseline_trace_id; "
            "find sessions with `list_sessions()`"
        )
    return False


def _trace_sides(store: SessionStore, trace_id: str, baseline_trace_id: str) -> tuple[Side, Side]:
    wanted = {"trace_id": trace_id, "baseline_trace_id": baseline_trace_id}
    normalized = {}
    for name, text in wanted.items():
        try:
            normalized[name] = normalize_trace_id(text)
        except InvalidArgumentError:
            raise InvalidArgumentError(
                f"{name} {code(text[:40])} is not a hex trace id; copy one from list_traces or get_timeline"
            ) from None
    for name, value in normalized.items():
        if store.trace(value) is None:
            raise NotFoundError(f"{name}: {not_found_trace(store, wanted[name])}")
    target, good = (trace_side(v, store.trace_spans(v)) for v in normalized.values())
    return target, good


def _recordings(store: SessionStore, session_ids: list[str]) -> list[SessionRecording]:
    """What the sides are built from; browser events only when every session has some (else unused)."""
    browser = store.all_have_browser_events(session_ids)
    return [
        SessionRecording(
            session_id=sid,
            events=store.session_events(sid) if browser else (),
            traces=store.session_traces(sid),
            sizes=store.response_sizes(sid) if browser else {},
        )
        for sid in session_ids
    ]


def _session_sides(store: SessionStore, session_id: str, baseline: str | None) -> tuple[Side, Side]:
    session = require_session(store, session_id)
    if baseline is not None:
        if store.session(baseline) is None and store.trace(_maybe_trace(baseline)):
            raise InvalidArgumentError(
                f"baseline {code(baseline)} is a trace id, and baseline takes a session id; to compare two traces pass "
                "trace_id and baseline_trace_id instead of session_id and baseline"
            )
        require_session(store, baseline)
        target, good = comparable_sides(_recordings(store, [session_id, baseline]))
        return target, good
    candidates = store.baseline_candidates(session_id, session.start_ns)
    if not candidates:
        routes = store.route_count(session_id)
        why = (
            "it has no backend traces to recognise its flow by"
            if not routes
            else "no other session that started no later hit its routes about as often "
            f"(at least {MIN_BASELINE_SIMILARITY:.0%} alike)"
        )
        raise NotFoundError(
            f"no automatic baseline for session {code(session_id)}: {why}; pass baseline=<a known-good session id> "
            "(find one with `list_sessions()`)"
        )
    sides = comparable_sides(_recordings(store, [session_id] + [c.session_id for c in candidates]))
    return sides[0], median_side(sides[1:])


def _maybe_trace(text: str) -> str:
    try:
        return normalize_trace_id(text)
    except InvalidArgumentError:
        return text
