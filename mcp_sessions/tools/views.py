"""The MCP Apps views: their `ui://` resources, the tools only they call, and what a client without Apps sees.

get_trace, get_timeline, get_session and diff_against_baseline name a view in their
`_meta.ui.resourceUri`; a host that renders Apps draws it beside the answer, which it hands
the view. The view then asks its own tool here for the whole picture (every span of the
trace, the whole timeline, both sides of the diff aligned). Those tools are read-only,
marked `visibility: ["app"]` so hosts keep them from the model; for a client that did not
negotiate Apps they are left out of tools/list and the views out of resources/list, so for it
nothing changes.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.apps import Apps, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from mcp_sessions.render.apps import (
    TIMELINE_MAX_ENTRIES,
    VIEW_STRUCTURED_CHARS,
    VIEWS,
    WATERFALL_MAX_SPANS,
    view_html,
)
from mcp_sessions.render.models import DiffPicture, SessionPicture, TraceWaterfall
from mcp_sessions.tools.common import MAX_ID_ARG, Ctx, SessionId, ToolEntry, result, store_of, tool, tool_errors

TraceId = Annotated[str, Field(max_length=MAX_ID_ARG, description="full trace id (32 hex; 16-hex ids are padded)")]
OptionalId = Annotated[str | None, Field(max_length=MAX_ID_ARG, description="as diff_against_baseline takes it")]


@tool("Trace waterfall data (for the trace view)", view="trace", app_only=True)
def view_trace(
    ctx: Ctx,
    trace_id: TraceId,
    span_id: Annotated[str | None, Field(max_length=MAX_ID_ARG, description="only the subtree under this span")] = None,
) -> Annotated[CallToolResult, TraceWaterfall]:
    """Every span of one trace (up to 10,000, the rest cut as get_trace cuts) with its critical
    path, N+1 loops and recorded attributes, for the trace waterfall view to draw.

    Called by the MCP Apps view, not by the model: read a trace with get_trace. Example:
    view_trace(trace_id="5b8efff798038103d269b633813fc60c")
    """
    with tool_errors():
        from mcp_sessions.answers import trace  # each answer loads with its first call
        from mcp_sessions.render.apps.payloads import waterfall

        answer = trace.trace_view(store_of(ctx), trace_id, span_id=span_id, max_spans=WATERFALL_MAX_SPANS)
        return result(*waterfall(answer), structured_chars=VIEW_STRUCTURED_CHARS)


@tool("Session timeline data (for the session view)", view="session", app_only=True)
def view_session(ctx: Ctx, session_id: SessionId) -> Annotated[CallToolResult, SessionPicture]:
    """One session's overview and its whole timeline (up to 5,000 entries), for the session
    timeline view to draw on one axis.

    Called by the MCP Apps view, not by the model: read a session with get_session and
    get_timeline. Example: view_session(session_id="sess_218ccee84f7164d7")
    """
    with tool_errors():
        from mcp_sessions.answers import session, timeline
        from mcp_sessions.render.apps.payloads import session_picture

        store = store_of(ctx)
        overview = session.session_overview(store, session_id)
        entries = timeline.session_timeline(
            store, session_id, kinds=None, from_ms=None, to_ms=None, cursor=None, limit=TIMELINE_MAX_ENTRIES
        )
        return result(*session_picture(overview, entries), structured_chars=VIEW_STRUCTURED_CHARS)


@tool("Aligned diff data (for the diff view)", view="diff", app_only=True)
def view_diff(
    ctx: Ctx,
    session_id: OptionalId = None,
    baseline: OptionalId = None,
    trace_id: OptionalId = None,
    baseline_trace_id: OptionalId = None,
) -> Annotated[CallToolResult, DiffPicture]:
    """The diff diff_against_baseline answers, with both sides aligned node by node (steps,
    requests, backend work), for the diff view to draw side by side.

    Called by the MCP Apps view, not by the model: use diff_against_baseline. Example:
    view_diff(session_id="sess_4951e114f2553254", baseline="sess_22b9d171c3ca0f83")
    """
    with tool_errors():
        from mcp_sessions.answers import diff
        from mcp_sessions.render.apps.payloads import diff_picture

        store = store_of(ctx)
        answer = diff.diff_against_baseline(store, session_id, baseline, trace_id, baseline_trace_id)
        return result(*diff_picture(answer), structured_chars=VIEW_STRUCTURED_CHARS)


def apps_extension() -> Apps:
    """The Apps extension: one `ui://` HTML resource per view (served as text/html;profile=mcp-app)."""
    apps = Apps()
    for view in VIEWS.values():
        apps.add_html_resource(
            view.uri,
            view_html(view.name),
            name=f"{view.name}_view",
            title=view.title,
            description=view.description,
            prefers_border=True,
        )
    return apps


def ui_meta(entry: ToolEntry) -> dict[str, Any] | None:
    """A tool's `_meta` binding it to its view; the flat `ui/resourceUri` key for hosts that read only that."""
    if entry.view is None:
        return None
    uri = VIEWS[entry.view].uri
    ui: dict[str, Any] = {"resourceUri": uri, "visibility": ["app"]} if entry.app_only else {"resourceUri": uri}
    return {"ui": ui, "ui/resourceUri": uri}


class ViewsForAppsClients:
    """Server middleware: for a client that did not negotiate Apps, tools/list leaves out the views' own
    tools and resources/list the views (the spec lets a server omit UI-only resources); nothing else changes."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        listed = await call_next(ctx)
        if ctx.method not in ("tools/list", "resources/list") or listed is None or client_supports_apps(ctx):
            return listed
        page = listed.model_dump(by_alias=True, exclude_none=True) if isinstance(listed, BaseModel) else dict(listed)
        if ctx.method == "tools/list":
            page["tools"] = [t for t in page.get("tools", []) if "model" in _visibility(t)]
        else:
            page["resources"] = [r for r in page.get("resources", []) if not str(r.get("uri", "")).startswith("ui://")]
        return page


def _visibility(tool: dict[str, Any]) -> list[str]:
    ui = (tool.get("_meta") or {}).get("ui")
    visibility = ui.get("visibility") if isinstance(ui, dict) else None
    return list(visibility) if isinstance(visibility, list) else ["model", "app"]
