"""Jaeger and Tempo: which URL answers which question, and which of our readers parses the answer.

    question            Jaeger api_v3 (default)              Jaeger classic (api=v1)     Tempo
    one trace           /api/v3/traces/{id}                  /api/traces/{id}            /api/v2/traces/{id}, then
                          {"result": OTLP/JSON}                {"data": [trace]}           /api/traces/{id} (OTLP
                                                                                           JSON or protobuf)
    a session's traces  /api/v3/traces?query.service_name=S  /api/traces?service=S&      /api/search?q={ .session.id
                          &query.attributes={"session.id":…}   tags={"session.id":…}       = "…" || … }, then each
                          for each service (/api/v3/services)  for each (/api/services)    trace by id
    a time window       the same per service, no attributes  the same, no tags           /api/search?q={}, then
                                                                                           each trace by id

Parsing is our readers' (formats/otlp_json.py, formats/jaeger.py, formats/otlp_proto.py), each answer
checked record by record (formats/coerce.py) as a file is. A body they cannot read is a SourceError
naming the URL: a proxy's HTML page or an API version we do not know never half-fills the cache.
Searches are bounded: at most `limit` traces, at most MAX_SERVICES services asked; a Search says
whether the bound was reached, so the answer can say more may exist.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from mcp_sessions.config import SESSION_KEYS
from mcp_sessions.errors import InputError, SourceError
from mcp_sessions.formats import jaeger, otlp_json, otlp_proto
from mcp_sessions.formats.coerce import TRACE_ID_HEX, checked_records
from mcp_sessions.model import Record, Span
from mcp_sessions.store.remote.client import Response, SourceClient
from mcp_sessions.store.remote.dsn import SourceConfig

MAX_SERVICES = 50  # a Jaeger search asks each service in turn, at most this many
_PROTOBUF = ("application/protobuf", "application/x-protobuf", "application/vnd.google.protobuf")


@dataclass
class Fetched:
    """Records one question brought back, the traces they belong to, and whether a bound cut it short."""

    records: list[Record] = field(default_factory=list)
    trace_ids: set[str] = field(default_factory=set)
    truncated: bool = False
    requests: int = 0


class Source(Protocol):
    """What the remote store asks a source."""

    config: SourceConfig
    client: SourceClient

    def trace(self, trace_id: str) -> list[Record] | None:
        """The trace's records, or None when the source has no such trace."""
        ...

    def session(self, session_id: str, start_ns: int, end_ns: int) -> Fetched:
        """The traces carrying this session id that started in the window (at most `limit`)."""
        ...

    def window(self, start_ns: int, end_ns: int, service: str | None) -> Fetched:
        """The most recent traces started in the window (at most `limit`), of one service if given."""
        ...


def open_source(config: SourceConfig, client: SourceClient) -> Source:
    return JaegerSource(config, client) if config.kind == "jaeger" else TempoSource(config, client)


# ---- Jaeger --------------------------------------------------------------------------------------


class JaegerSource:
    def __init__(self, config: SourceConfig, client: SourceClient) -> None:
        self.config = config
        self.client = client
        self.v3 = config.api == "v3"

    def trace(self, trace_id: str) -> list[Record] | None:
        path = f"/api/v3/traces/{trace_id}" if self.v3 else f"/api/traces/{trace_id}"
        response = self.client.get(path)
        if response.status == 404:
            self._route_exists(response)
            return None
        return _read(response, self._parse)

    def session(self, session_id: str, start_ns: int, end_ns: int) -> Fetched:
        attributes = [{key: session_id} for key in self.config.session_keys]
        return self._search(start_ns, end_ns, None, attributes)

    def window(self, start_ns: int, end_ns: int, service: str | None) -> Fetched:
        return self._search(start_ns, end_ns, service, [{}])

    def _search(self, start_ns: int, end_ns: int, service: str | None, attribute_sets: list[dict[str, str]]) -> Fetched:
        found = Fetched()
        services = [service] if service else self._services()
        for name in services[:MAX_SERVICES]:
            for attributes in attribute_sets:
                left = self.config.limit - len(found.trace_ids)
                if left <= 0:
                    found.truncated = True
                    return found
                response = self.client.get(*self._find_request(name, start_ns, end_ns, left, attributes))
                found.requests += 1
                if response.status == 404:  # api_v3 answers "no traces found" with a 404
                    self._route_exists(response)
                    continue
                _add_capped(found, _read(response, self._parse), self.config.limit)
        # As many as asked for: more may exist beyond them.
        found.truncated = found.truncated or len(services) > MAX_SERVICES or len(found.trace_ids) >= self.config.limit
        return found

    def _find_request(
        self, service: str, start_ns: int, end_ns: int, limit: int, attributes: dict[str, str]
    ) -> tuple[str, dict[str, str]]:
        if self.v3:
            params = {
                "query.service_name": service,
                "query.start_time_min": rfc3339(start_ns),
                "query.start_time_max": rfc3339(end_ns),
                "query.search_depth": str(limit),  # the spelling of Jaeger 2.x
                "query.num_traces": str(limit),  # the spelling of Jaeger 1.x's api_v3
            }
            if attributes:
                params["query.attributes"] = json.dumps(attributes)
            return "/api/v3/traces", params
        params = {"service": service, "start": str(start_ns // 1000), "end": str(end_ns // 1000), "limit": str(limit)}
        if attributes:
            params["tags"] = json.dumps(attributes)
        return "/api/traces", params

    def _services(self) -> list[str]:
        response = self.client.get("/api/v3/services" if self.v3 else "/api/services")
        if response.status == 404:
            self._route_exists(response)
            return []
        doc = response.json()
        names = doc.get("services" if self.v3 else "data") if isinstance(doc, dict) else None
        if names is None and isinstance(doc, dict) and not self.v3:
            names = doc.get("services")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SourceError(_shape(response, "a list of service names"))
        return sorted(names)

    def _parse(self, doc: Any) -> Iterator[Record]:
        if self.v3:
            if not otlp_json.looks_like_otlp(doc):
                raise _ShapeError('api_v3 OTLP/JSON ({"result": {"resourceSpans": …}})')
            return otlp_json.parse_request(doc)
        if not jaeger.looks_like_jaeger(doc):
            raise _ShapeError('the Jaeger JSON envelope ({"data": [trace, …]})')
        return jaeger.parse(doc)

    def _route_exists(self, response: Response) -> None:
        """A 404 whose body is not the API's JSON means the route is missing: the wrong API version or URL."""
        try:
            doc = json.loads(response.body)
        except (ValueError, UnicodeDecodeError):
            doc = None
        if not isinstance(doc, dict):
            other = "api=v1 (the classic /api/traces API)" if self.v3 else "api=v3 (the default)"
            raise SourceError(
                f"{response.url} is not a Jaeger query API route (404 without Jaeger's JSON); check the --store URL "
                f"(its path prefix, if the UI is behind a proxy) or try ?{other}"
            )


# ---- Tempo ---------------------------------------------------------------------------------------


class TempoSource:
    def __init__(self, config: SourceConfig, client: SourceClient) -> None:
        self.config = config
        self.client = client

    def trace(self, trace_id: str) -> list[Record] | None:
        accept = "application/protobuf, application/json;q=0.9"
        for path in (f"/api/v2/traces/{trace_id}", f"/api/traces/{trace_id}"):
            response = self.client.get(path, accept=accept)
            if response.status != 404:
                return _read(response, _tempo_trace, protobuf="v2" if path.startswith("/api/v2/") else "v1")
        return None

    def session(self, session_id: str, start_ns: int, end_ns: int) -> Fetched:
        value = _traceql_string(session_id)
        keys = dict.fromkeys((*self.config.session_keys, *SESSION_KEYS))
        query = "{ " + " || ".join(f".{key} = {value}" for key in keys) + " }"
        return self._search(query, start_ns, end_ns)

    def window(self, start_ns: int, end_ns: int, service: str | None) -> Fetched:
        query = f"{{ resource.service.name = {_traceql_string(service)} }}" if service else "{}"
        return self._search(query, start_ns, end_ns)

    def _search(self, query: str, start_ns: int, end_ns: int) -> Fetched:
        params = {
            "q": query,
            "limit": str(self.config.limit),
            "start": str(start_ns // 1_000_000_000),
            "end": str(-(-end_ns // 1_000_000_000)),
        }
        response = self.client.get("/api/search", params)
        found = Fetched(requests=1)
        if response.status == 404:
            raise SourceError(f"{response.url} answered 404; check that --store points at Tempo's HTTP API (port 3200)")
        doc = response.json()
        traces = doc.get("traces") if isinstance(doc, dict) else None
        if traces is None and isinstance(doc, dict) and "metrics" in doc:
            traces = []
        if not isinstance(traces, list):
            raise SourceError(_shape(response, 'Tempo search results ({"traces": [{"traceID": …}, …]})'))
        ids = []
        for item in traces:
            trace_id = item.get("traceID") if isinstance(item, dict) else None
            if not isinstance(trace_id, str) or not trace_id or len(trace_id) > TRACE_ID_HEX:
                raise SourceError(_shape(response, "a traceID on every search result"))
            ids.append(trace_id.lower().rjust(TRACE_ID_HEX, "0"))
        found.truncated = len(ids) >= self.config.limit
        for trace_id in dict.fromkeys(ids):
            records = self.trace(trace_id)
            found.requests += 1
            if records:
                _add_capped(found, records, self.config.limit)
        return found


def _tempo_trace(doc: Any) -> Iterator[Record]:
    """Tempo's JSON: `{"batches": …}` (/api/traces) or `{"trace": {"resourceSpans": …}}` (/api/v2/traces)."""
    if isinstance(doc, dict) and isinstance(doc.get("trace"), dict):
        doc = doc["trace"]
    if isinstance(doc, dict) and not doc:
        return iter(())  # Tempo's v2 answer for a trace that has no spans (yet)
    if not otlp_json.looks_like_otlp(doc):
        raise _ShapeError('OTLP/JSON ({"batches": …} or {"trace": {"resourceSpans": …}})')
    return otlp_json.parse_request(doc)


# ---- shared --------------------------------------------------------------------------------------


class _ShapeError(Exception):
    """Raised inside a parser hook; `_read` turns it into a SourceError naming the URL."""


def _read(response: Response, parse: Callable[[Any], Iterable[Record]], *, protobuf: str | None = None) -> list[Record]:
    """The records of one answer, every one checked; SourceError naming the URL for anything else."""
    try:
        if protobuf and response.content_type.split(";")[0].strip() in _PROTOBUF:
            data = _tempo_v2_trace_bytes(response.body) if protobuf == "v2" else response.body
            return list(checked_records(otlp_proto.traces_from_bytes(data)))
        doc = response.json()
        docs = doc if isinstance(doc, list) and doc and all(isinstance(d, dict) for d in doc) else [doc]
        if docs and isinstance(docs[0], dict) and "traceID" in docs[0]:
            docs = [doc]  # a bare list of Jaeger traces is one document
        return [r for d in docs for r in checked_records(parse(d))]
    except _ShapeError as exc:
        raise SourceError(_shape(response, str(exc))) from None
    except InputError as exc:
        raise SourceError(f"{response.url}: the answer could not be read ({exc}); nothing of it was cached") from None


def _shape(response: Response, expected: str) -> str:
    return (
        f"{response.url} answered in a shape we do not read (expected {expected}); check that --store names the "
        "right source and API version"
    )


def _add_capped(found: Fetched, records: list[Record], limit: int) -> None:
    """Add whole traces until `limit` traces are held; a trace past the limit is left out whole."""
    by_trace: dict[str, list[Record]] = {}
    for record in records:
        trace_id = record.trace_id if isinstance(record, Span) else getattr(record, "trace_id", None) or ""
        by_trace.setdefault(trace_id, []).append(record)
    for trace_id, group in by_trace.items():
        if trace_id and trace_id not in found.trace_ids and len(found.trace_ids) >= limit:
            found.truncated = True
            continue
        if trace_id:
            found.trace_ids.add(trace_id)
        found.records.extend(group)


def _tempo_v2_trace_bytes(data: bytes) -> bytes:
    """Field 1 (the Trace) of a serialized tempopb.TraceByIDResponse; a Trace is wire-compatible with
    ExportTraceServiceRequest (`batches` = field 1, ResourceSpans)."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 2:
            length, i = _varint(data, i)
            if number == 1:
                return data[i : i + length]
            i += length
        elif wire == 0:
            _, i = _varint(data, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise _ShapeError("a protobuf TraceByIDResponse")
    return b""


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise _ShapeError("a protobuf TraceByIDResponse")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7


def _traceql_string(value: str | None) -> str:
    """A TraceQL string literal: the value quoted, its backslashes, quotes and control characters escaped."""
    return json.dumps(value or "", ensure_ascii=False)


def rfc3339(ns: int) -> str:
    """RFC 3339 with nanoseconds in UTC, as Jaeger's api_v3 parses it (time.RFC3339Nano)."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def now_ns() -> int:
    return time.time_ns()
