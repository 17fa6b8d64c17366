"""A real page recorded twice at once, by `@rrweb/record` and by Playwright's HAR, read as one visit.

    Chromium (playwright-core, tests/corpus/browser/record.mjs)
      http://127.0.0.1:SITE   index.html, style.css, app.js, bundle.js (@rrweb/record + console
                              and network plugins, bundled by esbuild), /api/items, /api/save, /api/fail (500)
      http://localhost:OTHER  ga.js, and the long /collect?… beacon it sends: another site
    ──► rrweb.json (the page's own recording)  +  page.har (recordHar)  ──► ingest_recording (MCP)

No request carries a `traceparent` or a session key: the two copies of each request are paired
by method, URL and time, and the two recordings are one session. The npm packages are pinned
by tests/corpus/browser/package-lock.json (`npm ci --prefix tests/corpus/browser`); Chromium is
Debian's.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from netutil import free_port

from mcp_sessions import urls
from mcp_sessions.server import create_server

HERE = Path(__file__).resolve().parent / "corpus" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
ESBUILD = HERE / "node_modules" / ".bin" / "esbuild"

INDEX = """<!doctype html>
<html><head><meta charset="utf-8"><title>Tea list</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="style.css">
<script src="app.js"></script>
<script src="{other}/ga.js"></script>
</head>
<body>
  <h1>Tea list</h1>
  <button id="load">Load teas</button> <button id="save">Save note</button> <button id="fail">Check out</button>
  <p id="status">idle</p>
  <div id="list" style="height: 120px; overflow: auto; border: 1px solid"><div style="height: 2000px">teas</div></div>
  <div style="height: 3000px"></div>
  <script src="bundle.js"></script>
</body></html>
"""
APP = """
let loads = 0;
const say = (text) => { document.querySelector("#status").textContent = text; };
window.addEventListener("DOMContentLoaded", () => {
  document.querySelector("#load").onclick = async () => {
    const items = await (await fetch("/api/items?page=1")).json();
    loads += 1;
    say(`loaded ${loads}`);
    console.log("teas", items.length);
  };
  document.querySelector("#save").onclick = async () => {
    const r = await fetch("/api/save", {method: "POST", headers: {"content-type": "application/json"},
                                        body: JSON.stringify({note: "green"})});
    say(r.ok ? "saved" : "not saved");
  };
  document.querySelector("#fail").onclick = async () => {
    const r = await fetch("/api/fail");
    say(`failed ${r.status}`);
    console.error("checkout failed", r.status);
  };
});
"""
GA = """
window.ga = function () {};
new Image().src = "{other}/collect?v=1&t=pageview&dl=" + encodeURIComponent(location.href) +
  "&dt=" + encodeURIComponent("A page title long enough to make this beacon's URL longer than a line") + "&z=1";
"""
# One HAR entry and one rrweb request for each: (method, path, status, origin)
EXPECTED = Counter(
    {
        ("GET", "/index.html", 200, "site"): 1,
        ("GET", "/style.css", 200, "site"): 1,
        ("GET", "/app.js", 200, "site"): 1,
        ("GET", "/ga.js", 200, "other"): 1,
        ("GET", "/collect", 200, "other"): 1,
        ("GET", "/bundle.js", 200, "site"): 1,
        ("GET", "/api/items", 200, "site"): 3,
        ("POST", "/api/save", 200, "site"): 1,
        ("GET", "/api/fail", 500, "site"): 1,
    }
)


class Site(http.server.SimpleHTTPRequestHandler):
    """The page's files and its three API routes."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = urls.path_of(self.path)
        if path == "/api/items":
            self._json(200, [{"id": n, "name": f"tea {n}"} for n in range(20)])
        elif path == "/api/fail":
            self._json(500, {"error": "payment service down"})
        elif path == "/collect":
            self.send_response(200)
            self.send_header("content-type", "image/gif")
            self.send_header("content-length", "0")
            self.end_headers()
        else:
            super().do_GET()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self._json(200, {"saved": True})


def _serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Site, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The visit, recorded once for the module: rrweb.json and page.har, and the two origins."""
    node = shutil.which("node")
    if node is None or not CHROMIUM.exists():
        pytest.skip(f"needs node and Chromium at {CHROMIUM} (apt-get install nodejs chromium)")
    if not ESBUILD.exists():
        pytest.skip("the browser packages are not installed: npm ci --prefix tests/corpus/browser")
    site, other_dir = tmp_path_factory.mktemp("site"), tmp_path_factory.mktemp("other")
    out = tmp_path_factory.mktemp("recording")
    bundled = subprocess.run(
        [
            str(ESBUILD),
            "page.js",
            "--bundle",
            "--format=iife",
            f"--outfile={site / 'bundle.js'}",
            "--log-level=warning",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=HERE,
    )
    assert bundled.returncode == 0, bundled.stderr
    servers = []
    try:
        other_server, other_port = _serve(other_dir)
        servers.append(other_server)
        other = f"http://localhost:{other_port}"  # another host name: another site to the page
        (other_dir / "ga.js").write_text(GA.replace("{other}", other))
        site_server, site_port = _serve(site)
        servers.append(site_server)
        page = f"http://127.0.0.1:{site_port}"
        (site / "index.html").write_text(INDEX.format(other=other))
        (site / "app.js").write_text(APP)
        (site / "style.css").write_text("body { font-family: sans-serif; }\n")
        done = subprocess.run(
            [node, "record.mjs", f"{page}/index.html", str(out)], capture_output=True, text=True, timeout=180, cwd=HERE
        )
        assert done.returncode == 0, done.stdout + done.stderr
        yield {"dir": out, "page": page, "other": other}
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def _key(url: str, status: int | None, method: str | None, origins: dict[str, str]) -> tuple[Any, ...]:
    parts = urls.split(url)
    origin = next(name for name, o in origins.items() if parts.origin == o)
    return (method, parts.path, status, origin)


def test_the_recording_holds_each_request_twice_and_no_trace_context(recorded: dict[str, Any]) -> None:
    """What the test stands on: both recorders saw every request, and nothing links the copies but the request."""
    har = json.loads((recorded["dir"] / "page.har").read_text())
    origins = {"site": recorded["page"], "other": recorded["other"]}
    entries = Counter(
        _key(e["request"]["url"], e["response"]["status"], e["request"]["method"], origins)
        for e in har["log"]["entries"]
    )
    assert entries == EXPECTED
    events = json.loads((recorded["dir"] / "rrweb.json").read_text())
    requests = [
        r
        for e in events
        if e["type"] == 6 and e["data"]["plugin"] == "rrweb/network@1"
        for r in e["data"]["payload"]["requests"]
    ]
    # the plugin reports the page load's timing entry twice (recordInitialRequests, then its observer)
    entries_seen = {(r["name"], r.get("initiatorType"), r.get("startTime")) for r in requests}
    assert len(requests) == len(entries_seen) + 1
    assert Counter(urls.path_of(name) for name, _, _ in entries_seen) == Counter(
        {path: n for (_, path, _, _), n in EXPECTED.items()}
    )
    text = (recorded["dir"] / "page.har").read_text() + (recorded["dir"] / "rrweb.json").read_text()
    assert "traceparent" not in text and "session.id" not in text


def _ask(db: Path, recording: Path) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async with Client(create_server(db, ingest_roots=[recording])) as client:
            out: dict[str, Any] = {}
            for name in ("rrweb.json", "page.har"):
                ingested = await client.call_tool("ingest_recording", {"path": name})
                assert not ingested.is_error, ingested.content
            out["sessions"] = (await client.call_tool("list_sessions", {})).structured_content
            [session] = out["sessions"]["sessions"]
            sid = session["session_id"]
            pages, cursor = [], None
            while True:
                args: dict[str, Any] = {"session_id": sid} | ({"cursor": cursor} if cursor else {})
                reply = await client.call_tool("get_timeline", args)
                pages.append(reply)
                cursor = (reply.structured_content or {}).get("next_cursor")
                if not cursor:
                    break
            out["timeline"] = pages
            out["overview"] = await client.call_tool("get_session", {"session_id": sid})
            out["errors"] = (await client.call_tool("find_errors", {"session_id": sid})).structured_content
            return out

    return anyio.run(run)


def test_each_request_is_shown_once_in_order_with_host_and_size(recorded: dict[str, Any], tmp_path: Path) -> None:
    asked = _ask(tmp_path / "sessions.db", recorded["dir"])
    [session] = asked["sessions"]["sessions"]
    assert set(session["sources"]) == {"rrweb", "har"}, session
    entries = [e for p in asked["timeline"] for e in p.structured_content["entries"]]
    lines = [ln for p in asked["timeline"] for ln in p.content[0].text.splitlines() if ln.startswith("- `")]
    network = [(e, ln) for e, ln in zip(entries, lines, strict=True) if e["kind"] == "network"]
    origins = {"site": recorded["page"], "other": recorded["other"]}
    shown = Counter(_key(e["url"], e["status"], e["method"], origins) for e, _ in network)
    assert shown == EXPECTED  # each request once, with the HAR's method where rrweb had none
    assert all(e["copy_method"] == "method-url-time" for e, _ in network), [e["copy_method"] for e, _ in network]

    # In the right order: the document before what it loaded, each fetch after the click that made it.
    paths = [urls.path_of(e["url"]) for e, _ in network]
    assert paths[0] == "/index.html", paths
    assert paths.index("/app.js") < paths.index("/api/items")
    clicks = [e["offset_ms"] for e in entries if e["kind"] == "click"]
    fetches = [e["offset_ms"] for e, _ in network if urls.path_of(e["url"]).startswith("/api/")]
    assert len(clicks) == 5 and len(fetches) == 5
    for click, fetch, following in zip(clicks, fetches, [*clicks[1:], float("inf")], strict=True):
        assert click <= fetch < following, (clicks, fetches)

    # With host and size: the other site's requests name their host and say third-party.
    for entry, line in network:
        third = urls.split(entry["url"]).origin == recorded["other"]
        assert entry["party"] == ("third-party" if third else "first-party"), entry
        assert (urls.split(recorded["other"]).host_port in line) is third, line
        assert " · third-party" in line if third else " · first-party" in line
        assert entry["size_bytes"] is not None and entry["mime_type"], entry
        assert entry["timings"] and "wait" in entry["timings"], entry
    items = next(e for e, _ in network if urls.path_of(e["url"]) == "/api/items")
    assert items["size_bytes"] == len(json.dumps([{"id": n, "name": f"tea {n}"} for n in range(20)]))
    assert items["mime_type"] == "application/json"
    # The long beacon URL is cut, says so, and keeps its status and duration.
    beacon = next(ln for e, ln in network if urls.path_of(e["url"]) == "/collect")
    assert (
        "…` (" in beacon
        and " chars) → 200 (" in beacon
        and "→ 200 (" in beacon
        and " ms)" in beacon.split("→ 200 (")[1]
    ), beacon

    # Counts and errors once: 11 requests, one failed request.
    overview = asked["overview"].structured_content
    assert overview["counts"]["network"] == sum(EXPECTED.values())
    failed = [e for e in asked["errors"]["errors"] if "/api/fail" in json.dumps(e)]
    assert len(failed) == 1 and failed[0]["count"] == 1, asked["errors"]
    assert all(m["message"].startswith("GET /api/fail → 500 (") for m in failed[0]["messages"]), failed

    # Three clicks, three loads of the list: not duplicate calls.
    assert not [p for p in overview["patterns"] if p["kind"] == "duplicate_calls"], overview["patterns"]

    # Scrolls: the list's and the page's apart.
    scrolls = [e for e in entries if e["kind"] == "scroll"]
    assert any("#list" in (e["target"] or "") for e in scrolls), scrolls
    assert any(e["target"] is None and "scroll page" in e["summary"] for e in scrolls), scrolls

    # The session lasts from the recording's first event to its last, of either recorder.
    raw = json.loads((recorded["dir"] / "rrweb.json").read_text())
    rrweb_ms = max(e["timestamp"] for e in raw) - min(e["timestamp"] for e in raw)
    assert session["duration_ms"] >= rrweb_ms


def test_each_request_finds_its_own_har_copy_for_a_drafted_test(recorded: dict[str, Any], tmp_path: Path) -> None:
    """The recording carries no trace context: each rrweb request still finds its own HAR copy (what a
    drafted regression test reads its response type and body from), never another request's."""
    from mcp_sessions.model import copy_key
    from mcp_sessions.store import SqliteStore

    db = tmp_path / "sessions.db"
    _ask(db, recorded["dir"])
    with SqliteStore(db, readonly=True) as store:
        (sid,) = store.conn.execute("SELECT session_id FROM sessions").fetchone()
        shown = [e for e in store.session_events(sid) if e.kind == "network"]
        twins = store.har_twins(sid, 1000)
    assert shown and all(e.trace_id is None for e in shown)
    paired = [(e, twins[copy_key(e)]) for e in shown if copy_key(e) in twins]
    assert len(paired) == len(shown), [e.url for e in shown if copy_key(e) not in twins]
    for event, twin in paired:
        assert twin.source == "har" and urls.path_of(twin.url or "") == urls.path_of(event.url or ""), (event, twin)
