"""A baseline diff as bounded markdown, and the same facts as a pydantic model.

Shape: a title, `**Label**: value` lines (verdict, trust, totals, tolerance), then the
findings in rank order, each with the ids to drill into and the next call, as many as
the budget holds ("shows N of M"). When the sides are too different to compare (trust
under LOW_TRUST) the answer stays short: the warning, what each side did, and how to pick
a better baseline. Fingerprints, URLs and step labels are recorded text: quoted.
"""

from __future__ import annotations

from mcp_sessions.analysis.diff import LOW_TRUST, PARTIAL_TRUST, DiffResult, Finding, Side
from mcp_sessions.analysis.diff.noise import ALPHA, MIN_DELTA_NS, MIN_RATIO, MIN_SAMPLES
from mcp_sessions.answers.diff import DiffAnswer
from mcp_sessions.config import CHARS_PER_TOKEN, MAX_BUDGET_TOKENS
from mcp_sessions.render.markdown import Budget, call, duration, ident, ms, quote, size_text
from mcp_sessions.render.models import DiffCompanion, DiffFinding, DiffSideInfo, DiffTrust, DiffView

_FOOTER_RESERVE = 700
_LOW_TRUST_LISTED = 3  # steps of each side named in a low-trust answer


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _side_name(side: Side) -> str:
    if side.kind == "median":
        return f"the median of {len(side.session_ids)} earlier sessions of the same flow"
    return f"{side.kind} {ident(side.name)}"


def _signed(ns: float) -> str:
    return ("+" if ns >= 0 else "−") + duration(abs(ns))


def _bytes(size: int | None) -> str:
    return size_text(size)


def _where(f: Finding) -> str:
    labels: list[str] = []
    for label in f.context:
        if not labels or labels[-1] != label:
            labels.append(label)
    if not labels:
        return ""
    shown = " › ".join(quote(label, 60) for label in labels[-2:])
    return f" in {shown}" + (f" · {quote(f.service, 40)}" if f.service else "")


def _was(after: int, before: int) -> str:
    return f"{after}× (new)" if not before else f"{after}× (was {before}×)"


def _per_step(f: Finding) -> str:
    """'; 3 per step, was 1' when a request's count changed the same way in every step."""
    if f.level == "op" or f.steps < 2 or f.count_after % f.steps or f.count_before % f.steps:
        return ""
    return f"; {f.count_after // f.steps} per step, was {f.count_before // f.steps}"


def _impact(f: Finding) -> str:
    if f.steps > 1:
        return f"**{_signed(f.per_wait_delta_ns)}** per wait, {_signed(f.delta_ns)} in all over {f.steps} steps"
    return f"**{_signed(f.delta_ns)}**"


def _title(f: Finding) -> str:
    if f.kind == "count":
        if f.companions or (f.level == "op" and f.count_after > f.count_before):
            return "N+1 loop"
        return "More calls" if f.count_after > f.count_before else "Fewer calls"
    if f.kind == "latency":
        return "Slower" if f.delta_ns > 0 else "Faster"
    if f.kind == "errors":
        return "New errors" if f.regression else "Errors gone"
    if f.kind == "step-added":
        return "Extra step with errors" if f.errors_after else "Extra step"
    return {"added": "New", "removed": "Gone", "size": "Response size", "status": "Status"}.get(f.kind, "Missing step")


def _headline(f: Finding) -> str:
    title = f"**{_title(f)}**"
    label = quote(f.label, 110)
    was = f" as {quote(f.baseline_label, 90)}" if f.baseline_label else ""
    if f.kind == "count":
        text = f"{title} {label} ran {f.count_after}× (was {f.count_before}×{was}{_per_step(f)})"
        if f.companions:
            others = "; ".join(f"{quote(c.label, 90)} {_was(c.count_after, c.count_before)}" for c in f.companions[:3])
            text += f", each time with {others}"
        return f"{text}: {_impact(f)}{_where(f)}"
    if f.kind == "added":
        text = f"{title} {label} ran {f.count_after}×"
        if f.companions:
            text += ", each time with " + "; ".join(f"{quote(c.label, 90)} {c.count_after}×" for c in f.companions[:3])
        return f"{text}: {_impact(f)}{_where(f)}"
    if f.kind == "removed":
        return f"{title} {label} (ran {f.count_before}×): {_impact(f)}{_where(f)}"
    if f.kind == "latency":
        evidence = f", p={f.p_value:.2g}" if f.p_value is not None else ""
        return (
            f"{title} {label}: {duration(f.wait_after_ns)} (was {duration(f.wait_before_ns)}{evidence}): "
            f"{_impact(f)}{_where(f)}"
        )
    if f.kind == "size":
        ratio = f", {f.size_after / f.size_before:.1f}×" if f.size_before and f.size_after else ""
        return f"{title} {label}: {_bytes(f.size_after)} per response (was {_bytes(f.size_before)}{ratio}){_where(f)}"
    if f.kind == "errors":
        statuses = (
            f", status {_statuses(f.statuses_after)} (was {_statuses(f.statuses_before)})"
            if f.statuses_after != f.statuses_before
            else ""
        )
        return (
            f"{title} {label}: {_n(f.errors_after, 'error')} (was {f.errors_before}) in "
            f"{_n(f.count_after, 'call')}{statuses}{_where(f)}"
        )
    if f.kind == "status":
        return f"{title} {label}: {_statuses(f.statuses_after)} (was {_statuses(f.statuses_before)}){_where(f)}"
    times = f" ×{max(f.count_after, f.count_before)}" if max(f.count_after, f.count_before) > 1 else ""
    errors = f", {_n(f.errors_after, 'error')}" if f.kind == "step-added" and f.errors_after else ""
    return f"{title} {label}{times}: {_signed(f.delta_ns)} of requests{errors}"


def _statuses(statuses: tuple[int, ...]) -> str:
    return ", ".join(str(s) for s in statuses) or "none"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def _next_call(f: Finding, target: Side) -> str | None:
    if f.level == "step":
        if f.errors_after and f.trace_ids:
            return call("get_trace", trace_id=f.trace_ids[0])  # the failing request comes first
        return call("get_timeline", session_id=target.session_ids[0]) if target.session_ids else None
    if not f.trace_ids:
        return call("get_trace", trace_id=f.baseline_trace_ids[0]) if f.baseline_trace_ids else None
    if f.level == "op" and f.parent_span_ids:
        return call("get_trace", trace_id=f.trace_ids[0], span_id=f.parent_span_ids[0])
    if f.level in ("request", "backend") and f.baseline_trace_ids and f.kind != "size":
        return call("diff_against_baseline", trace_id=f.trace_ids[0], baseline_trace_id=f.baseline_trace_ids[0])
    return call("get_trace", trace_id=f.trace_ids[0])


def _ids(f: Finding) -> str:
    parts = []
    if f.step_labels:
        more = f" and {f.steps - 1} more" if f.steps > 1 else ""
        parts.append(f"step {quote(f.step_labels[0], 60)}{more}")
    if f.trace_ids:
        parts.append("trace " + ", ".join(f"{ident(t)}" for t in f.trace_ids[:2]))
    if f.baseline_trace_ids:
        parts.append("baseline trace " + ", ".join(f"{ident(t)}" for t in f.baseline_trace_ids[:2]))
    if f.span_ids:
        parts.append("spans " + ", ".join(f"{ident(s)}" for s in f.span_ids[:3]))
    if f.baseline_session_ids and len(f.baseline_session_ids) > 1:
        parts.append("baseline sessions " + ", ".join(f"{ident(s)}" for s in f.baseline_session_ids[:3]))
    return "; ".join(parts)


def _model_finding(rank: int, f: Finding, next_call: str | None) -> DiffFinding:
    return DiffFinding(
        rank=rank,
        kind=f.kind,
        level=f.level,
        label=f.label,
        baseline_label=f.baseline_label,
        context=list(f.context),
        service=f.service,
        count_before=f.count_before,
        count_after=f.count_after,
        before_ms=ms(f.wait_before_ns),
        after_ms=ms(f.wait_after_ns),
        delta_ms=ms(f.delta_ns),
        per_wait_delta_ms=ms(f.per_wait_delta_ns),
        steps=f.steps,
        errors_before=f.errors_before,
        errors_after=f.errors_after,
        statuses_before=list(f.statuses_before),
        statuses_after=list(f.statuses_after),
        size_before=f.size_before,
        size_after=f.size_after,
        p_value=f.p_value,
        trace_ids=list(f.trace_ids),
        baseline_trace_ids=list(f.baseline_trace_ids),
        span_ids=list(f.span_ids),
        baseline_span_ids=list(f.baseline_span_ids),
        baseline_session_ids=list(f.baseline_session_ids),
        companions=[
            DiffCompanion(
                label=c.label, count_before=c.count_before, count_after=c.count_after, delta_ms=ms(c.delta_ns)
            )
            for c in f.companions
        ],
        next_call=next_call,
    )


def _side_info(side: Side, steps: int, requests: int, spans: int, wait_ns: int) -> DiffSideInfo:
    return DiffSideInfo(
        kind=side.kind,
        name=side.name,
        session_ids=list(side.session_ids),
        trace_ids=list(side.trace_ids[:5]),
        steps=steps,
        requests=requests,
        spans=spans,
        wait_ms=ms(wait_ns),
    )


def render_diff(
    result: DiffResult, *, budget: Budget, max_findings: int, retry: dict[str, object], automatic: bool = False
) -> tuple[str, DiffView]:
    """`retry` holds the arguments that repeat this diff (for the 'more findings' hint); `automatic`
    says the server picked the baseline."""
    target, baseline = result.alignment.target, result.alignment.baseline
    trust = result.alignment.trust
    totals = result.totals
    low = result.low_trust
    head = [f"# Diff: {_side_name(target)} against {_side_name(baseline)}"]
    trust_parts = (
        f"{result.trust:.0%} matched (steps {_pct(trust.steps.ratio)} · requests {_pct(trust.requests.ratio)} · "
        f"backend {_pct(trust.backend.ratio)})"
    )
    if low:
        head.append(
            f"**Trust**: LOW, {trust_parts}. Below {LOW_TRUST:.0%} the two sides followed different flows: their "
            "differences describe the flows, not a regression, so none are listed"
        )
    elif result.trust < PARTIAL_TRUST:
        head.append(f"**Trust**: partial, {trust_parts}: compare the findings with care")
    else:
        head.append(f"**Trust**: {trust_parts}: the same flow")
    if not low:
        if result.findings:
            top = result.findings[0]
            head.append(
                f"**Verdict**: {len(result.findings)} significant change{'s' * (len(result.findings) != 1)}; "
                f"the top one: {_title(top)} {quote(top.label, 80)}"
                + (
                    f" ({_signed(top.per_wait_delta_ns)} per wait)"
                    if top.kind not in ("size", "errors", "status")
                    else ""
                )
            )
        else:
            head.append("**Verdict**: no significant change")
    head.append(
        f"**Waited**: {duration(totals.wait_after_ns)} in requests (was {duration(totals.wait_before_ns)}) · "
        f"**Steps**: {totals.steps_after} (was {totals.steps_before}) · **Requests**: {totals.requests_after} "
        f"(was {totals.requests_before}) · **Spans**: {totals.spans_after} (was {totals.spans_before})"
    )
    if automatic:
        head.append(
            "**Baseline sessions** (earlier sessions of the same routes, picked automatically): "
            + ", ".join(f"{ident(s)}" for s in baseline.session_ids)
        )
    if not low:
        head.append(
            f"**Tolerance**: timing changes under {duration(MIN_DELTA_NS)} or {MIN_RATIO:.0%} are ignored; on an "
            f"unchanged structure they also need {MIN_SAMPLES}+ samples a side and p < {ALPHA} (rank test)"
        )
    for line in head:
        budget.take(line)

    body: list[str] = []
    models: list[DiffFinding] = []
    truncated = False
    if low:
        body.extend(_low_trust_lines(result))
    else:
        for rank, finding in enumerate(result.findings[:max_findings], start=1):
            next_call = _next_call(finding, target)
            lines = [f"{rank}. {_headline(finding)}"]
            ids = _ids(finding)
            if ids:
                lines.append(f"   - ids: {ids}")
            if next_call:
                lines.append(f"   - next: {next_call}")
            text = "\n".join(lines)
            if not budget.fits(text, reserve=_FOOTER_RESERVE):
                truncated = True
                break
            budget.take(text)
            body.append(text)
            models.append(_model_finding(rank, finding, next_call))
        if result.findings:
            body.insert(
                0,
                f"## Findings (shows {len(models)} of {len(result.findings)}; errors first, then the most time "
                "added to one wait)",
            )
        if len(models) < len(result.findings):
            again = dict(retry)
            if truncated:  # the text budget ran out first
                again.update(
                    max_findings=max_findings, budget_tokens=min(MAX_BUDGET_TOKENS, 2 * budget.limit // CHARS_PER_TOKEN)
                )
            else:
                again.update(max_findings=min(50, len(result.findings)))
            body.append(f"- … {len(result.findings) - len(models)} more: {call('diff_against_baseline', **again)}")
        if result.unconfirmed:
            biggest = result.unconfirmed[0]
            advice = (
                f"; diff against several sessions to confirm: {call('diff_against_baseline', session_id=target.name)}"
                if target.kind == "session" and baseline.kind != "median"
                else ""
            )
            many = len(result.unconfirmed)
            body.append(
                f"**Unconfirmed**: {many} timing difference{'s' * (many != 1)} too rarely seen to tell from noise "
                f"(largest: {quote(biggest.label, 60)} {_signed(biggest.delta_ns)}){advice}"
            )
        if result.minor:
            body.append(f"**Minor**: {result.minor} structural differences below every tolerance, not listed")
    view = DiffView(
        mode=target.mode,
        target=_side_info(target, totals.steps_after, totals.requests_after, totals.spans_after, totals.wait_after_ns),
        baseline=_side_info(
            baseline, totals.steps_before, totals.requests_before, totals.spans_before, totals.wait_before_ns
        ),
        trust=DiffTrust(
            overall=round(result.trust, 4),
            steps=_round(trust.steps.ratio),
            requests=_round(trust.requests.ratio),
            backend=_round(trust.backend.ratio),
            low=low,
            low_threshold=LOW_TRUST,
        ),
        significant=bool(result.findings) and not low,
        findings=models,
        total_findings=len(result.findings),
        shown=len(models),
        unconfirmed=len(result.unconfirmed),
        minor=result.minor,
        truncated=truncated or len(models) < len(result.findings),
    )
    return "\n".join([*head, "", *body]).rstrip() + "\n", view


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _low_trust_lines(result: DiffResult) -> list[str]:
    target, baseline = result.alignment.target, result.alignment.baseline

    def did(side: Side) -> str:
        names = ", ".join(quote(s.label, 50) for s in side.steps[:_LOW_TRUST_LISTED])
        more = f" and {len(side.steps) - _LOW_TRUST_LISTED} more" if len(side.steps) > _LOW_TRUST_LISTED else ""
        return names + more if names else "nothing recorded"

    lines = [
        f"**Target did**: {did(target)}",
        f"**Baseline did**: {did(baseline)}",
        f"**Differences**: {len(result.findings)} found, not listed",
    ]
    hints = []
    if target.kind == "session" and baseline.kind != "median":
        hints.append(
            f"let the server pick earlier sessions of the same flow: "
            f"{call('diff_against_baseline', session_id=target.name)}"
        )
        hints.append(f"or find one yourself: {call('list_sessions', query='<a page or route of this flow>')}")
    elif target.kind == "session":
        hints.append(f"pick a known-good session of the same flow: {call('list_sessions', query='<a page or route>')}")
    else:
        hints.append(f"pick a trace of the same request: {call('list_traces', query='<its route>')}")
    lines.append("**Next**: " + "; ".join(hints))
    return lines


def render_diff_answer(answer: DiffAnswer, *, budget: Budget, max_findings: int) -> tuple[str, DiffView]:
    return render_diff(
        answer.result, budget=budget, max_findings=max_findings, retry=answer.retry, automatic=answer.automatic
    )
