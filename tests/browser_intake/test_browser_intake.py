"""Live intake from a real browser: a page on one origin sends its OpenTelemetry spans and its rrweb
events straight to `mcp-sessions collect` on another, while a backend on a third answers its fetches.

    Chromium  http://127.0.0.1:PAGE    @rrweb/record + network plugin, via the shipped snippet ──► POST /v1/rrweb
              (page.js, bundled by     OpenTelemetry web SDK: fetch instrumentation, OTLP/HTTP JSON ──► POST /v1/traces
               esbuild at test time)   fetch ──► backend (traceparent, baggage session.id)         (cross-origin, CORS)
    backend   http://127.0.0.1:BACKEND Starlette + the ASGI instrumentation, Python SDK ──► OTLP/gRPC ──► collect --grpc
    collect   a subprocess: `collect --cors-origin http://127.0.0.1:PAGE --grpc 127.0.0.1:GRPC`

Then `get_timeline` on the page's session shows the clicks and typing, the requests, and on each
request the trace that holds the browser's span and the backend's spans. The npm packages are
pinned by package-lock.json here (`npm ci --prefix tests/browser_intake`); Chromium is Debian's.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import uvicorn
from mcp import Client
from netutil import free_port, wait_for_port
from opentelemetry import baggage
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mcp_sessions.server import create_server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ESBUILD = HERE / "node_modules" / ".bin" / "esbuild"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body>
  <script>window.INTAKE_TEST = {{collector: "{collector}", backend: "{backend}"}};</script>
  <h1>{title}</h1>
  {body}
  <p id="status">idle</p>
  <script defer src="bundle.js"></script>
</body></html>
"""
SHOP = """
  <button id="add" onclick="shop.addToCart()">Add to cart</button>
  <label for="note">Delivery note</label> <input id="note" name="note">
  <button id="checkout" onclick="shop.checkout()">Place order</button>
  <a id="next" href="thanks.html">Continue</a>
"""
THANKS = """<button id="done" onclick="document.querySelector('#status').textContent = 'done'">Done</button>"""


class SessionFromBaggage(SpanProcessor):
    """What the README recommends for a backend: `session.id` from the request's baggage onto every span."""

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        value = baggage.get_baggage("session.id", parent_context)
        if value:
            span.set_attribute("session.id", str(value))


def backend_app(provider: TracerProvider, page_origin: str) -> Any:
    tracer = provider.get_tracer("shop-backend")

    async def cart(request: Request) -> JSONResponse:
        await request.body()
        with tracer.start_as_current_span("INSERT INTO cart_items", attributes={"db.system": "sqlite"}):
            pass
        return JSONResponse({"items": 1})

    async def checkout(_request: Request) -> JSONResponse:
        with tracer.start_as_current_span("charge card") as span:
            span.set_status(Status(StatusCode.ERROR, "card declined"))
        return JSONResponse({"error": "card declined"}, status_code=500)

    app = Starlette(
        routes=[Route("/api/cart", cart, methods=["POST"]), Route("/api/checkout", checkout, methods=["POST"])]
    )
    instrumented = OpenTelemetryMiddleware(app, tracer_provider=provider)
    return CORSMiddleware(  # outside the instrumentation: a preflight makes no trace
        instrumented,
        allow_origins=[page_origin],
        allow_methods=["POST"],
        allow_headers=["content-type", "traceparent", "tracestate", "baggage", "x-session-id"],
    )


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Threaded:
    """A server run on a thread for the test's length."""

    def __init__(self, target: Any, stop: Any) -> None:
        self.thread = threading.Thread(target=target, daemon=True)
        self.stop = stop

    def __enter__(self) -> Threaded:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.thread.join(20)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """page.js and the npm packages it imports, bundled offline into one script."""
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); playwright install is not used")
    if not ESBUILD.exists():
        pytest.skip("the browser packages are not installed: npm ci --prefix tests/browser_intake")
    out = tmp_path_factory.mktemp("site") / "bundle.js"
    done = subprocess.run(
        [str(ESBUILD), str(HERE / "page.js"), "--bundle", "--format=iife", f"--outfile={out}", "--log-level=warning"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=HERE,
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture
def servers(bundle: Path, tmp_path: Path, db_path: Path) -> Iterator[dict[str, Any]]:
    page_port, backend_port, collect_port, grpc_port = (free_port() for _ in range(4))
    page_origin = f"http://127.0.0.1:{page_port}"
    collector, backend = f"http://127.0.0.1:{collect_port}", f"http://127.0.0.1:{backend_port}"
    site = bundle.parent
    for name, title, body in (("index.html", "Tea shop", SHOP), ("thanks.html", "Thank you", THANKS)):
        (site / name).write_text(PAGE.format(title=title, body=body, collector=collector, backend=backend))

    log = tmp_path / "collect.log"
    err = log.open("w")
    collect = subprocess.Popen(
        [sys.executable, "-m", "mcp_sessions", "collect", "--db", str(db_path), "--port", str(collect_port),
         "--grpc", f"127.0.0.1:{grpc_port}", "--cors-origin", page_origin],
        stderr=err, stdout=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    wait_for_port(grpc_port, collect, log)

    provider = TracerProvider(resource=Resource.create({"service.name": "shop-backend"}))
    provider.add_span_processor(SessionFromBaggage())
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=100))
    api = uvicorn.Server(uvicorn.Config(backend_app(provider, page_origin), port=backend_port, log_config=None))
    static = http.server.ThreadingHTTPServer(("127.0.0.1", page_port), functools.partial(Quiet, directory=site))

    def stop_api() -> None:
        api.should_exit = True

    try:
        with Threaded(static.serve_forever, static.shutdown), Threaded(api.run, stop_api):
            wait_for_port(backend_port, collect, log)
            yield {"page": page_origin, "provider": provider, "collect": collect, "log": log}
    finally:
        provider.shutdown()
        static.server_close()
        if collect.poll() is None:
            collect.send_signal(signal.SIGINT)
            collect.wait(30)
        err.close()


def stored(db: Path, sql: str, *args: object) -> int:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql, args).fetchone()[0]
    finally:
        conn.close()


def wait_until(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the collector did not receive everything in time"
        time.sleep(0.1)


def test_a_page_sends_spans_and_rrweb_events_cross_origin_and_the_timeline_joins_them(
    servers: dict[str, Any], db_path: Path
):
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{servers['page']}/index.html")
        page.wait_for_selector("body[data-ready=yes]")
        session_id = page.evaluate("shop.recording.sessionId")
        page.click("#add")
        page.wait_for_selector("#status:has-text('/api/cart: 200')")
        page.fill("#note", "leave it at the door")
        page.click("#checkout")
        page.wait_for_selector("#status:has-text('/api/checkout: 500')")
        # The fetch instrumentation ends a request's span a little after the answer (it waits for the
        # resource timing); the page is left only once both spans have been exported and committed.
        checkout_span = "SELECT count(*) FROM spans WHERE service = 'shop-web' AND http_url LIKE '%/api/checkout'"
        wait_until(lambda: stored(db_path, checkout_span) == 1)
        page.click("#next")  # leaving the page: its last batch goes by sendBeacon
        page.wait_for_selector("body[data-ready=yes]")
        assert page.evaluate("shop.recording.sessionId") == session_id  # sessionStorage: one session per tab
        page.click("#done")
        page.evaluate("shop.flush()")
        browser.close()
    servers["provider"].force_flush()
    db = db_path
    wait_until(lambda: stored(db, "SELECT count(*) FROM events WHERE kind = 'click'") >= 4)
    wait_until(lambda: stored(db, "SELECT count(DISTINCT service) FROM spans") == 2)
    # the snippet's own requests make no spans: the page's spans are its two fetches to the backend
    assert stored(db, "SELECT count(*) FROM spans WHERE service = 'shop-web'") == 2
    wait_until(lambda: stored(db, "SELECT count(*) FROM spans WHERE service = 'shop-backend'") >= 6)
    collect = servers["collect"]
    collect.send_signal(signal.SIGINT)
    assert collect.wait(30) == 0
    log = servers["log"].read_text()
    assert not [p for p in problems if "CORS" in p or "blocked" in p or "refused" in p], problems
    assert " rrweb http: stored " in log and " traces http/json: stored " in log and " traces grpc: stored " in log

    async def ask() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with Client(create_server(db)) as client:
            timeline = (await client.call_tool("get_timeline", {"session_id": session_id})).structured_content
            requests = [e for e in timeline["entries"] if e["kind"] == "network"]
            failed = next(e for e in requests if e["status"] == 500)
            trace = (await client.call_tool("get_trace", {"trace_id": failed["trace_id"]})).structured_content
            sessions = (await client.call_tool("list_sessions", {})).structured_content
            return timeline, trace, sessions

    timeline, trace, sessions = anyio.run(ask)
    entries = timeline["entries"]
    kinds = [e["kind"] for e in entries]
    assert kinds.count("navigation") == 2 and kinds.count("click") >= 4 and "input" in kinds
    clicks = [e["summary"] for e in entries if e["kind"] == "click"]
    assert any("Add to cart" in c for c in clicks) and any("Place order" in c for c in clicks), clicks
    assert any("Continue" in c for c in clicks), clicks  # sent by the beacon as the page was left
    assert any("Done" in c for c in clicks), clicks  # the second page, same session
    typed = next(e for e in entries if e["kind"] == "input")
    assert "Delivery note" in typed["summary"] and "door" not in str(timeline)  # masked in the browser
    requests = [e for e in entries if e["kind"] == "network"]
    assert sorted((e["method"], e["url"].rsplit("/", 1)[1], e["status"]) for e in requests) == [
        ("POST", "cart", 200),
        ("POST", "checkout", 500),
    ]
    for request in requests:  # each request carries the trace its click caused, browser and backend spans
        assert request["link"] == "traceparent" and request["backend_spans"] >= 3, request
    order = [e["kind"] for e in entries if e["kind"] in ("click", "network")]
    assert order[:4] == ["click", "network", "click", "network"], order
    services = {s["service"] for s in trace["spans"]}
    assert services == {"shop-web", "shop-backend"}, services
    assert any(s["name"] == "charge card" for s in trace["spans"])
    [session] = [s for s in sessions["sessions"] if s["session_id"] == session_id]
    assert session["user_id"] == "shopper-7"
    # the backend's spans carry the session themselves (baggage), not only through the browser's trace
    backend_sessions = stored(
        db, "SELECT count(*) FROM spans WHERE service = 'shop-backend' AND session_id = ?", session_id
    )
    assert backend_sessions >= 6


def test_the_snippet_batches_resends_and_beacons_as_documented():
    """Its paths a page rarely takes (a 503, a page left with 1 MB waiting), in Node: snippet.test.mjs."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (CI installs it for npm ci)")
    done = subprocess.run([node, "--test", "snippet.test.mjs"], capture_output=True, text=True, timeout=120, cwd=HERE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# pass 4" in done.stdout and "# fail 0" in done.stdout, done.stdout
