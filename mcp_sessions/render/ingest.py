"""What an ingest did, file by file, for the model."""

from __future__ import annotations

from collections.abc import Sequence

from mcp_sessions.formats.coerce import CUT_VALUES, DROPPED_VALUES, MAX_ATTRIBUTE_VALUES, MAX_STORED_CHARS
from mcp_sessions.ingest import FileResult, IngestCounts
from mcp_sessions.render.markdown import Budget, call, quote
from mcp_sessions.render.models import IngestedFile, IngestReport


def ingest_notes(counts: IngestCounts) -> list[str]:
    """What a person should know beyond the stored counts: records met twice, skipped, cut, sharing ids, or refused."""
    notes = []
    duplicates = [
        f"{n} {what}{'' if n == 1 else 's'}"
        for n, what in ((counts.spans_duplicate, "span"), (counts.logs_duplicate, "log record"))
        if n
    ]
    if duplicates:
        notes.append(f"{' and '.join(duplicates)} identical to one already read (stored once)")
    if counts.records_refused:
        n = counts.records_refused
        notes.append(f"{n} record{'' if n == 1 else 's'} under erased sessions/users refused (not stored)")
    for kind, n in counts.skipped.items():
        notes.append(_skipped(kind, n))
    if counts.spans_id_reused:
        n = counts.spans_id_reused
        notes.append(
            f"{n} span{' shares its' if n == 1 else 's share their'} trace and span id with a different record "
            "(both kept)"
        )
    return notes


def _skipped(kind: str, n: int) -> str:
    if kind == DROPPED_VALUES:
        return f"{n:,} attribute values past {MAX_ATTRIBUTE_VALUES:,} on one record dropped (the record kept)"
    if kind == CUT_VALUES:
        return f"{n:,} value{'' if n == 1 else 's'} longer than {MAX_STORED_CHARS:,} chars cut (each says so)"
    return f"{n:,} {kind}s skipped"


def render_ingest(results: Sequence[FileResult], *, budget: Budget) -> tuple[str, IngestReport]:
    files = [
        IngestedFile(
            source=r.source,
            status=r.status,
            format=r.format,
            spans=r.counts.spans_stored,
            logs=r.counts.logs_stored,
            duplicates=r.counts.spans_duplicate + r.counts.logs_duplicate,
            spans_id_reused=r.counts.spans_id_reused,
            records_refused=r.counts.records_refused,
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
    for r, f in zip(results, files, strict=True):
        detail = (
            f.error
            if f.error
            else ", ".join([f"{f.format}: {f.spans} spans", f"{f.logs} logs", *ingest_notes(r.counts)])
        )
        line = f"- {f.status} {quote(f.source, 100)}: {quote(detail, 200) if f.error else detail}"
        if not budget.fits(line, reserve=200):
            lines.append(f"- … {len(files) - (len(lines) - 3)} more files not listed")
            break
        budget.take(line)
        lines.append(line)
    lines.append(f"**Next**: {call('list_sessions')} shows what is indexed now")
    return "\n".join(lines), report
