"""Opening the database: one file, WAL mode, migrated on open, one connection per thread.

MCP tools declared as plain functions run on worker threads, so a `Store` hands each
thread its own connection (SQLite connections must not be shared across threads while
in use); WAL lets those readers run beside a writer.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from mcp_sessions.errors import StoreError
from mcp_sessions.store.sqlite.schema import migrate


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A configured connection to `path` (created, when writable, with its parent folder)."""
    try:
        if readonly:
            conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA cache_size = -65536")
        # Probe: a file that is not a database fails here, not at the first query.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open {path} as an mcp-sessions database ({exc}); check --db") from None
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror or exc}; check --db") from None
    return conn


class Store:
    """The database file, migrated on open, with a connection per calling thread."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        first = connect(path, readonly=readonly)
        if not readonly:
            migrate(first)
        self._local.conn = first
        self._all.append(first)

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=self.readonly)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

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
