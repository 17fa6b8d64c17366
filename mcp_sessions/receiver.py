"""OTLP/HTTP receiver: real OpenTelemetry exporters send spans and logs straight to the index.

    POST /v1/traces, /v1/logs (and /v1/metrics, counted and dropped)
    Content-Type application/x-protobuf or application/json, optionally gzip-encoded

    request ─► type, quota and size checks ─► body (budgeted, timed) ─► inflate every gzip member
        ─► decode + check values + redact (worker thread) ─► queue ─┐
                                                                    ▼
    response ◄─ after COMMIT ◄───── one writer thread: every queued request in one transaction

Acknowledged means committed: a request is answered only after the transaction holding
it commits, so stopping the receiver loses nothing it acknowledged (it stops accepting,
drains the queue, then exits). Under load, requests that wait in the queue together are
written in one transaction.

Bad input is isolated at three depths. A span or log record whose values cannot be stored
(an id of the wrong width, a time beyond the stored range, attributes nested too deep) is
rejected alone: the others are stored and the answer is 200 with `partial_success` naming
the count and the first reason; a request with nothing good in it is 400. A request the
parsers passed but the database refuses is retried alone, so it never fails the batch it
shared: the others commit, it gets 400.

Status codes follow the OTLP/HTTP specification, and 503 (with Retry-After) means only
"retrying can help": the database is busy, the disk or the storage quota is full, the
memory budget for requests in flight is used up, or the receiver is stopping. Everything
that is the request's own fault is 4xx, so exporters do not retry it for ever: 400
malformed (google.rpc.Status body), 408 body too slow, 413 over the size limit (also after
decompression), 415 other media types or encodings. Nothing of a rejected request is
stored. Connection cap, timeouts and budgets: see `receiver_limits`.
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
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from mcp_sessions.errors import DatabaseBusyError, InputError, MalformedInputError, StorageFullError, StoreError
from mcp_sessions.formats import otlp_json, otlp_proto
from mcp_sessions.formats.coerce import checked_records
from mcp_sessions.model import Record, SkippedRecords
from mcp_sessions.receiver_limits import (
    DECODED_PER_BYTE,
    MIB,
    BudgetExceeded,
    ByteBudget,
    ReceiverLimits,
    Throttled,
    ThrottleFilter,
    guarded_protocol,
)
from mcp_sessions.redact import DEFAULT_RULES, RedactionReport, RedactionRules, redact_records
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite.writer import IngestWriter

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4318
DEFAULT_MAX_BODY = ReceiverLimits.max_body
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
_INVALID_ARGUMENT, _RESOURCE_EXHAUSTED, _UNAVAILABLE, _DEADLINE_EXCEEDED, _INTERNAL = 3, 8, 14, 4, 13
RETRY_BUSY_S, RETRY_FULL_S = 2, 60


class RequestRejected(Exception):
    """A request answered with an error status; nothing of it is stored."""

    def __init__(
        self, status: int, message: str, code: int = _INVALID_ARGUMENT, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after


def _unavailable(message: str, retry_after: int = RETRY_BUSY_S) -> RequestRejected:
    return RequestRejected(503, message, _UNAVAILABLE, retry_after)


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
    statuses: dict[int, int] = field(default_factory=dict)  # responses sent, by HTTP status


class BatchWriter:
    """One thread owns the database writes; see the module docstring."""

    def __init__(self, store: Store, limits: ReceiverLimits | None = None) -> None:
        self.store = store
        self.limits = limits or ReceiverLimits()
        self.stats = ReceiverStats()
        self.db_bytes = 0
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="otlp-writer", daemon=True)
        self._accepting = True
        self._events = Throttled(log)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, write everything already queued, then end the thread."""
        self._accepting = False
        self._queue.put(None)
        self._thread.join()

    def over_quota(self) -> bool:
        quota = self.limits.max_db_bytes
        return quota is not None and self.db_bytes >= quota

    def quota_rejection(self) -> RequestRejected:
        quota_mb = (self.limits.max_db_bytes or 0) / MIB
        return _unavailable(
            f"the storage quota ({quota_mb:g} MB) of {self.store.path} is reached; nothing stored "
            "(prune old data or raise --max-db-mb)",
            RETRY_FULL_S,
        )

    async def submit(self, records: list[Record], body_hash: str, redactions: dict[str, int]) -> None:
        """Queue one request's records and wait until they are committed."""
        if not self._accepting:
            raise _unavailable("the receiver is shutting down; retry")
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
        self._measure()
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

    def _measure(self) -> None:
        try:
            self.db_bytes = self.store.page_bytes()
        except Exception as exc:  # the size only feeds the quota; a failure to read it must not stop writing
            log.debug("cannot measure the database: %s", exc)

    def _write(self, batch: list[_Pending]) -> None:
        """Commit `batch` in one transaction; if that fails for a reason inside the data, each request alone."""
        if self.over_quota():
            self._fail(batch, self.quota_rejection())
            return
        try:
            self._commit(batch)
        except StoreError as exc:  # the database, not the data: every request in the batch shares the fate
            self._fail(batch, self._store_rejection(exc))
            return
        except Exception as exc:
            if len(batch) > 1:
                for pending in batch:
                    self._write([pending])
                return
            self._events.event("unstorable", f"refused a request the database could not store: {exc!r}")
            log.debug("unstorable request", exc_info=True)
            self._fail(
                batch,
                RequestRejected(
                    400, f"this request could not be stored ({type(exc).__name__}); nothing of it was stored"
                ),
            )
            return
        for pending in batch:
            pending.done(None)

    def _commit(self, batch: list[_Pending]) -> None:
        batch_hash = hashlib.sha256("".join(p.body_hash for p in batch).encode()).hexdigest()
        redactions: dict[str, int] = {}
        for pending in batch:
            for rule, n in pending.redactions.items():
                redactions[rule] = redactions.get(rule, 0) + n
        with (
            self.store.writing() as conn,
            IngestWriter(conn, source="otlp-http", fmt="otlp-http", content_hash=batch_hash) as w,
        ):
            if not w.already_ingested:
                for pending in batch:
                    w.add(pending.records)
                counts = w.finish(redactions)
                self.stats.spans_stored += counts.spans_stored
                self.stats.logs_stored += counts.logs_stored
        self.stats.requests += len(batch)
        self.stats.transactions += 1
        for rule, n in redactions.items():
            self.stats.redactions[rule] = self.stats.redactions.get(rule, 0) + n
        self._measure()

    def _store_rejection(self, exc: StoreError) -> RequestRejected:
        self._events.event(type(exc).__name__, f"receiver write failed: {exc}")
        if isinstance(exc, DatabaseBusyError):
            return _unavailable(f"{exc}; nothing stored", RETRY_BUSY_S)
        if isinstance(exc, StorageFullError):
            return _unavailable(str(exc), RETRY_FULL_S)
        return RequestRejected(500, f"the receiver cannot write its database: {exc}", _INTERNAL)

    @staticmethod
    def _fail(batch: list[_Pending], error: RequestRejected) -> None:
        for pending in batch:
            pending.done(error)


async def _read_body(request: Request, limits: ReceiverLimits, reading: ByteBudget, ticket: int) -> bytes:
    """The raw body, its bytes reserved from `reading` as they arrive; 413 beyond the limit."""
    max_body = limits.max_body
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_body:
        raise RequestRejected(413, f"request body over the {max_body} byte limit", _RESOURCE_EXHAUSTED)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise RequestRejected(413, f"request body over the {max_body} byte limit", _RESOURCE_EXHAUSTED)
        if chunk:
            await reading.reserve(ticket, len(chunk))
            chunks.append(chunk)
    return b"".join(chunks)


def inflate(body: bytes, encoding: str, max_body: int) -> bytes:
    """The body as sent before Content-Encoding: every gzip member, in order; RequestRejected when broken.

    A gzip stream may hold several members (concatenated files are valid gzip); each is read.
    A member cut short or corrupt is 400, so a damaged body is never mistaken for a short one.
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise RequestRejected(415, f"unsupported Content-Encoding {encoding!r}; send gzip or none")
    parts: list[bytes] = []
    size, rest, members = 0, body, 0
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            part = inflater.decompress(rest, max_body + 1 - size)
        except zlib.error as exc:
            raise RequestRejected(400, f"body is not valid gzip (member {members + 1}: {exc})") from None
        size += len(part)
        if size > max_body or inflater.unconsumed_tail:
            raise RequestRejected(413, f"decompressed body over the {max_body} byte limit", _RESOURCE_EXHAUSTED)
        if not inflater.eof:
            raise RequestRejected(400, f"the gzip body is truncated (member {members + 1} ends early); resend it")
        parts.append(part)
        members += 1
        rest = inflater.unused_data
        if not rest.strip(b"\x00"):  # gzip allows zero padding after the last member
            return b"".join(parts)


def decode(signal: Signal, media: str, body: bytes) -> list[Record]:
    """The records of one export request, each bad span or log record replaced by a rejected count.

    Raises RequestRejected(400) for a payload that is malformed as a whole.
    """
    try:
        if media == PROTOBUF:
            parse = {
                "traces": otlp_proto.traces_from_bytes,
                "logs": otlp_proto.logs_from_bytes,
                "metrics": otlp_proto.metrics_from_bytes,
            }[signal]
            return list(checked_records(parse(body), isolate=True))
        doc = orjson.loads(body) if body.strip() else {}
        if not isinstance(doc, dict) or (doc and not any(k in doc for k in _JSON_KEYS[signal])):
            raise RequestRejected(400, f"JSON body is not an OTLP {signal} export request")
        doc = {_JSON_KEYS[signal][0]: doc.get(_JSON_KEYS[signal][0], doc.get(_JSON_KEYS[signal][1], []))}
        return list(checked_records(otlp_json.parse_request(doc, isolate=True), isolate=True))
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


def _rejections(signal: Signal, records: list[Record]) -> tuple[int, int, str | None]:
    """(records kept, records rejected, the first reason) of a decoded request."""
    kind = _REJECTED_KIND[signal]
    rejected = [r for r in records if isinstance(r, SkippedRecords) and r.kind == kind]
    kept = sum(1 for r in records if not isinstance(r, SkippedRecords))
    return kept, sum(r.count for r in rejected), next((r.reason for r in rejected if r.reason), None)


def create_app(
    store: Store, *, limits: ReceiverLimits | None = None, rules: RedactionRules = DEFAULT_RULES
) -> Starlette:
    """The receiver's ASGI app; every request is redacted under `rules` before it is queued."""
    limits = limits or ReceiverLimits()
    writer = BatchWriter(store, limits)
    reading = ByteBudget(limits.max_reading, limits.budget_wait_s)
    inflight = ByteBudget(limits.max_inflight, limits.budget_wait_s)
    workers = anyio.CapacityLimiter(limits.decode_threads)

    async def receive(request: Request, signal: Signal, media: str) -> tuple[int, int, str | None]:
        """Read, decode and store one request: (kept, rejected, reason); raises RequestRejected."""
        if writer.over_quota():
            raise writer.quota_rejection()
        read_ticket, decode_ticket = reading.open(), inflight.open()
        try:
            try:
                with anyio.fail_after(limits.body_timeout_s):
                    raw = await _read_body(request, limits, reading, read_ticket)
            except TimeoutError:
                raise RequestRejected(
                    408, f"the request body did not arrive within {limits.body_timeout_s:g} s", _DEADLINE_EXCEEDED
                ) from None
            encoding = request.headers.get("content-encoding", "identity")
            body = await anyio.to_thread.run_sync(inflate, raw, encoding, limits.max_body, limiter=workers)
            await inflight.reserve(decode_ticket, len(raw) + len(body) * DECODED_PER_BYTE[media])
            reading.close(read_ticket)
            body_hash = hashlib.sha256(raw).hexdigest()
            del raw
            report = RedactionReport(rules)

            def decode_and_redact(data: bytes) -> list[Record]:
                return list(redact_records(decode(signal, media, data), report))

            records = await anyio.to_thread.run_sync(decode_and_redact, body, limiter=workers)
            del body
            kept, rejected, reason = _rejections(signal, records)
            if rejected and not kept:
                raise RequestRejected(400, f"all {rejected} {_REJECTED_KIND[signal]}s: {reason}")
            await writer.submit(records, body_hash, report.as_dict())
            return kept, rejected, reason
        except BudgetExceeded:
            raise _unavailable("the receiver is at its memory budget for requests in flight; retry") from None
        finally:
            reading.close(read_ticket)
            inflight.close(decode_ticket)

    async def export(request: Request, signal: Signal) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        reply_media = media if media in (PROTOBUF, JSON) else JSON
        try:
            if media not in (PROTOBUF, JSON):
                raise RequestRejected(415, f"unsupported Content-Type {media or '(none)'!r}; send {PROTOBUF} or {JSON}")
            _kept, rejected, reason = await receive(request, signal, media)
        except ClientDisconnect:
            return _counted(Response(status_code=400))  # nobody is listening; nothing was stored
        except RequestRejected as exc:
            writer.stats.rejected += 1
            headers = {"retry-after": str(exc.retry_after)} if exc.retry_after else None
            body = _status_body(reply_media, exc.code, str(exc))
            return _counted(Response(body, status_code=exc.status, media_type=reply_media, headers=headers))
        return _counted(Response(_success_body(signal, reply_media, rejected, reason), media_type=reply_media))

    def _counted(response: Response) -> Response:
        statuses = writer.stats.statuses
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        return response

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
    app.state.limits = limits
    app.state.budgets = (reading, inflight)
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


def uvicorn_server(app: ASGIApp, limits: ReceiverLimits | None = None) -> uvicorn.Server:
    """A uvicorn server for `app` with the connection cap and header timeout of `limits` (see receiver_limits)."""
    limits = limits or getattr(getattr(app, "state", None), "limits", None) or ReceiverLimits()
    for name in ("uvicorn.error", "asyncio"):  # a flood of bad connections logs a line per interval, not per event
        logger = logging.getLogger(name)
        if not any(isinstance(f, ThrottleFilter) for f in logger.filters):
            logger.addFilter(ThrottleFilter())
    # No uvicorn log config and no access log: in `serve --collect` stdout carries MCP.
    config = uvicorn.Config(
        app,
        http=guarded_protocol(limits),
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        timeout_keep_alive=5,
    )
    return uvicorn.Server(config)


async def serve_receiver(
    store: Store, sock: socket.socket, *, limits: ReceiverLimits | None = None, rules: RedactionRules = DEFAULT_RULES
) -> None:
    """Run until cancelled or signalled; on the way out every queued request is written first."""
    server = uvicorn_server(create_app(store, limits=limits, rules=rules))
    try:
        await server.serve(sockets=[sock])
    finally:
        if not server.started:
            log.warning("receiver did not start")
