"""Opening the store `serve --store DSN` names, by the DSN's scheme: the one dispatch for every backend.

    (none) or a path                                    the SQLite file (the default: `--database`)
    clickhouse://, clickhouses://, clickhouse+chdb://   the exporter's tables (store/clickhouse/),
                                                        cached in the SQLite file
    jaeger+http(s)://HOST:PORT[/PREFIX][?options]       a running Jaeger (store/remote/), cached in its
    tempo+http(s)://HOST:PORT[/PREFIX][?options]        own file (`cache=`), likewise a running Tempo

A backend registers its schemes in OPENERS; an unknown scheme is an error naming the known ones.
What a remote store returns may also have `describe()` (a line on what it holds, added to every
answer) and `label` (what it answers from, for the command line).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mcp_sessions import urls
from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.store.sqlite.store import SqliteStore

if TYPE_CHECKING:
    from mcp_sessions.redact import RedactionRules  # loaded only when a store fetches (start-up stays light)
    from mcp_sessions.store.protocol import SessionStore

Opener = Callable[[str, Path, "RedactionRules | None"], "SessionStore"]


def _rules(rules: RedactionRules | None) -> RedactionRules:
    from mcp_sessions.redact import DEFAULT_RULES

    return rules or DEFAULT_RULES


def _clickhouse(dsn: str, cache: Path, rules: RedactionRules | None) -> SessionStore:
    from mcp_sessions.store.clickhouse.connect import open_clickhouse

    store: SqliteStore = open_clickhouse(dsn, cache, rules=_rules(rules))
    return store


def _trace_source(dsn: str, cache: Path, rules: RedactionRules | None) -> SessionStore:
    """Jaeger or Tempo: the cache is the source's own file (the DSN's `cache=`, else one per URL)."""
    from mcp_sessions.store.remote import RemoteStore, parse_dsn

    return RemoteStore(parse_dsn(dsn), rules=_rules(rules))


OPENERS: dict[str, Opener] = {
    "clickhouse": _clickhouse,
    "clickhouses": _clickhouse,
    "clickhouse+chdb": _clickhouse,
    "jaeger+http": _trace_source,
    "jaeger+https": _trace_source,
    "tempo+http": _trace_source,
    "tempo+https": _trace_source,
}


def scheme_of(dsn: str) -> str:
    return urls.split(dsn).scheme.lower()


def check_dsn(dsn: str) -> str:
    """`dsn` when its scheme is one a backend opens; InvalidArgumentError naming the known schemes otherwise."""
    scheme = scheme_of(dsn)
    if scheme not in OPENERS:
        known = ", ".join(f"{s}://…" for s in OPENERS)
        raise InvalidArgumentError(f"--store: unknown scheme {scheme or '(none)'!r}; the stores are {known}")
    return dsn


def open_store(
    dsn: str | None, *, database: Path, readonly: bool = True, rules: RedactionRules | None = None
) -> SessionStore:
    """The store `dsn` names (None: the SQLite file `database`); ClickHouse caches into `database`.
    What a remote store fetches is redacted under `rules` (None: the built-in rules)."""
    if dsn is None:
        return SqliteStore(database, readonly=readonly)
    return OPENERS[scheme_of(check_dsn(dsn))](dsn, database, rules)
