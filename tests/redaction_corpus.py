"""The secret shapes real apps leak, and ordinary text that must survive, as recordings of every format.

`SHAPES` holds each shape once: how it reads in free text (`text`), and for shapes that are
a name and a value, the pair planted in attribute maps, headers and JSON bodies. `secret` is
what must never be stored or shown. `ORDINARY` is text no rule may change. The builders plant
every shape in every field the parsers read: OTLP JSON span attributes, span events, resource
and log records; Zipkin tags and annotations; HAR headers, query, cookies, postData and
response bodies; rrweb network requests (URL, headers, bodies) and console messages.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjdXQtaW4taGFsZi03NzEifQ.Q3V0SW5IYWxmU2lnbmF0dXJlNzcx"


@dataclass(frozen=True)
class Shape:
    name: str
    text: str  # the shape as it reads in free text (a URL, a message, a JSON body)
    secret: str  # what must never reach the database or a tool answer
    pair: tuple[str, str | int] | None = None  # (name, value) for maps, headers, JSON fields


SHAPES: tuple[Shape, ...] = (
    Shape(
        "camel_access_token",
        '{"accessToken": "atk7Q9w2E4r6T8y0U1i3"}',
        "atk7Q9w2E4r6T8y0U1i3",
        ("accessToken", "atk7Q9w2E4r6T8y0U1i3"),
    ),
    Shape(
        "camel_client_secret",
        '{"clientSecret": "cls3K8j5H2g9F4d1S6a0"}',
        "cls3K8j5H2g9F4d1S6a0",
        ("clientSecret", "cls3K8j5H2g9F4d1S6a0"),
    ),
    Shape(
        "dotted_camel",
        '{"app.sessionToken": "stk9M2n4B6v8C0x1Z3l5"}',
        "stk9M2n4B6v8C0x1Z3l5",
        ("app.sessionToken", "stk9M2n4B6v8C0x1Z3l5"),
    ),
    Shape(
        "csrf_header",
        '{"X-CSRFToken": "csrf4P7o1I9u3Y5t8R2e6"}',
        "csrf4P7o1I9u3Y5t8R2e6",
        ("X-CSRFToken", "csrf4P7o1I9u3Y5t8R2e6"),
    ),
    Shape(
        "query_access_token",
        "https://api.shop.test/v1/me?accessToken=qat5W8e1R4t7Y0u3I6o9&page=2",
        "qat5W8e1R4t7Y0u3I6o9",
    ),
    Shape(
        "query_session_token", "https://api.shop.test/v1/me?session_token=qst2A5s8D1f4G7h0J3k6", "qst2A5s8D1f4G7h0J3k6"
    ),
    Shape(
        "query_private_token",
        "https://git.shop.test/api/v4/projects?private_token=qpt6Z9x2C5v8B1n4M7q0",
        "qpt6Z9x2C5v8B1n4M7q0",
    ),
    Shape(
        "query_amz_signature",
        "https://bucket.s3.amazonaws.com/a.pdf?X-Amz-Expires=300&X-Amz-Signature=9f3e8d7c6b5a4f3e2d1c0b9a8f7e6d5c",
        "9f3e8d7c6b5a4f3e2d1c0b9a8f7e6d5c",
    ),
    Shape(
        "query_oauth_token", "https://shop.test/oauth/callback?oauth_token=qot8L1k4J7h0G3f6D9s2", "qot8L1k4J7h0G3f6D9s2"
    ),
    Shape(
        "percent_encoded",
        "https://shop.test/login?next=%2Faccount%3Ftoken%3Dpct3E6r9T2y5U8i1O4p7&lang=en",
        "pct3E6r9T2y5U8i1O4p7",
    ),
    Shape("form_new_password", "user=ann&new_password=NewPw-hunter2-77&confirm=1", "NewPw-hunter2-77"),
    Shape("numeric_json_password", '{"user": "ann", "password": 918273645}', "918273645", ("password", 918273645)),
    Shape("userinfo", "fetching https://deploy:uiP4ss-w0rd-9931@git.shop.test/shop.git", "uiP4ss-w0rd-9931"),
    Shape("path_token", "https://shop.test/reset-password/r3s3t9f8e7d6c5b4a3f2e1d0", "r3s3t9f8e7d6c5b4a3f2e1d0"),
    Shape("aws_key_id", "using credentials AKIAZ7QW3ERT5YUI8OPA for upload", "AKIAZ7QW3ERT5YUI8OPA"),
    Shape(
        "aws_secret",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8Xk3Ab9d",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8Xk3Ab9d",
    ),
    Shape(
        "aws_secret_alone",
        "key rotated: Tq8Wm3Lp0Zx7Vb4Nc1Hs6Jd9Kf2Gr5Ye8Ua3Io0P",
        "Tq8Wm3Lp0Zx7Vb4Nc1Hs6Jd9Kf2Gr5Ye8Ua3Io0P",
    ),
    Shape(
        "github_token",
        "push failed for ghp_Gh7Tk2Ln9Pq4Rs1Uv8Wx3Yz6Ab0Cd5Ef2Gh9I",
        "ghp_Gh7Tk2Ln9Pq4Rs1Uv8Wx3Yz6Ab0Cd5Ef2Gh9I",
    ),
    Shape("stripe_key", "charge with sk_live_51Hq8Zr2Lm5Nb7Vc3Xz9Kj4", "sk_live_51Hq8Zr2Lm5Nb7Vc3Xz9Kj4"),
    Shape(
        "pem_block",
        "loaded key -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAPemBodyS3cr3tLine0042xyz\n"
        "-----END RSA PRIVATE KEY-----",
        "MIIEpAIBAAKCAQEAPemBodyS3cr3tLine0042xyz",
    ),
    Shape(
        "dsn_url_in_exception",
        "OperationalError: could not connect to postgresql://shop:DsnPw-4417-qx@10.0.0.5:5432/shop",
        "DsnPw-4417-qx",
    ),
    Shape(
        "dsn_keywords", "connection failed: host=db.internal dbname=shop user=app password=KwPw-8820-zz", "KwPw-8820-zz"
    ),
    Shape("sql_password", "ALTER USER app WITH PASSWORD 'SqlPw-5531-mm' VALID UNTIL 'infinity'", "SqlPw-5531-mm"),
    Shape(
        "graphql_variables",
        json.dumps(
            {
                "query": "mutation Login($email: String!, $password: String!) "
                "{ login(email: $email, password: $password) { id } }",
                "variables": {"email": "ann@shop.test", "password": "GqlPw-6642-vv"},
            }
        ),
        "GqlPw-6642-vv",
    ),
    Shape(
        "graphql_inline",
        'mutation { login(email: "ann@shop.test", password: "GqlIn-7753-ww") { id } }',
        "GqlIn-7753-ww",
    ),
    Shape("bearer", "retrying with Authorization: Bearer brr9Q2w5E8r1T4y7U0i3O6p", "brr9Q2w5E8r1T4y7U0i3O6p"),
    Shape(
        "basic_auth",
        "Authorization: Basic " + base64.b64encode(b"ann:BasicPw-9864-uu").decode(),
        base64.b64encode(b"ann:BasicPw-9864-uu").decode(),
        ("authorization", "Basic " + base64.b64encode(b"ann:BasicPw-9864-uu").decode()),
    ),
)

# A JWT that a length limit cuts in half: the parsers' limit falls inside it.
CUT_SECRET = JWT

# A value masked by key in one file, met again as free text in another file of the same run.
KNOWN_ACROSS = "xfile9Q8w7E6r5T4y3U2i"

ORDINARY: tuple[str, ...] = (
    "/checkout/payment",
    "/api/orders/7f3c2a1e-9b8d-4c6e-a5f4-3b2a1c0d9e8f/items",
    "/static/js/main.3f9a8b7c2d1e4f5a.chunk.js",
    "/assets/index-BdF3x9Qk7LmP2wYz.js",
    "/users/42/settings/notifications",
    "/password/reset/confirmation",
    "/auth/callback/google",
    "/docs/api-keys-and-tokens",
    "GET /api/products?page=2&sort=price&limit=10",
    "Your session token expired, please sign in again",
    "used 731 of 4096 tokens",
    "password reset email sent to the user",
    "order ORD-2024-000123 shipped",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "commit 3f9a8b7c2d1e4f5a6b7c8d9e0f1a2b3c4d5e6f7a",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "keyboard shortcut ctrl+k opens the monkey search",
    "https://cdn.shop.test/img/logo@2x.png",
    "mail ann@shop.test about the refund",
    "AKIA is how AWS access key ids begin",
    "a-long-kebab-case-identifier-for-the-checkout-step",
)
# A cookie whose value is an ordinary word that recurs in paths; and one that is a secret.
COOKIES = {"last_page": "checkout", "sid": "ck8M3n6B9v2C5x8Z1l4K7j"}

T0_NS = 1_700_000_000_000_000_000
OTLP_SESSION = "s-corpus-otlp"
HAR_SESSION = "s-corpus-har"


def secrets() -> list[tuple[str, str]]:
    """(shape name, secret) for every planted secret, the cut JWT's first half and the cookie value."""
    out = [(s.name, s.secret) for s in SHAPES]
    out += [("cut_in_half", CUT_SECRET[:24]), ("known_across_files", KNOWN_ACROSS), ("cookie", COOKIES["sid"])]
    out += [("basic_password", "BasicPw-9864-uu")]
    return out


def _kv(key: str, value: Any) -> dict[str, Any]:
    typed = {"intValue": str(value)} if isinstance(value, int) else {"stringValue": str(value)}
    return {"key": key, "value": typed}


def _cut_text(limit: int) -> str:
    """A JSON body the parser's `limit` cuts inside the JWT."""
    head = '{"note": "' + "x" * (limit - 30) + '", "id_token": "'
    return head + CUT_SECRET + '", "tail": "' + "y" * 200 + '"}'


def _attributes(prefix: str) -> list[dict[str, Any]]:
    attrs = [_kv(f"{prefix}.note.{i}", s.text) for i, s in enumerate(SHAPES)]
    attrs += [_kv(s.pair[0], s.pair[1]) for s in SHAPES if s.pair]
    attrs += [_kv(f"{prefix}.ordinary.{i}", text) for i, text in enumerate(ORDINARY)]
    attrs.append(_kv(f"{prefix}.cut", _cut_text(2_000)))
    return attrs


def otlp_traces(session: str = OTLP_SESSION, trace: str = "c0" * 16) -> dict[str, Any]:
    span_attrs = [_kv("session.id", session), _kv("http.request.method", "POST"), *_attributes("app")]
    events = [
        {"name": "exception", "timeUnixNano": str(T0_NS + 1000 + i), "attributes": [_kv("exception.message", s.text)]}
        for i, s in enumerate(SHAPES)
    ]
    span = {
        "traceId": trace,
        "spanId": "d1" * 8,
        "name": "POST /api/login",
        "kind": 2,
        "startTimeUnixNano": str(T0_NS),
        "endTimeUnixNano": str(T0_NS + 500_000_000),
        "attributes": span_attrs,
        "events": events,
        "status": {"code": 2, "message": SHAPES[20].text},
    }
    child = {
        "traceId": trace,
        "spanId": "d2" * 8,
        "parentSpanId": "d1" * 8,
        "name": "db query",
        "kind": 3,
        "startTimeUnixNano": str(T0_NS + 1_000_000),
        "endTimeUnixNano": str(T0_NS + 2_000_000),
        "attributes": [_kv("db.system", "postgresql"), _kv("db.statement", SHAPES[22].text)],
    }
    resource = {"attributes": [_kv("service.name", "corpus-svc"), *_attributes("deployment")]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span, child]}]}]}


def otlp_logs(session: str = OTLP_SESSION, trace: str = "c0" * 16) -> dict[str, Any]:
    records = [
        {
            "timeUnixNano": str(T0_NS + 10_000 + i),
            "severityText": "ERROR",
            "severityNumber": 17,
            "body": {"stringValue": s.text},
            "attributes": [_kv("session.id", session), *([_kv(s.pair[0], s.pair[1])] if s.pair else [])],
            "traceId": trace,
            "spanId": "d1" * 8,
        }
        for i, s in enumerate(SHAPES)
    ]
    resource = {"attributes": [_kv("service.name", "corpus-svc")]}
    return {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]}


def zipkin() -> list[dict[str, Any]]:
    tags = {f"note.{i}": s.text for i, s in enumerate(SHAPES)}
    tags |= {s.pair[0]: str(s.pair[1]) for s in SHAPES if s.pair}
    tags |= {f"ordinary.{i}": text for i, text in enumerate(ORDINARY)}
    tags |= {"session.id": "s-corpus-zipkin", "cut": _cut_text(2_000)}
    return [
        {
            "traceId": "e0" * 16,
            "id": "e1" * 8,
            "name": "post /api/login",
            "kind": "SERVER",
            "timestamp": T0_NS // 1000,
            "duration": 5000,
            "localEndpoint": {"serviceName": "corpus-zipkin"},
            "tags": tags,
            "annotations": [{"timestamp": T0_NS // 1000 + i, "value": s.text} for i, s in enumerate(SHAPES)],
        }
    ]


def _url_of(shape: Shape) -> str:
    start = shape.text.find("https://")
    return shape.text[start:].split(" ")[0] if start >= 0 else "https://shop.test/api/note"


def har() -> dict[str, Any]:
    entries = []
    when = "2023-11-14T22:13:20.{:03d}Z"
    for i, shape in enumerate((*SHAPES, None)):
        text = shape.text if shape else _cut_text(2_000)
        url = _url_of(shape) if shape else "https://shop.test/checkout/payment"
        headers = [
            {"name": "x-session-id", "value": HAR_SESSION},
            {"name": "x-note", "value": text},
            *([{"name": shape.pair[0], "value": str(shape.pair[1])}] if shape and shape.pair else []),
        ]
        query = [{"name": "note", "value": text}]
        if shape and shape.pair:
            query.append({"name": shape.pair[0], "value": str(shape.pair[1])})
        entries.append(
            {
                "startedDateTime": when.format(i),
                "time": 12,
                "request": {
                    "method": "POST",
                    "url": url,
                    "httpVersion": "HTTP/1.1",
                    "headers": headers,
                    "queryString": query,
                    "cookies": [{"name": k, "value": v} for k, v in COOKIES.items()],
                    "postData": {"mimeType": "application/json", "text": text},
                    "headersSize": -1,
                    "bodySize": len(text),
                },
                "response": {
                    "status": 200,
                    "statusText": "OK",
                    "httpVersion": "HTTP/1.1",
                    "headers": [{"name": "x-note", "value": text}],
                    "cookies": [{"name": "sid", "value": COOKIES["sid"]}],
                    "content": {"size": len(text), "mimeType": "application/json", "text": text},
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": len(text),
                },
                "cache": {},
                "timings": {"send": 1, "wait": 10, "receive": 1},
            }
        )
    for j, text in enumerate(ORDINARY):
        path = text if text.startswith("/") else "/api/ordinary"
        entries.append(
            {
                "startedDateTime": when.format(100 + j),
                "time": 5,
                "request": {
                    "method": "GET",
                    "url": f"https://shop.test{path}",
                    "httpVersion": "HTTP/1.1",
                    "headers": [{"name": "x-session-id", "value": HAR_SESSION}, {"name": "x-note", "value": text}],
                    "queryString": [],
                    "cookies": [{"name": k, "value": v} for k, v in COOKIES.items()],
                    "headersSize": -1,
                    "bodySize": 0,
                },
                "response": {
                    "status": 200,
                    "statusText": "OK",
                    "httpVersion": "HTTP/1.1",
                    "headers": [],
                    "cookies": [],
                    "content": {"size": 0, "mimeType": "application/json", "text": json.dumps({"note": text})},
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": 0,
                },
                "cache": {},
                "timings": {"send": 1, "wait": 3, "receive": 1},
            }
        )
    return {"log": {"version": "1.2", "creator": {"name": "corpus", "version": "1"}, "entries": entries}}


def rrweb_events() -> list[dict[str, Any]]:
    t0 = T0_NS // 1_000_000
    events: list[dict[str, Any]] = [
        {
            "type": 4,
            "data": {"href": "https://shop.test/checkout/payment", "width": 800, "height": 600},
            "timestamp": t0,
        },
    ]
    requests = []
    for i, shape in enumerate((*SHAPES, None)):
        text = shape.text if shape else _cut_text(2_000)
        headers = {"x-note": text, **({shape.pair[0]: str(shape.pair[1])} if shape and shape.pair else {})}
        requests.append(
            {
                "method": "POST",
                "initiatorType": "fetch",
                "name": _url_of(shape) if shape else "https://shop.test/checkout/payment",
                "status": 200,
                "startTime": 10 + i,
                "endTime": 20 + i,
                "requestHeaders": headers,
                "requestBody": text,
                "responseHeaders": {"x-note": text},
                "responseBody": text,
            }
        )
    for j, text in enumerate(ORDINARY):
        path = text if text.startswith("/") else "/api/ordinary"
        requests.append(
            {
                "method": "GET",
                "initiatorType": "fetch",
                "name": f"https://shop.test{path}",
                "status": 200,
                "startTime": 100 + j,
                "endTime": 110 + j,
                "requestHeaders": {"x-note": text},
                "requestBody": "",
                "responseHeaders": None,
                "responseBody": json.dumps({"note": text}),
            }
        )
    events.append(
        {"type": 6, "data": {"plugin": "rrweb/network@1", "payload": {"requests": requests}}, "timestamp": t0 + 500}
    )
    for i, text in enumerate((*(s.text for s in SHAPES), _cut_text(300), _cut_text(2_000), *ORDINARY)):
        events.append(
            {
                "type": 6,
                "data": {
                    "plugin": "rrweb/console@1",
                    "payload": {"level": "error", "payload": [json.dumps(text)], "trace": [f"at login ({text[:80]})"]},
                },
                "timestamp": t0 + 1000 + i,
            }
        )
    return events


def known_across_files() -> tuple[dict[str, Any], dict[str, Any]]:
    """Two OTLP exports: the first masks a value by key, the second repeats it in a log body."""
    first = otlp_traces("s-known-1", "a1" * 16)
    first["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"].append(_kv("auth_token", KNOWN_ACROSS))
    second = otlp_logs("s-known-2", "a2" * 16)
    second["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"] = {
        "stringValue": f"retrying the upload with {KNOWN_ACROSS} after 3 attempts"
    }
    return first, second
