"""Read a recording's spans straight from its bytes, with none of mcp-sessions' parsers.

The property suite compares what the tools say against this. It reads only what the formats'
own specifications define (OTLP JSON and protobuf, Zipkin v2, Jaeger query JSON, HAR 1.2), in
the plainest way, so a parser bug cannot hide behind itself. A span whose end is not recorded
(Zipkin without `duration`, OTLP `endTimeUnixNano` 0 or absent) has `end_ns = None`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RawSpan:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    service: str | None
    kind: str | None
    start_ns: int
    end_ns: int | None
    error: bool  # error status (OTLP status 2, Zipkin `error` tag, Jaeger error=true)
    exception: bool  # an exception event / log on the span
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_ns(self) -> int | None:
        return None if self.end_ns is None else self.end_ns - self.start_ns


@dataclass(frozen=True)
class RawEntry:
    """One HAR entry."""

    method: str
    url: str
    status: int
    time_ms: float
    started: str


@dataclass
class RawRecording:
    spans: list[RawSpan] = field(default_factory=list)
    entries: list[RawEntry] = field(default_factory=list)
    browser_events: int = 0  # rrweb events

    def traces(self) -> dict[str, list[RawSpan]]:
        out: dict[str, list[RawSpan]] = defaultdict(list)
        for span in self.spans:
            out[span.trace_id].append(span)
        return dict(out)


def _hex(value: str, width: int) -> str:
    """An id as the data model spells it: lowercase hex, left-padded; base64 ids (a protobuf-JSON
    mapper's) decoded; an id that is neither is hashed, the documented convention (DESIGN.md)."""
    text = value.strip().lower()
    if text and len(text) <= width and all(c in "0123456789abcdef" for c in text):
        return text.rjust(width, "0")
    try:
        decoded = base64.b64decode(value, validate=True)
    except ValueError:
        decoded = b""
    if len(decoded) in (8, 16):
        return decoded.hex().rjust(width, "0")
    return hashlib.blake2b(value.strip().encode(), digest_size=width // 2).hexdigest()


def _any_value(value: dict[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])
    if "arrayValue" in value:
        return [_any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return {kv["key"]: _any_value(kv.get("value", {})) for kv in value["kvlistValue"].get("values", [])}
    return None


def _attrs(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {kv["key"]: _any_value(kv.get("value") or {}) for kv in items or []}


_OTLP_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def _otlp_json(doc: dict[str, Any]) -> list[RawSpan]:
    out = []
    for rs in doc.get("resourceSpans") or []:
        resource = _attrs((rs.get("resource") or {}).get("attributes"))
        for ss in (rs.get("scopeSpans") or []) + (rs.get("instrumentationLibrarySpans") or []):
            for s in ss.get("spans") or []:
                end = int(s.get("endTimeUnixNano") or 0)
                given = s.get("kind", 0)
                kind = given.removeprefix("SPAN_KIND_").lower() if isinstance(given, str) else _OTLP_KINDS.get(given)
                code = (s.get("status") or {}).get("code", 0)
                out.append(
                    RawSpan(
                        trace_id=_hex(s["traceId"], 32),
                        span_id=_hex(s["spanId"], 16),
                        parent_id=_hex(s["parentSpanId"], 16) if s.get("parentSpanId") else None,
                        name=s.get("name", ""),
                        service=resource.get("service.name"),
                        kind=kind,
                        start_ns=int(s.get("startTimeUnixNano") or 0),
                        end_ns=end or None,
                        error=code in (2, "STATUS_CODE_ERROR"),
                        exception=any(e.get("name") == "exception" for e in s.get("events") or []),
                        attributes=_attrs(s.get("attributes")),
                    )
                )
    return out


def _otlp_proto(body: bytes) -> list[RawSpan]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    def value(v: AnyValue) -> Any:
        which = v.WhichOneof("value")
        if which == "array_value":
            return [value(x) for x in v.array_value.values]
        if which == "kvlist_value":
            return {kv.key: value(kv.value) for kv in v.kvlist_value.values}
        return getattr(v, which) if which else None

    out = []
    request = ExportTraceServiceRequest.FromString(body)
    for rs in request.resource_spans:
        resource = {kv.key: value(kv.value) for kv in rs.resource.attributes}
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(
                    RawSpan(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_id=s.parent_span_id.hex() or None,
                        name=s.name,
                        service=resource.get("service.name"),
                        kind=_OTLP_KINDS.get(s.kind),
                        start_ns=s.start_time_unix_nano,
                        end_ns=s.end_time_unix_nano or None,
                        error=s.status.code == 2,
                        exception=any(e.name == "exception" for e in s.events),
                        attributes={kv.key: value(kv.value) for kv in s.attributes},
                    )
                )
    return out


def _zipkin(spans: list[dict[str, Any]]) -> list[RawSpan]:
    out = []
    for s in spans:
        tags = s.get("tags") or {}
        start = int(s.get("timestamp") or 0) * 1000
        duration = s.get("duration")
        out.append(
            RawSpan(
                trace_id=_hex(s["traceId"], 32),
                span_id=_hex(s["id"], 16),
                parent_id=_hex(s["parentId"], 16) if s.get("parentId") else None,
                name=s.get("name") or "",
                service=(s.get("localEndpoint") or {}).get("serviceName"),
                kind=(s.get("kind") or "").lower() or None,
                start_ns=start,
                end_ns=start + int(duration) * 1000 if duration is not None else None,
                error="error" in tags,
                exception=False,
                attributes=dict(tags),
            )
        )
    return out


def _jaeger_trace(trace: dict[str, Any]) -> list[RawSpan]:
    processes = trace.get("processes") or {}
    out = []
    for s in trace.get("spans") or []:
        tags = {t["key"]: t.get("value") for t in s.get("tags") or []}
        process = s.get("process") or processes.get(s.get("processID"), {})
        parent = next((r["spanID"] for r in s.get("references") or [] if r.get("refType") == "CHILD_OF"), None)
        parent = parent or next((r["spanID"] for r in s.get("references") or []), None)
        start = int(s["startTime"]) * 1000
        out.append(
            RawSpan(
                trace_id=_hex(s.get("traceID") or trace["traceID"], 32),
                span_id=_hex(s["spanID"], 16),
                parent_id=_hex(parent, 16) if parent else None,
                name=s.get("operationName", ""),
                service=process.get("serviceName"),
                kind=tags.get("span.kind"),
                start_ns=start,
                end_ns=start + int(s.get("duration") or 0) * 1000,
                error=tags.get("error") in (True, "true"),
                exception=any(
                    any(f.get("key") == "event" and f.get("value") == "exception" for f in log.get("fields") or [])
                    for log in s.get("logs") or []
                ),
                attributes=tags,
            )
        )
    return out


def _har(doc: dict[str, Any]) -> list[RawEntry]:
    return [
        RawEntry(
            method=e["request"]["method"],
            url=e["request"]["url"],
            status=int(e["response"]["status"] or 0),
            time_ms=float(e.get("time") or 0),
            started=e.get("startedDateTime", ""),
        )
        for e in doc["log"].get("entries") or []
    ]


def _document(doc: Any, rec: RawRecording) -> None:
    if isinstance(doc, list):
        if doc and isinstance(doc[0], dict) and "traceId" in doc[0]:
            rec.spans += _zipkin(doc)
        elif doc and isinstance(doc[0], dict) and "type" in doc[0]:
            rec.browser_events += len(doc)
        return
    if not isinstance(doc, dict):
        return
    if "resourceSpans" in doc:
        rec.spans += _otlp_json(doc)
    elif "result" in doc and isinstance(doc["result"], dict):
        _document(doc["result"], rec)
    elif "data" in doc and isinstance(doc["data"], list):
        for trace in doc["data"]:
            rec.spans += _jaeger_trace(trace)
    elif "spans" in doc and "traceID" in doc:
        rec.spans += _jaeger_trace(doc)
    elif "traceId" in doc and "id" in doc:
        rec.spans += _zipkin([doc])
    elif "log" in doc and "entries" in doc.get("log", {}):
        rec.entries += _har(doc)
    elif "events" in doc and isinstance(doc["events"], list):
        rec.browser_events += len(doc["events"])


def read(path: Path) -> RawRecording:
    """Everything under `path` (a file, or a folder of captured bodies)."""
    rec = RawRecording()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        body = file.read_bytes()
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        body = body.removeprefix(b"\xef\xbb\xbf")
        try:
            docs = [json.loads(body)]
        except ValueError:
            try:
                docs = [json.loads(line) for line in body.splitlines() if line.strip()]
            except ValueError:
                rec.spans += _otlp_proto(body)
                continue
        for doc in docs:
            _document(doc, rec)
    # a span sent twice, byte for byte (an exporter's retry), is one span
    unique = {repr(s): s for s in rec.spans}
    rec.spans = list(unique.values())
    return rec
