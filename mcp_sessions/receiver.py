"""OTLP/HTTP receiver: real OpenTelemetry exporters send spans and logs straight to the index.

    POST /v1/traces, /v1/logs (and /v1/metrics, counted and dropped)
    Content-Type application/x-protobuf or application/json, optionally gzip-encoded
    POST /v1/rrweb    rrweb event batches from browser pages (`receiver_rrweb`)
    Origin allowed?   browser pages only from configured origins (`receiver_cors`)
    OTLP/gRPC         the same path from `receiver_grpc`, sharing the writer

    request ─► type, quota and size checks ─► body (budgeted, timed) ─► inflate every gzip member
        ─► decode + check values + redact (worker thread) ─► queue ─┐
                                                                    ▼
    response ◄─ after COMMIT ◄───── one writer thread: every queued request in one transaction

`Intake` is that path, shared by every way in; each request, stored or refused, is also
reported to `on_batch` (the collector's line per request, `intake_log`).

Acknowledged means committed: a request is answered only after the transaction holding
it commits, so stopping the receiver loses nothing it acknowledged (it stops accepting,
drains the queue, then exits). Under load, OTLP requests that wait in the queue together
are written in one transaction; an rrweb batch is an ingest of its own (so a resend is
known by its key), committed alone.

Bad input is isolated at three depths. A span or log record whose values cannot be stored
(an id of the wrong width, a time beyond the stored range, attributes nested too deep) is
rejected alone: the others are stored and the answer is 200 with `partial_success` naming
the count and the first reason; a request with nothing good in it is 400. Records under a
session or user that `mcp-sessions forget` erased are refused by the writer (erased_ids.py):
they are counted as rejected in `partial_success` too, with a message saying so, and the
answer stays 200 (retrying cannot help, and nothing is wrong with the request). A request the
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
import signal
import socket
import threading
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from mcp_sessions.errors import DatabaseBusyError, InputError, MalformedInputError, StorageFullError, StoreError
from mcp_sessions.formats import otlp_json, otlp_proto
from mcp_sessions.formats.coerce import checked_records
from mcp_sessions.intake_log import BatchReport
from mcp_sessions.model import Record, SkippedRecords
from mcp_sessions.numbers import whole_number
from mcp_sessions.receiver_cors import CorsMiddleware
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
from mcp_sessions.receiver_rrweb import BatchRejected, PageStates, parse_envelope, parse_events
from mcp_sessions.redact import DEFAULT_RULES, KnownValues, RedactionReport, RedactionRules, redact_records
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite.writer import IngestWriter

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4318
DEFAULT_MAX_BODY = ReceiverLimits.max_body
MAX_BATCH_REQUESTS = 256
RRWEB_PATH = "/v1/rrweb"

Signal = Literal["traces", "logs", "metrics"]
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_JSON_KEYS: dict[Signal, tuple[str, ...]] = {
    "traces": ("resourceSpans", "resource_spans"),
    "logs": ("resourceLogs", "resource_logs"),
    "metrics": ("resourceMetrics", "resource_metrics"),
}
_REJECTED_KIND: dict[Signal, str] = {"traces": "rejected span", "logs": "rejected log", "metrics": "rejected metric"}
_RECORDS: dict[Signal, str] = {"traces": "spans", "logs": "log records", "metrics": "data points"}
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


@dataclass(frozen=True)
class Stored:
    """What the commit of one request added: rows new to the database, and those it already held."""

    spans: int = 0
    logs: int = 0
    events: int = 0
    duplicates: int = 0  # records already stored (an exporter's retry, an overlapping batch)
    already: bool = False  # the request as a whole was stored before (its ingest key is known)
    refused: int = 0  # records under sessions or users that `forget` erased


@dataclass(frozen=True)
class OwnIngest:
    """A request committed as an ingest of its own, so a resend of it is known by `content_hash`."""

    content_hash: str
    source: str
    fmt: str


@dataclass
class _Pending:
    records: list[Record]
    body_hash: str
    redactions: dict[str, int]
    done: Callable[[BaseException | None, Stored], None]
    transport: str = "otlp-http"
    own: OwnIngest | None = None


@dataclass
class ReceiverStats:
    requests: int = 0
    transactions: int = 0
    spans_stored: int = 0
    logs_stored: int = 0
    events_stored: int = 0
    rejected: int = 0
    records_refused: int = 0  # under erased sessions or users
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

    async def submit(
        self,
        records: list[Record],
        body_hash: str,
        redactions: dict[str, int],
        *,
        transport: str = "otlp-http",
        own: OwnIngest | None = None,
    ) -> Stored:
        """Queue one request's records and wait until they are committed; what the commit added."""
        if not self._accepting:
            raise _unavailable("the receiver is shutting down; retry")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Stored] = loop.create_future()

        def done(error: BaseException | None, stored: Stored) -> None:
            def resolve() -> None:
                if future.done():
                    return
                if error is None:
                    future.set_result(stored)
                else:
                    future.set_exception(error)

            loop.call_soon_threadsafe(resolve)

        self._queue.put(_Pending(records, body_hash, redactions, done, transport, own))
        return await future

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
        """Commit the requests of `batch`: those of no ingest of their own together, each other one alone."""
        if self.over_quota():
            self._fail(batch, self.quota_rejection())
            return
        shared = [p for p in batch if p.own is None]
        for group in ([shared] if shared else []) + [[p] for p in batch if p.own is not None]:
            self._write_group(group)

    def _write_group(self, batch: list[_Pending]) -> None:
        """Commit `batch` in one transaction; if that fails for a reason inside the data, each request alone."""
        try:
            stored = self._commit(batch)
        except StoreError as exc:  # the database, not the data: every request in the batch shares the fate
            self._fail(batch, self._store_rejection(exc))
            return
        except Exception as exc:
            if len(batch) > 1:
                for pending in batch:
                    self._write_group([pending])
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
        for pending, added in zip(batch, stored, strict=True):
            pending.done(None, added)

    def _commit(self, batch: list[_Pending]) -> list[Stored]:
        own = batch[0].own if len(batch) == 1 else None
        if own is not None:
            content_hash, source, fmt = own.content_hash, own.source, own.fmt
        else:
            content_hash = hashlib.sha256("".join(p.body_hash for p in batch).encode()).hexdigest()
            transports = {p.transport for p in batch}
            source = fmt = transports.pop() if len(transports) == 1 else "otlp"
        redactions: dict[str, int] = {}
        for pending in batch:
            for rule, n in pending.redactions.items():
                redactions[rule] = redactions.get(rule, 0) + n
        stored: list[Stored] = []
        with (
            self.store.writing() as conn,
            IngestWriter(conn, source=source, fmt=fmt, content_hash=content_hash) as w,
        ):
            if w.already_ingested:
                stored = [Stored(already=True) for _ in batch]
            else:
                for pending in batch:  # a trace refused in one request is refused in all of them
                    w.mark_refused(pending.records)
                c = w.counts
                for pending in batch:
                    read = c.spans_read + c.logs_read + c.events_read
                    before = (c.spans_stored, c.logs_stored, c.events_stored)
                    refused_before = c.records_refused
                    w.add(pending.records)
                    read = c.spans_read + c.logs_read + c.events_read - read
                    added = (c.spans_stored - before[0], c.logs_stored - before[1], c.events_stored - before[2])
                    refused = c.records_refused - refused_before
                    stored.append(Stored(*added, duplicates=read - sum(added), refused=refused))
                counts = w.finish(redactions)
                self.stats.spans_stored += counts.spans_stored
                self.stats.logs_stored += counts.logs_stored
                self.stats.events_stored += counts.events_stored
                self.stats.records_refused += counts.records_refused
        self.stats.requests += len(batch)
        self.stats.transactions += 1
        for rule, n in redactions.items():
            self.stats.redactions[rule] = self.stats.redactions.get(rule, 0) + n
        self._measure()
        return stored

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
            pending.done(error, Stored())


async def _read_body(request: Request, limits: ReceiverLimits, reading: ByteBudget, ticket: int) -> bytes:
    """The raw body, its bytes reserved from `reading` as they arrive; 413 beyond the limit."""
    max_body = limits.max_body
    declared = request.headers.get("content-length")
    if declared and (whole_number(declared) or 0) > max_body:
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
    return b"\x08" + varint(code) + b"\x12" + varint(len(text)) + text


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def success_body(signal: Signal, media: str, rejected: int, reason: str | None) -> bytes:
    field_name = {"traces": "rejectedSpans", "logs": "rejectedLogRecords", "metrics": "rejectedDataPoints"}[signal]
    if media == JSON:
        doc = {"partialSuccess": {field_name: str(rejected), "errorMessage": reason or ""}} if rejected else {}
        return orjson.dumps(doc)
    if not rejected:
        return b""
    # Export*ServiceResponse { Export*PartialSuccess partial_success = 1 { int64 rejected = 1; string msg = 2; } }
    text = (reason or "").encode()
    inner = b"\x08" + varint(rejected) + b"\x12" + varint(len(text)) + text
    return b"\x0a" + varint(len(inner)) + inner


def _rejections(signal: Signal, records: list[Record]) -> tuple[int, int, str | None]:
    """(records kept, records rejected, the first reason) of a decoded request."""
    kind = _REJECTED_KIND[signal]
    rejected = [r for r in records if isinstance(r, SkippedRecords) and r.kind == kind]
    kept = sum(1 for r in records if not isinstance(r, SkippedRecords))
    return kept, sum(r.count for r in rejected), next((r.reason for r in rejected if r.reason), None)


@dataclass(frozen=True)
class Outcome:
    """What became of one accepted request."""

    kept: int  # records accepted
    rejected: int  # records rejected alone (partial success)
    reason: str | None  # the first rejected record's reason
    stored: Stored
    redactions: dict[str, int]


BodyReader = Callable[[ByteBudget, int], Awaitable[bytes]]
_RRWEB_MEDIA = frozenset({JSON, "text/plain"})


class Intake:
    """The receiving path every way in shares: OTLP/HTTP, rrweb batches, OTLP/gRPC (`receiver_grpc`).

    Quota check, body budgets and timeout, inflate, decode and redact on worker threads, then
    commit through the one BatchWriter; every request, accepted or refused, is passed to
    `on_batch` (the collector's line per batch, `intake_log`).
    """

    def __init__(
        self,
        store: Store,
        *,
        limits: ReceiverLimits | None = None,
        rules: RedactionRules = DEFAULT_RULES,
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> None:
        self.limits = limits or ReceiverLimits()
        self.rules = rules
        self.known = KnownValues()  # values masked by key, looked for in every later request (bounded)
        self.writer = BatchWriter(store, self.limits)
        self.reading = ByteBudget(self.limits.max_reading, self.limits.budget_wait_s)
        self.inflight = ByteBudget(self.limits.max_inflight, self.limits.budget_wait_s)
        self.workers = anyio.CapacityLimiter(self.limits.decode_threads)
        self.pages = PageStates(self.limits.max_rrweb_pages, self.limits.max_rrweb_nodes)
        self.on_batch = on_batch

    def start(self) -> None:
        self.writer.start()

    def stop(self) -> None:
        """Stop accepting and write everything queued (blocking: run it on a thread)."""
        self.writer.stop()
        s = self.writer.stats
        log.info(
            "receiver stopped: %d requests in %d transactions, %d spans, %d logs and %d events stored",
            s.requests,
            s.transactions,
            s.spans_stored,
            s.logs_stored,
            s.events_stored,
        )

    def redaction_report(self) -> RedactionReport:
        """The report one request is redacted under."""
        return RedactionReport(self.rules, known=self.known)

    async def otlp(self, signal: Signal, media: str, read: BodyReader, encoding: str, transport: str) -> Outcome:
        """Read, decode, redact and store one OTLP export request; raises RequestRejected."""
        try:
            outcome = await self._otlp(signal, media, read, encoding, transport)
        except RequestRejected as exc:
            self.refused(signal, transport, exc)
            raise
        counted = outcome.kept if signal == "metrics" else 0
        self._report(_report(signal, transport, outcome, counted=counted, reason=outcome.reason))
        return outcome

    async def _otlp(self, signal: Signal, media: str, read: BodyReader, encoding: str, transport: str) -> Outcome:
        async with self._budgets() as (read_ticket, decode_ticket):
            body, body_hash = await self._body(read, encoding, DECODED_PER_BYTE[media], read_ticket, decode_ticket)
            report = self.redaction_report()

            def decode_and_redact(data: bytes) -> list[Record]:
                return list(redact_records(decode(signal, media, data), report))

            records = await anyio.to_thread.run_sync(decode_and_redact, body, limiter=self.workers)
            del body
            kept, rejected, reason = _rejections(signal, records)
            if rejected and not kept:
                raise RequestRejected(400, f"all {rejected} {_REJECTED_KIND[signal]}s: {reason}")
            if signal == "metrics":
                kept = sum(r.count for r in records if isinstance(r, SkippedRecords) and r.kind == "metric")
            source = "otlp-grpc" if transport == "grpc" else "otlp-http"
            stored = await self.writer.submit(records, body_hash, report.as_dict(), transport=source)
            if stored.refused:  # under erased sessions or users: rejected too, and retrying cannot help
                rejected += stored.refused
                reason = reason or f"{stored.refused} {_RECORDS[signal]} under erased sessions or users refused"
            return Outcome(kept, rejected, reason, stored, report.as_dict())

    async def rrweb(self, read: BodyReader, encoding: str, header_session: str | None) -> Outcome:
        """Read, parse (on from its page's state), redact and store one rrweb batch; raises RequestRejected."""
        subject: list[str] = []
        try:
            outcome = await self._rrweb(read, encoding, header_session, subject)
        except RequestRejected as exc:
            self.refused("rrweb", "http", exc, subject[0] if subject else None)
            raise
        self._report(_report("rrweb", "http", outcome, subject=subject[0] if subject else None))
        return outcome

    async def _rrweb(self, read: BodyReader, encoding: str, header_session: str | None, subject: list[str]) -> Outcome:
        async with self._budgets() as (read_ticket, decode_ticket):
            body, body_hash = await self._body(read, encoding, DECODED_PER_BYTE[JSON], read_ticket, decode_ticket)
            body_hash = hashlib.sha256(body).hexdigest()  # the content: a resend may be compressed differently
            try:
                envelope = await anyio.to_thread.run_sync(parse_envelope, body, header_session, limiter=self.workers)
            except BatchRejected as exc:
                raise RequestRejected(400, str(exc)) from None
            del body
            subject.append(f"session {envelope.session_id}, page {envelope.page_id}, batch {envelope.seq}")
            page = self.pages.get(envelope.key, self.rules)
            content_hash = envelope.content_hash(body_hash)
            async with page.lock:
                if content_hash in page.committed:
                    return Outcome(0, 0, None, Stored(already=True), {})
                saved = page.checkpoint()
                report = self.redaction_report()
                try:
                    events = await anyio.to_thread.run_sync(parse_events, envelope, page, report, limiter=self.workers)
                    own = OwnIngest(content_hash, envelope.source, "rrweb-batch")
                    stored = (
                        await self.writer.submit(list(events), body_hash, report.as_dict(), own=own)
                        if events
                        else Stored()
                    )
                except BatchRejected as exc:
                    page.restore(saved)
                    raise RequestRejected(400, str(exc)) from None
                except BaseException:
                    page.restore(saved)
                    raise
                page.remember(content_hash)
                self.pages.trim(envelope.key)
                return Outcome(len(events), 0, None, stored, report.as_dict())

    @contextlib.asynccontextmanager
    async def _budgets(self) -> AsyncIterator[tuple[int, int]]:
        """Tickets on the reading and decoding budgets for one request, closed when it is answered."""
        if self.writer.over_quota():
            raise self.writer.quota_rejection()
        read_ticket, decode_ticket = self.reading.open(), self.inflight.open()
        try:
            yield read_ticket, decode_ticket
        except BudgetExceeded:
            raise _unavailable("the receiver is at its memory budget for requests in flight; retry") from None
        finally:
            self.reading.close(read_ticket)
            self.inflight.close(decode_ticket)

    async def _body(
        self, read: BodyReader, encoding: str, decoded_per_byte: int, read_ticket: int, decode_ticket: int
    ) -> tuple[bytes, str]:
        """(the inflated body, the hash of the body as sent); its decoded size reserved up front."""
        limits = self.limits
        try:
            with anyio.fail_after(limits.body_timeout_s):
                raw = await read(self.reading, read_ticket)
        except TimeoutError:
            raise RequestRejected(
                408, f"the request body did not arrive within {limits.body_timeout_s:g} s", _DEADLINE_EXCEEDED
            ) from None
        body = await anyio.to_thread.run_sync(inflate, raw, encoding, limits.max_body, limiter=self.workers)
        await self.inflight.reserve(decode_ticket, len(raw) + len(body) * decoded_per_byte)
        self.reading.close(read_ticket)
        return body, hashlib.sha256(raw).hexdigest()

    def refused(self, signal: str, transport: str, exc: RequestRejected, subject: str | None = None) -> None:
        """Count and report a request refused as a whole (the edges call it for what they refuse themselves)."""
        self.writer.stats.rejected += 1
        self._report(BatchReport(signal, transport, reason=str(exc), status=exc.status, subject=subject))

    def _report(self, report: BatchReport) -> None:
        if self.on_batch is not None:
            try:
                self.on_batch(report)
            except Exception as exc:  # the log of a batch must never fail the batch
                log.debug("batch report failed: %r", exc)


def _report(signal: str, transport: str, outcome: Outcome, **more: Any) -> BatchReport:
    s = outcome.stored
    return BatchReport(
        signal,
        transport,
        spans=s.spans,
        logs=s.logs,
        events=s.events,
        duplicates=s.duplicates,
        already=s.already,
        masked=outcome.redactions,
        rejected=outcome.rejected,
        **more,
    )


def create_app(
    store: Store,
    *,
    limits: ReceiverLimits | None = None,
    rules: RedactionRules = DEFAULT_RULES,
    cors_origins: Sequence[str] = (),
    on_batch: Callable[[BatchReport], None] | None = None,
    intake: Intake | None = None,
) -> Starlette:
    """The receiver's ASGI app; every request is redacted under `rules` before it is queued.

    Pass `intake` to share one writer with another way in (OTLP/gRPC); its owner then starts
    and stops it. `cors_origins` are the browser origins allowed to post (see `receiver_cors`).
    """
    owned = intake is None
    intake = intake or Intake(store, limits=limits, rules=rules, on_batch=on_batch)
    limits = intake.limits
    writer = intake.writer

    def http_body(request: Request) -> BodyReader:
        return lambda budget, ticket: _read_body(request, limits, budget, ticket)

    async def export(request: Request, signal: Signal) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        reply_media = media if media in (PROTOBUF, JSON) else JSON
        transport = "http/protobuf" if media == PROTOBUF else "http/json"
        try:
            if media not in (PROTOBUF, JSON):
                unsupported = RequestRejected(
                    415, f"unsupported Content-Type {media or '(none)'!r}; send {PROTOBUF} or {JSON}"
                )
                intake.refused(signal, transport, unsupported)
                raise unsupported
            encoding = request.headers.get("content-encoding", "identity")
            outcome = await intake.otlp(signal, media, http_body(request), encoding, transport)
        except ClientDisconnect:
            return _counted(Response(status_code=400))  # nobody is listening; nothing was stored
        except RequestRejected as exc:
            return _counted(_rejected(exc, reply_media))
        body = success_body(signal, reply_media, outcome.rejected, outcome.reason)
        return _counted(Response(body, media_type=reply_media))

    def _rejected(exc: RequestRejected, media: str) -> Response:
        headers = {"retry-after": str(exc.retry_after)} if exc.retry_after else None
        body = _status_body(media, exc.code, str(exc))
        return Response(body, status_code=exc.status, media_type=media, headers=headers)

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

    async def rrweb_batch(request: Request) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            if media not in _RRWEB_MEDIA:
                unsupported = RequestRejected(415, f"unsupported Content-Type {media or '(none)'!r}; send {JSON}")
                intake.refused("rrweb", "http", unsupported)
                raise unsupported
            encoding = request.headers.get("content-encoding", "identity")
            outcome = await intake.rrweb(http_body(request), encoding, request.headers.get("x-session-id"))
        except ClientDisconnect:
            return _counted(Response(status_code=400))
        except RequestRejected as exc:
            return _counted(_rejected(exc, JSON))
        stored = outcome.stored
        # `refused`: events under sessions or users `forget` erased (not stored; retrying cannot help)
        doc = {"events": outcome.kept, "stored": stored.events, "duplicate": stored.already, "refused": stored.refused}
        return _counted(Response(orjson.dumps(doc), media_type=JSON))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if owned:
            intake.start()
        try:
            yield
        finally:
            if owned:
                await anyio.to_thread.run_sync(intake.stop)

    app = Starlette(
        routes=[
            Route("/v1/traces", traces, methods=["POST"]),
            Route("/v1/logs", logs, methods=["POST"]),
            Route("/v1/metrics", metrics, methods=["POST"]),
            Route(RRWEB_PATH, rrweb_batch, methods=["POST"]),
        ],
        middleware=[Middleware(CorsMiddleware, origins=cors_origins)],
        lifespan=lifespan,
    )
    app.state.intake = intake
    app.state.writer = writer
    app.state.limits = limits
    app.state.budgets = (intake.reading, intake.inflight)
    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0 picks a free one; read it back with getsockname())."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets that say so, and without it every
    # answer on a kept-alive connection waits for the delayed ACK of its first segment.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class _DrainingServer(uvicorn.Server):
    """uvicorn's server, except that the signal that stopped it is not raised again once it has stopped.

    uvicorn re-raises SIGINT/SIGTERM after its own shutdown, which would end the process before
    the caller's shutdown (the OTLP/gRPC server, the writer's queue) has run.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def uvicorn_server(app: ASGIApp, limits: ReceiverLimits | None = None, *, drain: bool = False) -> uvicorn.Server:
    """A uvicorn server for `app` with the connection cap and header timeout of `limits` (see receiver_limits).

    With `drain`, a signal stops the server without ending the process, so the caller can finish.
    """
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
    return _DrainingServer(config) if drain else uvicorn.Server(config)
