"""Opening a cluster (or a local chdb directory) by DSN, through clickhouse-connect's client.

    clickhouse://USER:PASSWORD@HOST:8123/DATABASE    HTTP (DATABASE: where the exporter writes; default otel)
    clickhouses://USER:PASSWORD@HOST:8443/DATABASE   HTTPS
    clickhouse+chdb:///PATH?database=otel            chdb, the engine in-process, on a local directory

    ?max_traces=N    on any of them: how many of a window's newest traces an all-data question
                     mirrors (default 20,000; every answer's source line says when a window holds more)

clickhouse-connect (1.12+) serves chdb itself behind the same client (`chdb://` DSNs), so the
queries of remote.py run unchanged on either; only the DSN differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp_sessions import urls
from mcp_sessions.errors import StoreError
from mcp_sessions.numbers import whole_number
from mcp_sessions.redact import DEFAULT_RULES, RedactionRules
from mcp_sessions.store.clickhouse.remote import SESSIONS_TABLE, Remote
from mcp_sessions.store.clickhouse.schema import Client, Variant, detect

SCHEMES = ("clickhouse", "clickhouses", "clickhouse+chdb")
DEFAULT_DATABASE = "otel"


def _import() -> Any:
    try:
        import clickhouse_connect
    except ImportError as exc:
        raise StoreError("reading ClickHouse needs the optional extra: pip install 'mcp-sessions[clickhouse]'") from exc
    return clickhouse_connect


def connect(dsn: str) -> tuple[Client, str]:
    """A client for `dsn`, and the database holding the exporter's tables."""
    parts = urls.split(dsn)
    params = dict(urls.query_items(parts.query))
    driver = _import()
    try:
        if parts.scheme == "clickhouse+chdb":
            if not parts.path:
                raise StoreError("a clickhouse+chdb DSN names a directory: clickhouse+chdb:///path/to/dir")
            database = params.get("database", DEFAULT_DATABASE)
            return driver.get_client(dsn=f"chdb://{parts.path}"), database
        if parts.scheme not in ("clickhouse", "clickhouses") or not parts.hostname:
            raise StoreError(f"not a ClickHouse DSN: use {SCHEMES[0]}://USER:PASSWORD@HOST:8123/DATABASE")
        user, _, password = parts.userinfo.partition(":")
        database = parts.path.strip("/") or DEFAULT_DATABASE
        client = driver.get_client(
            host=parts.hostname,
            port=parts.port or (8443 if parts.scheme == "clickhouses" else 8123),
            username=urls.unquote(user) or "default",
            password=urls.unquote(password),
            secure=parts.scheme == "clickhouses",
        )
        return client, database
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(
            f"cannot reach ClickHouse at {parts.host_port or parts.path}: {type(exc).__name__}; "
            "check the DSN, the network and the user's password"
        ) from exc


def has_sessions_table(client: Client, variant: Variant) -> bool:
    found = client.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {name:String}",
        parameters={"db": variant.database, "name": SESSIONS_TABLE},
    ).result_rows
    return bool(found and found[0][0])


def remote_of(dsn: str) -> Remote:
    client, database = connect(dsn)
    try:
        variant = detect(client, database)
        return Remote(client, variant, has_sessions_table=has_sessions_table(client, variant))
    except BaseException:
        client.close()
        raise


def dsn_options(dsn: str) -> dict[str, Any]:
    """The store's own options a DSN's query sets (`max_traces`), checked; StoreError naming a bad one."""
    params = dict(urls.query_items(urls.split(dsn).query))
    options: dict[str, Any] = {}
    if "max_traces" in params:
        raw = params["max_traces"]
        number = whole_number(raw)
        if number is None or not 1 <= number <= 10_000_000:
            raise StoreError(f"max_traces={raw[:20]!r} in the DSN: use a whole number from 1 to 10000000")
        options["max_traces"] = number
    return options


def open_clickhouse(dsn: str, cache: Path, *, rules: RedactionRules = DEFAULT_RULES, **options: Any) -> Any:
    """A ClickHouseStore over `dsn`, caching into the SQLite file `cache`; `options` win over the DSN's."""
    from mcp_sessions.store.clickhouse.store import ClickHouseStore

    chosen = {**dsn_options(dsn), **options}
    return ClickHouseStore(remote_of(dsn), cache, rules=rules, **chosen)
