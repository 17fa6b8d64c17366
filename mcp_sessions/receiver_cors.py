"""Cross-origin requests from browser pages: refused unless their origin is configured (`--cors-origin`).

    page at http://localhost:5173 ── OPTIONS /v1/traces (preflight) ──► 204 + Access-Control-Allow-*
                                  ── POST /v1/traces, Origin: … ─────► the route; its answer + Allow-Origin
    a page of any other origin    ── anything ───────────────────────► 403, nothing read or stored
    an exporter outside a browser (no Origin header) ────────────────► the route, untouched

A request carrying an Origin that is not configured is refused whatever its method and media
type. CORS headers alone would not be enough: a "simple" POST (text/plain, which
`navigator.sendBeacon` sends) is not preflighted, so without this any site open in the same
browser could write into the database; the browser would only hide the answer from it.

What the browser's OpenTelemetry exporter (`@opentelemetry/exporter-trace-otlp-http`, fetch
with `mode: "cors"`) and the rrweb snippet need from a preflight: the origin echoed, POST, the
headers they ask for (Content-Type, Content-Encoding, custom exporter headers), and, for a page
on a public address posting to this loopback receiver, Chrome's Private Network Access answer.
Answers expose Retry-After, which the exporter reads on 429/503. Credentials are allowed so
that beacons (always sent with credentials) and older exporters that used them are not
blocked; the receiver reads no cookies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_sessions import urls
from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.receiver_limits import Throttled, log

PREFLIGHT_MAX_AGE_S = 600
_TOKEN = re.compile(r"\A[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERMISSION_DENIED = 7  # google.rpc.Code


def normalize_origin(text: str) -> str:
    """`scheme://host[:port]` as browsers send it in Origin; InvalidArgumentError for anything else."""
    parts = urls.split(text.strip())
    bad = (
        parts.scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or (parts.raw_port != "" and parts.port is None)
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    )
    if bad:
        raise InvalidArgumentError(
            f"--cors-origin {text!r}: expected an origin such as http://localhost:5173 or https://app.example.com "
            "(scheme, host and port only)"
        )
    host = parts.hostname
    host = f"[{host}]" if ":" in host else host
    port = parts.port
    suffix = f":{port}" if port is not None and port != _DEFAULT_PORTS[parts.scheme] else ""
    return f"{parts.scheme}://{host}{suffix}"


def normalize_origins(texts: Iterable[str]) -> tuple[str, ...]:
    """Each origin normalized, in order, once."""
    return tuple(dict.fromkeys(normalize_origin(t) for t in texts))


class CorsMiddleware:
    """The policy of the module docstring around an ASGI app."""

    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(normalize_origins(origins))
        self.events = Throttled(log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        if origin.lower() not in self.origins:
            await self._refuse(origin, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, headers, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["access-control-allow-origin"] = origin
                out["access-control-allow-credentials"] = "true"
                out["access-control-expose-headers"] = "Retry-After"
                out.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _refuse(self, origin: str, send: Send) -> None:
        shown = origin[:200]
        hint = (
            f"start the receiver with --cors-origin {shown}"
            if self.origins
            else f"cross-origin requests are off; start the receiver with --cors-origin {shown}"
        )
        self.events.event("cors", f"refused requests from the origin {shown!r}: {hint}")
        body = orjson.dumps({"code": _PERMISSION_DENIED, "message": f"the origin {shown!r} is not allowed; {hint}"})
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _preflight(origin: str, headers: Headers, send: Send) -> None:
        out = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", b"POST"),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-max-age", str(PREFLIGHT_MAX_AGE_S).encode()),
            (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
            (b"content-length", b"0"),
        ]
        asked = [h.strip() for h in headers.get("access-control-request-headers", "").split(",") if h.strip()]
        if asked and all(_TOKEN.match(h) for h in asked):
            out.append((b"access-control-allow-headers", ", ".join(asked).encode("latin-1")))
        if headers.get("access-control-request-private-network") == "true":
            out.append((b"access-control-allow-private-network", b"true"))
        await send({"type": "http.response.start", "status": 204, "headers": out})
        await send({"type": "http.response.body", "body": b""})
