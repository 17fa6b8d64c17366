"""Detect a recording's format from its content, then hand it to one explicit parser.

    peek first bytes ──► gzip? unwrap ──► not JSON? ──► OTLP protobuf (below), else UnknownFormatError
          │
          ▼
    first line is a whole JSON value and more lines follow? ──► JSON Lines (one request a line)
          │ no
          ▼
    decode the whole document ──► classify by its keys ──► parser

File names are never trusted: a `.json` file holding JSON Lines, or a `.txt` holding an
OTLP export, is read for what it is.

OTLP protobuf carries no type tag, and all three export requests put their payload in
field 1, so the same bytes decode "successfully" as any of them. A message is therefore
classified by what it holds once decoded, in this order:

    traces   ≥1 span, and every span has a 16-byte trace id and an 8-byte span id
             (a logs or metrics request read as traces has empty or odd-sized ids)
    logs     ≥1 log record with a timestamp (spans or metrics read as logs never have one:
             field 1 is fixed64 in a LogRecord, bytes or string in a Span or Metric)
    metrics  ≥1 metric (counted and skipped)
    traces   ≥1 well-formed span: a traces export with a few malformed spans, whose
             rejects are counted one by one (see `otlp_proto`)

The whole file is tried as one request first, then as the Collector file exporter's
`format: proto` stream: messages each prefixed by a 4-byte big-endian length. A protobuf
file may begin with b"\n{" (field 1, 123 bytes long), so JSON that fails to decode is
tried as protobuf before its JSON error is reported.

Memory is bounded before anything is read whole: a whole document (any JSON document,
a protobuf request or length-prefixed stream of them) may hold at most MAX_DOCUMENT_BYTES
(after gzip), and so may one line of JSON Lines; the first bytes decide which path a
file takes, so a huge file that is not JSON is refused without reading it.
"""

from __future__ import annotations

import gzip
import itertools
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from mcp_sessions.errors import MalformedInputError, UnknownFormatError, UnsupportedFormatError
from mcp_sessions.formats import har, jaeger, otlp_json, otlp_proto, rrweb, zipkin
from mcp_sessions.formats.registry import readable
from mcp_sessions.model import Record
from mcp_sessions.redact import DEFAULT_RULES, RedactionRules

_BOM = b"\xef\xbb\xbf"
_GZIP_MAGIC = b"\x1f\x8b"
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024
_PROBE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Parsed:
    """A recognised file: its format name and a lazy stream of records.

    Use it as a context manager: a streamed file stays open until the block ends.
    """

    format: str
    records: Iterator[Record]
    handle: IO[bytes] | None = None

    def __enter__(self) -> Parsed:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()


def read_path(path: Path, rules: RedactionRules = DEFAULT_RULES, *, limit: int = MAX_DOCUMENT_BYTES) -> Parsed:
    """Recognise `path` and return its records; raises InputError subclasses with clear text.

    `rules` reach the rrweb parser, which decides there whether a typed value may be kept;
    `limit` bounds what is held in memory at once (see the module docstring).
    """
    handle = _open(path)
    owned_elsewhere = False
    try:
        probe = handle.read(_PROBE_BYTES)
        handle.seek(0)
        if probe.strip() and probe.removeprefix(_BOM).lstrip()[:1] not in (b"{", b"["):
            data = _read_bounded(handle, limit, "a protobuf export")
            return _read_protobuf(data, data[:16])
        first_line = handle.readline(limit + 1)
        if len(first_line) > limit:
            raise MalformedInputError(_over_limit("its first line", limit))
        head = first_line  # every byte read so far: protobuf may begin with what looks like blank lines
        if first_line.startswith(_BOM):
            first_line = first_line[len(_BOM) :]
        while first_line and not first_line.strip():
            first_line = handle.readline(limit + 1)
            head += first_line
        if not first_line:
            raise MalformedInputError("file is empty")
        start = first_line.lstrip()[:1]
        if start not in (b"{", b"["):
            return _read_protobuf(head + _read_bounded(handle, limit - len(head), "a protobuf export"), head)
        rest = handle.read(1 << 16)
        if rest.strip() and _try_decode(first_line) is not _UNDECODABLE:
            streamed = Parsed("otlp-jsonl", _json_lines(handle, first_line, rest, rules, limit), handle)
            owned_elsewhere = True  # the Parsed owns it now
            return streamed
        remainder = _read_bounded(handle, limit - len(first_line) - len(rest), "a JSON document")
    finally:
        if not owned_elsewhere:
            handle.close()
    try:
        doc = _decode_document(first_line + rest + remainder)
    except MalformedInputError:
        protobuf = _try_protobuf(head + rest + remainder)
        if protobuf is None:
            raise
        return protobuf
    return _classify_document(doc, rules)


def _over_limit(what: str, limit: int) -> str:
    return (
        f"{what} is over the {limit // (1024 * 1024)} MiB limit for a whole document; split the file, "
        "or export JSON Lines (one request a line), which is streamed"
    )


def _read_bounded(handle: IO[bytes], limit: int, what: str) -> bytes:
    """The rest of `handle`, refused once it passes `limit` bytes (never more is read).

    A plain file's size is known without reading it; a gzip stream's only by inflating it.
    """
    if not isinstance(handle, gzip.GzipFile) and os.fstat(handle.fileno()).st_size - handle.tell() > limit:
        raise MalformedInputError(_over_limit(what, limit))
    data = handle.read(max(limit, 0) + 1)
    if len(data) > limit:
        raise MalformedInputError(_over_limit(what, limit))
    return data


def _read_protobuf(data: bytes, head: bytes) -> Parsed:
    protobuf = _try_protobuf(data)
    if protobuf is None:
        raise UnknownFormatError(
            f"neither JSON nor an OTLP protobuf export (not JSON: starts with {head[:16]!r}; no spans, logs or "
            "metrics decode from it as protobuf); expected an OTLP/JSON or OTLP/protobuf export, or JSON Lines"
        )
    return protobuf


def _try_protobuf(data: bytes) -> Parsed | None:
    """One OTLP protobuf export request, else a length-prefixed stream of them, else None."""
    records = _protobuf_request(data)
    if records is not None:
        return Parsed("otlp-proto", records)
    messages = _length_prefixed(data)
    if not messages:
        return None
    streams: list[Iterator[Record]] = []
    for message in messages:
        records = _protobuf_request(message)
        if records is None:
            return None
        streams.append(records)
    return Parsed("otlp-proto-stream", itertools.chain.from_iterable(streams))


def _protobuf_request(data: bytes) -> Iterator[Record] | None:
    """The records of one serialized request, classified as the module docstring describes."""
    traces = _decode_protobuf(ExportTraceServiceRequest, data)
    spans = _protobuf_items(traces.resource_spans, "spans", "spans") if traces is not None else []
    well_formed = [
        len(span.trace_id) == otlp_proto.TRACE_ID_BYTES and len(span.span_id) == otlp_proto.SPAN_ID_BYTES
        for span in spans
    ]
    if traces is not None and well_formed and all(well_formed):
        return otlp_proto.traces_from_message(traces)
    logs = _decode_protobuf(ExportLogsServiceRequest, data)
    if logs is not None and any(
        record.time_unix_nano or record.observed_time_unix_nano
        for record in _protobuf_items(logs.resource_logs, "logs", "log_records")
    ):
        return otlp_proto.logs_from_message(logs)
    try:
        metrics = list(otlp_proto.metrics_from_bytes(data))
    except MalformedInputError:
        metrics = []
    if metrics:
        return iter(metrics)
    if traces is not None and any(well_formed):
        return otlp_proto.traces_from_message(traces)
    return None


_M = TypeVar("_M", bound=Message)


def _decode_protobuf(message_class: type[_M], data: bytes) -> _M | None:
    try:
        return message_class.FromString(data)
    except DecodeError:
        return None


def _protobuf_items(resources: Any, kind: str, items: str) -> list[Any]:
    """Every span or log record of a request, under current and deprecated scope fields alike."""
    return [
        item
        for resource in resources
        for scope_field in (f"scope_{kind}", f"instrumentation_library_{kind}")
        for group in getattr(resource, scope_field, ())
        for item in getattr(group, items)
    ]


def _length_prefixed(data: bytes) -> list[bytes]:
    """The messages of a stream where each is prefixed by its 4-byte big-endian length; [] if it is not one."""
    messages: list[bytes] = []
    position = 0
    while position < len(data):
        size = int.from_bytes(data[position : position + 4], "big")
        position += 4
        if size == 0 or position + size > len(data):
            return []
        messages.append(data[position : position + size])
        position += size
    return messages


class _GzipReader(gzip.GzipFile):
    """A gzip file whose corrupt or truncated stream is a MalformedInputError, like any other bad input."""

    def read(self, size: int | None = -1) -> bytes:
        try:
            return super().read(size)
        except (EOFError, OSError, zlib.error) as exc:
            raise MalformedInputError(f"the gzip stream is corrupt or truncated ({exc}); re-export the file") from None

    def readline(self, size: int | None = -1) -> bytes:
        try:
            return super().readline(size)
        except (EOFError, OSError, zlib.error) as exc:
            raise MalformedInputError(f"the gzip stream is corrupt or truncated ({exc}); re-export the file") from None


def _open(path: Path) -> IO[bytes]:
    try:
        handle: IO[bytes] = path.open("rb")
    except IsADirectoryError:
        raise MalformedInputError("is a directory") from None
    except OSError as exc:
        raise MalformedInputError(f"cannot read: {exc.strerror or exc}") from None
    if handle.read(2) == _GZIP_MAGIC:
        handle.close()
        return _GzipReader(path, "rb")  # type: ignore[return-value]
    handle.seek(0)
    return handle


_UNDECODABLE = object()


def _try_decode(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return _UNDECODABLE


def _decode_document(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        truncated = "the file looks truncated; " if "unexpected end" in str(exc).lower() or "EOF" in str(exc) else ""
        raise MalformedInputError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {_short(exc.msg)}; {truncated}"
            "re-export the file or fix it"
        ) from None


def _classify_document(doc: Any, rules: RedactionRules) -> Parsed:
    if otlp_json.looks_like_otlp(doc):
        return Parsed("otlp-json", otlp_json.parse_request(doc))
    if jaeger.looks_like_jaeger(doc):
        return Parsed("jaeger-json", jaeger.parse(doc))
    if zipkin.looks_like_zipkin(doc):
        return Parsed("zipkin-json", zipkin.parse(doc))
    if har.looks_like_har(doc):
        return Parsed("har", har.parse(doc))
    if rrweb.looks_like_rrweb(doc):
        return Parsed("rrweb", rrweb.parse(doc, rules))
    other = _name_other_format(doc)
    if other:
        raise UnsupportedFormatError(f"recognised as {other}, which this version cannot ingest yet")
    raise UnknownFormatError(f"unrecognised JSON ({_describe(doc)}); expected {readable('document', conjunction='or')}")


def _json_lines(
    handle: IO[bytes], first_line: bytes, rest: bytes, rules: RedactionRules, limit: int = MAX_DOCUMENT_BYTES
) -> Iterator[Record]:
    """Each line one OTLP export request, as the Collector's file exporter writes them."""
    rrweb_state = rrweb.RrwebState(rules=rules)  # PostHog exports: one recording across many lines
    for number, line in enumerate(_iter_lines(handle, first_line, rest, limit), start=1):
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise MalformedInputError(
                f"line {number}: invalid JSON at column {exc.colno}: {_short(exc.msg)}"
                + ("; the file looks truncated" if not line.endswith(b"\n") else "")
            ) from None
        if rrweb.looks_like_posthog_line(doc):
            yield from rrweb.parse_posthog_line(doc, number, rrweb_state)
            continue
        if not otlp_json.looks_like_otlp(doc):
            other = _name_other_format(doc)
            if other:
                raise UnsupportedFormatError(
                    f"line {number}: recognised as {other}, which this version cannot ingest yet"
                )
            raise MalformedInputError(f"line {number}: not an OTLP export request ({_describe(doc)})")
        yield from otlp_json.parse_request(doc, f"line {number}: ")


def _iter_lines(handle: IO[bytes], first_line: bytes, rest: bytes, limit: int) -> Iterator[bytes]:
    yield first_line
    pending = rest
    number = 1
    while True:
        *complete, pending = pending.split(b"\n")
        for line in complete:
            number += 1
            yield line + b"\n"
        if len(pending) > limit:
            raise MalformedInputError(_over_limit(f"line {number + 1}", limit))
        chunk = handle.read(1 << 20)
        if not chunk:
            break
        pending += chunk
    if pending:
        yield pending


def _name_other_format(doc: Any) -> str | None:
    """Name formats we recognise but do not read (here).

    Jaeger, Zipkin, HAR and rrweb documents are read by `_classify_document`; they only reach
    this function as single lines of a JSON Lines file, which is read as OTLP (or PostHog) only.
    """
    if zipkin.is_zipkin_v1(doc):
        return "Zipkin v1 JSON (binaryAnnotations); export Zipkin v2 JSON (/api/v2) instead"
    if jaeger.looks_like_jaeger(doc) or zipkin.looks_like_zipkin(doc):
        name = "Jaeger JSON" if jaeger.looks_like_jaeger(doc) else "Zipkin v2 JSON"
        return f"{name} as JSON Lines (save it as one JSON document instead)"
    if isinstance(doc, dict):
        if isinstance(doc.get("log"), dict) and "entries" in doc["log"]:
            return "a HAR file as JSON Lines (save it as one JSON document instead)"
        if isinstance(doc.get("events"), list) or ("window_id" in doc and "data" in doc):
            return "an rrweb recording as JSON Lines (save it as one JSON document instead)"
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        first = doc[0]
        if "type" in first and "data" in first:
            return "an rrweb recording as JSON Lines (save it as one JSON document instead)"
    return None


def _describe(doc: Any) -> str:
    if isinstance(doc, dict):
        keys = ", ".join(list(map(str, doc))[:6]) or "no keys"
        return f"an object with keys {keys}"
    if isinstance(doc, list):
        return f"a list of {len(doc)} items"
    return f"a {type(doc).__name__}"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
