"""Storage: the only package that speaks SQL."""

from mcp_sessions.store.sqlite.db import Store

__all__ = ["Store"]
