"""Driving the MCP Apps views in headless Chromium through a host that speaks the Apps protocol.

`AppsHost` pairs a browser page running host.html with an MCP client that negotiated Apps:
`show(tool, args)` calls the tool through the client, reads the view its `_meta.ui.resourceUri`
names, and mounts it in the page's sandboxed iframe under the spec's restrictive default CSP;
the page then plays host (ui/initialize, tool-input, tool-result) and proxies the view's
tools/call back here, to the same client, refusing any tool that is not read-only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, types
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

HERE = Path(__file__).resolve().parent
HOST_HTML = (HERE / "host.html").read_text()
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# What a host must apply when a view's resource declares no CSP (the Apps spec, "Restrictive Default").
DEFAULT_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; media-src 'self' data:; connect-src 'none'"
)


def apps_client(server: Any) -> Client:
    """An in-memory MCP client that advertises MCP Apps, as a host that renders them does."""
    return Client(server, extensions=[advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})])


def visibility(tool: Any) -> list[str]:
    ui = (tool.meta or {}).get("ui") or {}
    return list(ui.get("visibility") or ["model", "app"])


def with_csp(html: str) -> str:
    return html.replace("<head>", f'<head>\n<meta http-equiv="Content-Security-Policy" content="{DEFAULT_CSP}">', 1)


def screenshot_dir(tmp_root: Path) -> Path:
    """Where screenshots go: $MCP_SESSIONS_SCREENSHOTS when set (to refresh docs/), else a temp dir."""
    chosen = os.environ.get("MCP_SESSIONS_SCREENSHOTS")
    path = Path(chosen) if chosen else tmp_root
    path.mkdir(parents=True, exist_ok=True)
    return path


class AppsHost:
    def __init__(self, page: Any, client: Client) -> None:
        self.page = page
        self.client = client
        self.tools: dict[str, Any] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.in_flight = 0

    async def start(self) -> AppsHost:
        self.tools = {t.name: t for t in (await self.client.list_tools()).tools}
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        await self.page.expose_function("callServer", self._call_server)
        await self.page.set_content(HOST_HTML)
        return self

    async def _call_server(self, name: str, args: dict[str, Any]) -> str:
        """The answer as JSON text (Playwright carries a string far faster than a large object)."""
        self.calls.append((name, args))
        tool = self.tools.get(name)
        if tool is None or not tool.annotations.read_only_hint or "app" not in visibility(tool):
            return json.dumps({"error": f"the host refuses {name}: views may call only read-only tools open to apps"})
        # Relayed as a host relays a view's call: the result as the server sent it. (The SDK client's
        # call_tool also re-validates structured content with jsonschema: seconds for 5,000 spans.)
        request = types.CallToolRequest(params=types.CallToolRequestParams(name=name, arguments=args))
        self.in_flight += 1
        try:
            result = await self.client.session.send_request(request, types.CallToolResult)
        finally:
            self.in_flight -= 1
        return json.dumps({"result": result.model_dump(by_alias=True, exclude_none=True, mode="json")})

    async def settle(self, timeout_s: float = 30.0) -> None:
        """Waits for the calls the views still have running (a server must not be closed under one)."""
        with anyio.fail_after(timeout_s):
            while self.in_flight:
                await anyio.sleep(0.02)

    async def view_html(self, tool_name: str) -> str:
        uri = self.tools[tool_name].meta["ui"]["resourceUri"]
        contents = (await self.client.read_resource(uri)).contents
        assert contents[0].mime_type == APP_MIME_TYPE
        return contents[0].text

    async def show(self, tool_name: str, args: dict[str, Any], *, state: str = "ready") -> Any:
        """Mounts the view of `tool_name` fed with its real answer to `args`; returns the view's frame."""
        html = with_csp(await self.view_html(tool_name))
        result = await self.client.call_tool(tool_name, args)
        assert not result.is_error, result.content
        payload = result.model_dump(by_alias=True, exclude_none=True, mode="json")
        await self.page.evaluate(
            "spec => window.mount(spec)", {"html": html, "tool": tool_name, "arguments": args, "result": payload}
        )
        frame = await self.frame()
        await frame.wait_for_function(
            "state => document.body && document.body.dataset.state === state", arg=state, timeout=15_000
        )
        return frame

    async def frame(self) -> Any:
        handle = await self.page.wait_for_selector("#view")
        for _ in range(100):
            frame = await handle.content_frame()
            if frame is not None and frame.url == "about:srcdoc":
                await frame.wait_for_load_state()
                return frame
            await self.page.wait_for_timeout(20)
        raise AssertionError("the view's iframe never loaded")

    async def screenshot(self, path: Path, height: int = 760) -> None:
        """The view's top `height` pixels, once the host has sized the iframe to what the view reported."""
        await self.page.wait_for_timeout(300)
        box = await (await self.page.query_selector("#view")).bounding_box()
        clip = {**box, "height": min(box["height"], height)}
        await self.page.screenshot(path=str(path), clip=clip)
