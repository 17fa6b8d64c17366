"""The tools as the server lists them, their output schemas read from a file generated ahead of time.

Deriving a JSON schema from a pydantic output model means building the model and walking
it, a good part of the server's start-up, though the schemas only change when a model in
render/models.py does. So `python -m mcp_sessions.tools.generate_schemas` derives each output schema
once, exactly as the SDK derives it at registration (`Tool.from_function`), into
output_schemas.json; the server publishes that copy and still validates every answer against
the model itself (the SDK does so on each call). tests/test_output_schemas.py fails when the
file differs from what the models give; a model the file lacks is derived at start-up, as before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args, get_type_hints

import orjson
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from mcp.types import ToolAnnotations
from pydantic import BaseModel

SCHEMAS_FILE = Path(__file__).with_name("output_schemas.json")


def output_model(function: Callable[..., Any]) -> type[BaseModel]:
    """The model in a tool's `-> Annotated[CallToolResult, Model]`: what its structured content holds."""
    model = get_args(get_type_hints(function, include_extras=True)["return"])[1]
    assert isinstance(model, type) and issubclass(model, BaseModel), function.__name__
    return model


@functools.cache
def published_schemas() -> dict[str, dict[str, Any]]:
    """The generated output schemas by model name (empty when the file is missing)."""
    try:
        return dict(orjson.loads(SCHEMAS_FILE.read_bytes()))
    except FileNotFoundError:
        return {}


def listed_tool(
    function: Callable[..., Any],
    *,
    title: str,
    annotations: ToolAnnotations,
    meta: dict[str, Any] | None = None,
    description: str | None = None,
) -> Tool:
    """The tool as `MCPServer.tool(...)` would register it, its output schema taken from the generated file."""
    model = output_model(function)
    schema = published_schemas().get(model.__name__)
    options: dict[str, Any] = {"title": title, "annotations": annotations, "meta": meta, "description": description}
    if schema is None:
        return Tool.from_function(function, **options)
    tool = Tool.from_function(function, structured_output=False, **options)
    # What the SDK would have built, with the schema given rather than derived: answers are still validated.
    tool.fn_metadata = FuncMetadata(arg_model=tool.fn_metadata.arg_model, output_schema=schema, output_model=model)
    return tool


def derived_schemas(functions: list[Callable[..., Any]]) -> dict[str, dict[str, Any]]:
    """Each function's output schema by model name, derived now by the SDK as registration derives it."""
    out: dict[str, dict[str, Any]] = {}
    for function in functions:
        schema = Tool.from_function(function).output_schema
        assert schema is not None, function.__name__
        out[output_model(function).__name__] = schema
    return dict(sorted(out.items()))
