"""Remote trace sources behind the store seam: Jaeger (api_v3 or the classic JSON API) and Tempo.

dsn.py reads the `--store` address; client.py makes the bounded HTTP requests (httpx) and turns
their failures into SourceErrors; sources.py knows each source's routes and which of our readers
parses each answer; store.py is the RemoteStore, which fetches what a question is about into a
local SQLite cache (through the normal writer, redacted) and answers from it.
"""

from mcp_sessions.store.remote.dsn import SourceConfig, is_remote, parse_dsn
from mcp_sessions.store.remote.store import RemoteStore

__all__ = ["RemoteStore", "SourceConfig", "is_remote", "parse_dsn"]
