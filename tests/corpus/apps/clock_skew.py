"""Two processes, one HTTP call between them, and a clock offset: the backend process's SDK
clock runs 40 ms behind the frontend's, so its server span starts before the client span
that called it (as between two hosts whose clocks disagree). Both export with the Zipkin v2
JSON exporter. Run: `python clock_skew.py BASE_URL` (starts the backend itself).
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from _otel import provider, zipkin
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import SpanKind

OFFSET_NS = -40_000_000


def backend(base: str) -> None:
    import opentelemetry.sdk.trace as sdk_trace

    # the SDK reads the wall clock through this name: the whole process now runs 40 ms behind
    real = sdk_trace.time_ns
    sdk_trace.time_ns = lambda: real() + OFFSET_NS
    tp = provider("inventory", zipkin(base))
    tracer = tp.get_tracer("corpus.inventory")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with tracer.start_as_current_span("GET /stock", context=extract(self.headers), kind=SpanKind.SERVER) as s:
                s.set_attribute("http.request.method", "GET")
                s.set_attribute("http.route", "/stock")
                s.set_attribute("http.response.status_code", 200)
                with tracer.start_as_current_span("SELECT stock", kind=SpanKind.CLIENT) as db:
                    db.set_attribute("db.system.name", "sqlite")
                    db.set_attribute("db.query.text", "SELECT qty FROM stock WHERE sku = ?")
                    time.sleep(0.004)
                body = b"12"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    for _ in range(3):
        server.handle_request()
    tp.shutdown()


def frontend(base: str) -> None:
    child = subprocess.Popen([sys.executable, __file__, base, "--backend"], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    port = int(child.stdout.readline())
    tp = provider("web-frontend", zipkin(base))
    tracer = tp.get_tracer("corpus.frontend")
    for sku in ("A-1", "B-2", "C-3"):
        with tracer.start_as_current_span("GET /product", kind=SpanKind.SERVER) as root:
            root.set_attribute("http.request.method", "GET")
            root.set_attribute("http.route", "/product")
            root.set_attribute("http.response.status_code", 200)
            with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT) as call:
                url = f"http://127.0.0.1:{port}/stock?sku={sku}"
                call.set_attribute("http.request.method", "GET")
                call.set_attribute("url.full", url)
                headers: dict[str, str] = {}
                inject(headers)
                with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as reply:
                    call.set_attribute("http.response.status_code", reply.status)
            time.sleep(0.002)
    child.wait(timeout=30)
    tp.shutdown()


if __name__ == "__main__":
    (backend if "--backend" in sys.argv else frontend)(sys.argv[1])
