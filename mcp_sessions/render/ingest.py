"""What an ingest did, file by file, for the model."""

from __future__ import annotations

from collections.abc import Sequence

from mcp_sessions.ingest import FileResult
from mcp_sessions.render.markdown import Budget, call, quote
from mcp_sessions.render.models import IngestedFile, IngestReport


def render_ingest(results: Sequence[FileResult], *, budget: Budget) -> tuple[str, IngestReport]:
    files = [
        IngestedFile(
            source=r.source,
            status=r.status,
            format=r.format,
            spans=r.counts.spans_stored,
            logs=r.counts.logs_stored,
            error=r.error,
        )
        for r in results
    ]
    redactions: dict[str, int] = {}
    for r in results:
        for rule, n in r.redactions.items():
            redactions[rule] = redactions.get(rule, 0) + n
    report = IngestReport(
        files=files,
        stored=sum(f.status == "stored" for f in files),
        unchanged=sum(f.status == "unchanged" for f in files),
        failed=sum(f.status == "failed" for f in files),
        redactions=redactions,
    )
    lines = [
        "# Ingest",
        f"**Files**: {len(files)} · **stored** {report.stored} · **unchanged** {report.unchanged} · "
        f"**failed** {report.failed}",
    ]
    if redactions:
        lines.append("**Masked**: " + ", ".join(f"{rule} {n}" for rule, n in sorted(redactions.items())))
    for f in files:
        detail = f.error if f.error else f"{f.format}: {f.spans} spans, {f.logs} logs"
        line = f"- {f.status} {quote(f.source, 100)}: {quote(detail, 200) if f.error else detail}"
        if not budget.fits(line, reserve=200):
            lines.append(f"- … {len(files) - (len(lines) - 3)} more files not listed")
            break
        budget.take(line)
        lines.append(line)
    lines.append(f"**Next**: {call('list_sessions')} shows what is indexed now")
    return "\n".join(lines), report
