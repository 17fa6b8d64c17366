"""OTLP/HTTP receiver: real OpenTelemetry exporters send spans and logs straight to the index.

    POST /v1/traces, /v1/logs (and /v1/metrics, counted and dropped)
    Content-Type application/x-protobuf or application/json, optionally gzip-encoded

    request ─► size/type checks ─► decode + redact (worker thread) ─► queue ─┐
                                                                             ▼
    response ◄─ after COMMIT ◄──────────── one writer thread: every queued request in one transaction

Acknowledged means committed: a request is answered only after the transaction holding
it commits, so stopping the receiver loses nothing it acknowledged (it stops accepting,
drains the queue, then exits). Under load, requests that wait in the queue together are
written in one transaction. Responses follow the OTLP/HTTP specification: 200 with an
Export*ServiceResponse in the request's encoding (with `partial_success` when some
spans were rejected), 400 with a google.rpc.Status for malformed payloads, 413 beyond
the size limit, 415 for other media types or encodings; nothing of a rejected request
is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import queue
import socket
import threading
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal

import anyio
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from mcp_sessions.errors import InputError, MalformedInputError
from mcp_sessions.formats import otlp_json, otlp_proto
from mcp_sessions.model import Record, SkippedRecords
from mcp_sessions.redact import DEFAULT_RULES, RedactionReport, RedactionRules, redact_records
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite.writer import IngestWriter

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4318
DEFAULT_MAX_BODY = 16 * 1024 * 1024
MAX_BATCH_REQUESTS = 256

Signal = Literal["traces", "logs", "metrics"]
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_JSON_KEYS: dict[Signal, tuple[str, ...]] = {
    "traces": ("resourceSpans", "resource_spans"),
    "logs": ("resourceLogs", "resource_logs"),
    "metrics": ("resourceMetrics", "resource_metrics"),
}
_REJECTED_KIND: dict[Signal, str] = {"traces": "rejected span", "logs": "rejected log", "metrics": "rejected metric"}
# google.rpc.Code values used in Status bodies.
_INVALID_ARGUMENT, _RESOURCE_EXHAUSTED, _UNAVAILABLE = 3, 8, 14


class RequestRejected(Exception):
    """A request answered with an error status; nothing of it is stored."""

    def __init__(self, status: int, message: str, code: int = _INVALID_ARGUMENT) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class _Pending:
    records: list[Record]
    body_hash: str
    redactions: dict[str, int]
    done: Callable[[BaseException | None], None]


@dataclass
class ReceiverStats:
    requests: int = 0
    transactions: int = 0
    spans_stored: int = 0
    logs_stored: int = 0
    rejected: int = 0
    redactions: dict[str, int] = field(default_factory=dict)


class BatchWriter:
    """One thread owns the database writes; see the module docstring."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.stats = ReceiverStats()
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="otlp-writer", daemon=True)
        self._accepting = True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, write everything already queued, then end the thread."""
        self._accepting = False
        self._queue.put(None)
        self._thread.join()

    async def submit(self, records: list[Record], body_hash: str, redactions: dict[str, int]) -> None:
        """Queue one request's records and wait until they are committed."""
        if not self._accepting:
            raise RequestRejected(503, "the receiver is shutting down; retry", _UNAVAILABLE)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def done(error: BaseException | None) -> None:
            def resolve() -> None:
                if future.done():
                    return
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

            loop.call_soon_threadsafe(resolve)

        self._queue.put(_Pending(records, body_hash, redactions, done))
        await future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            batch: list[_Pending] = []
            if item is None:
                stopping = True
            else:
                batch.append(item)
            while len(batch) < MAX_BATCH_REQUESTS:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                else:
                    batch.append(more)
            if batch:
                self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        batch_hash = hashlib.sha256("".join(p.body_hash for p in batch).encode()).hexdigest()
        redactions: dict[str, int] = {}
        for pending in batch:
            for rule, n in pending.redactions.items():
                redactions[rule] = redactions.get(rule, 0) + n
        try:
            with IngestWriter(self.store.conn, source="otlp-http", fmt="otlp-http", content_hash=batch_hash) as w:
                if not w.already_ingested:
                    for pending in batch:
                        w.add(pending.records)
                    counts = w.finish(redactions)
                    self.stats.spans_stored += counts.spans_stored
                    self.stats.logs_stored += counts.logs_stored
        except Exception as exc:  # a failed commit is answered 503 so exporters retry
            log.warning("receiver write failed: %s", exc)
            error = RequestRejected(503, "the database could not store this batch; retry", _UNAVAILABLE)
            for pending in batch:
                pending.done(error)
            return
        self.stats.requests += len(batch)
        self.stats.transactions += 1
        for rule, n in redactions.items():
            self.stats.redactions[rule] = self.stats.redactions.get(rule, 0) + n
        for pending in batch:
            pending.done(None)


async def _read_body(request: Request, max_body: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_body:
        raise RequestRejected(413, f"request body over the {max_body} byte limit", _RESOURCE_EXHAUSTED)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise RequestRejected(413, f"request body over the {max_body} byte limit", _RESOURCE_EXHAUSTED)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise RequestRejected(415, f"unsupported Content-Encoding {encoding!r}; send gzip or none")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(body, max_body + 1)
    except zlib.error:
        raise RequestRejected(400, "body is not valid gzip") from None
    if len(inflated) > max_body or inflater.unconsumed_tail:
        raise RequestRejected(413, f"decompressed body over the {max_body} byte limit", _RESOURCE_EXHAUSTED)
    return inflated


def decode(signal: Signal, media: str, body: bytes) -> list[Record]:
    """The records of one export request; raises RequestRejected(400) for a malformed payload."""
    try:
        if media == PROTOBUF:
            parse = {
                "traces": otlp_proto.traces_from_bytes,
                "logs": otlp_proto.logs_from_bytes,
                "metrics": otlp_proto.metrics_from_bytes,
            }[signal]
            return list(parse(body))
        doc = orjson.loads(body) if body.strip() else {}
        if not isinstance(doc, dict) or (doc and not any(k in doc for k in _JSON_KEYS[signal])):
            raise RequestRejected(400, f"JSON body is not an OTLP {signal} export request")
        doc = {_JSON_KEYS[signal][0]: doc.get(_JSON_KEYS[signal][0], doc.get(_JSON_KEYS[signal][1], []))}
        return list(otlp_json.parse_request(doc))
    except orjson.JSONDecodeError as exc:
        raise RequestRejected(400, f"invalid JSON at line {exc.lineno} column {exc.colno}") from None
    except (MalformedInputError, InputError) as exc:
        raise RequestRejected(400, str(exc)) from None


def _status_body(media: str, code: int, message: str) -> bytes:
    if media == JSON:
        return orjson.dumps({"code": code, "message": message})
    # google.rpc.Status { int32 code = 1; string message = 2; } encoded by hand (no extra dependency).
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _success_body(signal: Signal, media: str, rejected: int, reason: str | None) -> bytes:
    field_name = {"traces": "rejectedSpans", "logs": "rejectedLogRecords", "metrics": "rejectedDataPoints"}[signal]
    if media == JSON:
        doc = {"partialSuccess": {field_name: str(rejected), "errorMessage": reason or ""}} if rejected else {}
        return orjson.dumps(doc)
    if not rejected:
        return b""
    # Export*ServiceResponse { Export*PartialSuccess partial_success = 1 { int64 rejected = 1; string msg = 2; } }
    text = (reason or "").encode()
    inner = b"\x08" + _varint(rejected) + b"\x12" + _varint(len(text)) + text
    return b"\x0a" + _varint(len(inner)) + inner


def create_app(store: Store, *, max_body: int = DEFAULT_MAX_BODY, rules: RedactionRules = DEFAULT_RULES) -> Starlette:
    """The receiver's ASGI app; every request is redacted under `rules` before it is queued."""
    writer = BatchWriter(store)

    async def export(request: Request, signal: Signal) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        reply_media = media if media in (PROTOBUF, JSON) else JSON
        try:
            if media not in (PROTOBUF, JSON):
                raise RequestRejected(415, f"unsupported Content-Type {media or '(none)'!r}; send {PROTOBUF} or {JSON}")
            body = await _read_body(request, max_body)
            records = await anyio.to_thread.run_sync(decode, signal, media, body)
            report = RedactionReport(rules)
            records = await anyio.to_thread.run_sync(lambda: list(redact_records(records, report)))
            rejected = [r for r in records if isinstance(r, SkippedRecords) and r.kind == _REJECTED_KIND[signal]]
            await writer.submit(records, hashlib.sha256(body).hexdigest(), report.as_dict())
        except RequestRejected as exc:
            writer.stats.rejected += 1
            return Response(
                _status_body(reply_media, exc.code, str(exc)), status_code=exc.status, media_type=reply_media
            )
        count = sum(r.count for r in rejected)
        reason = next((r.reason for r in rejected if r.reason), None)
        return Response(_success_body(signal, reply_media, count, reason), media_type=reply_media)

    async def traces(request: Request) -> Response:
        return await export(request, "traces")

    async def logs(request: Request) -> Response:
        return await export(request, "logs")

    async def metrics(request: Request) -> Response:
        return await export(request, "metrics")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        writer.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(writer.stop)
            s = writer.stats
            log.info(
                "receiver stopped: %d requests in %d transactions, %d spans and %d logs stored",
                s.requests,
                s.transactions,
                s.spans_stored,
                s.logs_stored,
            )

    app = Starlette(
        routes=[
            Route("/v1/traces", traces, methods=["POST"]),
            Route("/v1/logs", logs, methods=["POST"]),
            Route("/v1/metrics", metrics, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.writer = writer
    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free one; read it back with getsockname())."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def uvicorn_server(app: ASGIApp) -> uvicorn.Server:
    # No uvicorn log config and no access log: in `serve --collect` stdout carries MCP.
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=10)
    return uvicorn.Server(config)


async def serve_receiver(
    store: Store, sock: socket.socket, *, max_body: int = DEFAULT_MAX_BODY, rules: RedactionRules = DEFAULT_RULES
) -> None:
    """Run until cancelled or signalled; on the way out every queued request is written first."""
    server = uvicorn_server(create_app(store, max_body=max_body, rules=rules))
    try:
        await server.serve(sockets=[sock])
    finally:
        if not server.started:
            log.warning("receiver did not start")
