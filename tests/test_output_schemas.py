"""The output schemas the server publishes from tools/output_schemas.json are what the models give.

The file is generated (`python -m mcp_sessions.tools.generate_schemas`); these tests fail when a model in
render/models.py changed without regenerating it, and check that a tool listed from the file
still validates its answers against the model, and that a model missing from it is derived live.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client
from pydantic import ValidationError

from mcp_sessions.render.models import SessionList
from mcp_sessions.server import create_server
from mcp_sessions.store import Store
from mcp_sessions.tools import browse, schemas
from mcp_sessions.tools.common import READ_ONLY
from mcp_sessions.tools.generate_schemas import tool_functions


def test_the_generated_file_matches_the_models():
    functions = tool_functions()
    published = schemas.published_schemas()
    derived = schemas.derived_schemas(functions)
    assert len(derived) >= 14
    assert sorted(published) == sorted(derived), "run: python -m mcp_sessions.tools.generate_schemas"
    for name, schema in derived.items():
        assert published[name] == schema, f"{name} changed: run python -m mcp_sessions.tools.generate_schemas"
    # Key order is part of what a client receives.
    assert [list(published[n]) for n in derived] == [list(s) for s in derived.values()]


def test_a_tool_listed_from_the_file_is_the_one_the_sdk_derives():
    from mcp.server.mcpserver.tools import Tool

    listed = schemas.listed_tool(browse.list_sessions, title="t", annotations=READ_ONLY)
    derived = Tool.from_function(browse.list_sessions, title="t", annotations=READ_ONLY)
    assert listed.fn_metadata.output_model is SessionList
    assert listed.output_schema == derived.output_schema
    assert listed.parameters == derived.parameters
    assert (listed.name, listed.title, listed.description) == (derived.name, derived.title, derived.description)


def test_answers_are_still_validated_against_the_model():
    from mcp.types import CallToolResult, TextContent

    listed = schemas.listed_tool(browse.list_sessions, title="t", annotations=READ_ONLY)
    wrong = CallToolResult(content=[TextContent(type="text", text="x")], structured_content={"sessions": "no"})
    with pytest.raises(ValidationError):
        listed.fn_metadata.convert_result(wrong)


@pytest.mark.anyio
async def test_a_model_missing_from_the_file_is_derived_at_start_up(db_path: Path, monkeypatch: pytest.MonkeyPatch):
    Store(db_path).close()
    async with Client(create_server(db_path)) as client:
        from_file = (await client.list_tools()).tools
    monkeypatch.setattr(schemas, "published_schemas", dict)
    async with Client(create_server(db_path)) as client:
        live = (await client.list_tools()).tools
    assert [t.model_dump() for t in live] == [t.model_dump() for t in from_file]
    assert all(t.output_schema for t in live)
