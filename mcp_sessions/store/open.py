"""Opening the store `serve --store DSN` names, by the DSN's scheme: the one dispatch for every backend.

    (none) or a path          the SQLite file (the default: `--database`)
    clickhouse://, clickhouses://, clickhouse+chdb://   the exporter's tables (store/clickhouse/),
                              cached in the SQLite file

A backend registers its schemes in OPENERS; an unknown scheme is an error naming the known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mcp_sessions import urls
from mcp_sessions.errors import StoreError
from mcp_sessions.redact import DEFAULT_RULES, RedactionRules
from mcp_sessions.store.sqlite.store import SqliteStore

Opener = Callable[[str, Path, RedactionRules], SqliteStore]


def _clickhouse(dsn: str, cache: Path, rules: RedactionRules) -> SqliteStore:
    from mcp_sessions.store.clickhouse.connect import open_clickhouse

    store: SqliteStore = open_clickhouse(dsn, cache, rules=rules)
    return store


OPENERS: dict[str, Opener] = {
    "clickhouse": _clickhouse,
    "clickhouses": _clickhouse,
    "clickhouse+chdb": _clickhouse,
}


def scheme_of(dsn: str) -> str:
    return urls.split(dsn).scheme.lower()


def check_dsn(dsn: str) -> str:
    """`dsn` when its scheme is one a backend opens; StoreError naming the known schemes otherwise."""
    if scheme_of(dsn) not in OPENERS:
        known = ", ".join(f"{s}://" for s in OPENERS)
        raise StoreError(f"--store {dsn.split(':', 1)[0]!r}: unknown kind of store; use one of {known}")
    return dsn


def open_store(
    dsn: str | None, *, database: Path, readonly: bool = True, rules: RedactionRules = DEFAULT_RULES
) -> SqliteStore:
    """The store `dsn` names (None: the SQLite file `database`); a remote one caches into `database`."""
    if dsn is None:
        return SqliteStore(database, readonly=readonly)
    return OPENERS[scheme_of(check_dsn(dsn))](dsn, database, rules)
