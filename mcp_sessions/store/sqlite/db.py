"""Opening the database: one file, WAL mode, one connection per thread; writers migrate, readers never write.

MCP tools declared as plain functions run on worker threads, so a `Store` hands each
thread its own connection (SQLite connections must not be shared across threads while
in use); WAL lets those readers run beside a writer.

A writer (`ingest`, `collect`, `--allow-ingest`) creates the file and its folder when
missing and upgrades an older schema in place. A reader (`serve`, `sessions`) never
creates, upgrades or writes anything: a missing file, an empty one or an older schema
is a clear error naming the command that fixes it, and it reads in a way that leaves no
file behind:

    -wal file present (a writer is running, or ended abruptly)  ─► mode=ro: the -wal and
                                                                    -shm it needs are there
    no -wal, WAL-mode file (no writer is running)               ─► immutable=1: reads the
                                                                    file alone, creates nothing
    no -wal, rollback-journal file                              ─► mode=ro (creates nothing)
    mode=ro refused (a read-only folder without -shm)           ─► immutable=1

An immutable connection is trusted only while the file stays as it was: before handing
out a connection the store checks that no -wal has appeared and the file's size, time
and inode are unchanged, and reopens (read-only, beside the new writer) when they are
not. So a database in a read-only folder is served, and a writer started later is seen.

`write_error` turns SQLite's failures into messages naming their real cause: the disk
is full, another process holds the write lock (after waiting `busy_timeout_s`), the file
is read-only or damaged.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mcp_sessions.errors import (
    DatabaseBusyError,
    DatabaseMissingError,
    SchemaTooOldError,
    SchemaVersionError,
    StorageFullError,
    StoreError,
)
from mcp_sessions.store.sqlite.schema import MIGRATIONS, Migration, current_version, migrate

DEFAULT_BUSY_TIMEOUT_S = 10.0
_SQLITE_HEADER = b"SQLite format 3\x00"

ReadMode = Literal["ro", "immutable"]


@dataclass(frozen=True)
class _FileState:
    size: int
    mtime_ns: int
    inode: int


def _state(path: Path) -> _FileState | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return _FileState(st.st_size, st.st_mtime_ns, st.st_ino)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def connect(
    path: Path,
    *,
    readonly: bool = False,
    mode: ReadMode = "ro",
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
) -> sqlite3.Connection:
    """A configured connection to `path` (created, when writable, with its parent folder)."""
    try:
        if readonly:
            query = "mode=ro" if mode == "ro" else "mode=ro&immutable=1"
            conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?{query}", uri=True, isolation_level=None, check_same_thread=False
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA cache_size = -65536")
        # Probe: a file that is not a database fails here, not at the first query.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        if _code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise _busy(path) from None
        if readonly and mode == "ro" and _code(exc) == sqlite3.SQLITE_CANTOPEN:
            raise _CannotOpenReadOnly from None
        raise StoreError(f"cannot open {path} as an mcp-sessions database ({exc}); check --db") from None
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror or exc}; check --db") from None
    return conn


class _CannotOpenReadOnly(Exception):
    """mode=ro could not open the file (its -shm can neither be read nor created)."""


def _code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def _busy(path: Path) -> DatabaseBusyError:
    return DatabaseBusyError(f"another mcp-sessions process is writing {path}; retry when it ends")


def write_error(exc: sqlite3.Error, path: Path) -> StoreError:
    """The StoreError that names why writing `path` failed (SQLite's own text never reaches the user)."""
    code = _code(exc)
    if code == sqlite3.SQLITE_FULL:
        return StorageFullError(
            f"the disk holding {path} is full; nothing stored (free space, or remove old data with "
            "`mcp-sessions prune --older-than 30d`, then retry)"
        )
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return _busy(path)
    if code == sqlite3.SQLITE_READONLY:
        return StoreError(f"{path} is read-only for this process; nothing stored (check its permissions)")
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return StoreError(f"{path} is damaged or not an mcp-sessions database; nothing stored (check --db)")
    if code == sqlite3.SQLITE_IOERR:
        return StoreError(f"the disk holding {path} failed to write (I/O error); nothing stored")
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    return StoreError(f"cannot write {path} ({name}); nothing stored")


def _read_mode(path: Path) -> ReadMode:
    """How a reader opens `path` (see the module docstring); raises for a missing or empty file."""
    hint = f"run `mcp-sessions ingest PATH --db {path}` (or `mcp-sessions collect --db {path}`) first"
    if not path.exists():
        raise DatabaseMissingError(f"no database at {path}; {hint}")
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a database file; check --db")
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}; check --db") from None
    if not header:
        raise DatabaseMissingError(f"{path} is empty, not yet a database; {hint}")
    if not header.startswith(_SQLITE_HEADER) or len(header) < 20:
        raise StoreError(f"{path} is not an mcp-sessions database (not SQLite); check --db")
    if _wal(path).exists():
        return "ro"
    wal_mode = header[18] == 2 and header[19] == 2
    return "immutable" if wal_mode else "ro"


def check_readable_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse, without writing, a file a reader cannot use: empty of our schema, older, or newer."""
    version = current_version(conn)
    latest = MIGRATIONS[-1].version
    if version == 0:
        raise DatabaseMissingError(
            f"{path} holds no mcp-sessions data yet; run `mcp-sessions ingest PATH --db {path}` first"
        )
    if version < latest:
        raise SchemaTooOldError(
            f"{path} uses schema version {version}, older than this mcp-sessions reads ({latest}); "
            f"run `mcp-sessions migrate --db {path}` (nothing is lost), then start the server again"
        )
    if version > latest:
        raise SchemaVersionError(
            f"the database uses schema version {version}, newer than this mcp-sessions understands "
            f"({latest}); upgrade mcp-sessions or point --db at another file"
        )


def migrate_file(path: Path, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> tuple[int, list[Migration]]:
    """Upgrade an existing database to the current schema: (the version it had, the migrations applied)."""
    if not path.exists():
        raise DatabaseMissingError(f"no database at {path}; nothing to migrate (check --db)")
    conn = connect(path, busy_timeout_s=busy_timeout_s)
    try:
        before = current_version(conn)
        return before, migrate(conn)
    finally:
        conn.close()


class Store:
    """The database file, with a connection per calling thread; see the module docstring."""

    def __init__(self, path: Path, *, readonly: bool = False, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        self.path = path
        self.readonly = readonly
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._mode: ReadMode = "ro"
        self._generation = 0
        self._opened_state: _FileState | None = None
        if readonly:
            self._mode = _read_mode(path)
            first = self._open_reader()
            try:
                check_readable_schema(first, path)
            except StoreError:
                first.close()
                raise
        else:
            first = connect(path, busy_timeout_s=busy_timeout_s)
            try:
                migrate(first)
            except StoreError:
                first.close()
                raise
        self._remember(first)

    @property
    def read_mode(self) -> ReadMode | None:
        """How a reader holds the file now ("ro" or "immutable"); None for a writer."""
        return self._mode if self.readonly else None

    def _open_reader(self) -> sqlite3.Connection:
        self._opened_state = _state(self.path)
        try:
            return connect(self.path, readonly=True, mode=self._mode, busy_timeout_s=self.busy_timeout_s)
        except _CannotOpenReadOnly:
            if os.access(self.path.parent, os.W_OK):
                raise StoreError(f"cannot open {self.path} read-only; check its permissions and --db") from None
            # A folder nobody here can write: no writer can create a -wal beside the file either.
            self._mode = "immutable"
            return connect(self.path, readonly=True, mode="immutable", busy_timeout_s=self.busy_timeout_s)

    def _remember(self, conn: sqlite3.Connection) -> None:
        self._local.conn = conn
        self._local.generation = self._generation
        with self._lock:
            self._all.append(conn)

    def _immutable_is_stale(self) -> bool:
        return _wal(self.path).exists() or _state(self.path) != self._opened_state

    @property
    def conn(self) -> sqlite3.Connection:
        if self.readonly and self._mode == "immutable" and self._immutable_is_stale():
            with self._lock:
                if self._mode == "immutable" and self._immutable_is_stale():
                    self._mode = _read_mode(self.path)
                    self._opened_state = _state(self.path)
                    self._generation += 1
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.generation != self._generation:
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)
            conn.close()
            conn = None
        if conn is None:
            conn = self._open_reader() if self.readonly else connect(self.path, busy_timeout_s=self.busy_timeout_s)
            self._remember(conn)
        return conn

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, with SQLite's write failures raised as StoreErrors naming the cause.

        Errors caused by the values being written (a constraint, an unbindable value) pass through
        unchanged: they are the data's fault, not the database's.
        """
        try:
            yield self.conn
        except (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError, sqlite3.DataError):
            raise
        except sqlite3.Error as exc:
            conn = self.conn
            if conn.in_transaction:  # a failed COMMIT can leave the transaction open
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise write_error(exc, self.path) from exc

    def page_bytes(self) -> int:
        """The database's size as SQLite counts it (pages in use, the WAL's included)."""
        conn = self.conn
        return int(conn.execute("PRAGMA page_count").fetchone()[0]) * int(
            conn.execute("PRAGMA page_size").fetchone()[0]
        )

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
