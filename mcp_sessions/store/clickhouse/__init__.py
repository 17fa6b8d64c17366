"""The OpenTelemetry Collector clickhouseexporter's tables as a read-only store (optional extra `[clickhouse]`).

schema.py detects the variant, remote.py asks the cluster, rows.py turns rows into model
records, store.py answers the seam from a local SQLite cache it fills, accelerators.py
prints the optional materialized columns and views. `connect` opens a cluster or a chdb file.
"""

from __future__ import annotations

from mcp_sessions.store.clickhouse.connect import connect, open_clickhouse

__all__ = ["connect", "open_clickhouse"]
