"""Zipkin v2 JSON: what `POST /api/v2/spans` takes and `GET /api/v2/trace/{id}` returns.

Accepted shapes: a list of spans, a single span object, or the list of traces (each a list
of spans) that `GET /api/v2/traces` returns. Unknown fields are ignored.

Quirks handled:
- `timestamp`, `duration` and annotation timestamps are MICROseconds; `duration` may be
  missing (an instant or incomplete span: end = start). A span with no timestamp at all
  and no annotation to borrow one from cannot be placed in time: it is counted as
  skipped, never stored at 1970.
- `traceId` is 16 or 32 hex; 64-bit ids are left-padded so they match OTLP ones.
- `shared: true` marks the server half of an RPC that reuses the client's span id. Both
  halves are kept as separate spans (same span id, `shared` False and True):

      client  ├──────────── id=74280a, shared=false ──────────┤
      server      ├────── id=74280a, shared=true ──────┤

- `kind` CLIENT/SERVER/PRODUCER/CONSUMER; absent means "unspecified" (a local span).
- `localEndpoint.serviceName` is the service (resource `service.name`; absent in, for
  example, Envoy's spans: the span is kept without one), its address goes to the resource
  as `net.host.ip`/`net.host.port`; `remoteEndpoint` becomes `peer.service`,
  `net.peer.ip` and `net.peer.port` unless a tag already says so.
- The `error` tag marks a failure even when its value is "" (Brave's convention); a
  non-empty value is the status message. The tag itself stays in the attributes.
- `debug: true` (force-sampled) is kept as the attribute `zipkin.debug`.
- Annotations are span events. The OpenTelemetry Zipkin exporters encode an event as the JSON
  text `{"exception": {"exception.type": …, "exception.stacktrace": …}}`: read back as the
  event `exception` with those attributes; any other value is the event's name.
- Zipkin v1 (`binaryAnnotations`, endpoints on annotations) is a different format and is
  not recognised here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mcp_sessions.formats.coerce import SPAN_ID_HEX, TRACE_ID_HEX, expect_dict, expect_list, normalize_id, to_int
from mcp_sessions.model import Record, SkippedRecords, Span, SpanEvent, SpanKind

_KINDS: dict[str, SpanKind] = {"client": "client", "server": "server", "producer": "producer", "consumer": "consumer"}


def looks_like_zipkin(doc: Any) -> bool:
    """True for a Zipkin v2 span, a list of them, or a list of such lists."""
    if isinstance(doc, list):
        first = doc[0] if doc else None
        if isinstance(first, list):
            first = first[0] if first else None
        return _is_v2_span(first)
    return _is_v2_span(doc)


def is_zipkin_v1(doc: Any) -> bool:
    """True for Zipkin v1 JSON (binary annotations, endpoints on annotations), which we do not read."""
    first = doc[0] if isinstance(doc, list) and doc else doc
    if not (isinstance(first, dict) and "traceId" in first and "id" in first):
        return False
    annotations = first.get("annotations")
    has_endpoints = isinstance(annotations, list) and any(isinstance(a, dict) and "endpoint" in a for a in annotations)
    return "binaryAnnotations" in first or has_endpoints


def _is_v2_span(value: Any) -> bool:
    return isinstance(value, dict) and "traceId" in value and "id" in value and not is_zipkin_v1(value)


def parse(doc: Any) -> Iterator[Record]:
    """Yield every span of a Zipkin v2 document (see the module docstring for the shapes)."""
    untimed = 0
    for raw, where in _spans(doc):
        span = _span(raw, where)
        if span is None:
            untimed += 1
        else:
            yield span
    if untimed:
        yield SkippedRecords("zipkin span without timestamp", untimed)


def _spans(doc: Any) -> Iterator[tuple[Any, str]]:
    if isinstance(doc, dict):
        yield doc, "span"
        return
    for i, item in enumerate(expect_list(doc, "document")):
        if isinstance(item, list):
            for j, span in enumerate(item):
                yield span, f"[{i}][{j}]"
        else:
            yield item, f"[{i}]"


def _span(raw: Any, where: str) -> Span | None:
    span = expect_dict(raw, where)
    annotations = [
        expect_dict(a, f"{where}.annotations[{n}]")
        for n, a in enumerate(expect_list(span.get("annotations"), f"{where}.annotations"))
    ]
    times = [to_int(a.get("timestamp"), f"{where}.annotations[{n}].timestamp") for n, a in enumerate(annotations)]
    start_us = to_int(span.get("timestamp"), f"{where}.timestamp")
    if start_us is None:
        known = [t for t in times if t]
        if not known:
            return None
        start_us = min(known)
    events = tuple(_event((t or start_us) * 1000, a.get("value")) for a, t in zip(annotations, times, strict=True))
    duration_us = to_int(span.get("duration"), f"{where}.duration", default=0) or 0

    tags = expect_dict(span.get("tags"), f"{where}.tags")
    attributes: dict[str, Any] = {**_endpoint(span, "remoteEndpoint", "peer", where), **tags}
    if span.get("debug") is True:
        attributes["zipkin.debug"] = True
    error = tags.get("error")
    is_error = "error" in tags and error is not None

    local = expect_dict(span.get("localEndpoint"), f"{where}.localEndpoint")
    resource = _endpoint(span, "localEndpoint", "host", where)
    resource.pop("peer.service", None)
    if local.get("serviceName"):
        resource["service.name"] = str(local["serviceName"])
    return Span(
        trace_id=normalize_id(span.get("traceId"), TRACE_ID_HEX, f"{where}.traceId") or "",
        span_id=normalize_id(span.get("id"), SPAN_ID_HEX, f"{where}.id") or "",
        parent_span_id=normalize_id(span.get("parentId"), SPAN_ID_HEX, f"{where}.parentId", optional=True),
        name=str(span.get("name") or ""),
        kind=_KINDS.get(str(span.get("kind") or "").strip().lower(), "unspecified"),
        start_ns=start_us * 1000,
        end_ns=(start_us + max(0, duration_us)) * 1000,
        end_known=span.get("duration") not in (None, ""),
        status_code="error" if is_error else "unset",
        status_message=str(error) if is_error and error != "" else None,
        attributes=attributes,
        resource=resource,
        events=events,
        shared=span.get("shared") is True,
    )


def _event(time_ns: int, value: Any) -> SpanEvent:
    """An annotation as a span event. The OpenTelemetry Zipkin exporters write an event as the JSON
    text `{"<event name>": {<attributes>}}`; that shape is read back into its name and attributes."""
    text = str(value or "")
    if text.startswith("{") and text.endswith("}"):
        try:
            decoded = json.loads(text)
        except (ValueError, RecursionError):
            decoded = None
        if isinstance(decoded, dict) and len(decoded) == 1:
            ((name, attributes),) = decoded.items()
            if isinstance(attributes, dict):
                return SpanEvent(time_ns=time_ns, name=str(name), attributes=attributes)
    return SpanEvent(time_ns=time_ns, name=text)


def _endpoint(span: dict[str, Any], key: str, role: str, where: str) -> dict[str, Any]:
    """An endpoint as attributes: `peer.service`, `net.{role}.ip`, `net.{role}.port`."""
    endpoint = expect_dict(span.get(key), f"{where}.{key}")
    out: dict[str, Any] = {}
    if endpoint.get("serviceName"):
        out["peer.service"] = str(endpoint["serviceName"])
    ip = endpoint.get("ipv4") or endpoint.get("ipv6")
    if ip:
        out[f"net.{role}.ip"] = str(ip)
    port = to_int(endpoint.get("port"), f"{where}.{key}.port")
    if port:
        out[f"net.{role}.port"] = port
    return out
