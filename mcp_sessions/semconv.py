"""OpenTelemetry semantic conventions: the attributes analysis needs, under every spelling.

Current names come first, the older ones real exporters still send after them
(`http.request.method` / `http.method`, `db.query.text` / `db.statement`, ...). Each
reader takes a span's attributes and returns plain values, or None when absent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from mcp_sessions import urls
from mcp_sessions.config import SESSION_BAGGAGE_KEYS, SESSION_HEADERS, SESSION_KEYS, USER_KEYS
from mcp_sessions.formats.propagation import baggage
from mcp_sessions.model import CodeLocation, LogRecord, Span


def first(attributes: Mapping[str, Any], *keys: str) -> Any:
    """The first non-empty value among `keys`."""
    for key in keys:
        value = attributes.get(key)
        if value not in (None, ""):
            return value
    return None


def _int_or_none(value: Any) -> int | None:
    """An integer column's value; None for what is no 64-bit integer (text, infinity, 2**70)."""
    try:
        number = int(value) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is None or -(2**63) <= number < 2**63 else None


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


class Promoted(NamedTuple):
    """A span's attributes that earn their own columns (a tuple: ingest builds one per span)."""

    session_id: str | None
    user_id: str | None
    http_method: str | None
    http_route: str | None
    http_status: int | None
    http_url: str | None
    db_system: str | None
    db_statement: str | None
    exception_type: str | None
    exception_message: str | None
    code_function: str | None
    code_filepath: str | None
    code_lineno: int | None


def session_key(attributes: Mapping[str, Any], resource: Mapping[str, Any]) -> str | None:
    """The user-session id carried by a span/log or its resource, if any (see `_session_of`)."""
    return _session_of(pick(attributes), resource)


def _session_of(picked: Mapping[str, Any], resource: Mapping[str, Any]) -> str | None:
    """The session key, in order of trust: the record's own session attribute (`session.id`, ...), a
    session entry of its recorded `baggage` request header, its recorded session header
    (`x-session-id`, ...), then the resource's session attribute.
    """
    found = picked.get("session")
    if not found and (header := header_value(picked.get("baggage_header"))):
        entries = baggage({"baggage": header})
        found = next((entries[k] for k in SESSION_BAGGAGE_KEYS if entries.get(k)), None)
    if not found:
        found = header_value(picked.get("session_header"))
    if not found or _masked(found):  # a header named like a credential stays masked: no key
        found = first(resource, *SESSION_KEYS)
    return _str_or_none(found)


def _masked(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("[REDACTED")


def header_value(value: Any) -> str | None:
    """The first value of a recorded `http.request.header.*` attribute.

    The conventions record a header as an array of strings; exporters without arrays (Zipkin,
    older Jaeger) send that array as JSON text, and some instrumentations a plain string.
    """
    if isinstance(value, str) and value.startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            return value.strip() or None
    if isinstance(value, list | tuple):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    return value.strip() or None if isinstance(value, str) else None


def http_url(attrs: Mapping[str, Any]) -> str | None:
    return _url(pick(attrs))


def _url(picked: Mapping[str, Any]) -> str | None:
    full = picked.get("url")
    if full:
        return str(full)
    path = picked.get("path")
    if not path:
        return None
    query = picked.get("query")
    if query and "?" not in str(path):
        path = f"{path}?{query}"
    host = picked.get("host")
    scheme = picked.get("scheme")
    if host and scheme:
        port = picked.get("port")
        authority = f"{host}:{port}" if port and ":" not in str(host) and str(port) not in ("80", "443") else host
        return f"{scheme}://{authority}{path}"
    return str(path)


# Every attribute `promote` reads, by the name of what it means, current spelling first.
# `pick` reads a span's attributes once and keeps, for each meaning, what `first` would
# return over its spellings: ingest promotes every span, and one pass over a handful of
# attributes costs far less than some forty lookups of names mostly absent.
SPELLINGS: dict[str, tuple[str, ...]] = {
    "session": SESSION_KEYS,
    "user": USER_KEYS,
    # Header attributes: the conventions spell `http.request.header.x-session-id`; the Python
    # instrumentations write `http.request.header.x_session_id`.
    "baggage_header": ("http.request.header.baggage",),
    "session_header": tuple(
        dict.fromkeys(
            f"http.request.header.{spelling}"
            for name in SESSION_HEADERS
            if name != "baggage"
            for spelling in (name, name.replace("-", "_"))
        )
    ),
    "method": ("http.request.method", "http.method"),
    "route": ("http.route",),
    "status": ("http.response.status_code", "http.status_code"),
    "url": ("url.full", "http.url"),
    "path": ("http.target", "url.path"),
    "query": ("url.query",),
    "host": ("server.address", "http.host", "net.host.name"),
    "scheme": ("url.scheme", "http.scheme"),
    "port": ("server.port", "net.host.port"),
    "db_system": ("db.system.name", "db.system"),
    "statement": ("db.query.text", "db.statement"),
    "exception_type": ("exception.type",),
    "exception_message": ("exception.message",),
    "function": ("code.function.name", "code.function"),
    "namespace": ("code.namespace",),
    "filepath": ("code.file.path", "code.filepath"),
    "lineno": ("code.line.number", "code.lineno"),
}
_MEANING = {key: (meaning, rank) for meaning, keys in SPELLINGS.items() for rank, key in enumerate(keys)}
assert len(_MEANING) == sum(map(len, SPELLINGS.values())), "an attribute name may have one meaning only"
_EMPTY = (None, "")


def pick(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """For each meaning in SPELLINGS present in `attrs`: `first(attrs, *SPELLINGS[meaning])`."""
    picked: dict[str, Any] = {}
    ranks: dict[str, int] = {}
    items = attrs.items() if len(attrs) <= len(_MEANING) else ((k, attrs.get(k)) for k in _MEANING)
    for key, value in items:
        slot = _MEANING.get(key)
        if slot is not None and value not in _EMPTY:
            meaning, rank = slot
            if rank < ranks.get(meaning, len(_MEANING)):
                picked[meaning] = value
                ranks[meaning] = rank
    return picked


def code_location(attrs: Mapping[str, Any]) -> CodeLocation | None:
    """`code.function.name` / `code.function` (with the older `code.namespace` prefixed), `code.file.path` /
    `code.filepath`, `code.line.number` / `code.lineno`; None when none of them is there."""
    return _location(pick(attrs))


def _location(picked: Mapping[str, Any]) -> CodeLocation | None:
    location = _parts(picked)
    return location if location.function or location.filepath else None


def _parts(picked: Mapping[str, Any]) -> CodeLocation:
    function, namespace = picked.get("function"), picked.get("namespace")
    if function and namespace and "." not in str(function):
        function = f"{namespace}.{function}"
    return CodeLocation(
        _str_or_none(function), _str_or_none(picked.get("filepath")), _int_or_none(picked.get("lineno"))
    )


# What a client, producer or consumer span talks to, under every spelling (current first).
TARGET_SPELLINGS: dict[str, tuple[str, ...]] = {
    "peer_service": ("service.peer.name", "peer.service"),
    "address": ("server.address", "net.peer.name", "network.peer.address", "net.sock.peer.addr", "net.peer.ip"),
    "port": ("server.port", "net.peer.port", "network.peer.port", "net.sock.peer.port"),
    "db_system": ("db.system.name", "db.system"),
    "db_namespace": ("db.namespace", "db.name"),
    "destination": ("messaging.destination.name", "messaging.destination"),
    "rpc_service": ("rpc.service",),
    "url": ("url.full", "http.url"),
}
_DEFAULT_PORTS = frozenset({"80", "443"})


def target(attrs: Mapping[str, Any], kind: str) -> str | None:
    """What the span called: `payments (pay.internal:8443)`, `postgresql shop @ db:5432`, `queue orders`.

    Server spans have none (their address is their own). Ports 80 and 443 are left out, so
    a target read from `server.port` and one read from a URL without a port are the same.
    """
    if kind == "server":
        return None
    get = {meaning: first(attrs, *keys) for meaning, keys in TARGET_SPELLINGS.items()}
    address = _str_or_none(get["address"])
    port = _str_or_none(get["port"])
    if address:
        address = address if not port or port in _DEFAULT_PORTS else f"{address}:{port}"
    elif get["url"]:
        address = urls.host_port(str(get["url"])) or None
    parts: list[str] = []
    if get["db_system"]:
        parts.append(" ".join(str(p) for p in (get["db_system"], get["db_namespace"]) if p))
    elif get["destination"]:
        parts.append(f"queue {get['destination']}")
    elif get["rpc_service"]:
        parts.append(str(get["rpc_service"]))
    service = _str_or_none(get["peer_service"])
    if service:
        parts.insert(0, service)
    if address:
        parts.append(f"@ {address}" if parts and get["db_system"] else f"({address})" if parts else address)
    return " ".join(parts) or None


# What a span called, by meaning, current spelling first (analysis/call_targets.py composes them).
CALL_SPELLINGS: dict[str, tuple[str, ...]] = {
    "method": ("http.request.method", "http.method"),
    "url": ("url.full", "http.url"),
    "address": ("server.address", "net.peer.name", "http.host"),
    "port": ("server.port", "net.peer.port"),
    "path": ("url.path", "http.target"),
    "db_system": ("db.system.name", "db.system"),
    "db_summary": ("db.query.summary",),
    "statement": ("db.query.text", "db.statement"),
    "db_operation": ("db.operation.name", "db.operation"),
    "db_collection": ("db.collection.name", "db.sql.table", "db.mongodb.collection", "db.cassandra.table"),
    "messaging_system": ("messaging.system",),
    "messaging_operation": ("messaging.operation.type", "messaging.operation.name", "messaging.operation"),
    "destination": ("messaging.destination.name", "messaging.destination", "messaging.destination.template"),
    "rpc_system": ("rpc.system",),
    "rpc_service": ("rpc.service",),
    "rpc_method": ("rpc.method",),
}


_CALL_MEANING = {key: (meaning, rank) for meaning, keys in CALL_SPELLINGS.items() for rank, key in enumerate(keys)}
assert len(_CALL_MEANING) == sum(map(len, CALL_SPELLINGS.values())), "an attribute name may have one meaning only"


def call_facts(attrs: Mapping[str, Any]) -> dict[str, str]:
    """For each meaning in CALL_SPELLINGS present in `attrs`: its first non-empty scalar value, as text
    (one pass over the attributes, as `pick`: get_trace reads it for every span it groups)."""
    out: dict[str, str] = {}
    ranks: dict[str, int] = {}
    items = attrs.items() if len(attrs) <= len(_CALL_MEANING) else ((k, attrs.get(k)) for k in _CALL_MEANING)
    for key, value in items:
        slot = _CALL_MEANING.get(key)
        if slot is None or value in _EMPTY or isinstance(value, dict | list):
            continue
        meaning, rank = slot
        if rank < ranks.get(meaning, len(_CALL_MEANING)):
            out[meaning] = str(value)
            ranks[meaning] = rank
    return out


def promote(span: Span) -> Promoted:
    picked = pick(span.attributes)
    get = picked.get
    exception = next((e.attributes for e in span.events if e.name == "exception"), None) if span.events else None
    # The span's own location when it names a function or file; else the exception event's, if any.
    own = get("function") or get("filepath")
    function, filepath, lineno = _parts(picked if own else pick(exception) if exception else {})
    exception_type, exception_message = get("exception_type"), get("exception_message")
    if exception:
        exception_type = first(exception, "exception.type") or exception_type
        exception_message = first(exception, "exception.message") or exception_message
    return Promoted(
        session_id=_session_of(picked, span.resource),
        user_id=_str_or_none(get("user") or first(span.resource, *USER_KEYS)),
        http_method=_str_or_none(get("method")),
        http_route=_str_or_none(get("route")),
        http_status=_int_or_none(get("status")),
        http_url=_url(picked),
        db_system=_str_or_none(get("db_system")),
        db_statement=_str_or_none(get("statement")),
        exception_type=_str_or_none(exception_type),
        exception_message=_str_or_none(exception_message),
        code_function=function,
        code_filepath=filepath,
        code_lineno=lineno,
    )


def log_session_key(record: LogRecord) -> str | None:
    return session_key(record.attributes, record.resource)
