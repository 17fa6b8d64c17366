"""Ingest files: expand paths, skip what is already stored, parse, redact, write atomically.

Each file is its own transaction: a bad file is reported (its name and what is wrong)
and leaves nothing behind, while every good file beside it is stored.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from mcp_sessions.errors import InputError, InvalidArgumentError, McpSessionsError
from mcp_sessions.formats import read_path
from mcp_sessions.redact import DEFAULT_RULES, RedactionReport, RedactionRules, redact_records
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite.writer import IngestCounts, IngestWriter

log = logging.getLogger(__name__)

STDIN = "-"


@dataclass
class FileResult:
    """What happened to one input."""

    source: str
    status: Literal["stored", "unchanged", "failed"]
    format: str | None = None
    counts: IngestCounts = field(default_factory=IngestCounts)
    redactions: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def expand(paths: Iterable[str]) -> Iterator[str]:
    """Files as given; directories walked recursively in name order, hidden entries skipped."""
    for raw in paths:
        if raw == STDIN:
            yield STDIN
            continue
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path).parts
                if child.is_file() and not any(part.startswith(".") for part in relative):
                    yield str(child)
        else:
            yield raw


def confine(requested: str, roots: list[Path]) -> list[Path]:
    """The files `requested` names, each proved to lie under one of `roots` after resolving symlinks.

    A relative path is taken under the first root. `..` segments, absolute paths elsewhere and
    symlinks (to files or folders) that lead outside every root are refused; inside a folder,
    a file that escapes is refused by name while the rest is kept.
    """
    resolved_roots = [r.resolve() for r in roots]
    candidate = Path(requested).expanduser()
    if not candidate.is_absolute():
        candidate = resolved_roots[0] / candidate
    try:
        target = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InvalidArgumentError(f"{requested!r} does not exist under the allowed roots") from None
    allowed = ", ".join(str(r) for r in resolved_roots)
    if not any(target.is_relative_to(root) for root in resolved_roots):
        raise InvalidArgumentError(f"{requested!r} is outside the allowed roots ({allowed}); ingest only reads there")
    files = [Path(f) for f in expand([str(target)])]
    inside = [f for f in files if any(f.resolve().is_relative_to(root) for root in resolved_roots)]
    if files and not inside:
        raise InvalidArgumentError(f"every file under {requested!r} links outside the allowed roots ({allowed})")
    return inside


def ingest_paths(
    store: Store,
    paths: Iterable[str],
    *,
    stdin: BinaryIO | None = None,
    rules: RedactionRules = DEFAULT_RULES,
) -> Iterator[FileResult]:
    """Ingest each input in turn, yielding its result as soon as it is known."""
    for source in expand(paths):
        if source == STDIN:
            yield _ingest_stdin(store, stdin or sys.stdin.buffer, rules)
        else:
            yield ingest_file(store, Path(source), label=source, rules=rules)


def _ingest_stdin(store: Store, stream: BinaryIO, rules: RedactionRules) -> FileResult:
    with tempfile.NamedTemporaryFile(prefix="mcp-sessions-stdin-") as spool:
        shutil.copyfileobj(stream, spool)
        spool.flush()
        return ingest_file(store, Path(spool.name), label=STDIN, rules=rules)


def ingest_file(
    store: Store, path: Path, *, label: str | None = None, rules: RedactionRules = DEFAULT_RULES
) -> FileResult:
    """Parse, redact under `rules` and store one file in one transaction; never raises for bad input."""
    source = label or str(path)
    try:
        if not path.exists():
            raise InputError("no such file")
        if path.is_dir():
            raise InputError("is a directory")
        content_hash = _sha256(path)
        parsed = read_path(path, rules)
        with parsed, IngestWriter(store.conn, source=source, fmt=parsed.format, content_hash=content_hash) as writer:
            if writer.already_ingested:
                return FileResult(source, "unchanged", parsed.format)
            report = RedactionReport(rules)
            writer.add(redact_records(parsed.records, report))
            counts = writer.finish(report.as_dict())
        return FileResult(source, "stored", parsed.format, counts, report.as_dict())
    except McpSessionsError as exc:
        return FileResult(source, "failed", error=str(exc))
    except OSError as exc:
        return FileResult(source, "failed", error=f"cannot read: {exc.strerror or exc}")
    except Exception as exc:  # a parser bug must not take the other files down
        log.debug("unexpected failure ingesting %s", source, exc_info=True)
        return FileResult(
            source,
            "failed",
            error=f"unexpected {type(exc).__name__} while reading; nothing stored (please report this file)",
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
