"""The browser snippet shipped with the package: `python -m mcp_sessions.browser > mcp-sessions-rrweb.js`.

It records a page with `@rrweb/record` and sends the events to `mcp-sessions collect`
(`POST /v1/rrweb`, see `receiver_rrweb`); its header comment says how to use it.
"""

from __future__ import annotations

from pathlib import Path

SNIPPET = Path(__file__).with_name("mcp-sessions-rrweb.js")


def snippet() -> str:
    """The snippet's source."""
    return SNIPPET.read_text(encoding="utf-8")
