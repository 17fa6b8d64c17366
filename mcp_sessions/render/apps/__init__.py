"""The MCP Apps views: self-contained HTML pages a host draws beside a tool's answer.

Each view is one HTML document (no network: CSS and scripts inline, nothing fetched) served
as a `ui://` resource with the app MIME type, and bound to the tools whose answers it draws
(tools/views.py). The same scripts make the static report (report.py), fed from data embedded
in the file instead of from a host.

    static/base.css      layout and colours (host theme variables first, our defaults after)
    static/dom.js        building nodes: text only ever as text nodes, never parsed as markup
    static/fields.js     the one map from the answers' fields to what is drawn
    static/host.js       the guest side of the Apps protocol (postMessage JSON-RPC), or the report's data
    static/vlist.js      a virtualised list: only the visible rows exist in the document
    static/waterfall.js  a trace on a time axis
    static/timeline.js   a session on one axis, each request opening its trace
    static/diff.js       two sides aligned, changed nodes marked, both traces side by side
    static/main.js       which view this document is, started once the host (or data) answers
"""

from __future__ import annotations

import functools
import html
from dataclasses import dataclass
from importlib.resources import files

from mcp_sessions import __version__

# Most spans one waterfall draws: rows are virtualised, so the limit is the payload's size
# (about 300 bytes a span), not the browser's. A larger trace keeps get_trace's priorities.
WATERFALL_MAX_SPANS = 10_000
TIMELINE_MAX_ENTRIES = 5_000
ALIGNED_MAX_ROWS = 3_000
DIFF_MAX_FINDINGS = 50
# A view draws thousands of rows, not the model's few: its structured content has a budget of its own.
VIEW_STRUCTURED_CHARS = 8 << 20

_COMMON = ("dom.js", "fields.js", "host.js", "vlist.js", "waterfall.js")


@dataclass(frozen=True)
class View:
    name: str
    uri: str
    title: str
    description: str
    scripts: tuple[str, ...]


VIEWS = {
    v.name: v
    for v in (
        View(
            "trace",
            "ui://mcp-sessions/trace.html",
            "Trace waterfall",
            "A trace's spans on a time axis: services in colour, the critical path, errors, N+1 loops grouped.",
            (*_COMMON, "main.js"),
        ),
        View(
            "session",
            "ui://mcp-sessions/session.html",
            "Session timeline",
            "A session's actions, pages, requests and console errors on one axis; a request opens its trace.",
            (*_COMMON, "timeline.js", "main.js"),
        ),
        View(
            "diff",
            "ui://mcp-sessions/diff.html",
            "Diff against a baseline",
            "Both sides of a diff aligned node by node, changed nodes marked, both traces side by side.",
            (*_COMMON, "diff.js", "main.js"),
        ),
    )
}
REPORT_SCRIPTS = (*_COMMON, "timeline.js", "diff.js", "main.js")


def _static(name: str) -> str:
    return (files(__name__) / "static" / name).read_text(encoding="utf-8")


def page(name: str, title: str, scripts: tuple[str, ...], data: str = "") -> str:
    """One HTML document: the view `name` with its styles and scripts inline, and optional embedded data."""
    css = _static("base.css")
    js = "\n".join(_static(s) for s in scripts)
    # A script or style element ends at the first `</script` or `</style` in it, whatever the JS means.
    if "</script" in js.lower() or "</style" in css.lower():
        raise ValueError("a view's script or style contains a closing tag")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>\n{css}</style>\n</head>\n"
        f'<body data-view="{name}" data-version="{__version__}">\n<main id="app"></main>\n{data}'
        f'<script>\n"use strict";\n(function () {{\n{js}\n}})();\n</script>\n</body>\n</html>\n'
    )


@functools.cache
def view_html(name: str) -> str:
    view = VIEWS[name]
    return page(view.name, f"mcp-sessions · {view.title}", view.scripts)
