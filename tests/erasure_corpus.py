"""One user's real recordings with a unique marker planted in every field the parsers read, beside other users'.

The base is the demo shop's `baseline` scenario as real tools recorded it: the backend's
OTLP export (the OpenTelemetry SDK with its ASGI, httpx and dbapi instrumentation), the
browser's Playwright HAR and its `@rrweb/record` recording (with the console and network
plugins). Into ann's copy a `Planter` writes a distinct marker (`ZQMK0001x`, ...) into each
field a parser reads: span and resource attributes, span names, span events and links,
URLs (query values and path segments), log bodies and attributes, page titles, request and
response headers and bodies, cookies, page text, console messages and stack lines, custom
events, and the file names. Her user id is replaced by one that is itself a marker. A
further file, made here by the SDK, holds spans and a log carrying only her user id.

The other users' scenarios are ingested unchanged: what they share with ann (service,
operations, URL positions) is what erasure must leave exact.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToJson
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from mcp_sessions import urls

ROOT = Path(__file__).resolve().parents[1] / "fixtures"
SHOP_OTLP = ROOT / "recordings" / "shop" / "otlp"
SHOP_BROWSER = ROOT / "recordings-browser" / "shop"
ANN_SESSION = "sess_22b9d171c3ca0f83"  # the session the baseline scenario recorded
KEPT_SCENARIOS = ("slow-payment", "server-error", "over-fetching")  # carol, and two sessions of no user
MARKER = re.compile(rb"ZQMK\d{4}x")
# Ann's extra SDK file: before the baseline scenario's first span, so a prune cutoff after her session takes it.
EXTRA_START_NS = 1_795_372_800_000_000_000


@dataclass
class Planter:
    """Hands out unique markers and remembers which kind of field each went into."""

    planted: dict[str, str] = field(default_factory=dict)
    _urls: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def mark(self, kind: str) -> str:
        marker = f"ZQMK{len(self.planted):04d}x"
        self.planted[marker] = kind
        return marker

    def kinds(self, markers: set[str]) -> set[str]:
        return {self.planted[m] for m in markers}

    def url(self, url: str, kind: str) -> str:
        """`url` with a marker query value and, for every third distinct path, a marker path segment.

        The markers follow the path and query, not the field: the browser's URL and the server's
        `http.target` for one request stay alike, so requests still link to their traces by time.
        """
        parts = urls.split(url)
        key = f"{parts.path}?{parts.query}"
        if key not in self._urls:
            path = self.mark(f"{kind} path segment") if len(self._urls) % 3 == 0 else None
            self._urls[key] = (self.mark(f"{kind} query"), path)
        query_marker, path_marker = self._urls[key]
        base, _, query = url.partition("?")
        if path_marker is not None:
            base = base.rstrip("/") + "/" + path_marker
        return f"{base}?{query + '&' if query else ''}m={query_marker}"


def markers_in(data: bytes) -> set[str]:
    return {m.decode() for m in MARKER.findall(data)}


def _kv(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


@dataclass
class Corpus:
    ann_files: list[Path]
    kept_files: list[Path]
    planter: Planter
    user: str
    session: str = ANN_SESSION

    @property
    def files(self) -> list[Path]:
        return [*self.ann_files, *self.kept_files]


def build(folder: Path) -> Corpus:
    """Write ann's planted files into `folder`; the kept scenarios are read where they are."""
    folder.mkdir(parents=True, exist_ok=True)
    p = Planter()
    user = f"ann-{p.mark('user id')}"
    otlp = folder / f"ann-{p.mark('file name')}-backend.jsonl"
    otlp.write_text("".join(json.dumps(_otlp_line(json.loads(line), p, user)) + "\n" for line in _lines()))
    har = folder / f"ann-{p.mark('file name')}-browser.har"
    har.write_text(json.dumps(_har(json.loads((SHOP_BROWSER / "har" / "baseline.har").read_text()), p, user)))
    rrweb = folder / f"ann-{p.mark('file name')}-replay.json"
    rrweb.write_text(json.dumps(_rrweb(json.loads((SHOP_BROWSER / "rrweb" / "baseline.json").read_text()), p, user)))
    extra = folder / f"ann-{p.mark('file name')}-jobs.json"
    extra.write_text(sdk_user_spans(p, user))
    extra_logs = folder / f"ann-{p.mark('file name')}-jobs-logs.json"
    extra_logs.write_text(sdk_user_logs(p, user))
    kept = [
        path
        for scenario in KEPT_SCENARIOS
        for path in (
            SHOP_OTLP / f"{scenario}.jsonl",
            SHOP_BROWSER / "har" / f"{scenario}.har",
            SHOP_BROWSER / "rrweb" / f"{scenario}.json",
        )
    ]
    return Corpus([otlp, har, rrweb, extra, extra_logs], kept, p, user)


def _lines() -> Iterator[str]:
    with (SHOP_OTLP / "baseline.jsonl").open() as handle:
        yield from (line for line in handle if line.strip())


def _otlp_line(doc: dict[str, Any], p: Planter, user: str) -> dict[str, Any]:
    for resource_spans in doc.get("resourceSpans", []):
        resource_spans["resource"]["attributes"].append(_kv("app.build.note", p.mark("otlp resource attribute")))
        for scope in resource_spans.get("scopeSpans", []):
            for n, span in enumerate(scope.get("spans", [])):
                _otlp_span(span, n, p, user)
    for resource_logs in doc.get("resourceLogs", []):
        resource_logs["resource"]["attributes"].append(_kv("app.build.note", p.mark("otlp resource attribute")))
        for scope in resource_logs.get("scopeLogs", []):
            for record in scope.get("logRecords", []):
                body = record.get("body", {}).get("stringValue", "")
                record["body"] = {"stringValue": f"{body} {p.mark('otlp log body')}"}
                record.setdefault("attributes", []).append(_kv("app.note", p.mark("otlp log attribute")))
    return doc


def _otlp_span(span: dict[str, Any], n: int, p: Planter, user: str) -> None:
    for kv in span.get("attributes", []):
        value = kv["value"]
        if kv["key"] in ("user.id", "enduser.id"):
            value["stringValue"] = user
        elif kv["key"] in ("http.url", "url.full", "http.target") and "stringValue" in value:
            value["stringValue"] = p.url(value["stringValue"], "url")
    span.setdefault("attributes", []).append(_kv("app.note", p.mark("otlp span attribute")))
    if span.get("kind") == "SPAN_KIND_INTERNAL":
        span["name"] = f"{span['name']} {p.mark('otlp span name')}"
    span.setdefault("events", []).append(
        {
            "timeUnixNano": span["startTimeUnixNano"],
            "name": f"cache.miss {p.mark('otlp span event name')}",
            "attributes": [_kv("cache.key", p.mark("otlp span event attribute"))],
        }
    )
    if n == 0:
        span.setdefault("links", []).append(
            {
                "traceId": "AAAAAAAAAAAAAAAAAAAAAQ==",
                "spanId": "AAAAAAAAAAE=",
                "attributes": [_kv("link.note", p.mark("otlp span link attribute"))],
            }
        )
    status = span.setdefault("status", {})
    if status.get("code") == "STATUS_CODE_ERROR" or n % 5 == 0:
        status["message"] = f"{status.get('message', '')} {p.mark('otlp status message')}".strip()


def _har(doc: dict[str, Any], p: Planter, user: str) -> dict[str, Any]:
    log = doc["log"]
    for page in log.get("pages", []):
        page["title"] = f"{page.get('title', '')} {p.mark('har page title')}"
    for entry in log["entries"]:
        request, response = entry["request"], entry["response"]
        request["url"] = p.url(request["url"], "url")
        pairs = [q.partition("=") for q in urls.split(request["url"]).query.split("&") if q]
        request["queryString"] = [{"name": name, "value": value} for name, _, value in pairs]
        request["headers"].append({"name": "X-Note", "value": p.mark("har request header")})
        request["headers"].append({"name": "baggage", "value": f"user.id={user}"})
        request.setdefault("cookies", []).append({"name": "pref", "value": p.mark("har cookie")})
        response["headers"].append({"name": "X-Served-Note", "value": p.mark("har response header")})
        post = request.get("postData")
        if post and _json_object(post.get("text")) is not None:
            post["text"] = json.dumps({**_json_object(post["text"]), "note": p.mark("har request body")})
        content = response.get("content", {})
        if "json" in str(content.get("mimeType", "")) and _json_object(content.get("text")) is not None:
            content["text"] = json.dumps({**_json_object(content["text"]), "note": p.mark("har response body")})
    return doc


def _json_object(text: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _rrweb(events: list[dict[str, Any]], p: Planter, user: str) -> list[dict[str, Any]]:
    for event in events:
        data = event["data"]
        if event["type"] == 4:
            data["href"] = p.url(data["href"], "url")
        elif event["type"] == 2:
            _plant_text(data["node"], p)
        elif event["type"] == 6 and str(data.get("plugin")).endswith("/network@1"):
            for request in data["payload"]["requests"]:
                request["name"] = p.url(request["name"], "url")
                headers = request.setdefault("requestHeaders", {}) or {}
                request["requestHeaders"] = {
                    **headers,
                    "x-note": p.mark("rrweb request header"),
                    "baggage": f"user.id={user}",
                }
    last = events[-1]["timestamp"]
    events.append(
        {
            "type": 6,
            "data": {
                "plugin": "rrweb/console@1",
                "payload": {
                    "level": "error",
                    "payload": [json.dumps(f"payment failed for order {p.mark('rrweb console message')}")],
                    "trace": [f"at pay (http://127.0.0.1/static/shop.js:1:1) {p.mark('rrweb console stack')}"],
                },
            },
            "timestamp": last + 1,
        }
    )
    events.append(
        {"type": 5, "data": {"tag": "cart", "payload": {"note": p.mark("rrweb custom event")}}, "timestamp": last + 2}
    )
    return events


def _plant_text(node: dict[str, Any], p: Planter) -> None:
    if node.get("type") == 3 and str(node.get("textContent", "")).strip() and not node.get("isStyle"):
        node["textContent"] = f"{node['textContent']} {p.mark('rrweb page text')}"
    attributes = node.get("attributes")
    if isinstance(attributes, dict):
        for name in ("title", "placeholder", "aria-label", "alt"):
            if isinstance(attributes.get(name), str):
                attributes[name] = f"{attributes[name]} {p.mark('rrweb element attribute')}"
    for child in node.get("childNodes", []):
        _plant_text(child, p)


def sdk_user_spans(p: Planter, user: str) -> str:
    """Two traces of no session, carrying only ann's user id, as the OpenTelemetry SDK exports them."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "shop-jobs"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.erasure")
    for n in range(2):
        start = EXTRA_START_NS + n * 1_000_000_000
        with tracer.start_as_current_span(
            f"send receipt {p.mark('sdk span name')}",
            kind=SpanKind.CONSUMER,
            start_time=start,
            attributes={"user.id": user, "messaging.destination.name": p.mark("sdk span attribute")},
            end_on_exit=False,
        ) as span:
            with tracer.start_as_current_span("render receipt", start_time=start + 1000, end_on_exit=False) as child:
                child.set_attribute("template.note", p.mark("sdk child attribute"))
                child.end(end_time=start + 2000)
            span.end(end_time=start + 5000)
    provider.shutdown()
    return MessageToJson(encode_spans(exporter.get_finished_spans()))


def sdk_user_logs(p: Planter, user: str) -> str:
    """A log record carrying ann's user id (no trace, no session), as the OpenTelemetry SDK exports it."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource({"service.name": "shop-jobs"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("tests.erasure").emit(
        timestamp=EXTRA_START_NS,
        severity_number=SeverityNumber.WARN,
        body=f"receipt bounced {p.mark('sdk log body')}",
        attributes={"user.id": user, "mail.note": p.mark("sdk log attribute")},
    )
    provider.shutdown()
    return MessageToJson(encode_logs(exporter.get_finished_logs()))
