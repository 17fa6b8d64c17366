"""Optional accelerators on the cluster: a session id column and a session → traces table.

Never required: without them a session question scans the traces table for spans carrying the
key (Map lookups over every row); with them it reads a few granules of a table ordered by
session id. `mcp-sessions clickhouse init-accelerators` prints these statements, `--apply`
runs them (it needs ALTER and CREATE on the exporter's database; serving stays read-only):

    otel_traces.McpSessionId      String MATERIALIZED: the first session key of the span (its
                                  attributes, its recorded session header or baggage), else its
                                  resource's; computed by the server on insert, backfilled once
    idx_mcp_session               a bloom filter index on it
    otel_mcp_sessions (+ _mv)     (SessionId, TraceId, Start), ORDER BY SessionId: what
                                  session_trace_ids reads when it exists

Fingerprints get no column: ours apply URL templates learned across all stored values
(analysis/path_templates.py), which one row's SQL expression cannot know, so a materialized
approximation would make answers differ from the SQLite store's; they are derived locally.
"""

from __future__ import annotations

from mcp_sessions.store.clickhouse.remote import SESSIONS_TABLE, Remote
from mcp_sessions.store.clickhouse.schema import SESSION_COLUMN, Client, Variant

INDEX = "idx_mcp_session"


def statements(remote: Remote) -> list[str]:
    """The DDL that creates the accelerators (idempotent: IF NOT EXISTS throughout), then backfills them."""
    v: Variant = remote.variant
    traces, sessions = v.table(v.traces_table), v.table(SESSIONS_TABLE)
    mv = v.table(SESSIONS_TABLE + "_mv")
    select = (
        f"SELECT {SESSION_COLUMN} AS SessionId, TraceId, min(toDateTime(Timestamp)) AS Start FROM {traces} "
        f"WHERE {SESSION_COLUMN} != '' GROUP BY SessionId, TraceId"
    )
    out = [
        f"ALTER TABLE {traces} ADD COLUMN IF NOT EXISTS {SESSION_COLUMN} String "
        f"MATERIALIZED {remote.session_key_sql()}",
        f"ALTER TABLE {traces} ADD INDEX IF NOT EXISTS {INDEX} {SESSION_COLUMN} TYPE bloom_filter(0.001) GRANULARITY 1",
        f"ALTER TABLE {traces} MATERIALIZE COLUMN {SESSION_COLUMN}",
        f"ALTER TABLE {traces} MATERIALIZE INDEX {INDEX}",
        f"CREATE TABLE IF NOT EXISTS {sessions} (SessionId String, TraceId String, Start DateTime) "
        "ENGINE = ReplacingMergeTree ORDER BY (SessionId, TraceId)",
    ]
    if not remote.has_sessions_table:
        out += [
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {mv} TO {sessions} AS {select}",
            f"INSERT INTO {sessions} {select}",
        ]
    return out


def apply(client: Client, sql: list[str]) -> None:
    for statement in sql:
        client.command(statement)
