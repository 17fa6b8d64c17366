"""Jaeger and Tempo as their documented HTTP APIs answer, over traces taken from OTLP/JSON files.

`FakeSource.handle` is an httpx handler (for `httpx.MockTransport`); `serve_on_socket` puts the same
handler behind a real threaded HTTP server on loopback. Every request is recorded in `requests`.

Shapes (Jaeger api_v3: cmd/jaeger/internal/extension/jaegerquery/internal/apiv3/http_gateway.go;
Tempo: the HTTP API docs, /api/traces, /api/v2/traces, /api/search):

    jaeger  GET /api/v3/services                         {"services": [...]}
            GET /api/v3/traces/{id}                      {"result": {"resourceSpans": [...]}} | 404 {"error": {...}}
            GET /api/v3/traces?query.service_name=...    the same for every match | 404 {"error": ...} for none
    jaeger1 GET /api/traces/{id}                         {"data": [trace], "errors": null} | 404 {"data": null, ...}
    tempo   GET /api/v2/traces/{id}                      {"trace": {"resourceSpans": [...]}, "status": "COMPLETE"}
            GET /api/traces/{id}                         {"batches": [...]} or protobuf (Accept) | 404 text
            GET /api/search?q=...&limit=&start=&end=     {"traces": [{"traceID", ...}], "metrics": {}}
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

Handler = Callable[[httpx.Request], httpx.Response]


def _value(v: dict[str, Any]) -> Any:
    for key in ("stringValue", "intValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "arrayValue" in v:
        return [_value(x) for x in v["arrayValue"].get("values", [])]
    return None


class Traces:
    """The spans of some OTLP/JSON files, grouped by trace, with their resources and scopes."""

    def __init__(self, files: Iterable[Path]) -> None:
        self.spans: dict[str, list[tuple[dict, dict, dict]]] = {}
        for path in files:
            for line in path.read_text().splitlines():
                if not line.strip():
                    continue
                for rs in json.loads(line).get("resourceSpans", []):
                    for ss in rs.get("scopeSpans", []):
                        for span in ss.get("spans", []):
                            self.spans.setdefault(_hex(span["traceId"]), []).append(
                                (rs.get("resource", {}), ss.get("scope", {}), span)
                            )

    def otlp(self, trace_ids: Iterable[str], *, hex_ids: bool = False) -> dict[str, Any]:
        """OTLP/JSON of these traces; ids as the files hold them (base64, as Tempo writes), or hex (Jaeger)."""
        out = []
        for trace_id in trace_ids:
            for resource, scope, span in self.spans[trace_id]:
                if hex_ids:
                    span = {**span, **{k: _hex(span[k]) for k in ("traceId", "spanId", "parentSpanId") if span.get(k)}}
                out.append({"resource": resource, "scopeSpans": [{"scope": scope, "spans": [span]}]})
        return {"resourceSpans": out}

    def start_ns(self, trace_id: str) -> int:
        return min(int(s["startTimeUnixNano"]) for _, _, s in self.spans[trace_id])

    def services(self, trace_id: str) -> set[str]:
        return {
            str(_value(a["value"]))
            for r, _, _ in self.spans[trace_id]
            for a in r.get("attributes", [])
            if a["key"] == "service.name"
        }

    def attribute_values(self, trace_id: str, key: str) -> set[str]:
        found = set()
        for resource, _, span in self.spans[trace_id]:
            for a in [*resource.get("attributes", []), *span.get("attributes", [])]:
                if a["key"] == key:
                    found.add(str(_value(a["value"])))
        return found

    def matching(self, service: str | None, start_ns: int, end_ns: int, attributes: dict[str, str]) -> list[str]:
        ids = [
            t
            for t in self.spans
            if (service is None or service in self.services(t))
            and start_ns <= self.start_ns(t) <= end_ns
            and all(v in self.attribute_values(t, k) for k, v in attributes.items())
        ]
        return sorted(ids, key=self.start_ns, reverse=True)  # most recent first, as the sources answer


def _hex(value: str) -> str:
    if re.fullmatch(r"[0-9a-fA-F]{16}|[0-9a-fA-F]{32}", value):
        return value.lower()
    return base64.b64decode(value).hex()


def _rfc3339_ns(text: str) -> int:
    from datetime import datetime

    head, _, frac = text.rstrip("Z").partition(".")
    seconds = int(datetime.fromisoformat(head + "+00:00").timestamp())
    return seconds * 1_000_000_000 + int((frac or "0").ljust(9, "0")[:9])


class FakeSource:
    """One fake Jaeger (api_v3, or classic JSON from `jaeger_docs`) or Tempo over `traces`."""

    def __init__(
        self,
        kind: str,
        traces: Traces,
        *,
        jaeger_docs: dict[str, Any] | None = None,
        token: str | None = None,
        protobuf: bool = False,
        no_v2: bool = False,
    ) -> None:
        self.kind = kind
        self.traces = traces
        self.jaeger_docs = jaeger_docs or {}
        self.token = token
        self.protobuf = protobuf
        self.no_v2 = no_v2
        self.requests: list[httpx.Request] = []
        self.override: Handler | None = None  # answers every request instead, when set

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.override is not None:
            return self.override(request)
        if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
            return httpx.Response(401, json={"error": {"httpCode": 401, "message": "Unauthorized"}})
        return getattr(self, f"_{self.kind}")(request)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    def _jaeger(self, request: httpx.Request) -> httpx.Response:
        path, q = request.url.path, request.url.params
        if path == "/api/v3/services":
            return httpx.Response(
                200, json={"services": sorted({s for t in self.traces.spans for s in self.traces.services(t)})}
            )
        if match := re.fullmatch(r"/api/v3/traces/([0-9a-f]+)", path):
            if match.group(1) not in self.traces.spans:
                return httpx.Response(404, json={"error": {"httpCode": 404, "message": "trace not found"}})
            return httpx.Response(200, json={"result": self.traces.otlp([match.group(1)], hex_ids=True)})
        if path == "/api/v3/traces":
            ids = self.traces.matching(
                q["query.service_name"],
                _rfc3339_ns(q["query.start_time_min"]),
                _rfc3339_ns(q["query.start_time_max"]),
                json.loads(q.get("query.attributes", "{}")),
            )[: int(q.get("query.search_depth", "20"))]
            if not ids:
                return httpx.Response(404, json={"error": {"httpCode": 404, "message": "trace not found"}})
            return httpx.Response(200, json={"result": self.traces.otlp(ids, hex_ids=True)})
        return httpx.Response(404, text="404 page not found\n", headers={"content-type": "text/plain"})

    def _jaeger1(self, request: httpx.Request) -> httpx.Response:
        path, q = request.url.path, request.url.params
        if path == "/api/services":
            names = {p["serviceName"] for d in self.jaeger_docs.values() for p in d["processes"].values()}
            return httpx.Response(200, json={"data": sorted(names), "total": len(names), "errors": None})
        if path == "/api/traces":
            start, end, tags = int(q["start"]), int(q["end"]), json.loads(q.get("tags", "{}"))
            hits = [
                d
                for d in self.jaeger_docs.values()
                if any(p["serviceName"] == q["service"] for p in d["processes"].values())
                and start <= min(s["startTime"] for s in d["spans"]) <= end
                and all(
                    any(t["key"] == k and str(t["value"]) == v for s in d["spans"] for t in s.get("tags", []))
                    for k, v in tags.items()
                )
            ][: int(q["limit"])]
            return httpx.Response(200, json={"data": hits, "total": len(hits), "limit": 0, "offset": 0, "errors": None})
        if match := re.fullmatch(r"/api/traces/([0-9a-f]+)", request.url.path):
            doc = self.jaeger_docs.get(match.group(1))
            if doc is None:
                return httpx.Response(
                    404,
                    json={
                        "data": None,
                        "total": 0,
                        "limit": 0,
                        "offset": 0,
                        "errors": [{"code": 404, "msg": "trace not found"}],
                    },
                )
            return httpx.Response(200, json={"data": [doc], "total": 0, "limit": 0, "offset": 0, "errors": None})
        return httpx.Response(404, text="404 page not found\n", headers={"content-type": "text/plain"})

    def _tempo(self, request: httpx.Request) -> httpx.Response:
        path, q = request.url.path, request.url.params
        not_found = httpx.Response(404, text="trace not found", headers={"content-type": "text/plain"})
        if match := re.fullmatch(r"/api/v2/traces/([0-9a-f]+)", path):
            if self.no_v2:
                return httpx.Response(404, text="404 page not found\n", headers={"content-type": "text/plain"})
            trace_id = match.group(1).rjust(32, "0")
            if trace_id not in self.traces.spans:
                return not_found
            if self.protobuf and "protobuf" in request.headers.get("accept", ""):
                # tempopb.TraceByIDResponse: field 1 the Trace (wire-compatible with the export request), 2 status
                trace = _protobuf(self.traces.otlp([trace_id]))
                body = b"\x0a" + _varint(len(trace)) + trace + b"\x10\x00"
                return httpx.Response(200, content=body, headers={"content-type": "application/protobuf"})
            return httpx.Response(200, json={"trace": self.traces.otlp([trace_id]), "status": "COMPLETE"})
        if match := re.fullmatch(r"/api/traces/([0-9a-f]+)", path):
            trace_id = match.group(1).rjust(32, "0")
            if trace_id not in self.traces.spans:
                return not_found
            doc = self.traces.otlp([trace_id])
            if self.protobuf and "protobuf" in request.headers.get("accept", ""):
                return httpx.Response(200, content=_protobuf(doc), headers={"content-type": "application/protobuf"})
            return httpx.Response(200, json={"batches": doc["resourceSpans"]})
        if path == "/api/search":
            start, end = int(q["start"]) * 1_000_000_000, int(q["end"]) * 1_000_000_000
            wanted = dict(re.findall(r'\.([\w.]+) = "((?:[^"\\]|\\.)*)"', q["q"]))
            service = re.search(r'resource\.service\.name = "([^"]*)"', q["q"])
            hits = []
            for t in self.traces.matching(service.group(1) if service else None, start, end, {}):
                if "session.id" in wanted and not any(
                    v in self.traces.attribute_values(t, k) for k, v in wanted.items()
                ):
                    continue
                hits.append(t)
            rows = [
                {
                    "traceID": t.lstrip("0"),
                    "rootServiceName": "shop",
                    "startTimeUnixNano": str(self.traces.start_ns(t)),
                    "durationMs": 1,
                }
                for t in hits[: int(q["limit"])]
            ]
            return httpx.Response(200, json={"traces": rows, "metrics": {"inspectedTraces": len(self.traces.spans)}})
        return httpx.Response(404, text="404 page not found\n", headers={"content-type": "text/plain"})


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _protobuf(doc: dict[str, Any]) -> bytes:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    return json_format.ParseDict(doc, ExportTraceServiceRequest()).SerializeToString()


@contextmanager
def serve_on_socket(handler: Handler) -> Iterator[str]:
    """`handler` behind a real HTTP server on 127.0.0.1; yields its base URL (host:port)."""

    class Adapter(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            request = httpx.Request("GET", f"http://{self.headers['host']}{self.path}", headers=dict(self.headers))
            response = handler(request)
            body = response.read()
            self.send_response(response.status_code)
            for key, value in response.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "content-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Adapter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
