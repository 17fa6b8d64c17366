"""The tools/list payload is pinned: names, titles, descriptions, input and output schemas,
annotations and `_meta`, exactly as the server sends them, against tests/golden/list_tools.json.

Start-up work (lazy imports, schemas built ahead of time) must not change a byte of what a
client sees. After a deliberate change to a tool, regenerate the golden and review its diff:

    python tests/test_list_tools_golden.py

Three listings are pinned: a plain client of a read-only server (the views' own tools left
out), a client that negotiates MCP Apps (every tool), and a server that may ingest (its
ingest_recording description names the allowed root, fixed here so the golden is stable).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_sessions.server import create_server
from mcp_sessions.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from apps_harness.harness import apps_client

GOLDEN = Path(__file__).resolve().parent / "golden" / "list_tools.json"
INGEST_ROOT = Path("/recordings")


async def listed(client: Client) -> list[dict[str, Any]]:
    async with client:
        page = await client.list_tools()
    return page.model_dump(by_alias=True, exclude_none=True, mode="json")["tools"]


async def listings(db: Path) -> dict[str, Any]:
    """What the golden holds: every tool in full as an Apps client sees it, then what the other
    two listings hold beyond (or short of) that, so each schema is stored once."""
    Store(db).close()
    every = await listed(apps_client(create_server(db)))
    plain = await listed(Client(create_server(db)))
    ingesting = await listed(Client(create_server(db, ingest_roots=[INGEST_ROOT])))
    by_name = {t["name"]: t for t in every}
    return {
        "apps_client": every,
        "plain_client": [t["name"] if by_name.get(t["name"]) == t else t for t in plain],
        "ingest_enabled": [t["name"] if by_name.get(t["name"]) == t else t for t in ingesting],
    }


def dump(payload: dict[str, Any]) -> str:
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.anyio
async def test_list_tools_matches_the_golden(db_path: Path):
    assert GOLDEN.exists(), "no golden: run python tests/test_list_tools_golden.py"
    now = await listings(db_path)
    golden = json.loads(GOLDEN.read_text())
    for listing in golden:
        assert [_name(t) for t in now[listing]] == [_name(t) for t in golden[listing]], listing
        for seen, pinned in zip(now[listing], golden[listing], strict=True):
            assert seen == pinned, f"{listing}: {_name(pinned)} changed (regenerate only if meant)"
    # Byte for byte too: key order is part of what the client receives.
    assert dump(now) == GOLDEN.read_text()


def _name(tool: str | dict[str, Any]) -> str:
    return tool if isinstance(tool, str) else tool["name"]


def test_the_golden_pins_schemas_of_every_tool():
    golden = json.loads(GOLDEN.read_text())
    every = golden["apps_client"]
    assert len(every) >= 12
    assert all(isinstance(t, str) for t in golden["plain_client"])  # the same tools, fewer of them
    assert set(golden["plain_client"]) < {t["name"] for t in every}
    ingest = [t for t in golden["ingest_enabled"] if not isinstance(t, str)]
    assert [t["name"] for t in ingest] == ["ingest_recording"] and str(INGEST_ROOT) in ingest[0]["description"]
    for tool in [*every, *ingest]:
        assert tool["inputSchema"]["type"] == "object", tool["name"]
        assert tool["outputSchema"]["type"] == "object" and tool["outputSchema"].get("properties"), tool["name"]
        assert isinstance(tool["annotations"]["readOnlyHint"], bool), tool["name"]


def regenerate() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        payload = anyio.run(listings, Path(tmp) / "golden.db")
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(dump(payload))
    print(f"wrote {GOLDEN}: {len(payload['apps_client'])} tools")


if __name__ == "__main__":
    regenerate()
