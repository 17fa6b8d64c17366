"""Detect a recording's format from its content, then hand it to one explicit parser.

    peek first bytes ──► gzip? unwrap ──► not JSON? UnknownFormatError
          │
          ▼
    first line is a whole JSON value and more lines follow? ──► JSON Lines (one request a line)
          │ no
          ▼
    decode the whole document ──► classify by its keys ──► parser

File names are never trusted: a `.json` file holding JSON Lines, or a `.txt` holding an
OTLP export, is read for what it is.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from mcp_sessions.errors import MalformedInputError, UnknownFormatError, UnsupportedFormatError
from mcp_sessions.formats import jaeger, otlp_json, zipkin
from mcp_sessions.model import Record

_BOM = b"\xef\xbb\xbf"
_GZIP_MAGIC = b"\x1f\x8b"


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


def read_path(path: Path) -> Parsed:
    """Recognise `path` and return its records; raises InputError subclasses with clear text."""
    handle = _open(path)
    try:
        first_line = handle.readline()
        if first_line.startswith(_BOM):
            first_line = first_line[len(_BOM) :]
        while first_line and not first_line.strip():
            first_line = handle.readline()
        if not first_line:
            raise MalformedInputError("file is empty")
        start = first_line.lstrip()[:1]
        if start not in (b"{", b"["):
            raise UnknownFormatError(
                f"not JSON (starts with {first_line[:16]!r}); expected an OTLP/JSON export or JSON Lines"
            )
        rest = handle.read(1 << 16)
        if rest.strip() and _try_decode(first_line) is not _UNDECODABLE:
            streamed = Parsed("otlp-jsonl", _json_lines(handle, first_line, rest), handle)
            handle = None  # the Parsed owns it now
            return streamed
        body = first_line + rest + handle.read()
    finally:
        if handle is not None:
            handle.close()
    return _classify_document(_decode_document(body))


def _open(path: Path) -> IO[bytes]:
    try:
        handle: IO[bytes] = path.open("rb")
    except IsADirectoryError:
        raise MalformedInputError("is a directory") from None
    except OSError as exc:
        raise MalformedInputError(f"cannot read: {exc.strerror or exc}") from None
    if handle.read(2) == _GZIP_MAGIC:
        handle.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
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


def _classify_document(doc: Any) -> Parsed:
    if otlp_json.looks_like_otlp(doc):
        return Parsed("otlp-json", otlp_json.parse_request(doc))
    if jaeger.looks_like_jaeger(doc):
        return Parsed("jaeger-json", jaeger.parse(doc))
    if zipkin.looks_like_zipkin(doc):
        return Parsed("zipkin-json", zipkin.parse(doc))
    other = _name_other_format(doc)
    if other:
        raise UnsupportedFormatError(f"recognised as {other}, which this version cannot ingest yet")
    raise UnknownFormatError(
        f"unrecognised JSON ({_describe(doc)}); expected an OTLP/JSON export request, Jaeger JSON or Zipkin v2 JSON"
    )


def _json_lines(handle: IO[bytes], first_line: bytes, rest: bytes) -> Iterator[Record]:
    """Each line one OTLP export request, as the Collector's file exporter writes them."""
    for number, line in enumerate(_iter_lines(handle, first_line, rest), start=1):
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise MalformedInputError(
                f"line {number}: invalid JSON at column {exc.colno}: {_short(exc.msg)}"
                + ("; the file looks truncated" if not line.endswith(b"\n") else "")
            ) from None
        if not otlp_json.looks_like_otlp(doc):
            other = _name_other_format(doc)
            if other:
                raise UnsupportedFormatError(
                    f"line {number}: recognised as {other}, which this version cannot ingest yet"
                )
            raise MalformedInputError(f"line {number}: not an OTLP export request ({_describe(doc)})")
        yield from otlp_json.parse_request(doc, f"line {number}: ")


def _iter_lines(handle: IO[bytes], first_line: bytes, rest: bytes) -> Iterator[bytes]:
    yield first_line
    pending = rest
    while True:
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line + b"\n"
        chunk = handle.read(1 << 20)
        if not chunk:
            break
        pending += chunk
    if pending:
        yield pending


def _name_other_format(doc: Any) -> str | None:
    """Name formats we recognise but do not read (here).

    Jaeger and Zipkin documents are read by `_classify_document`; they only reach this
    function as single lines of a JSON Lines file, which is read as OTLP only.
    """
    if zipkin.is_zipkin_v1(doc):
        return "Zipkin v1 JSON (binaryAnnotations); export Zipkin v2 JSON (/api/v2) instead"
    if jaeger.looks_like_jaeger(doc) or zipkin.looks_like_zipkin(doc):
        name = "Jaeger JSON" if jaeger.looks_like_jaeger(doc) else "Zipkin v2 JSON"
        return f"{name} as JSON Lines (save it as one JSON document instead)"
    if isinstance(doc, dict):
        if isinstance(doc.get("log"), dict) and "entries" in doc["log"]:
            return "a HAR file"
        if isinstance(doc.get("events"), list) or ("window_id" in doc and "data" in doc):
            return "an rrweb recording"
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        first = doc[0]
        if "type" in first and "data" in first:
            return "an rrweb recording"
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
