"""Streamable HTTP for shared servers: bearer-token auth, DNS-rebinding protection, size limits.

    client ──► BearerAuth (401 without the token) ──► SDK transport security (Host/Origin
               checked against the allowed hosts) ──► body size limit ──► MCP at /mcp

Binding beyond loopback requires a token: a server reachable from the network answers
nothing to a request that does not carry `Authorization: Bearer <token>` (the scheme in
any case, as RFC 9110 allows). A token shorter than MIN_TOKEN_LENGTH is refused at start:
a guessable token is no protection. A session unused for `session_idle_s` is closed; the
client's next request with its id gets 404 and the client starts a new session.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

import orjson
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_sessions.errors import InvalidArgumentError

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MCP_PATH = "/mcp"
TOKEN_ENV_VAR = "MCP_SESSIONS_TOKEN"
MAX_REQUEST_BYTES = 1024 * 1024  # tool calls are small; nothing legitimate comes near this
MIN_TOKEN_LENGTH = 16
DEFAULT_SESSION_IDLE_S = 30 * 60


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BearerAuth:
    """Pure ASGI middleware: every HTTP request must carry the bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = token.encode()

    def _authorized(self, header: bytes) -> bool:
        scheme, _, credentials = header.strip().partition(b" ")
        # compare_digest runs in time independent of where the tokens differ
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.expected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not self._authorized(given):
                body = orjson.dumps({"error": "unauthorized", "message": "send Authorization: Bearer <token>"})
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="mcp-sessions"'),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def security_settings(host: str, port: int, extra_hosts: list[str]) -> TransportSecuritySettings:
    """Host/Origin allow-lists: loopback names always, the bound host, and what the operator adds."""
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    if not is_loopback(host) and host not in ("0.0.0.0", "::"):
        hosts.append(f"{host}:*")
    for name in extra_hosts:
        hosts.append(name if ":" in name.rstrip("]") else f"{name}:*")
    origins = [f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def build_app(
    mcp: MCPServer,
    *,
    host: str,
    port: int,
    token: str | None,
    allowed_hosts: list[str],
    session_idle_s: float = DEFAULT_SESSION_IDLE_S,
) -> ASGIApp:
    if not is_loopback(host) and not token:
        raise InvalidArgumentError(
            f"serving on {host} (beyond loopback) needs a bearer token: pass --token or set ${TOKEN_ENV_VAR}"
        )
    if token is not None and token != "" and (len(token) < MIN_TOKEN_LENGTH or token != token.strip()):
        raise InvalidArgumentError(
            f"the bearer token must be at least {MIN_TOKEN_LENGTH} characters without surrounding spaces; "
            "make one with `openssl rand -hex 16`"
        )
    if not (session_idle_s > 0 and session_idle_s < float("inf")):
        raise InvalidArgumentError("--session-idle-minutes must be a positive number")
    app: ASGIApp = mcp.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=security_settings(host, port, allowed_hosts),
        max_request_body_size=MAX_REQUEST_BYTES,
        session_idle_timeout=session_idle_s,
        host=host,
    )
    return BearerAuth(app, token) if token else app
