"""A loopback HTTP server that keeps every body an exporter POSTs to it, byte for byte.

Each generator exports to its own path prefix (`/<recording>/...`), so one server serves a whole
corpus build. Bodies are kept as they arrived (gzip included): the recording is what the exporter
sent, not what we think it meant. Any POST is answered 200 with an empty JSON object, which the
OTLP/HTTP (JSON and protobuf) and Zipkin exporters all accept as success.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class Captured:
    """One POST: the path it went to, its content type and encoding, and its raw body."""

    def __init__(self, path: str, content_type: str, encoding: str, body: bytes) -> None:
        self.path = path
        self.content_type = content_type
        self.encoding = encoding
        self.body = body


class CaptureServer:
    """`with CaptureServer() as cap:` listens on 127.0.0.1 on a free port until the block ends."""

    def __init__(self) -> None:
        self.requests: dict[str, list[Captured]] = defaultdict(list)
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self._body()
                prefix = self.path.strip("/").split("/", 1)[0]
                item = Captured(
                    self.path,
                    self.headers.get("Content-Type", ""),
                    self.headers.get("Content-Encoding", ""),
                    body,
                )
                with owner._lock:
                    owner.requests[prefix].append(item)
                # an OTLP/HTTP protobuf exporter parses the reply as an ExportTraceServiceResponse:
                # an empty body is a valid empty message; JSON exporters accept `{}`
                reply = b"" if "protobuf" in item.content_type else b"{}"
                self.send_response(200)
                self.send_header("Content-Type", item.content_type or "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    parts = []
                    while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline().strip():  # trailers, then the blank line
                        pass
                    return b"".join(parts)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:  # the downstream endpoint some generators call
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.port}/{prefix}"

    def taken(self, prefix: str) -> list[Captured]:
        with self._lock:
            return list(self.requests.get(prefix, []))

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
