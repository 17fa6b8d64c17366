"""OTLP/protobuf: export requests for traces, logs and metrics, from bytes or decoded messages.

Converts straight from the generated protobuf objects (no MessageToDict/JSON detour, which
is several times slower) into exactly the records `otlp_json` yields for the same data:
ids as lowercase hex, enum numbers mapped to the same kind/status names, an AnyValue's
bytes as base64 text (what the protobuf JSON mapping carries), scope as "name@version",
zero-valued optional fields as None (the JSON mapping omits them).

Ambiguity, and how it is handled:

- The bytes carry no type tag. All three request types put their payload in field 1, so
  a logs request decodes without error as a traces request whose spans have empty ids.
  These functions trust the caller about which request the bytes hold (an OTLP/HTTP path
  says so); `detect.py` decides for files by checking what the decoded message holds.
- Binary ids have exact widths. A span whose trace_id is not 16 bytes, span_id not 8, or
  parent_span_id neither empty nor 8 is rejected alone: it is not yielded, and
  `SkippedRecords("rejected span", 1, reason=...)` is yielded in its place, so its siblings
  survive and an OTLP/HTTP receiver can answer with a partial success. Log records carry
  optional ids, so only a wrong non-empty width (or no timestamp at all) rejects one
  ("rejected log"). Link ids are read as leniently as the JSON path reads them.
- Times are unsigned 64-bit on the wire; a span or log record with a time beyond the
  range `coerce` stores (2^64-1 is a common poison value) is rejected alone the same way,
  its reason naming the field and the value.
- Bytes that do not decode at all raise MalformedInputError when the function is called,
  before any record is produced.
- The deprecated `instrumentation_library_*` fields are read when the installed
  opentelemetry-proto still defines them; newer versions dropped them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from mcp_sessions.errors import MalformedInputError
from mcp_sessions.formats.coerce import time_problem
from mcp_sessions.model import LogRecord, Record, SkippedRecords, Span, SpanEvent, SpanKind, SpanLink, StatusCode

TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8

_KINDS: dict[int, SpanKind] = {
    0: "unspecified",
    1: "internal",
    2: "server",
    3: "client",
    4: "producer",
    5: "consumer",
}
_STATUSES: dict[int, StatusCode] = {0: "unset", 1: "ok", 2: "error"}


def _has_field(message_class: type[Message], name: str) -> bool:
    return name in message_class.DESCRIPTOR.fields_by_name


# Field names in the current schema first, then the deprecated ones this proto version still has.
_SCOPE_SPANS_FIELDS = tuple(
    name for name in ("scope_spans", "instrumentation_library_spans") if _has_field(trace_pb2.ResourceSpans, name)
)
_SCOPE_LOGS_FIELDS = tuple(
    name for name in ("scope_logs", "instrumentation_library_logs") if _has_field(logs_pb2.ResourceLogs, name)
)
_SCOPE_METRICS_FIELDS = tuple(
    name
    for name in ("scope_metrics", "instrumentation_library_metrics")
    if _has_field(metrics_pb2.ResourceMetrics, name)
)
# `event_name` is recent (proto 1.5); `name` was its spelling in early log schemas.
_LOG_EVENT_NAME_FIELDS = tuple(name for name in ("event_name", "name") if _has_field(logs_pb2.LogRecord, name))


def traces_from_bytes(data: bytes) -> Iterator[Record]:
    """The spans of a serialized ExportTraceServiceRequest (see the module docstring for rejects)."""
    return traces_from_message(_decode(ExportTraceServiceRequest, data, "traces"))


def logs_from_bytes(data: bytes) -> Iterator[Record]:
    """The log records of a serialized ExportLogsServiceRequest (see the module docstring for rejects)."""
    return logs_from_message(_decode(ExportLogsServiceRequest, data, "logs"))


def metrics_from_bytes(data: bytes) -> Iterator[Record]:
    """One SkippedRecords("metric", n) for a serialized ExportMetricsServiceRequest with n > 0 metrics."""
    request = _decode(ExportMetricsServiceRequest, data, "metrics")
    count = sum(
        len(scope_metrics.metrics)
        for resource_metrics in request.resource_metrics
        for _, _, scope_metrics in _scope_groups(resource_metrics, _SCOPE_METRICS_FIELDS)
    )
    return iter([SkippedRecords("metric", count)] if count else [])


def traces_from_message(msg: ExportTraceServiceRequest) -> Iterator[Record]:
    """Spans of a decoded request; a span with malformed ids becomes a "rejected span" count."""
    for i, resource_spans in enumerate(msg.resource_spans):
        resource = _attributes(resource_spans.resource.attributes)
        for field_name, j, scope_spans in _scope_groups(resource_spans, _SCOPE_SPANS_FIELDS):
            scope = _scope_name(scope_spans)
            for k, raw in enumerate(scope_spans.spans):
                problem = _span_id_problem(raw) or _span_time_problem(raw)
                if problem:
                    where = f"resource_spans[{i}].{field_name}[{j}].spans[{k}]"
                    yield SkippedRecords("rejected span", 1, reason=f"{where}: {problem}")
                else:
                    yield _span(raw, resource, scope)


def logs_from_message(msg: ExportLogsServiceRequest) -> Iterator[Record]:
    """Log records of a decoded request; a malformed record becomes a "rejected log" count."""
    for i, resource_logs in enumerate(msg.resource_logs):
        resource = _attributes(resource_logs.resource.attributes)
        for field_name, j, scope_logs in _scope_groups(resource_logs, _SCOPE_LOGS_FIELDS):
            scope = _scope_name(scope_logs)
            for k, raw in enumerate(scope_logs.log_records):
                problem = _log_problem(raw)
                if problem:
                    where = f"resource_logs[{i}].{field_name}[{j}].log_records[{k}]"
                    yield SkippedRecords("rejected log", 1, reason=f"{where}: {problem}")
                else:
                    yield _log_record(raw, resource, scope)


_M = TypeVar("_M", bound=Message)


def _decode(message_class: type[_M], data: bytes, what: str) -> _M:
    try:
        return message_class.FromString(data)
    except DecodeError:
        raise MalformedInputError(
            f"cannot decode {len(data)} bytes as an OTLP protobuf {message_class.__name__}; "
            f"send an uncompressed OTLP/protobuf {what} export request"
        ) from None


def _scope_groups(container: Message, field_names: Iterable[str]) -> Iterator[tuple[str, int, Any]]:
    """(field name, index, group) for every scope group, in current and deprecated fields alike."""
    for field_name in field_names:
        for index, group in enumerate(getattr(container, field_name)):
            yield field_name, index, group


def _scope_name(group: Any) -> str | None:
    """The "name@version" of a scope group's scope (or, in old exports, its instrumentation library)."""
    fields = group.DESCRIPTOR.fields_by_name
    for field_name in ("scope", "instrumentation_library"):
        if field_name in fields and group.HasField(field_name):
            scope = getattr(group, field_name)
            if not scope.name:
                return None
            return f"{scope.name}@{scope.version}" if scope.version else scope.name
    return None


def _any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, kind)  # string_value, bool_value, int_value, double_value


def _attributes(items: Iterable[KeyValue]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        value = item.value
        # Most attribute values are strings; skipping the call for them saves a quarter of the time.
        out[item.key] = value.string_value if value.WhichOneof("value") == "string_value" else _any_value(value)
    return out


def _width_problem(name: str, value: bytes, width: int) -> str | None:
    return None if len(value) == width else f"{name} is {len(value)} bytes, expected {width}"


def _span_id_problem(raw: trace_pb2.Span) -> str | None:
    problem = _width_problem("trace_id", raw.trace_id, TRACE_ID_BYTES) or _width_problem(
        "span_id", raw.span_id, SPAN_ID_BYTES
    )
    if problem is None and raw.parent_span_id:
        problem = _width_problem("parent_span_id", raw.parent_span_id, SPAN_ID_BYTES)
    return problem


def _span_time_problem(raw: trace_pb2.Span) -> str | None:
    return (
        time_problem(raw.start_time_unix_nano, "start_time_unix_nano")
        or time_problem(raw.end_time_unix_nano, "end_time_unix_nano")
        or next(
            (
                problem
                for n, event in enumerate(raw.events)
                if (problem := time_problem(event.time_unix_nano, f"events[{n}].time_unix_nano"))
            ),
            None,
        )
    )


def _log_problem(raw: logs_pb2.LogRecord) -> str | None:
    if raw.trace_id and len(raw.trace_id) != TRACE_ID_BYTES:
        return _width_problem("trace_id", raw.trace_id, TRACE_ID_BYTES)
    if raw.span_id and len(raw.span_id) != SPAN_ID_BYTES:
        return _width_problem("span_id", raw.span_id, SPAN_ID_BYTES)
    if not raw.time_unix_nano and not raw.observed_time_unix_nano:
        return "neither time_unix_nano nor observed_time_unix_nano is set"
    return time_problem(raw.time_unix_nano, "time_unix_nano") or time_problem(
        raw.observed_time_unix_nano, "observed_time_unix_nano"
    )


def _optional_id(value: bytes) -> str | None:
    """Hex of a checked-width id; None when empty or all zero (the spec's "no id")."""
    return value.hex() if value and any(value) else None


def _lenient_id(value: bytes, width: int) -> str:
    """Hex padded or cut to `width` characters, as `coerce.normalize_id` reads link ids in JSON."""
    return value.hex()[-width:].rjust(width, "0")


def _span(raw: trace_pb2.Span, resource: dict[str, Any], scope: str | None) -> Span:
    start = raw.start_time_unix_nano
    status = raw.status
    return Span(
        trace_id=raw.trace_id.hex(),
        span_id=raw.span_id.hex(),
        parent_span_id=_optional_id(raw.parent_span_id),
        name=raw.name,
        kind=_KINDS.get(raw.kind, "unspecified"),
        start_ns=start,
        end_ns=max(start, raw.end_time_unix_nano),
        end_known=raw.end_time_unix_nano > 0 and raw.end_time_unix_nano >= start,
        status_code=_STATUSES.get(status.code, "unset"),
        status_message=status.message or None,
        attributes=_attributes(raw.attributes),
        resource=resource,
        scope=scope,
        events=tuple(
            SpanEvent(time_ns=event.time_unix_nano or start, name=event.name, attributes=_attributes(event.attributes))
            for event in raw.events
        ),
        links=tuple(
            SpanLink(
                trace_id=_lenient_id(link.trace_id, 2 * TRACE_ID_BYTES),
                span_id=_lenient_id(link.span_id, 2 * SPAN_ID_BYTES),
                attributes=_attributes(link.attributes),
            )
            for link in raw.links
            if link.trace_id and link.span_id
        ),
    )


def _log_record(raw: logs_pb2.LogRecord, resource: dict[str, Any], scope: str | None) -> LogRecord:
    observed = raw.observed_time_unix_nano or None
    event_name = next((getattr(raw, name) for name in _LOG_EVENT_NAME_FIELDS if getattr(raw, name)), None)
    return LogRecord(
        time_ns=raw.time_unix_nano or observed or 0,
        observed_time_ns=observed,
        severity_number=raw.severity_number or None,
        severity_text=raw.severity_text or None,
        body=_any_value(raw.body) if raw.HasField("body") else None,
        attributes=_attributes(raw.attributes),
        resource=resource,
        scope=scope,
        trace_id=_optional_id(raw.trace_id),
        span_id=_optional_id(raw.span_id),
        event_name=event_name,
    )
