"""Storage: the only package that speaks SQL.

protocol.py is the seam answers/ asks through; sqlite/ implements it over one SQLite file
(and holds the writer, which also derives at ingest what questions read).
"""

from mcp_sessions.store.sqlite.db import Store
from mcp_sessions.store.sqlite.store import SqliteStore, database_faults

__all__ = ["SqliteStore", "Store", "database_faults"]
