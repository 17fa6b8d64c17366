"""A deterministic generator of large recordings shaped like the fixture scenarios.

    python tests/bench/dataset.py OUT_DIR [--seed 7] [--sessions N] [--spans N] [--bytes N]
                                          [--batch 512] [--file-spans N] [--browser-share 0.02]

Writes OTLP JSON Lines (one ExportTraceServiceRequest or ExportLogsServiceRequest per
line, as the Collector's file exporter does, ids base64 as the protobuf JSON mapping
requires) to OUT_DIR/otlp/part-0001.jsonl (a new part every --file-spans spans, else one
file), and for a share of the sessions one small browser recording each, alternating
OUT_DIR/browser/har/<session>.har and OUT_DIR/browser/rrweb/<session>.json, whose
requests carry the `traceparent` and `x-session-id` of the backend traces they started.
OUT_DIR/.summary.json (written last: its presence means the data set is complete; hidden,
so `mcp-sessions ingest OUT_DIR` skips it) holds the counts. Generation stops once every
given target (sessions, spans, bytes) is reached; with none given, at 200,000 spans.
Everything is streamed: memory stays flat however large the output.

What the data looks like (the same services, routes, statements and attributes as
fixtures/recordings/shop, which a real shop produced with the real OpenTelemetry SDK):

    shop (service.version 1.5.0 good build, 1.6.0 regressed canary) and payments
    page loads   GET /, /product/{id}, /cart, /checkout, /login, /config.js: no session key
    API calls    GET /api/products[/{id}[/reviews]], POST /api/cart/items, /api/login, ...
                 server span + 2 `http send` spans + one SQLite span per statement, every
                 span of the session carrying session.id (and user.id once logged in)
    scenarios    browse, checkout (good: one `WHERE id IN (...)`), n-plus-one (regressed:
                 one SELECT + one reviews COUNT per cart item, 8-25 ms each), slow-payment
                 (payments `fraud.review` ~1.2 s), server-error (coupon SAVEBIG: status error,
                 exception event with stack trace, code.* attributes, an ERROR log record),
                 redundant-calls (reviews fetched 3x), over-fetching (all 241 products),
                 returning-user (the same user again about 45 minutes later)

Sessions overlap in time (a new one starts every ~4 s on average, each lasts minutes), and
each service's exporter flushes a line when it holds --batch spans or its oldest span is
5 s old, so lines hold from a handful to --batch spans, from several sessions, like a
busy service's BatchSpanProcessor.

Import `ensure_dataset(...)` to reuse a data set cached under the system temp folder.
"""

from __future__ import annotations

import argparse
import base64
import heapq
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

GENERATOR_VERSION = 1
CACHE_ROOT = Path(tempfile.gettempdir()) / "mcp-sessions-bench"
BASE_NS = 1_795_000_000_000_000_000  # 2026-11-18, near the fixture recordings
MS = 1_000_000
SECOND = 1_000_000_000
EXPORT_DELAY_NS = 5 * SECOND
SESSION_GAP_MEAN_S = 3.0
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36"
)
SHOP_HOST = "shop.internal:8000"
PAYMENTS_HOST = "payments.internal:8001"
PRODUCTS = 241
STACKTRACE = (
    "Traceback (most recent call last):\n"
    '  File "/srv/shop/.venv/lib/python3.11/site-packages/starlette/middleware/errors.py", line 164, in __call__\n'
    "    await self.app(scope, receive, _send)\n"
    '  File "/srv/shop/.venv/lib/python3.11/site-packages/starlette/routing.py", line 704, in app\n'
    "    await route.handle(scope, receive, send)\n"
    '  File "/srv/shop/app.py", line 212, in apply_coupon\n'
    "    discount = parse_discount(code)\n"
    '  File "/srv/shop/coupons.py", line 19, in parse_discount\n'
    "    return int(code.removeprefix('SAVE'))\n"
    "ValueError: invalid literal for int() with base 10: 'BIG'\n"
)
SCENARIOS = (  # (name, weight)
    ("browse", 40),
    ("checkout", 22),
    ("n-plus-one", 9),
    ("slow-payment", 5),
    ("server-error", 8),
    ("redundant-calls", 6),
    ("over-fetching", 6),
    ("returning-user", 4),
)

SQL_AUTH = "SELECT user_id FROM auth_sessions WHERE token = ?"
SQL_PRODUCT = "SELECT id, name, category, price_cents, stock, blurb FROM products WHERE id = ?"
SQL_PRODUCT_PAGE = "SELECT id, name, category, price_cents, stock, blurb FROM products ORDER BY id LIMIT ? OFFSET ?"
SQL_PRODUCT_ALL = "SELECT id, name, category, price_cents, stock, blurb FROM products ORDER BY id"
SQL_REVIEW_SUMMARY = "SELECT COUNT(*), AVG(rating) FROM reviews WHERE product_id = ?"
SQL_REVIEWS = "SELECT user_name, rating, body FROM reviews WHERE product_id = ? ORDER BY id DESC LIMIT 5"
SQL_CART_ADD = (
    "INSERT INTO cart_items (cart_id, product_id, quantity) VALUES (?, ?, ?) ON CONFLICT (cart_id, product_id) "
    "DO UPDATE SET quantity = quantity + excluded.quantity"
)
SQL_CART = (
    "SELECT p.id, p.name, p.price_cents, c.quantity FROM cart_items c JOIN products p ON p.id = c.product_id "
    "WHERE c.cart_id = ? ORDER BY p.id"
)
SQL_CART_ITEMS = "SELECT product_id, quantity FROM cart_items WHERE cart_id = ? ORDER BY product_id"
SQL_CHECKOUT_ITEM = "SELECT id, name, price_cents FROM products WHERE id = ?"
SQL_ORDER = "INSERT INTO orders (cart_id, user_id, total_cents, payment_id) VALUES (?, ?, ?, ?)"
SQL_ORDER_ITEMS = "INSERT INTO order_items (order_id, product_id, quantity, price_cents) VALUES (?, ?, ?, ?)"
SQL_CART_CLEAR = "DELETE FROM cart_items WHERE cart_id = ?"
SQL_LOGIN_USER = "SELECT id, display_name, password_hash, api_token FROM users WHERE id = ?"
SQL_LOGIN_SESSION = "INSERT INTO auth_sessions (token, user_id) VALUES (?, ?)"
SQL_LOGIN_CART = "UPDATE OR IGNORE cart_items SET cart_id = ? WHERE cart_id = ?"


def _value(value: Any) -> dict[str, Any]:
    """An OTLP AnyValue in the protobuf JSON mapping (int64 as a string)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": value}


def _attrs(pairs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in pairs.items() if v is not None]


def _resource(service: str, version: str, instance: str) -> list[dict[str, Any]]:
    return _attrs(
        {
            "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "opentelemetry",
            "telemetry.sdk.version": "1.45.2",
            "service.instance.id": instance,
            "service.name": service,
            "service.version": version,
            "service.namespace": "demo-shop",
            "deployment.environment.name": "bench",
        }
    )


RESOURCES = {
    "shop": _resource("shop", "1.5.0", "shop-1"),
    "shop-canary": _resource("shop", "1.6.0", "shop-canary-1"),
    "payments": _resource("payments", "1.5.0", "payments-1"),
}
SCOPES = {
    "asgi": {"name": "opentelemetry.instrumentation.asgi", "version": "0.66b2"},
    "sqlite3": {"name": "opentelemetry.instrumentation.sqlite3", "version": "0.66b2"},
    "httpx": {"name": "opentelemetry.instrumentation.httpx", "version": "0.66b2"},
    "payments": {"name": "fixtures.shop.payments"},
    "shop": {"name": "shop"},
}
KIND_NAMES = {"server": "SPAN_KIND_SERVER", "client": "SPAN_KIND_CLIENT", "internal": "SPAN_KIND_INTERNAL"}


@dataclass
class Summary:
    """What one generation wrote (.summary.json)."""

    seed: int
    sessions: int = 0
    spans: int = 0
    traces: int = 0
    log_records: int = 0
    lines: int = 0
    bytes: int = 0
    browser_files: int = 0
    browser_bytes: int = 0
    otlp_files: list[str] = field(default_factory=list)
    scenarios: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    generator_version: int = GENERATOR_VERSION

    @property
    def spans_per_line(self) -> float:
        return self.spans / max(1, self.lines)


class Sink:
    """The JSON Lines parts on disk, rotated every `file_spans` spans."""

    def __init__(self, out_dir: Path, summary: Summary, file_spans: int | None) -> None:
        self.dir = out_dir / "otlp"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.summary = summary
        self.file_spans = file_spans
        self.handle = None
        self.in_part = 0
        self._rotate()

    def _rotate(self) -> None:
        if self.handle is not None:
            self.handle.close()
        path = self.dir / f"part-{len(self.summary.otlp_files) + 1:04d}.jsonl"
        self.summary.otlp_files.append(str(path.relative_to(self.dir.parent)))
        self.handle = path.open("wb", buffering=1 << 20)
        self.in_part = 0

    def write(self, request: dict[str, Any], spans: int, logs: int) -> None:
        if self.file_spans and self.in_part >= self.file_spans and spans:
            self._rotate()
        line = orjson.dumps(request) + b"\n"
        self.handle.write(line)
        self.in_part += spans
        self.summary.lines += 1
        self.summary.bytes += len(line)
        self.summary.spans += spans
        self.summary.log_records += logs

    def close(self) -> None:
        self.handle.close()


class Exporter:
    """One service instance's batch processor: a line when `batch` spans wait or the oldest is 5 s old."""

    def __init__(self, resource: list[dict[str, Any]], sink: Sink, batch: int) -> None:
        self.resource = resource
        self.sink = sink
        self.batch = batch
        self.spans: dict[str, list[dict[str, Any]]] = {}
        self.count = 0
        self.oldest = 0
        self.logs: list[dict[str, Any]] = []

    def add(self, scope: str, span: dict[str, Any], now: int) -> None:
        if not self.count:
            self.oldest = now
        self.spans.setdefault(scope, []).append(span)
        self.count += 1
        if self.count >= self.batch:
            self.flush()

    def log(self, record: dict[str, Any]) -> None:
        self.logs.append(record)

    def tick(self, now: int) -> None:
        if self.count and now - self.oldest >= EXPORT_DELAY_NS:
            self.flush()

    def flush(self) -> None:
        if self.count:
            scope_spans = [{"scope": SCOPES[name], "spans": spans} for name, spans in self.spans.items()]
            request = {
                "resourceSpans": [
                    {
                        "resource": {"attributes": self.resource},
                        "scopeSpans": scope_spans,
                        "schemaUrl": "https://opentelemetry.io/schemas/1.11.0",
                    }
                ]
            }
            self.sink.write(request, self.count, 0)
            self.spans, self.count = {}, 0
        if self.logs:
            request = {
                "resourceLogs": [
                    {
                        "resource": {"attributes": self.resource},
                        "scopeLogs": [{"scope": SCOPES["shop"], "logRecords": self.logs}],
                    }
                ]
            }
            self.sink.write(request, 0, len(self.logs))
            self.logs = []


class Ids:
    """Seeded ids: raw bytes for the OTLP (base64) and hex for the browser's traceparent."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def trace(self) -> bytes:
        return self.rng.getrandbits(128).to_bytes(16, "big")

    def span(self) -> bytes:
        return self.rng.getrandbits(64).to_bytes(8, "big")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@dataclass
class Request:
    """What the browser saw of one call: becomes a HAR entry or an rrweb network event."""

    method: str
    url: str
    status: int
    start_ns: int
    duration_ns: int
    trace_hex: str | None
    span_hex: str | None
    navigation: bool = False
    body: str | None = None


@dataclass
class Visit:
    """One session's state while its traces are generated."""

    session_id: str
    user_id: str | None
    scenario: str
    canary: bool
    browser: str | None  # "har", "rrweb" or None
    cookie: str
    requests: list[Request] = field(default_factory=list)
    console_errors: list[tuple[int, str]] = field(default_factory=list)
    inputs: list[tuple[int, str]] = field(default_factory=list)


class Generator:
    """Turns sessions into spans; see the module docstring for the shapes."""

    def __init__(self, rng: random.Random, sink: Sink, batch: int) -> None:
        self.rng = rng
        self.ids = Ids(rng)
        self.exporters = {name: Exporter(resource, sink, batch) for name, resource in RESOURCES.items()}
        self.traces = 0

    # -- spans -------------------------------------------------------------------------------
    def _span(
        self,
        spans: list[tuple[str, str, dict[str, Any]]],
        exporter: str,
        scope: str,
        trace: bytes,
        parent: bytes | None,
        name: str,
        kind: str,
        start: int,
        end: int,
        attributes: list[dict[str, Any]],
        *,
        span_id: bytes | None = None,
        status: dict[str, Any] | None = None,
        events: list[dict[str, Any]] | None = None,
        remote_parent: bool = False,
    ) -> bytes:
        sid = span_id or self.ids.span()
        span: dict[str, Any] = {"traceId": b64(trace), "spanId": b64(sid)}
        if parent is not None:
            span["parentSpanId"] = b64(parent)
        span.update(
            name=name,
            kind=KIND_NAMES[kind],
            startTimeUnixNano=str(start),
            endTimeUnixNano=str(end),
            attributes=attributes,
        )
        if events:
            span["events"] = events
        span["status"] = status or {}
        span["flags"] = 768 if remote_parent else 256
        spans.append((exporter, scope, span))
        return sid

    def _session_attrs(self, visit: Visit | None, logged_in: bool) -> dict[str, Any]:
        if visit is None:
            return {}
        return {"session.id": visit.session_id, "user.id": visit.user_id if logged_in else None}

    def request(
        self,
        visit: Visit,
        start: int,
        method: str,
        route: str,
        target: str,
        *,
        logged_in: bool,
        statements: Sequence[tuple[str, float]] = (),
        status: int = 200,
        navigation: bool = False,
        payment: tuple[int, bool] | None = None,
        error: bool = False,
        response_body: str | None = None,
    ) -> int:
        """One traced request to the shop (and to payments for a checkout); returns when it ended."""
        trace = self.ids.trace()
        browser_span = self.ids.span()
        exporter = "shop-canary" if visit.canary else "shop"
        keyed = None if navigation else visit
        session = self._session_attrs(keyed, logged_in)
        spans: list[tuple[str, str, dict[str, Any]]] = []
        server_id = self.ids.span()
        t = start + self.rng.randint(200_000, 900_000)
        children: list[tuple[int, int]] = []
        for statement, ms in statements:
            duration = int(ms * MS * self.rng.uniform(0.7, 1.4))
            verb = statement.split(None, 1)[0]
            attrs = _attrs({**session, "db.system": "sqlite", "db.statement": statement})
            if statement == SQL_AUTH:  # runs before the middleware has set the session
                attrs = _attrs({"db.system": "sqlite", "db.statement": statement})
            self._span(spans, exporter, "sqlite3", trace, server_id, verb, "client", t, t + duration, attrs)
            children.append((t, t + duration))
            t += duration + self.rng.randint(30_000, 400_000)
        if payment is not None:
            amount, slow = payment
            t = self._payment(spans, trace, server_id, t, visit, amount, slow)
            for statement, ms in ((SQL_ORDER, 0.5), (SQL_ORDER_ITEMS, 0.2), (SQL_CART_CLEAR, 0.1)):
                duration = int(ms * MS * self.rng.uniform(0.7, 1.4))
                attrs = _attrs({**session, "db.system": "sqlite", "db.statement": statement})
                self._span(
                    spans,
                    exporter,
                    "sqlite3",
                    trace,
                    server_id,
                    statement.split(None, 1)[0],
                    "client",
                    t,
                    t + duration,
                    attrs,
                )
                t += duration + self.rng.randint(30_000, 300_000)
        send_start = t + self.rng.randint(50_000, 300_000)
        for event_type in ("http.response.start", "http.response.body"):
            send_end = send_start + self.rng.randint(20_000, 400_000)
            attrs = _attrs(
                {
                    **session,
                    "asgi.event.type": event_type,
                    "http.status_code": status if event_type == "http.response.start" else None,
                }
            )
            self._span(
                spans,
                exporter,
                "asgi",
                trace,
                server_id,
                f"{method} {route} http send",
                "internal",
                send_start,
                send_end,
                attrs,
            )
            send_start = send_end + self.rng.randint(5_000, 60_000)
        end = send_start + self.rng.randint(100_000, 2_000_000)
        port = self.rng.randint(32768, 60999)
        headers = {
            "http.request.header.user_agent": [USER_AGENT],
            "http.request.header.referer": [f"http://{SHOP_HOST}/"],
            "http.request.header.cookie": [visit.cookie] if logged_in else None,
            "http.request.header.x_session_id": None if navigation else [visit.session_id],
            "http.request.header.content_type": ["application/json"] if method == "POST" else None,
        }
        server_attrs: dict[str, Any] = {
            "http.scheme": "http",
            "http.host": SHOP_HOST,
            "net.host.port": 8000,
            "http.flavor": "1.1",
            "http.target": target,
            "http.url": f"http://{SHOP_HOST}{target}",
            "http.method": method,
            "http.server_name": SHOP_HOST,
            "http.user_agent": USER_AGENT,
            "net.peer.ip": "10.0.3.17",
            "net.peer.port": port,
            "http.route": route,
            **headers,
            **session,
        }
        events = None
        span_status = None
        if error:
            server_attrs.update(
                {
                    "code.function.name": "shop.coupons.parse_discount",
                    "code.file.path": "shop/coupons.py",
                    "code.line.number": 19,
                }
            )
            message = "invalid literal for int() with base 10: 'BIG'"
            events = [
                {
                    "timeUnixNano": str(t),
                    "name": "exception",
                    "attributes": _attrs(
                        {
                            "exception.type": "ValueError",
                            "exception.message": message,
                            "exception.stacktrace": STACKTRACE,
                            "exception.escaped": "False",
                        }
                    ),
                }
            ]
            span_status = {"code": "STATUS_CODE_ERROR", "message": f"ValueError: {message}"}
            self.exporters[exporter].log(
                {
                    "timeUnixNano": str(t + 40_000),
                    "severityNumber": "SEVERITY_NUMBER_ERROR",
                    "severityText": "ERROR",
                    "body": {"stringValue": f"unhandled error in {method} {route}"},
                    "attributes": _attrs(
                        {
                            "code.file.path": "/srv/shop/app.py",
                            "code.function.name": "server_error",
                            "code.line.number": 320,
                            "exception.type": "ValueError",
                            "exception.message": message,
                        }
                    ),
                    "flags": 1,
                    "traceId": b64(trace),
                    "spanId": b64(server_id),
                    "observedTimeUnixNano": str(t + 90_000),
                }
            )
        server_attrs["http.status_code"] = status
        self._span(
            spans,
            exporter,
            "asgi",
            trace,
            None if navigation else browser_span,
            f"{method} {route}",
            "server",
            start,
            end,
            _attrs(server_attrs),
            span_id=server_id,
            status=span_status,
            events=events,
            remote_parent=not navigation,
        )
        # The SDK exports a span when it ends: children before their parent.
        spans.sort(key=lambda item: item[2]["endTimeUnixNano"])
        for name, scope, span in spans:
            self.exporters[name].add(scope, span, start)
        self.traces += 1
        if visit.browser:
            lead = self.rng.randint(300_000, 3_000_000)
            visit.requests.append(
                Request(
                    method,
                    f"http://{SHOP_HOST}{target}",
                    status,
                    start - lead,
                    end - start + lead + self.rng.randint(200_000, 2_000_000),
                    None if navigation else trace.hex(),
                    None if navigation else browser_span.hex(),
                    navigation=navigation,
                    body=response_body,
                )
            )
        return end

    def _payment(
        self,
        spans: list[tuple[str, str, dict[str, Any]]],
        trace: bytes,
        parent: bytes,
        start: int,
        visit: Visit,
        amount: int,
        slow: bool,
    ) -> int:
        session = {"session.id": visit.session_id, "user.id": visit.user_id}
        client_id = self.ids.span()
        server_id = self.ids.span()
        t = start + self.rng.randint(1_000_000, 3_000_000)
        server_start = t
        if slow:
            review = int(1_200 * MS * self.rng.uniform(0.95, 1.1))
            attrs = _attrs({"payment.amount_cents": amount, **session})
            self._span(
                spans, "payments", "payments", trace, server_id, "fraud.review", "internal", t, t + review, attrs
            )
            t += review + self.rng.randint(50_000, 300_000)
        authorize = int(4.4 * MS * self.rng.uniform(0.7, 1.5))
        self._span(
            spans,
            "payments",
            "payments",
            trace,
            server_id,
            "card_network.authorize",
            "client",
            t,
            t + authorize,
            _attrs(session),
        )
        t += authorize + self.rng.randint(50_000, 200_000)
        for event_type in ("http.response.start", "http.response.body"):
            attrs = _attrs(
                {
                    **session,
                    "asgi.event.type": event_type,
                    "http.status_code": 200 if event_type == "http.response.start" else None,
                }
            )
            self._span(
                spans, "payments", "asgi", trace, server_id, "POST /charge http send", "internal", t, t + 90_000, attrs
            )
            t += 100_000
        server_attrs = {
            **session,
            "http.scheme": "http",
            "http.host": PAYMENTS_HOST,
            "net.host.port": 8001,
            "http.flavor": "1.1",
            "http.target": "/charge",
            "http.url": f"http://{PAYMENTS_HOST}/charge",
            "http.method": "POST",
            "http.server_name": PAYMENTS_HOST,
            "net.peer.ip": "10.0.3.20",
            "net.peer.port": self.rng.randint(32768, 60999),
            "http.route": "/charge",
            "http.request.header.authorization": ["Bearer sk_payments_internal_6a1f"],
            "http.request.header.content_type": ["application/json"],
            "payment.amount_cents": amount,
            "payment.id": f"pay_{self.rng.getrandbits(48):012x}",
            "http.status_code": 200,
        }
        self._span(
            spans,
            "payments",
            "asgi",
            trace,
            client_id,
            "POST /charge",
            "server",
            server_start,
            t,
            _attrs(server_attrs),
            span_id=server_id,
        )
        end = t + self.rng.randint(500_000, 2_000_000)
        client_attrs = {
            "http.method": "POST",
            "http.url": f"http://{PAYMENTS_HOST}/charge",
            **session,
            "http.status_code": 200,
        }
        exporter = "shop-canary" if visit.canary else "shop"
        self._span(
            spans,
            exporter,
            "httpx",
            trace,
            parent,
            "POST",
            "client",
            start,
            end,
            _attrs(client_attrs),
            span_id=client_id,
        )
        return end + self.rng.randint(100_000, 500_000)

    # -- sessions ----------------------------------------------------------------------------
    def page(self, visit: Visit, t: int, path: str, route: str, logged_in: bool) -> int:
        """A page load: the document and /config.js, traced without a session (no header on navigations)."""
        end = self.request(visit, t, "GET", route, path, logged_in=logged_in, navigation=True)
        t = end + self.rng.randint(20 * MS, 80 * MS)
        return self.request(visit, t, "GET", "/config.js", "/config.js", logged_in=logged_in, navigation=True)

    def session(self, visit: Visit, start: int) -> Iterator[int]:
        """The session's traces, one user action at a time; yields when the next action happens."""
        rng = self.rng
        logged_in = False
        exporter = self.exporters["shop-canary" if visit.canary else "shop"]

        def think() -> int:
            return int(rng.uniform(1.5, 9.0) * SECOND)

        def pause() -> int:
            return rng.randint(50 * MS, 200 * MS)

        t = self.page(visit, start, "/", "/", logged_in) + pause()
        everything = visit.scenario == "over-fetching"  # the regressed build ignores ?limit=10
        body = '{"products": [' + ", ".join(['{"id": 1}'] * (PRODUCTS if everything else 10)) + "]}"
        t = self.request(
            visit,
            t,
            "GET",
            "/api/products",
            "/api/products?limit=10",
            logged_in=False,
            statements=[(SQL_PRODUCT_ALL if everything else SQL_PRODUCT_PAGE, 2.5 if everything else 0.8)],
            response_body=body,
        )
        t += think()
        yield t
        buyer = visit.scenario in ("checkout", "n-plus-one", "slow-payment", "returning-user", "server-error")
        if buyer or rng.random() < 0.3:
            t = self.page(visit, t, "/login", "/login", logged_in) + think()
            visit.inputs += [(t - 2 * SECOND, "#username"), (t - SECOND, "#password")]
            t = self.request(
                visit,
                t,
                "POST",
                "/api/login",
                "/api/login",
                logged_in=False,
                statements=[(SQL_LOGIN_USER, 0.3), (SQL_LOGIN_SESSION, 0.4), (SQL_LOGIN_CART, 0.2)],
            )
            logged_in = visit.user_id is not None
            if logged_in:
                exporter.log(
                    {
                        "timeUnixNano": str(t - 300_000),
                        "severityNumber": "SEVERITY_NUMBER_INFO",
                        "severityText": "INFO",
                        "body": {"stringValue": f"login succeeded for {visit.user_id}"},
                        "attributes": _attrs({"code.file.path": "/srv/shop/app.py", "code.function.name": "login"}),
                        "flags": 1,
                    }
                )
            t += think()
            yield t
        views = rng.randint(4, 16) if visit.scenario == "browse" else rng.randint(2, 9)
        cart: list[int] = []
        for _ in range(views):
            product = rng.randint(1, PRODUCTS)
            t = self.page(visit, t, f"/product/{product}", "/product/{product_id}", logged_in) + pause()
            t = self.request(
                visit,
                t,
                "GET",
                "/api/products/{product_id}",
                f"/api/products/{product}",
                logged_in=logged_in,
                statements=[(SQL_AUTH, 0.5), (SQL_PRODUCT, 0.4)],
            )
            # The regressed product page's three review widgets each fetch the reviews.
            for _ in range(3 if visit.scenario == "redundant-calls" else 1):
                t = self.request(
                    visit,
                    t + rng.randint(1 * MS, 5 * MS),
                    "GET",
                    "/api/products/{product_id}/reviews",
                    f"/api/products/{product}/reviews",
                    logged_in=logged_in,
                    statements=[(SQL_AUTH, 0.5), (SQL_REVIEW_SUMMARY, 9.0), (SQL_REVIEWS, 6.0)],
                )
            t += think()
            yield t
            if buyer or rng.random() < 0.25:
                visit.inputs.append((t - 500 * MS, "button.add-to-cart"))
                t = self.request(
                    visit,
                    t,
                    "POST",
                    "/api/cart/items",
                    "/api/cart/items",
                    logged_in=logged_in,
                    status=201,
                    statements=[(SQL_AUTH, 0.5), (SQL_CART_ADD, 0.6)],
                )
                cart.append(product)
                t += think()
                yield t
        if not buyer or not cart:
            return
        t = self.page(visit, t, "/cart", "/cart", logged_in) + pause()
        t = self.request(
            visit,
            t,
            "GET",
            "/api/cart",
            "/api/cart",
            logged_in=logged_in,
            statements=[(SQL_AUTH, 0.5), (SQL_CART, 1.1)],
        )
        t += think()
        yield t
        if visit.scenario == "server-error":
            visit.inputs.append((t - SECOND, "#coupon"))
            t = self.request(
                visit,
                t,
                "POST",
                "/api/cart/coupon",
                "/api/cart/coupon",
                logged_in=logged_in,
                status=500,
                statements=[(SQL_AUTH, 0.5)],
                error=True,
            )
            visit.console_errors.append((t + 2 * MS, "POST /api/cart/coupon failed: 500 internal server error"))
            return
        t = self.page(visit, t, "/checkout", "/checkout", logged_in) + think()
        if visit.canary:  # the N+1: one lookup and one unindexed reviews scan per cart item
            items = [s for _ in cart for s in ((SQL_CHECKOUT_ITEM, 0.15), (SQL_REVIEW_SUMMARY, rng.uniform(8, 25)))]
        else:
            placeholders = ", ".join("?" * len(cart))
            items = [(f"SELECT id, name, price_cents FROM products WHERE id IN ({placeholders})", 0.2)]
        slow = visit.scenario == "slow-payment"
        visit.inputs.append((t - SECOND, "button.place-order"))
        self.request(
            visit,
            t,
            "POST",
            "/api/checkout",
            "/api/checkout",
            logged_in=logged_in,
            statements=[(SQL_AUTH, 0.5), (SQL_CART_ITEMS, 0.1), *items],
            payment=(189_900 if slow else rng.randint(1_000, 60_000), slow),
        )

    def tick(self, now: int) -> None:
        for exporter in self.exporters.values():
            exporter.tick(now)

    def flush(self) -> None:
        for exporter in self.exporters.values():
            exporter.flush()


# -- browser recordings --------------------------------------------------------------------------
_BROWSER_HEADERS = [
    {"name": "Accept", "value": "*/*"},
    {"name": "Accept-Encoding", "value": "gzip, deflate, br, zstd"},
    {"name": "Accept-Language", "value": "en-US,en;q=0.9"},
    {"name": "Connection", "value": "keep-alive"},
    {"name": "Host", "value": SHOP_HOST},
    {"name": "Sec-Fetch-Dest", "value": "empty"},
    {"name": "Sec-Fetch-Mode", "value": "cors"},
    {"name": "Sec-Fetch-Site", "value": "same-origin"},
    {"name": "User-Agent", "value": USER_AGENT},
    {"name": "sec-ch-ua", "value": '"Not:A-Brand";v="8", "Chromium";v="156"'},
    {"name": "sec-ch-ua-mobile", "value": "?0"},
    {"name": "sec-ch-ua-platform", "value": '"Linux"'},
]


def _iso(ns: int) -> str:
    seconds, rest = divmod(ns, SECOND)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // MS:03d}Z"


def har_document(visit: Visit) -> dict[str, Any]:
    """A Playwright-style HAR of the visit: one page per navigation, an entry per request."""
    pages, entries = [], []
    page_id = None
    for n, r in enumerate(visit.requests):
        if r.navigation and not r.url.endswith("/config.js"):
            page_id = f"page@{n:032x}"
            pages.append(
                {
                    "startedDateTime": _iso(r.start_ns),
                    "id": page_id,
                    "title": "Demo shop",
                    "pageTimings": {"onContentLoad": r.duration_ns // MS + 40, "onLoad": r.duration_ns // MS + 90},
                }
            )
        headers = [*_BROWSER_HEADERS, {"name": "Referer", "value": f"http://{SHOP_HOST}/"}]
        if r.trace_hex:
            headers.append({"name": "traceparent", "value": f"00-{r.trace_hex}-{r.span_hex}-01"})
            headers.append({"name": "x-session-id", "value": visit.session_id})
        ms = r.duration_ns / MS
        body = r.body or ('{"ok": true}' if r.trace_hex else "<!doctype html><title>Demo shop</title>")
        entries.append(
            {
                "pageref": page_id,
                "startedDateTime": _iso(r.start_ns),
                "time": ms,
                "request": {
                    "method": r.method,
                    "url": r.url,
                    "httpVersion": "HTTP/1.1",
                    "cookies": [],
                    "headers": headers,
                    "queryString": [],
                    "headersSize": 604,
                    "bodySize": 0,
                },
                "response": {
                    "status": r.status,
                    "statusText": "OK" if r.status < 400 else "Internal Server Error",
                    "httpVersion": "HTTP/1.1",
                    "cookies": [],
                    "headers": [{"name": "content-type", "value": "application/json" if r.trace_hex else "text/html"}],
                    "content": {
                        "size": len(body),
                        "mimeType": "application/json" if r.trace_hex else "text/html",
                        "text": body,
                    },
                    "headersSize": 127,
                    "bodySize": len(body),
                    "redirectURL": "",
                },
                "cache": {},
                "timings": {"dns": -1, "connect": -1, "ssl": -1, "send": 0, "wait": ms * 0.8, "receive": ms * 0.2},
                "_resourceType": "fetch" if r.trace_hex else "document",
                "serverIPAddress": "10.0.3.17",
            }
        )
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "Playwright", "version": "1.65.1"},
            "browser": {"name": "chromium", "version": "156.0.0.0"},
            "pages": pages,
            "entries": entries,
        }
    }


def _snapshot(title: str) -> dict[str, Any]:
    def element(tag: str, node_id: int, attributes: dict[str, str], children: list[dict[str, Any]]) -> dict[str, Any]:
        return {"type": 2, "tagName": tag, "attributes": attributes, "childNodes": children, "id": node_id}

    def text(value: str, node_id: int) -> dict[str, Any]:
        return {"type": 3, "textContent": value, "id": node_id}

    body = element(
        "body",
        5,
        {},
        [
            element("h1", 6, {}, [text(title, 7)]),
            element("input", 8, {"id": "username", "name": "username"}, []),
            element("input", 9, {"id": "password", "type": "password"}, []),
            element("input", 10, {"id": "coupon", "name": "coupon"}, []),
            element("button", 11, {"class": "add-to-cart"}, [text("Add to cart", 12)]),
            element("button", 13, {"class": "place-order"}, [text("Place order", 14)]),
        ],
    )
    html = element(
        "html", 2, {"lang": "en"}, [element("head", 3, {}, [element("title", 4, {}, [text(title, 15)])]), body]
    )
    return {"node": {"type": 0, "childNodes": [html], "id": 1}, "initialOffset": {"left": 0, "top": 0}}


_TARGETS = {"#username": (8, "ann"), "#password": (9, "hunter2-bench"), "#coupon": (10, "SAVEBIG")}
_BUTTONS = {"button.add-to-cart": 11, "button.place-order": 13}


def rrweb_events(visit: Visit) -> list[dict[str, Any]]:
    """An rrweb recording of the visit: meta + full snapshot per page, clicks, inputs, network and console."""
    events: list[tuple[int, dict[str, Any]]] = []
    for r in visit.requests:
        ms = r.start_ns // MS
        if r.navigation:
            if r.url.endswith("/config.js"):
                continue
            events.append((ms, {"type": 4, "data": {"href": r.url, "width": 1280, "height": 800}}))
            events.append((ms + 1, {"type": 2, "data": _snapshot("Demo shop")}))
            continue
        request = {
            "method": r.method,
            "initiatorType": "fetch",
            "duration": r.duration_ns / MS,
            "entryType": "resource",
            "name": r.url,
            "status": r.status,
            "startTime": 300,
            "endTime": 300 + r.duration_ns // MS,
            "requestHeaders": {
                "traceparent": f"00-{r.trace_hex}-{r.span_hex}-01",
                "x-session-id": visit.session_id,
            },
            "requestBody": "",
            "responseHeaders": None,
            "responseBody": None,
        }
        done = (r.start_ns + r.duration_ns) // MS
        events.append((done, {"type": 6, "data": {"plugin": "rrweb/network@1", "payload": {"requests": [request]}}}))
    for when, target in visit.inputs:
        ms = when // MS
        if target in _BUTTONS:
            events.append(
                (ms, {"type": 3, "data": {"source": 2, "type": 2, "id": _BUTTONS[target], "x": 355, "y": 280}})
            )
        else:
            node, value = _TARGETS[target]
            events.append((ms, {"type": 3, "data": {"source": 5, "text": value, "isChecked": False, "id": node}}))
    for when, message in visit.console_errors:
        payload = {"level": "error", "trace": ["shopFetch (shop.js:57:15)"], "payload": [json.dumps(message)]}
        events.append((when // MS, {"type": 6, "data": {"plugin": "rrweb/console@1", "payload": payload}}))
    events.sort(key=lambda item: item[0])
    return [{**event, "timestamp": ms} for ms, event in events]


# -- driver -------------------------------------------------------------------------------------
def generate(
    out_dir: Path,
    *,
    seed: int = 7,
    sessions: int | None = None,
    spans: int | None = None,
    size_bytes: int | None = None,
    batch: int = 512,
    file_spans: int | None = None,
    browser_share: float = 0.02,
    progress: bool = False,
) -> Summary:
    """Write a data set into `out_dir` (see the module docstring) and return what was written."""
    if sessions is None and spans is None and size_bytes is None:
        spans = 200_000
    started = time.perf_counter()
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ".summary.json").unlink(missing_ok=True)
    summary = Summary(seed=seed)
    sink = Sink(out_dir, summary, file_spans)
    gen = Generator(rng, sink, batch)
    browser_dir = out_dir / "browser"
    names, weights = zip(*SCENARIOS, strict=True)
    users = [f"user-{n:05d}" for n in range(1, 4001)]
    returning: list[tuple[int, str]] = []  # (when, user) of second visits still to start

    def done() -> bool:
        return (
            (sessions is None or summary.sessions >= sessions)
            and (spans is None or summary.spans >= spans)
            and (size_bytes is None or summary.bytes >= size_bytes)
        )

    queue: list[tuple[int, int, Iterator[int], Visit]] = []
    next_start = BASE_NS
    started_sessions = 0
    last_report = time.perf_counter()

    def start_session(when: int, scenario: str, user: str | None) -> None:
        nonlocal started_sessions
        started_sessions += 1
        browser = None
        if rng.random() < browser_share:
            browser = "har" if started_sessions % 2 else "rrweb"
        visit = Visit(
            session_id=f"sess_{rng.getrandbits(64):016x}",
            user_id=user,
            scenario=scenario,
            canary=scenario in ("n-plus-one", "redundant-calls", "over-fetching"),
            browser=browser,
            cookie=f"shop_auth=tok_{rng.getrandbits(96):024x}",
        )
        summary.scenarios[scenario] = summary.scenarios.get(scenario, 0) + 1
        steps = gen.session(visit, when)
        heapq.heappush(queue, (when, started_sessions, steps, visit))

    while True:
        now = queue[0][0] if queue else next_start
        if not done():
            while next_start <= now or not queue:
                scenario = rng.choices(names, weights)[0]
                anonymous = scenario in ("redundant-calls", "over-fetching") or rng.random() < 0.3
                user = None if anonymous and scenario != "returning-user" else rng.choice(users)
                if scenario == "returning-user":
                    returning.append((next_start + 45 * 60 * SECOND, user))
                start_session(next_start, scenario, user)
                next_start += int(rng.expovariate(1 / SESSION_GAP_MEAN_S) * SECOND) + 1
                now = queue[0][0]
            while returning and returning[0][0] <= now:
                when, user = returning.pop(0)
                start_session(when, "returning-user", user)  # the same user, 45 minutes later
        if not queue:
            break
        when, order, steps, visit = heapq.heappop(queue)
        gen.tick(when)
        following = next(steps, None)
        if following is None:
            summary.sessions += 1
            if visit.browser:
                _write_browser(browser_dir, visit, summary)
        else:
            heapq.heappush(queue, (max(following, when + 1), order, steps, visit))
        if progress and time.perf_counter() - last_report > 5:
            last_report = time.perf_counter()
            print(
                f"  … {summary.sessions:,} sessions, {summary.spans:,} spans, {summary.bytes / 1e6:,.0f} MB",
                file=sys.stderr,
            )
    gen.flush()
    sink.close()
    summary.traces = gen.traces
    summary.seconds = round(time.perf_counter() - started, 1)
    (out_dir / ".summary.json").write_text(json.dumps(asdict(summary), indent=2))
    return summary


def _write_browser(browser_dir: Path, visit: Visit, summary: Summary) -> None:
    if visit.browser == "har":
        path, doc = browser_dir / "har" / f"{visit.session_id}.har", har_document(visit)
    else:
        path, doc = browser_dir / "rrweb" / f"{visit.session_id}.json", rrweb_events(visit)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = orjson.dumps(doc)
    path.write_bytes(data)
    summary.browser_files += 1
    summary.browser_bytes += len(data)


def ensure_dataset(
    *,
    seed: int = 7,
    sessions: int | None = None,
    spans: int | None = None,
    size_bytes: int | None = None,
    file_spans: int | None = None,
    browser_share: float = 0.02,
) -> tuple[Path, Summary]:
    """A data set with these parameters, generated into the cache unless it is already there."""
    key = f"s{seed}-n{sessions}-sp{spans}-b{size_bytes}-f{file_spans}-w{browser_share}-v{GENERATOR_VERSION}"
    out_dir = CACHE_ROOT / f"data-{key}"
    marker = out_dir / ".summary.json"
    if marker.exists():
        fields = json.loads(marker.read_text())
        return out_dir, Summary(**fields)
    print(f"generating {out_dir} (cached for the next run) …", file=sys.stderr)
    summary = generate(
        out_dir,
        seed=seed,
        sessions=sessions,
        spans=spans,
        size_bytes=size_bytes,
        file_spans=file_spans,
        browser_share=browser_share,
        progress=True,
    )
    return out_dir, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sessions", type=int, help="at least this many sessions")
    parser.add_argument("--spans", type=int, help="at least this many spans")
    parser.add_argument("--bytes", type=float, dest="size_bytes", help="at least this many bytes of JSON Lines")
    parser.add_argument("--batch", type=int, default=512, help="most spans in one line (default 512)")
    parser.add_argument("--file-spans", type=int, help="start a new part file after this many spans")
    parser.add_argument("--browser-share", type=float, default=0.02, help="share of sessions with a browser file")
    args = parser.parse_args()
    summary = generate(
        args.out_dir,
        seed=args.seed,
        sessions=args.sessions,
        spans=args.spans,
        size_bytes=int(args.size_bytes) if args.size_bytes else None,
        batch=args.batch,
        file_spans=args.file_spans,
        browser_share=args.browser_share,
        progress=True,
    )
    rows = [
        ("sessions", f"{summary.sessions:,}"),
        ("traces", f"{summary.traces:,}"),
        ("spans", f"{summary.spans:,}"),
        ("log records", f"{summary.log_records:,}"),
        ("JSON Lines", f"{summary.lines:,} lines, {summary.spans_per_line:.0f} spans/line"),
        ("OTLP bytes", f"{summary.bytes / 1e6:,.1f} MB in {len(summary.otlp_files)} file(s)"),
        ("browser files", f"{summary.browser_files:,} ({summary.browser_bytes / 1e6:,.1f} MB)"),
        ("scenarios", ", ".join(f"{k} {v}" for k, v in sorted(summary.scenarios.items()))),
        ("took", f"{summary.seconds:.1f} s ({summary.spans / max(summary.seconds, 1e-9):,.0f} spans/s)"),
    ]
    print(f"data set in {args.out_dir} (seed {args.seed})")
    for label, value in rows:
        print(f"  {label:<14} {value}")


if __name__ == "__main__":
    main()
