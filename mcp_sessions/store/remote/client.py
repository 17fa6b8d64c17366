"""One HTTP GET to the source, bounded in time and size, its failures as SourceErrors that say what to check.

Every request goes through `SourceClient.get`: a 404 is an answer (None: nothing there), every other
failure (refused connection, timeout, TLS, 401/403, 5xx, a body over the size limit) is a SourceError
naming the URL asked and the likely fix. No response text reaches the message beyond a short,
single-line excerpt of the source's own error, and the bearer token never does.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from mcp_sessions import __version__
from mcp_sessions.errors import SourceError
from mcp_sessions.formats.detect import MAX_DOCUMENT_BYTES
from mcp_sessions.store.remote.dsn import SourceConfig

log = logging.getLogger(__name__)

_EXCERPT = 160


@dataclass(frozen=True)
class Response:
    """A 2xx (or 404) answer: its status, content type and body."""

    status: int
    content_type: str
    body: bytes
    url: str

    def json(self) -> Any:
        """The body as JSON; SourceError when it is not (an HTML page, a proxy's error text)."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            pass
        try:  # a stream of JSON documents (Jaeger's gateway writes one per chunk)
            return _documents(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise SourceError(
                f"{self.url} answered {self.status} with {_describe(self)}, not JSON; check that the --store URL "
                "points at the query API (Jaeger's query port is 16686, Tempo's HTTP port 3200)"
            ) from None


class SourceClient:
    """An httpx client for one source; `requests` counts what was sent (tests read it)."""

    def __init__(self, config: SourceConfig, transport: httpx.BaseTransport | None = None) -> None:
        headers = {"User-Agent": f"mcp-sessions/{__version__}"}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        self.config = config
        self.requests = 0
        self._lock = threading.Lock()
        self._client = httpx.Client(
            base_url=config.base_url,
            headers=headers,
            timeout=httpx.Timeout(config.timeout_s),
            transport=transport,
            follow_redirects=True,
            trust_env=False,
        )

    def close(self) -> None:
        self._client.close()

    def get(self, path: str, params: Mapping[str, str] | None = None, *, accept: str = "application/json") -> Response:
        """GET `path` under the base URL; 2xx and 404 come back, anything else raises SourceError."""
        url = str(self._client.build_request("GET", path, params=params).url)
        shown = url.split("?", 1)[0]
        with self._lock:
            self.requests += 1
        try:
            with self._client.stream("GET", path, params=params, headers={"Accept": accept}) as answer:
                body = _bounded(answer, shown)
                response = Response(answer.status_code, answer.headers.get("content-type", ""), body, shown)
        except httpx.TimeoutException:
            raise SourceError(
                f"{shown} did not answer within {self.config.timeout_s:g} s; check that the source is up and "
                "reachable, or raise ?timeout= in the --store URL"
            ) from None
        except httpx.ConnectError as exc:
            raise SourceError(
                f"cannot connect to {self.config.base_url} ({_reason(exc)}); check that {self.config.label} is "
                "running and the host and port in --store are right"
            ) from None
        except httpx.HTTPError as exc:
            raise SourceError(f"{shown}: the request failed ({type(exc).__name__}); check the --store URL") from None
        log.debug("%s → %d (%d bytes)", shown, response.status, len(response.body))
        if 200 <= response.status < 300 or response.status == 404:
            return response
        raise SourceError(_status_message(self.config, response))


def _bounded(answer: httpx.Response, shown: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in answer.iter_bytes():
        size += len(chunk)
        if size > MAX_DOCUMENT_BYTES:
            limit = (
                f"{MAX_DOCUMENT_BYTES >> 20} MiB" if MAX_DOCUMENT_BYTES >= 1 << 20 else f"{MAX_DOCUMENT_BYTES} bytes"
            )
            raise SourceError(
                f"{shown} answered with more than {limit}, the most one answer may hold; nothing of it was cached "
                "(a search: lower ?limit= in the --store URL)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _status_message(config: SourceConfig, response: Response) -> str:
    said = _source_says(response)
    if response.status in (401, 403):
        token = f"the token in ${config.token_env}" if config.token_env else "no token (set ?token_env=NAME)"
        return f"{response.url} refused us ({response.status}{said}); we sent {token}: check it grants read access"
    if response.status >= 500:
        return f"{response.url} failed ({response.status}{said}); {config.label} has a problem: retry or check its logs"
    return f"{response.url} answered {response.status}{said}; check the --store URL and the source's version"


def _source_says(response: Response) -> str:
    """`: <the source's own short error>`, from Jaeger's or Tempo's error shapes, or nothing."""
    text = ""
    try:
        doc = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict):
        error = doc.get("error")
        errors = doc.get("errors")
        if isinstance(error, dict):
            text = str(error.get("message") or "")
        elif isinstance(error, str):
            text = error
        elif isinstance(errors, list) and errors and isinstance(errors[0], dict):
            text = str(errors[0].get("msg") or "")
        elif isinstance(doc.get("message"), str):
            text = doc["message"]
    elif doc is None and response.content_type.startswith("text/plain"):
        text = response.body[:_EXCERPT].decode("utf-8", "replace")
    text = " ".join(text.split())[:_EXCERPT]
    return f": {text!r}" if text else ""


def _describe(response: Response) -> str:
    if not response.body.strip():
        return "an empty body"
    kind = response.content_type.split(";")[0].strip() or "no content type"
    return f"{len(response.body)} bytes of {kind}"


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc).lower()
    for marker, reason in (
        ("refused", "connection refused"),
        ("name or service", "unknown host"),
        ("nodename", "unknown host"),
        ("certificate", "TLS certificate not trusted"),
        ("ssl", "TLS failed"),
    ):
        if marker in text:
            return reason
    return type(exc).__name__


def _documents(text: str) -> list[Any]:
    """Concatenated JSON documents; ValueError when the text is not that."""
    decoder = json.JSONDecoder()
    out: list[Any] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        doc, i = decoder.raw_decode(text, i)
        out.append(doc)
    if len(out) < 2:
        raise ValueError("not a stream of documents")
    return out
