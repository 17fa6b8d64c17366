"""Storage: the only package that speaks SQL."""

from mcp_sessions.store.db import Store

__all__ = ["Store"]
