"""Retention and erasure: remove whole sessions (and whatever belongs to them), then rewrite the file.

What goes is one definition, erasure_map.py, for both commands:

    prune --older-than D   sessions that ended before now - D; traces, logs and events of no
                           session that ended before it
    forget --user U        every session and trace holding a record that carries U, with
                           everything in them; U and those session and trace ids are
                           remembered (erased_ids.py), so data arriving later under them
                           is refused

Prune remembers nothing: it keeps the database within an age, and a record arriving later
for a pruned session is new data (the next prune takes it by its age). The removed data
itself never comes back either way: an ingest whose rows all went keeps its content hash,
so the same file ingested again stays a no-op.

Deleting is not enough: SQLite leaves deleted rows in free pages and in the WAL, and a
checkpoint cannot copy or reset the WAL while a reader still reads an older snapshot. So

    checkpoint(TRUNCATE), after one write      a reader holding an older snapshot blocks it:
      │ waits up to `wait_s` for readers        wait, then fail with nothing removed
      ▼
    one transaction (secure_delete on): select, erase, check (erasure_map.py), remember
      ▼
    VACUUM, checkpoint(TRUNCATE)                 a reader that began meanwhile blocks it: wait,
      │                                          then fail saying the bytes are still there
      ▼
    the -wal is empty and the file holds only what was kept; only now is success reported

A failure names what holds the file (the processes that have it open, where the system
tells) and says what to do; it is never reported as success.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import orjson

from mcp_sessions.analysis.fingerprint import attributes_fingerprint, template_url
from mcp_sessions.errors import ErasureIncompleteError, StoreError
from mcp_sessions.numbers import whole_number
from mcp_sessions.store.sqlite import erased_ids, erasure_map, url_templates
from mcp_sessions.store.sqlite.derive import derive_sessions

DEFAULT_WAIT_S = 30.0


@dataclass(frozen=True)
class Removed:
    sessions: int
    traces: int
    spans: int
    logs: int
    events: int
    url_values: int  # hashed path values only removed data had observed
    remembered: int  # erased ids newly remembered (forget): later data under them is refused
    bytes_before: int
    bytes_after: int


def database_path(conn: sqlite3.Connection) -> Path:
    return Path(next(row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"))


def _size(conn: sqlite3.Connection) -> int:
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    return pages * conn.execute("PRAGMA page_size").fetchone()[0]


def prune_older_than(conn: sqlite3.Connection, cutoff_ns: int, *, wait_s: float = DEFAULT_WAIT_S) -> Removed:
    return erase(conn, erasure_map.older_than_scope(cutoff_ns, "data older than the cutoff"), wait_s=wait_s)


def forget_user(conn: sqlite3.Connection, user_id: str, *, wait_s: float = DEFAULT_WAIT_S) -> Removed:
    return erase(conn, erasure_map.user_scope(user_id), wait_s=wait_s)


def erase(conn: sqlite3.Connection, scope: erasure_map.Scope, *, wait_s: float = DEFAULT_WAIT_S) -> Removed:
    """Remove what `scope` names and rewrite the file; raises ErasureIncompleteError unless every byte is gone."""
    path = database_path(conn)
    conn.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
    conn.execute("PRAGMA temp_store = MEMORY")  # the doomed ids never reach a temporary file
    _readers_gone(conn, path, wait_s)
    before = _size(conn)
    conn.execute("PRAGMA secure_delete = ON")
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise _cannot(exc, path, wait_s, "nothing was removed") from None
    try:
        erased = erase_rows(conn, scope)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    reclaim(conn, wait_s=wait_s)
    return Removed(
        sessions=erased.rows["sessions"],
        traces=erased.rows["traces"],
        spans=erased.rows["spans"],
        logs=erased.rows["logs"],
        events=erased.rows["events"],
        url_values=erased.url_values,
        remembered=erased.remembered,
        bytes_before=before,
        bytes_after=_size(conn),
    )


@dataclass(frozen=True)
class Erased:
    rows: dict[str, int]  # rows deleted, by table
    url_values: int
    remembered: int


def erase_rows(conn: sqlite3.Connection, scope: erasure_map.Scope) -> Erased:
    """Select, erase and check (erasure_map.py) inside the caller's transaction; the file is not rewritten.

    Raises StoreError, having changed nothing the caller cannot roll back, when a table's part
    was not done.
    """
    erasure_map.select(conn, scope)
    erased_texts = _erased_path_texts(conn)
    ids = {
        kind: [r[0] for r in conn.execute(f"SELECT id FROM doomed_{kind}s")] if scope.remembers else []
        for kind in ("session", "trace")
    }
    rows: dict[str, int] = {}
    params = erasure_map.parameters(scope)
    for c in erasure_map.TABLES:
        for sql in c.sql:
            n = conn.execute(sql, params).rowcount
            if c.how == "deleted":
                rows[c.table] = n
        if c.how == "rederived":
            derive_sessions(conn, (r[0] for r in conn.execute("SELECT id FROM kept_sessions")))
    url_values = url_templates.forget_paths(conn, erased_texts)
    remembered = 0
    if scope.remembers:
        remembered = erased_ids.remember(conn, "user", scope.users)
        remembered += erased_ids.remember(conn, "session", ids["session"])
        remembered += erased_ids.remember(conn, "trace", ids["trace"])
    left = erasure_map.leftovers(conn, scope)
    if left:  # a trigger or derivation did not do its part: commit nothing rather than half an erasure
        raise StoreError(
            f"erasing {scope.describes} left rows in {', '.join(sorted(left))}; nothing was removed "
            "(please report this)"
        )
    return Erased(rows, url_values, remembered)


def _erased_path_texts(conn: sqlite3.Connection) -> set[str]:
    """The fingerprints and request URL templates the doomed rows taught the URL templates, as the writer computed
    them (before learned templating)."""
    texts = {
        attributes_fingerprint(name, kind, orjson.loads(attributes))
        for name, kind, attributes in conn.execute(
            "SELECT name, kind, attributes FROM spans WHERE trace_id IN (SELECT id FROM doomed_traces) "
            "AND instr(fingerprint, '/') > 0"
        )
    }
    texts.update(
        template_url(r[0])
        for r in conn.execute(
            "SELECT DISTINCT url FROM events WHERE id IN (SELECT id FROM doomed_events) AND url IS NOT NULL"
        )
    )
    return texts


def reclaim(conn: sqlite3.Connection, *, wait_s: float = DEFAULT_WAIT_S) -> None:
    """Rewrite the file without free pages and empty the WAL, so removed bytes are gone from disk.

    Raises ErasureIncompleteError when a reader keeps the WAL from being emptied past `wait_s`.
    """
    path = database_path(conn)
    conn.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
    still_there = "the removed rows are gone from every answer, but their bytes may still be in the file"
    try:
        conn.execute("VACUUM")
    except sqlite3.OperationalError as exc:
        raise _cannot(exc, path, wait_s, still_there) from None
    _checkpoint(conn, path, wait_s, still_there)


def _readers_gone(conn: sqlite3.Connection, path: Path, wait_s: float) -> None:
    """Wait until no reader holds a snapshot older than now (one write, then a full checkpoint), or fail first."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        # A WAL frame newer than every reader's snapshot: setting the schema version (to what it is) always
        # writes the header page, where an UPDATE that changes no byte writes nothing.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        conn.execute(f"PRAGMA user_version = {int(version)}")
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise _cannot(exc, path, wait_s, "nothing was removed") from None
    _checkpoint(conn, path, wait_s, "nothing was removed")


def _checkpoint(conn: sqlite3.Connection, path: Path, wait_s: float, outcome: str) -> None:
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.OperationalError as exc:
        raise _cannot(exc, path, wait_s, outcome) from None
    wal = path.with_name(path.name + "-wal")
    if busy or (wal.exists() and wal.stat().st_size):
        raise ErasureIncompleteError(
            f"{outcome}: a reader kept a read transaction open on {path} for more than {wait_s:g} s "
            f"({_holders(path)}); end it, then run the same command again (it only rewrites the file then), "
            "or give it longer with --wait"
        )


def _cannot(exc: sqlite3.OperationalError, path: Path, wait_s: float, outcome: str) -> ErasureIncompleteError:
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        cause = f"another process held {path} for more than {wait_s:g} s ({_holders(path)})"
        advice = "run the same command again when it ends, or give it longer with --wait"
    elif code == sqlite3.SQLITE_FULL:
        cause = f"the disk holding {path} is full (rewriting it needs about its size in free space)"
        advice = "free space, then run the same command again"
    else:
        cause = f"SQLite refused to rewrite {path} ({getattr(exc, 'sqlite_errorname', None) or type(exc).__name__})"
        advice = "run the same command again; if it keeps failing, check the file"
    return ErasureIncompleteError(f"{outcome}: {cause}; {advice}")


def _holders(path: Path) -> str:
    """The other processes that have the database (or its -wal, -shm) open, as far as /proc tells."""
    names = {str(p) for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))}
    names |= {os.path.realpath(n) for n in names}
    found = []
    proc = Path("/proc")
    for entry in sorted(proc.iterdir(), key=lambda p: p.name) if proc.is_dir() else ():
        if whole_number(entry.name) in (None, os.getpid()):
            continue
        try:
            if any(os.readlink(fd) in names for fd in (entry / "fd").iterdir()):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
                found.append(f"pid {entry.name}: {command[:120] or '?'}")
        except OSError:  # gone meanwhile, or not ours to inspect
            continue
    if not found:
        return "held by a connection of this process, or by a process this user cannot inspect"
    return "held by " + "; ".join(found[:5]) + (f"; and {len(found) - 5} more" if len(found) > 5 else "")
