"""OTLP/JSON: one ExportTraceServiceRequest / ExportLogsServiceRequest / metrics request.

Accepts what real exporters and tools emit besides the canonical shape: hex or base64 ids
in any case, int64 as string or number, enum numbers or names, the legacy
`instrumentationLibrarySpans` / `instrumentationLibraryLogs` spellings, Tempo's
`batches` for `resourceSpans`, and the `{"result": ...}` wrapper of Jaeger's API v3.
Unknown fields are ignored. Metrics are counted and skipped.

Times must lie in the range `coerce` stores (a field beyond it is named in the error). A
broken span or log record fails the whole request, as a file should; with `isolate` (the
receiver) it becomes a `SkippedRecords("rejected span" | "rejected log", 1, reason)` and
its neighbours are kept, as the protobuf reader does.
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Iterator
from typing import Any

from mcp_sessions.errors import MalformedInputError
from mcp_sessions.formats.coerce import (
    MAX_TIME_NS,
    SPAN_ID_HEX,
    TRACE_ID_HEX,
    enum_value,
    expect_dict,
    expect_list,
    normalize_id,
    to_int,
    to_time_ns,
)
from mcp_sessions.model import LogRecord, Record, SkippedRecords, Span, SpanEvent, SpanLink

_KIND_NAMES = {
    "unspecified": "unspecified",
    "internal": "internal",
    "server": "server",
    "client": "client",
    "producer": "producer",
    "consumer": "consumer",
}
_KIND_NUMBERS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS_NAMES = {"unset": "unset", "ok": "ok", "error": "error"}
_STATUS_NUMBERS = {0: "unset", 1: "ok", 2: "error"}

TRACE_KEYS = ("resourceSpans", "batches")
LOG_KEYS = ("resourceLogs",)
METRIC_KEYS = ("resourceMetrics",)


def looks_like_otlp(doc: Any) -> bool:
    """True when a decoded JSON document is an OTLP export request (or Jaeger v3's wrapper)."""
    if not isinstance(doc, dict):
        return False
    if isinstance(doc.get("result"), dict):
        doc = doc["result"]
    return any(key in doc for key in (*TRACE_KEYS, *LOG_KEYS, *METRIC_KEYS))


def parse_request(doc: Any, where: str = "", *, isolate: bool = False) -> Iterator[Record]:
    """Yield the spans, log records and skipped-metric counts of one export request.

    With `isolate`, a malformed span or log record is yielded as a rejected count instead of
    failing the request (see the module docstring).
    """
    if not isinstance(doc, dict):
        raise MalformedInputError(f"{where or 'document'}: expected an OTLP export object")
    if isinstance(doc.get("result"), dict):
        doc = doc["result"]
        where = f"{where}result." if where else "result."
    for key in TRACE_KEYS:
        for i, resource_spans in enumerate(expect_list(doc.get(key), f"{where}{key}")):
            yield from _resource_spans(resource_spans, f"{where}{key}[{i}]", isolate)
    for key in LOG_KEYS:
        for i, resource_logs in enumerate(expect_list(doc.get(key), f"{where}{key}")):
            yield from _resource_logs(resource_logs, f"{where}{key}[{i}]", isolate)
    for key in METRIC_KEYS:
        count = 0
        for i, resource_metrics in enumerate(expect_list(doc.get(key), f"{where}{key}")):
            resource_metrics = expect_dict(resource_metrics, f"{where}{key}[{i}]")
            for scope_key in ("scopeMetrics", "instrumentationLibraryMetrics"):
                for scope_metrics in expect_list(resource_metrics.get(scope_key), f"{where}{key}[{i}].{scope_key}"):
                    count += len(expect_list(expect_dict(scope_metrics, scope_key).get("metrics"), scope_key))
        if count:
            yield SkippedRecords("metric", count)


def any_value(value: Any) -> Any:
    """Decode an OTLP AnyValue into a plain JSON value (a plain value passes through)."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        raw = value["intValue"]
        try:
            return int(raw)
        except (TypeError, ValueError):
            return raw
    if "doubleValue" in value:
        raw = value["doubleValue"]
        try:
            return float(raw)
        except (TypeError, ValueError):
            return raw
    if "arrayValue" in value:
        values = _values(value["arrayValue"])
        return [any_value(v) for v in values] if isinstance(values, list) else []
    if "kvlistValue" in value:
        values = _values(value["kvlistValue"])
        return attributes(values, "kvlistValue") if isinstance(values, list) else {}
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _values(container: Any) -> Any:
    """`{"values": [...]}` as the spec writes it, or the bare list some encoders emit."""
    return container.get("values") if isinstance(container, dict) else container


def attributes(items: Any, where: str) -> dict[str, Any]:
    """A KeyValue list (or, leniently, an already-flat object) as a dict."""
    if items is None:
        return {}
    if isinstance(items, dict):
        return {str(k): any_value(v) for k, v in items.items()}
    if not isinstance(items, list):
        raise MalformedInputError(f"{where}: expected a list of key/value pairs")
    out: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict) and "key" in item:
            key = item["key"]
            value = item.get("value")
            # Most values are strings: skip the call for them (any_value reads stringValue first too).
            text = value.get("stringValue", _ABSENT) if type(value) is dict else _ABSENT
            out[key if type(key) is str else str(key)] = text if text is not _ABSENT else any_value(value)
    return out


def _resource(container: dict[str, Any], where: str) -> dict[str, Any]:
    resource = expect_dict(container.get("resource"), f"{where}.resource")
    return attributes(resource.get("attributes"), f"{where}.resource.attributes")


def _scope_name(scope_container: dict[str, Any]) -> str | None:
    scope = scope_container.get("scope") or scope_container.get("instrumentationLibrary")
    if isinstance(scope, dict) and scope.get("name"):
        version = scope.get("version")
        return f"{scope['name']}@{version}" if version else str(scope["name"])
    return None


def _resource_spans(container: Any, where: str, isolate: bool = False) -> Iterator[Span | SkippedRecords]:
    container = expect_dict(container, where)
    resource = _resource(container, where)
    for scope_key in ("scopeSpans", "instrumentationLibrarySpans"):
        for j, scope_spans in enumerate(expect_list(container.get(scope_key), f"{where}.{scope_key}")):
            scope_where = f"{where}.{scope_key}[{j}]"
            scope_spans = expect_dict(scope_spans, scope_where)
            scope = _scope_name(scope_spans)
            for k, raw in enumerate(expect_list(scope_spans.get("spans"), f"{scope_where}.spans")):
                try:
                    yield _canonical_span(raw, resource, scope) or _span(
                        raw, resource, scope, f"{scope_where}.spans[{k}]"
                    )
                except MalformedInputError as exc:
                    if not isolate:
                        raise
                    yield SkippedRecords("rejected span", 1, reason=str(exc))


# ---- the canonical span, fast ------------------------------------------------------------
#
# Nearly every span an exporter writes has the canonical shape: string ids, int64 times as
# strings or numbers, a kind and status code in a common spelling, a list of attributes and
# no events or links. `_canonical_span` reads exactly those, without building the error
# paths (`where`) `_span` needs, and returns None for anything else: `_span` then reads the
# span (and names the field that is wrong). Both produce equal records for what
# `_canonical_span` accepts (tests/test_ingest_fast_paths.py checks it on mutated spans).

_ABSENT = object()
_NONE_LISTED: tuple[None, list[Any]] = (None, [])  # events / links: absent, null or an empty list
_NO_SPAN = "0" * SPAN_ID_HEX  # an all-zero parent id means no parent


def _spellings(names: dict[str, str], numbers: dict[int, str], prefix: str, default: str) -> dict[Any, str]:
    """The enum spellings seen in practice, each mapped by `enum_value` itself (so both paths agree)."""
    out: dict[Any, str] = {}
    for name in names:
        for spelling in (name, name.upper(), f"{prefix}{name}", f"{prefix}{name}".upper()):
            out[spelling] = enum_value(spelling, names, numbers, prefix, "", default)
    for number in numbers:
        out[number] = enum_value(number, names, numbers, prefix, "", default)
    return out


_KIND_SPELLINGS = _spellings(_KIND_NAMES, _KIND_NUMBERS, "span_kind_", "unspecified")
_STATUS_SPELLINGS = _spellings(_STATUS_NAMES, _STATUS_NUMBERS, "status_code_", "unset")


# The two spellings exporters use: lowercase hex of the full width, and (protobuf JSON mapping) the
# id's bytes in padded base64. Either maps to the id exactly as normalize_id maps it.
_LOWER_HEX = re.compile(r"[0-9a-f]+")
_BASE64_ID = {
    TRACE_ID_HEX: re.compile(r"[A-Za-z0-9+/]{22}=="),  # 16 bytes
    SPAN_ID_HEX: re.compile(r"[A-Za-z0-9+/]{11}="),  # 8 bytes
}


@functools.lru_cache(maxsize=1 << 14)
def _hex_id(value: str, width: int) -> str:
    """normalize_id of a string id, memoised: a trace id recurs in every span of its trace, a span id as its
    children's parent. Raises MalformedInputError like normalize_id (never cached)."""
    if len(value) == width and _LOWER_HEX.fullmatch(value):
        return value
    if _BASE64_ID[width].fullmatch(value):
        return binascii.a2b_base64(value).hex()
    return normalize_id(value, width, "id")  # type: ignore[return-value]  # never None when not optional


def _canonical_span(raw: Any, resource: dict[str, Any], scope: str | None) -> Span | None:
    """The span, if it has the canonical shape (see above); None sends it to `_span`."""
    if type(raw) is not dict or raw.get("events") not in _NONE_LISTED:
        return None
    if raw.get("links") not in _NONE_LISTED:
        return None
    trace_id, span_id, parent_id = raw.get("traceId"), raw.get("spanId"), raw.get("parentSpanId")
    start, end = raw.get("startTimeUnixNano"), raw.get("endTimeUnixNano")
    kind, status = raw.get("kind"), raw.get("status")
    items = raw.get("attributes")
    if (
        type(trace_id) is not str
        or type(span_id) is not str
        or not (parent_id is None or type(parent_id) is str)
        or not (type(start) is str or type(start) is int)
        or not (type(end) is str or type(end) is int)
        or not (kind is None or type(kind) is str or type(kind) is int)
        or not (status is None or type(status) is dict)
        or not (items is None or type(items) is list)
    ):
        return None
    kind = _KIND_SPELLINGS.get(kind, None) if kind is not None else "unspecified"
    code = status.get("code") if status else None
    if not (code is None or type(code) is str or type(code) is int):
        return None
    status_code = _STATUS_SPELLINGS.get(code) if code is not None else "unset"
    if kind is None or status_code is None or not trace_id or not span_id:
        return None
    try:
        start_ns = int(start) if start != "" else 0
        end_ns = int(end) if end != "" else start_ns
        trace_hex = _hex_id(trace_id, TRACE_ID_HEX)
        span_hex = _hex_id(span_id, SPAN_ID_HEX)
        parent_hex = _hex_id(parent_id, SPAN_ID_HEX) if parent_id else None
    except (ValueError, MalformedInputError):
        return None
    if not (0 <= start_ns <= MAX_TIME_NS and 0 <= end_ns <= MAX_TIME_NS):
        return None  # `_span` names the field that is out of range
    if parent_hex == _NO_SPAN:
        parent_hex = None
    message = status.get("message") if status else None
    return Span(
        trace_id=trace_hex,
        span_id=span_hex,
        parent_span_id=parent_hex,
        name=str(raw.get("name") or ""),
        kind=kind,  # type: ignore[arg-type]
        start_ns=start_ns,
        end_ns=max(start_ns, end_ns),
        end_known=end != "" and end_ns > 0 and end_ns >= start_ns,
        status_code=status_code,  # type: ignore[arg-type]
        status_message=str(message) if message else None,
        attributes=attributes(items, "attributes") if items else {},
        resource=resource,
        scope=scope,
    )


def _span(raw: Any, resource: dict[str, Any], scope: str | None, where: str) -> Span:
    raw = expect_dict(raw, where)
    # The protobuf JSON mapping omits zero values, so an absent time is 0, not an error.
    start = to_time_ns(raw.get("startTimeUnixNano"), f"{where}.startTimeUnixNano", default=0) or 0
    end = to_time_ns(raw.get("endTimeUnixNano"), f"{where}.endTimeUnixNano", default=0)
    status = expect_dict(raw.get("status"), f"{where}.status")
    status_code = enum_value(
        status.get("code"), _STATUS_NAMES, _STATUS_NUMBERS, "status_code_", f"{where}.status.code", "unset"
    )
    events = tuple(
        SpanEvent(
            time_ns=to_time_ns(ev.get("timeUnixNano"), f"{where}.events[{n}].timeUnixNano", default=start) or start,
            name=str(ev.get("name") or ""),
            attributes=attributes(ev.get("attributes"), f"{where}.events[{n}].attributes"),
        )
        for n, ev in enumerate(expect_list(raw.get("events"), f"{where}.events"))
        if isinstance(ev, dict)
    )
    links = tuple(
        SpanLink(
            trace_id=normalize_id(link.get("traceId"), TRACE_ID_HEX, f"{where}.links[{n}].traceId") or "",
            span_id=normalize_id(link.get("spanId"), SPAN_ID_HEX, f"{where}.links[{n}].spanId") or "",
            attributes=attributes(link.get("attributes"), f"{where}.links[{n}].attributes"),
        )
        for n, link in enumerate(expect_list(raw.get("links"), f"{where}.links"))
        if isinstance(link, dict) and link.get("traceId") and link.get("spanId")
    )
    return Span(
        trace_id=normalize_id(raw.get("traceId"), TRACE_ID_HEX, f"{where}.traceId") or "",
        span_id=normalize_id(raw.get("spanId"), SPAN_ID_HEX, f"{where}.spanId") or "",
        parent_span_id=normalize_id(raw.get("parentSpanId"), SPAN_ID_HEX, f"{where}.parentSpanId", optional=True),
        name=str(raw.get("name") or ""),
        kind=enum_value(raw.get("kind"), _KIND_NAMES, _KIND_NUMBERS, "span_kind_", f"{where}.kind", "unspecified"),  # type: ignore[arg-type]
        start_ns=start,
        end_ns=max(start, end or 0),
        end_known=bool(end) and (end or 0) >= start,
        status_code=status_code,  # type: ignore[arg-type]
        status_message=str(status["message"]) if status.get("message") else None,
        attributes=attributes(raw.get("attributes"), f"{where}.attributes"),
        resource=resource,
        scope=scope,
        events=events,
        links=links,
    )


def _resource_logs(container: Any, where: str, isolate: bool = False) -> Iterator[LogRecord | SkippedRecords]:
    container = expect_dict(container, where)
    resource = _resource(container, where)
    for scope_key in ("scopeLogs", "instrumentationLibraryLogs"):
        for j, scope_logs in enumerate(expect_list(container.get(scope_key), f"{where}.{scope_key}")):
            scope_where = f"{where}.{scope_key}[{j}]"
            scope_logs = expect_dict(scope_logs, scope_where)
            scope = _scope_name(scope_logs)
            for k, raw in enumerate(expect_list(scope_logs.get("logRecords"), f"{scope_where}.logRecords")):
                try:
                    yield _log_record(raw, resource, scope, f"{scope_where}.logRecords[{k}]")
                except MalformedInputError as exc:
                    if not isolate:
                        raise
                    yield SkippedRecords("rejected log", 1, reason=str(exc))


def _log_record(raw: Any, resource: dict[str, Any], scope: str | None, where: str) -> LogRecord:
    raw = expect_dict(raw, where)
    observed = to_time_ns(raw.get("observedTimeUnixNano"), f"{where}.observedTimeUnixNano")
    time_ns = to_time_ns(raw.get("timeUnixNano"), f"{where}.timeUnixNano") or observed
    if not time_ns:
        raise MalformedInputError(f"{where}: neither timeUnixNano nor observedTimeUnixNano is set")
    severity = raw.get("severityNumber")
    if isinstance(severity, str) and not severity.strip().isdigit():
        severity_number = _SEVERITY_NAMES.get(severity.strip().upper().removeprefix("SEVERITY_NUMBER_"))
    else:
        severity_number = to_int(severity, f"{where}.severityNumber")
    return LogRecord(
        time_ns=time_ns,
        observed_time_ns=observed,
        severity_number=severity_number,
        severity_text=str(raw["severityText"]) if raw.get("severityText") else None,
        body=any_value(raw.get("body")),
        attributes=attributes(raw.get("attributes"), f"{where}.attributes"),
        resource=resource,
        scope=scope,
        trace_id=normalize_id(raw.get("traceId"), TRACE_ID_HEX, f"{where}.traceId", optional=True),
        span_id=normalize_id(raw.get("spanId"), SPAN_ID_HEX, f"{where}.spanId", optional=True),
        # `name` is the field's spelling before it became `eventName`.
        event_name=str(raw.get("eventName") or raw.get("name") or "") or None,
    )


_SEVERITY_NAMES = {
    name: number
    for number, name in enumerate(
        [
            "UNSPECIFIED",
            "TRACE",
            "TRACE2",
            "TRACE3",
            "TRACE4",
            "DEBUG",
            "DEBUG2",
            "DEBUG3",
            "DEBUG4",
            "INFO",
            "INFO2",
            "INFO3",
            "INFO4",
            "WARN",
            "WARN2",
            "WARN3",
            "WARN4",
            "ERROR",
            "ERROR2",
            "ERROR3",
            "ERROR4",
            "FATAL",
            "FATAL2",
            "FATAL3",
            "FATAL4",
        ]
    )
}
