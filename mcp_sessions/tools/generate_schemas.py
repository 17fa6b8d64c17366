"""Writes tools/output_schemas.json: every tool's output schema, derived as the SDK derives it.

    python -m mcp_sessions.tools.generate_schemas

Run after changing a model in render/models.py (tests/test_output_schemas.py says when).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from mcp_sessions import server  # noqa: F401  (fills the registry)
from mcp_sessions.tools import ingest
from mcp_sessions.tools.common import TOOLS
from mcp_sessions.tools.schemas import SCHEMAS_FILE, derived_schemas


def tool_functions() -> list[Callable[..., Any]]:
    """Every tool function the server may list (ingest_recording too)."""
    return [entry.function for entry in TOOLS] + [ingest.ingest_recording]


def main() -> None:
    schemas = derived_schemas(tool_functions())
    SCHEMAS_FILE.write_bytes(orjson.dumps(schemas, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"wrote {SCHEMAS_FILE}: {len(schemas)} output schemas")


if __name__ == "__main__":
    main()
