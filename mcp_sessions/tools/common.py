"""What every tool shares: the typed context, the tool registry, error translation, argument types."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from mcp_sessions.config import MAX_BUDGET_TOKENS
from mcp_sessions.errors import McpSessionsError
from mcp_sessions.render.models import STRUCTURED_CHARS, structured
from mcp_sessions.store import database_faults

if TYPE_CHECKING:
    from mcp_sessions.redact import RedactionRules  # loaded only when the server may ingest
    from mcp_sessions.store.protocol import SessionStore

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
INGEST = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

# Bounds on arguments, so an absurd value is a clear validation error and never an overflow deep inside.
MAX_OFFSET_MS = 100 * 365 * 86_400_000  # a century: offsets and durations beyond it match nothing we store
MAX_TEXT_ARG = 500  # free text, names and times
MAX_ID_ARG = 200  # session, trace and span ids, cursors are shorter than this

Limit = Annotated[int, Field(ge=1, le=100, description="rows per page (the text budget may show fewer)")]
Cursor = Annotated[
    str | None,
    Field(max_length=4 * MAX_ID_ARG, description="the cursor a previous call returned, to get the next page"),
]
Since = Annotated[
    str | None,
    Field(max_length=MAX_TEXT_ARG, description="only what ended after this: ISO 8601 or an age like '2h', '7d'"),
]
Until = Annotated[
    str | None,
    Field(max_length=MAX_TEXT_ARG, description="only what started before this: ISO 8601 or an age like '30m'"),
]
HasErrors = Annotated[bool | None, Field(description="true: only with errors; false: only without")]
MinDuration = Annotated[
    float | None, Field(ge=0, le=MAX_OFFSET_MS, description="only at least this long, in milliseconds")
]
BudgetTokens = Annotated[int, Field(ge=500, le=MAX_BUDGET_TOKENS, description="approximate size of the answer")]
SessionId = Annotated[str, Field(max_length=MAX_ID_ARG, description="the session, as list_sessions shows it")]


@dataclass
class AppContext:
    """What the server's lifespan holds: the store, and where (and how) ingest_recording may read."""

    store: SessionStore
    ingest_roots: list[Path] = field(default_factory=list)
    redaction: RedactionRules | None = None  # None: the built-in rules
    session_gap_ns: int | None = None  # None: the default gap between keyless browser sessions
    describe_store: Callable[[], str] | None = None  # a remote store's line on what it holds (SourceNote adds it)


Ctx = Context[AppContext]


def store_of(ctx: Ctx) -> SessionStore:
    return ctx.request_context.lifespan_context.store


def redaction_of(ctx: Ctx) -> RedactionRules | None:
    """The server's redaction rules (None: the built-in ones)."""
    return ctx.request_context.lifespan_context.redaction


F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ToolEntry:
    function: Callable[..., Any]
    title: str
    annotations: ToolAnnotations
    view: str | None = None  # the MCP Apps view (render/apps VIEWS) that draws its answer
    app_only: bool = False  # called by that view only: hidden from the model


# Every read-only tool, in the order the server lists them; ingest_recording registers apart
# (only when the server may write, with the allowed roots in its description).
TOOLS: list[ToolEntry] = []


def tool(title: str, *, view: str | None = None, app_only: bool = False) -> Callable[[F], F]:
    """Declares a module-level function a read-only tool (its docstring is the description),
    drawn by the MCP Apps view `view` in hosts that render Apps; `app_only` for the views' own tools."""

    def add(function: F) -> F:
        TOOLS.append(ToolEntry(function, title, READ_ONLY, view, app_only))
        return function

    return add


@dataclass(frozen=True)
class ResourceEntry:
    function: Callable[..., Any]
    uri: str
    name: str
    title: str
    description: str


RESOURCES: list[ResourceEntry] = []
PROMPTS: list[ToolEntry] = []  # annotations unused


def resource(uri: str, *, name: str, title: str, description: str) -> Callable[[F], F]:
    """Declares a module-level function the markdown resource at `uri` (a template)."""

    def add(function: F) -> F:
        RESOURCES.append(ResourceEntry(function, uri, name, title, description))
        return function

    return add


def prompt(title: str) -> Callable[[F], F]:
    """Declares a module-level function a prompt (its docstring is the description)."""

    def add(function: F) -> F:
        PROMPTS.append(ToolEntry(function, title, READ_ONLY))
        return function

    return add


@contextmanager
def resource_errors() -> Iterator[None]:
    """Expected failures reach the client as a ResourceError with their message."""
    try:
        with database_faults():
            yield
    except McpSessionsError as exc:
        raise ResourceError(str(exc)) from exc


@contextmanager
def tool_errors() -> Iterator[None]:
    """Expected failures reach the model with their message; database faults without internals."""
    try:
        with database_faults():
            yield
    except McpSessionsError as exc:
        raise ToolError(str(exc)) from exc


def result(text: str, model: BaseModel, structured_chars: int = STRUCTURED_CHARS) -> CallToolResult:
    """The text and the model's structured content, within `structured_chars` (render.models.structured)."""
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=structured(model, structured_chars)
    )


class SourceNote:
    """Server middleware: with a remote store (`serve --store`), every tool answer ends with the store's line
    on what its cache holds, how old it is and what window and limit its last search covered (in the text
    and in `_meta["mcp-sessions/source"]`), so no answer passes off a bounded search as all the data."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        answer = await call_next(ctx)
        describe = getattr(ctx.lifespan_context, "describe_store", None)
        if ctx.method != "tools/call" or describe is None or answer is None:
            return answer
        body = answer.model_dump(by_alias=True, exclude_none=True) if isinstance(answer, BaseModel) else dict(answer)
        if body.get("isError"):
            return answer
        with database_faults():
            note = describe()
        body["content"] = [*body.get("content", []), {"type": "text", "text": note}]
        body["_meta"] = {**(body.get("_meta") or {}), "mcp-sessions/source": note}
        return body
