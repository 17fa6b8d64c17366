"""Erased ids, remembered as salted hashes so that later data under them is refused.

    forget --user U ──► digest(salt, "user", U), and digest(salt, kind, id) for each session
                        and trace it removed ──► erased_ids (kind, hash): never the ids themselves
    ingest, receiver ─► each span, log record and event: its session key, user id and trace
                        id digested the same way ──► found: the record is refused (not stored),
                        with every other record of its trace, and counted in the ingest's
                        report (`records_refused`); never re-keyed

Refused, not re-keyed: a record whose only tie to a person is an id she asked to erase is
hers, and storing it under another key would bring her session back in all but name. Trace
ids are remembered because most of a session's backend spans carry no session key: they
belonged to it through the browser request that started their trace, and would otherwise
come back as traces of no session. (A generator that reuses trace ids across runs, seeded in
a test suite, sees a later run's trace of an erased id refused: it cannot be told apart.)

The salt is random, made once per database and stored in it (`salt`), so the hashes match
nothing outside this file: no precomputed table of common names or ids applies, and two
databases cannot be joined on them. It is no secret from whoever holds the file: such a
person can test a guessed id against `erased_ids` (learning only that it was erased, never
anything else about it), which is the price of recognising the id when it comes back.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from mcp_sessions.config import USER_KEYS
from mcp_sessions.errors import StoreError
from mcp_sessions.semconv import first

IdKind = Literal["session", "user", "trace"]
SALT_BYTES = 16


def create_salt(conn: sqlite3.Connection) -> bytes:
    """Make this database's salt (once: schema 9); returns it."""
    value = os.urandom(SALT_BYTES)
    conn.execute("INSERT INTO salt (id, value) VALUES (1, ?)", (value,))
    return value


def salt_of(conn: sqlite3.Connection) -> bytes:
    row = conn.execute("SELECT value FROM salt WHERE id = 1").fetchone()
    if row is None:  # a database at schema 9 always has one: a missing row is damage, never a default
        raise StoreError("the database has lost its salt (table `salt` is empty); it is damaged, check --db")
    return bytes(row[0])


def digest(salt: bytes, kind: str, value: str) -> bytes:
    """The stored form of one id: keyed BLAKE2b, the kind as its personalisation (a user and a session
    that share an id do not share a hash)."""
    data = value.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, key=salt, person=kind.encode(), digest_size=16).digest()


def remember(conn: sqlite3.Connection, kind: IdKind, ids: Iterable[str]) -> int:
    """Record `ids` as erased (inside the caller's transaction); returns how many were new."""
    salt = salt_of(conn)
    now = time.time_ns()
    return conn.executemany(
        "INSERT OR IGNORE INTO erased_ids (kind, hash, erased_at_ns) VALUES (?, ?, ?)",
        ((kind, digest(salt, kind, i), now) for i in set(ids) if i),
    ).rowcount


def log_user(attributes: Mapping[str, Any], resource: Mapping[str, Any]) -> str | None:
    """The user id a record carries, on itself or its resource (as semconv.promote reads a span's)."""
    value = first(attributes, *USER_KEYS) or first(resource, *USER_KEYS)
    return None if value is None else str(value)


class Refusals:
    """Which ids are erased, asked of `erased_ids` once per distinct id and remembered for the ingest.

    `load` gives None when nothing was ever erased, so an ingest into such a database pays nothing.
    """

    def __init__(self, conn: sqlite3.Connection, salt: bytes) -> None:
        self._conn = conn
        self._salt = salt
        self._known: dict[tuple[str, str], bool] = {}
        self.traces: set[str] = set()  # traces with a record under an erased id: every record of them refused

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> Refusals | None:
        if conn.execute("SELECT 1 FROM erased_ids LIMIT 1").fetchone() is None:
            return None
        return cls(conn, salt_of(conn))

    def erased(self, kind: IdKind, value: str | None) -> bool:
        if not value:
            return False
        key = (kind, value)
        verdict = self._known.get(key)
        if verdict is None:
            verdict = self._known[key] = (
                self._conn.execute(
                    "SELECT 1 FROM erased_ids WHERE kind = ? AND hash = ?", (kind, digest(self._salt, kind, value))
                ).fetchone()
                is not None
            )
        return verdict

    def under_erased(self, session_id: str | None, user_id: str | None, trace_id: str | None) -> bool:
        """True when a record with these keys is refused; a refused record's trace is refused whole."""
        if trace_id is not None and trace_id in self.traces:
            return True
        if self.erased("session", session_id) or self.erased("user", user_id) or self.erased("trace", trace_id):
            if trace_id is not None:
                self.traces.add(trace_id)
            return True
        return False
