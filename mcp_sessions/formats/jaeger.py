"""Jaeger JSON: the query API's `/api/traces` model, as the Jaeger UI downloads it.

Accepted shapes (unknown fields are ignored everywhere):

    {"data": [trace, ...], "total": 0, "limit": 0, "offset": 0, "errors": null}   query API envelope
    {"traceID": "...", "spans": [...], "processes": {...}}                        one trace (UI download)
    [trace, ...]                                                                  a bare list of traces

A trace is `{"traceID", "spans": [...], "processes": {"p1": {"serviceName", "tags"}}}`. The
jaeger-ui enriched model adds `depth`, `hasChildren`, `childSpanIds`, `relativeStartTime`,
an inline `process` on each span and the referenced span nested in `references[].span`;
only the fields below are read, so both models parse alike.

Quirks handled:
- `startTime`, `duration` and log `timestamp` are MICROseconds (OTLP uses nanoseconds).
- Ids are hex, 64-bit ids left-padded to the OTLP width. Ids that are not hex at all
  (jaeger-ui's test traces use "span-1") are replaced by a stable hash so references still
  resolve within the file.
- The parent is the first CHILD_OF reference within the same trace, else the first
  FOLLOWS_FROM one (kept as a link too, so the causal hint survives), else the older
  `parentSpanID` field. Every other reference becomes a SpanLink carrying
  `opentracing.ref_type`, as the OpenTelemetry Collector's Jaeger receiver does.
- Tags are typed `{"key", "type", "value"}` with int64 sometimes a string and bool
  sometimes "true". `span.kind`, `otel.status_code` and `otel.status_description` become
  kind and status and leave the attributes; `error` sets the status and stays;
  `otel.scope.name`/`version` (or the older `otel.library.*`) name the scope.
- Logs become span events named by their `event` field (which then leaves the
  attributes, as OTLP→Jaeger added it), else `message`, else "log".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

from mcp_sessions.errors import MalformedInputError
from mcp_sessions.formats.coerce import SPAN_ID_HEX, TRACE_ID_HEX, expect_dict, expect_list, normalize_id, to_int
from mcp_sessions.model import Span, SpanEvent, SpanKind, SpanLink, StatusCode

_HEX = re.compile(r"\A[0-9a-fA-F]+\Z")
_KINDS: dict[str, SpanKind] = {
    "server": "server",
    "client": "client",
    "producer": "producer",
    "consumer": "consumer",
    "internal": "internal",
}
_ENVELOPE_KEYS = ("total", "limit", "offset", "errors")
# Tags that only carry what Span already holds in its own fields.
_LIFTED_TAGS = ("span.kind", "otel.status_code", "otel.status_description")


def looks_like_jaeger(doc: Any) -> bool:
    """True for a query envelope, a single trace or a list of traces in Jaeger's JSON model."""
    if isinstance(doc, list):
        return bool(doc) and _is_trace(doc[0])
    if not isinstance(doc, dict):
        return False
    if _is_trace(doc):
        return True
    data = doc.get("data")
    if isinstance(data, list):
        return _is_trace(data[0]) if data else any(key in doc for key in _ENVELOPE_KEYS)
    return False


def _is_trace(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("spans"), list) and "traceID" in value


def parse(doc: Any) -> Iterator[Span]:
    """Yield every span of a Jaeger JSON document (see the module docstring for the shapes)."""
    if isinstance(doc, list):
        for i, trace in enumerate(doc):
            yield from _trace(trace, f"[{i}]")
        return
    doc = expect_dict(doc, "document")
    if "spans" in doc:
        yield from _trace(doc, "")
        return
    data = expect_list(doc.get("data"), "data")
    errors = [e for e in expect_list(doc.get("errors"), "errors") if e]
    if not data and errors:
        first = errors[0].get("msg") if isinstance(errors[0], dict) else errors[0]
        raise MalformedInputError(f"errors: the Jaeger query returned no traces but an error: {str(first)[:200]}")
    for i, trace in enumerate(data):
        yield from _trace(trace, f"data[{i}]")


def _trace(raw: Any, where: str) -> Iterator[Span]:
    trace = expect_dict(raw, where or "document")
    prefix = f"{where}." if where else ""
    processes = expect_dict(trace.get("processes"), f"{prefix}processes")
    resources: dict[str, dict[str, Any]] = {}
    for process_id, process in processes.items():
        resources[process_id] = _resource(process, f"{prefix}processes.{process_id}")
    trace_id = trace.get("traceID")
    for i, span in enumerate(expect_list(trace.get("spans"), f"{prefix}spans")):
        yield _span(span, trace_id, resources, f"{prefix}spans[{i}]")


def _resource(raw: Any, where: str) -> dict[str, Any]:
    process = expect_dict(raw, where)
    resource = typed_tags(process.get("tags"), f"{where}.tags")
    if process.get("serviceName"):
        resource["service.name"] = str(process["serviceName"])
    return resource


def _span(raw: Any, trace_id: Any, resources: dict[str, dict[str, Any]], where: str) -> Span:
    span = expect_dict(raw, where)
    trace = jaeger_id(span.get("traceID") or trace_id, TRACE_ID_HEX, f"{where}.traceID") or ""
    span_id = jaeger_id(span.get("spanID"), SPAN_ID_HEX, f"{where}.spanID") or ""
    start_us = to_int(span.get("startTime"), f"{where}.startTime")
    if start_us is None:
        raise MalformedInputError(f"{where}.startTime: missing; a Jaeger span needs its start time")
    duration_us = to_int(span.get("duration"), f"{where}.duration", default=0) or 0
    parent, links = _parent_and_links(span, trace, where)

    tags = typed_tags(span.get("tags"), f"{where}.tags")
    kind = _KINDS.get(str(tags.get("span.kind", "")).lower(), "unspecified")
    status_code, status_message = _status(tags)
    attributes = {k: v for k, v in tags.items() if k not in _LIFTED_TAGS}

    process_id = span.get("processID")
    if isinstance(process_id, str) and process_id in resources:
        resource = resources[process_id]
    else:
        resource = _resource(span.get("process"), f"{where}.process")
    return Span(
        trace_id=trace,
        span_id=span_id,
        parent_span_id=parent,
        name=str(span.get("operationName") or ""),
        kind=kind,
        start_ns=start_us * 1000,
        end_ns=(start_us + max(0, duration_us)) * 1000,
        end_known=span.get("duration") not in (None, ""),
        status_code=status_code,
        status_message=status_message,
        attributes=attributes,
        resource=resource,
        scope=_scope(tags),
        events=tuple(_event(log, start_us, f"{where}.logs[{n}]") for n, log in enumerate(_list(span, "logs", where))),
        links=tuple(links),
    )


def _list(span: dict[str, Any], key: str, where: str) -> list[Any]:
    return expect_list(span.get(key), f"{where}.{key}")


def _parent_and_links(span: dict[str, Any], trace_id: str, where: str) -> tuple[str | None, list[SpanLink]]:
    refs: list[tuple[str, str, str]] = []  # (ref type, trace id, span id)
    for n, raw in enumerate(_list(span, "references", where)):
        ref = expect_dict(raw, f"{where}.references[{n}]")
        ref_trace = jaeger_id(ref.get("traceID") or trace_id, TRACE_ID_HEX, f"{where}.references[{n}].traceID")
        ref_span = jaeger_id(ref.get("spanID"), SPAN_ID_HEX, f"{where}.references[{n}].spanID", optional=True)
        if ref_trace and ref_span:
            refs.append((str(ref.get("refType") or "CHILD_OF").upper(), ref_trace, ref_span))
    chosen: int | None = None
    for wanted in ("CHILD_OF", "FOLLOWS_FROM"):
        chosen = next((i for i, (kind, t, _) in enumerate(refs) if kind == wanted and t == trace_id), None)
        if chosen is not None:
            break
    parent = refs[chosen][2] if chosen is not None else None
    if parent is None:
        parent = jaeger_id(span.get("parentSpanID"), SPAN_ID_HEX, f"{where}.parentSpanID", optional=True)
    links = [
        SpanLink(trace_id=t, span_id=s, attributes={"opentracing.ref_type": kind.lower()})
        for i, (kind, t, s) in enumerate(refs)
        if i != chosen or kind == "FOLLOWS_FROM"
    ]
    return parent, links


def _status(tags: dict[str, Any]) -> tuple[StatusCode, str | None]:
    otel_code = str(tags.get("otel.status_code", "")).strip().lower()
    error = tags.get("error")
    is_error = otel_code == "error" or error is True or (isinstance(error, str) and error.strip().lower() == "true")
    code: StatusCode = "error" if is_error else "ok" if otel_code == "ok" else "unset"
    description = tags.get("otel.status_description")
    return code, str(description) if description not in (None, "") else None


def _scope(tags: dict[str, Any]) -> str | None:
    for family in ("otel.scope", "otel.library"):
        name = tags.get(f"{family}.name")
        if name:
            version = tags.get(f"{family}.version")
            return f"{name}@{version}" if version else str(name)
    return None


def _event(raw: Any, span_start_us: int, where: str) -> SpanEvent:
    log = expect_dict(raw, where)
    time_us = to_int(log.get("timestamp"), f"{where}.timestamp", default=span_start_us)
    fields = typed_tags(log.get("fields"), f"{where}.fields")
    name = fields.pop("event", None)
    if name in (None, ""):
        name = fields.get("message") or "log"
    return SpanEvent(time_ns=(time_us or 0) * 1000, name=str(name), attributes=fields)


def typed_tags(items: Any, where: str) -> dict[str, Any]:
    """Jaeger's typed tags (`[{"key", "type", "value"}]`) as plain values; a flat object passes."""
    if isinstance(items, dict):
        return {str(k): v for k, v in items.items()}
    out: dict[str, Any] = {}
    for n, item in enumerate(expect_list(items, where)):
        tag = expect_dict(item, f"{where}[{n}]")
        if "key" in tag:
            out[str(tag["key"])] = _tag_value(str(tag.get("type") or "").lower(), tag.get("value"))
    return out


def _tag_value(kind: str, value: Any) -> Any:
    """Coerce a tag to its declared type; a value that does not fit is kept as sent."""
    if kind == "bool" and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if kind == "int64" and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return value
    if kind == "float64" and isinstance(value, str | int) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def jaeger_id(value: Any, width: int, where: str, *, optional: bool = False) -> str | None:
    """A hex id as normalize_id makes it; signed int64 ids wrap, non-hex strings are hashed."""
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        value += 1 << 64  # Jaeger's Thrift ids are signed int64
    if isinstance(value, str) and value.strip() and not _HEX.match(value.strip()):
        return hashlib.blake2b(value.strip().encode(), digest_size=width // 2).hexdigest()
    return normalize_id(value, width, where, optional=optional)
