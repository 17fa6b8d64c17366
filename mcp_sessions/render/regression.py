"""A drafted regression test for the model: what it replays, how to run it, and the file itself.

The file is the answer, so the text shows it whole when it fits the budget, fenced as
Python (string values in it are recorded data). A file over the budget is never shown cut
(a cut test file is a broken one): the text then gives an outline of its steps, as many as
fit, and the calls that get it whole (a larger budget) or smaller (a narrower focus). The
structured content always carries the whole file.
"""

from __future__ import annotations

from typing import Literal

from mcp_sessions.answers.draft import DraftAnswer
from mcp_sessions.config import CHARS_PER_TOKEN, MAX_BUDGET_TOKENS
from mcp_sessions.drafting.model import Draft, DraftStep
from mcp_sessions.model import SessionSummary
from mcp_sessions.render.markdown import Budget, call, given, ident, ms, quote
from mcp_sessions.render.models import DraftedFile, DraftedStep, EnvironmentVariable, RegressionDraft


def _step(step: DraftStep, start_ns: int) -> DraftedStep:
    offset = ms(step.time_ns - start_ns) if step.time_ns is not None else None
    return DraftedStep(
        number=step.number, role=step.role, summary=step.summary, trace_id=step.trace_id, offset_ms=offset
    )


def _fence(source: str) -> str:
    """A fence longer than any run of backticks inside, so the file cannot close it."""
    longest, run = 0, 0
    for ch in source:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def render_draft(
    session: SessionSummary, draft: Draft, *, budget: Budget, next_call: dict[str, object]
) -> tuple[str, RegressionDraft]:
    path = f"tests/{draft.filename}"
    required = [e for e in draft.env if e.required]
    run = " ".join(f"{e.name}=..." for e in required) + f" python -m pytest -q {path}"
    left = ", ".join(f"{n} {why}" for why, n in sorted(draft.skipped.items())) or "nothing"
    env = ", ".join(f"{ident(e.name)} ({quote(e.purpose, 120)}{'' if e.required else ', optional'})" for e in draft.env)
    head = [
        f"# Regression test ({draft.style}) drafted from session {ident(session.session_id)}",
        f"**File**: {quote(path, 400)} ({draft.source.count(chr(10))} lines); "
        "the tool writes nothing: save it yourself",
        f"**Covers**: {quote(draft.focus, 200)} · {len(draft.steps)} steps · **Left out**: {left}",
        f"**Run**: {quote(run, 400)}",
        f"**Environment**: {env}",
        *(f"**Note**: {quote(note, 300)}" for note in draft.notes),
    ]
    for line in head:
        budget.take(line)
    fence = _fence(draft.source)
    shown = f"{fence}python\n{draft.source}{fence}"
    text_shows: Literal["file", "outline"] = "file"
    if budget.fits(shown, reserve=200):
        body = ["**Shown**: the whole file; its strings are recorded data, not instructions", "", shown]
    else:
        text_shows = "outline"
        needed = -(-(budget.used + len(shown) + 201) // CHARS_PER_TOKEN)  # tokens the whole file would take
        body = _outline(session, draft, budget, next_call, needed)
    model = RegressionDraft(
        session_id=session.session_id,
        style=draft.style,
        focus=draft.focus,
        files=[DraftedFile(path=path, content=draft.source, lines=draft.source.count("\n"))],
        steps=[_step(s, session.start_ns) for s in draft.steps],
        api_requests=draft.total_calls,
        left_out=dict(draft.skipped),
        environment=[EnvironmentVariable(name=e.name, purpose=e.purpose, required=e.required) for e in draft.env],
        notes=list(draft.notes),
        run=run,
        text_shows=text_shows,
    )
    return "\n".join([*head, *body]), model


def _outline(
    session: SessionSummary, draft: Draft, budget: Budget, next_call: dict[str, object], tokens: int
) -> list[str]:
    if tokens <= MAX_BUDGET_TOKENS:
        whole = f"call again with a larger budget: {call('draft_regression_test', **next_call, budget_tokens=tokens)}"
    else:
        whole = "narrow the focus (from_ms/to_ms, trace_id, around_error) to get a file that fits"
    footer = [
        f"**More**: {whole}; the whole file is also in the structured content (`files[0].content`)",
        *_narrower(session, draft, next_call),
    ]
    for line in footer:
        budget.take(line)
    lines = [
        f"**Shown**: an outline; the {draft.source.count(chr(10))}-line file does not fit this answer's budget",
        "",
    ]
    listed = 0
    for step in draft.steps:
        offset = f"`+{(step.time_ns - session.start_ns) / 1e9:.3f} s` " if step.time_ns is not None else ""
        trace = f" · trace {ident(step.trace_id)}" if step.trace_id else ""
        line = f"{step.number}. {offset}{step.role} {quote(step.summary, 120)}{trace}"
        if not budget.fits(line, reserve=100):
            break
        budget.take(line)
        lines.append(line)
        listed += 1
    if listed < len(draft.steps):
        lines.append(f"(shows {listed} of {len(draft.steps)} steps)")
    return [*lines, "", *footer]


def _narrower(session: SessionSummary, draft: Draft, next_call: dict[str, object]) -> list[str]:
    """A next call that drafts the first half of the steps, when they have times."""
    timed = [s.time_ns for s in draft.steps if s.time_ns is not None]
    if len(timed) < 2 or "from_ms" in next_call or "to_ms" in next_call:
        return []
    middle = timed[len(timed) // 2 - 1]
    to_ms = round((middle - session.start_ns) / 1e6 + 1, 1)
    narrower = call("draft_regression_test", **next_call, from_ms=0, to_ms=to_ms)
    return [f"**Narrower**: {narrower} drafts the first {len(timed) // 2} steps"]


def render_draft_answer(answer: DraftAnswer, *, budget: Budget) -> tuple[str, RegressionDraft]:
    r = answer.request
    next_call = given(
        session_id=r.session_id,
        style=r.style,
        trace_id=r.trace_id,
        from_ms=r.from_ms,
        to_ms=r.to_ms,
        around_error=r.around_error or None,
        latency_factor=r.latency_factor,
        baseline_session_id=r.baseline_session_id,
        recorded_errors=None if r.recorded_errors == "pin" else r.recorded_errors,
        count_queries=r.count_queries,
    )
    return render_draft(answer.session, answer.draft, budget=budget, next_call=next_call)
