"""Ingest files: expand paths, skip what is already stored, parse, redact, write atomically.

Each file is its own transaction: a bad file is reported (its name and what is wrong)
and leaves nothing behind, while every good file beside it is stored. A fault of the
database itself (the disk is full, another process holds the write lock) is no fault of
the file: it is raised as a StoreError and ends the run.

Only regular files are read. The kind and size of a path are checked with stat() before
it is opened, so a FIFO, a device or a socket is refused without blocking on it, and a
file over MAX_FILE_BYTES is refused unread. Whole-document formats are further limited
to `formats.detect.MAX_DOCUMENT_BYTES` (see there); JSON Lines streams up to the file limit.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from mcp_sessions.errors import InputError, InvalidArgumentError, McpSessionsError, StoreError
from mcp_sessions.formats import read_path
from mcp_sessions.formats.coerce import checked_records
from mcp_sessions.redact import DEFAULT_RULES, KnownValues, RedactionReport, RedactionRules, redact_records
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite.derive import SESSION_GAP_NS
from mcp_sessions.store.sqlite.writer import IngestCounts, IngestWriter

log = logging.getLogger(__name__)

STDIN = "-"
GIB = 1024**3
MAX_FILE_BYTES = 64 * GIB  # streamed formats (JSON Lines) read at most this much of one input


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
    """Inputs as given; directories walked recursively in name order, hidden entries skipped.

    Inside a directory every entry that is not itself a directory is yielded, FIFOs and
    sockets included, so `ingest_file` can say why it refuses them instead of skipping
    them unseen.
    """
    for raw in paths:
        if raw == STDIN:
            yield STDIN
            continue
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path).parts
                if any(part.startswith(".") for part in relative) or child.is_dir() or not child.exists():
                    continue
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
    if "\x00" in requested:
        raise InvalidArgumentError("the path contains a NUL character; pass a file or folder name")
    candidate = Path(requested).expanduser()
    if not candidate.is_absolute():
        candidate = resolved_roots[0] / candidate
    try:
        target = candidate.resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
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
    session_gap_ns: int = SESSION_GAP_NS,
) -> Iterator[FileResult]:
    """Ingest each input in turn, yielding its result as soon as it is known.

    The values masked by key in one file are looked for in every later file of the run too."""
    known = KnownValues()
    for source in expand(paths):
        if source == STDIN:
            yield _ingest_stdin(store, stdin or sys.stdin.buffer, rules, session_gap_ns, known)
        else:
            yield ingest_file(
                store, Path(source), label=source, rules=rules, session_gap_ns=session_gap_ns, known=known
            )


def _ingest_stdin(
    store: Store, stream: BinaryIO, rules: RedactionRules, session_gap_ns: int, known: KnownValues
) -> FileResult:
    with tempfile.NamedTemporaryFile(prefix="mcp-sessions-stdin-") as spool:
        copied = 0
        while chunk := stream.read(1 << 20):
            copied += len(chunk)
            if copied > MAX_FILE_BYTES:
                return FileResult(STDIN, "failed", error=f"over the {MAX_FILE_BYTES // GIB} GiB limit for one input")
            spool.write(chunk)
        spool.flush()
        return ingest_file(
            store, Path(spool.name), label=STDIN, rules=rules, session_gap_ns=session_gap_ns, known=known
        )


_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def check_regular_file(path: Path) -> int:
    """The size of `path` if it is a regular file we may read; InputError naming what it is otherwise.

    Uses stat() only, so nothing is opened (opening a FIFO for reading blocks until a writer comes).
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError("no such file") from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError("is a directory")
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise InputError(
            f"is {kind}, not a regular file; only regular files are read (to ingest a stream, pipe it to "
            "`mcp-sessions ingest -`)"
        )
    if info.st_size > MAX_FILE_BYTES:
        raise InputError(
            f"is {info.st_size / GIB:.1f} GiB, over the {MAX_FILE_BYTES // GIB} GiB limit for one input; split it"
        )
    return info.st_size


def ingest_file(
    store: Store,
    path: Path,
    *,
    label: str | None = None,
    rules: RedactionRules = DEFAULT_RULES,
    session_gap_ns: int = SESSION_GAP_NS,
    known: KnownValues | None = None,
) -> FileResult:
    """Parse, redact under `rules` and store one file in one transaction; never raises for bad input.

    Keyless browser events are cut into sessions by `session_gap_ns` of inactivity; `known`
    carries the values masked by key in earlier files of the same run."""
    source = label or str(path)
    try:
        check_regular_file(path)
        parsed = read_path(path, rules)  # first: a file too big to read is refused before it is hashed
        try:
            content_hash = _sha256(path)
        except BaseException:
            parsed.__exit__()
            raise
        with (
            parsed,
            store.writing() as conn,
            IngestWriter(
                conn, source=source, fmt=parsed.format, content_hash=content_hash, session_gap_ns=session_gap_ns
            ) as writer,
        ):
            if writer.already_ingested:
                return FileResult(source, "unchanged", parsed.format)
            report = RedactionReport(rules, known=known if known is not None else KnownValues())
            writer.add(redact_records(checked_records(parsed.records), report))
            counts = writer.finish(report.as_dict())
        return FileResult(source, "stored", parsed.format, counts, report.as_dict())
    except StoreError:
        raise
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
    # O_NONBLOCK: should the path have become a FIFO since it was checked, opening it does not wait.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError("is not a regular file; only regular files are read")
        os.set_blocking(fd, True)
        digest = hashlib.sha256()
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
