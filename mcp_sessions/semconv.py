"""OpenTelemetry semantic conventions: the attributes analysis needs, under every spelling.

Current names come first, the older ones real exporters still send after them
(`http.request.method` / `http.method`, `db.query.text` / `db.statement`, ...). Each
reader takes a span's attributes and returns plain values, or None when absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mcp_sessions.config import SESSION_KEYS, USER_KEYS
from mcp_sessions.model import LogRecord, Span


def first(attributes: Mapping[str, Any], *keys: str) -> Any:
    """The first non-empty value among `keys`."""
    for key in keys:
        value = attributes.get(key)
        if value not in (None, ""):
            return value
    return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


@dataclass(frozen=True, slots=True)
class Promoted:
    """A span's attributes that earn their own columns."""

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
    """The user-session id carried by a span/log or its resource, if any."""
    return _str_or_none(first(attributes, *SESSION_KEYS) or first(resource, *SESSION_KEYS))


def user_key(attributes: Mapping[str, Any], resource: Mapping[str, Any]) -> str | None:
    return _str_or_none(first(attributes, *USER_KEYS) or first(resource, *USER_KEYS))


def http_url(attrs: Mapping[str, Any]) -> str | None:
    full = first(attrs, "url.full", "http.url")
    if full:
        return str(full)
    path = first(attrs, "http.target", "url.path")
    if not path:
        return None
    query = attrs.get("url.query")
    if query and "?" not in str(path):
        path = f"{path}?{query}"
    host = first(attrs, "server.address", "http.host", "net.host.name")
    scheme = first(attrs, "url.scheme", "http.scheme")
    if host and scheme:
        port = first(attrs, "server.port", "net.host.port")
        authority = f"{host}:{port}" if port and ":" not in str(host) and str(port) not in ("80", "443") else host
        return f"{scheme}://{authority}{path}"
    return str(path)


def promote(span: Span) -> Promoted:
    attrs = span.attributes
    exception = next((e.attributes for e in span.events if e.name == "exception"), None) or {}
    code_source: Mapping[str, Any] = attrs if first(attrs, "code.function.name", "code.function") else exception
    function = first(code_source, "code.function.name", "code.function")
    namespace = code_source.get("code.namespace")
    if function and namespace and "." not in str(function):
        function = f"{namespace}.{function}"
    return Promoted(
        session_id=session_key(attrs, span.resource),
        user_id=user_key(attrs, span.resource),
        http_method=_str_or_none(first(attrs, "http.request.method", "http.method")),
        http_route=_str_or_none(first(attrs, "http.route")),
        http_status=_int_or_none(first(attrs, "http.response.status_code", "http.status_code")),
        http_url=http_url(attrs),
        db_system=_str_or_none(first(attrs, "db.system.name", "db.system")),
        db_statement=_str_or_none(first(attrs, "db.query.text", "db.statement")),
        exception_type=_str_or_none(first(exception, "exception.type") or first(attrs, "exception.type")),
        exception_message=_str_or_none(first(exception, "exception.message") or first(attrs, "exception.message")),
        code_function=_str_or_none(function),
        code_filepath=_str_or_none(first(code_source, "code.file.path", "code.filepath")),
        code_lineno=_int_or_none(first(code_source, "code.line.number", "code.lineno")),
    )


def log_session_key(record: LogRecord) -> str | None:
    return session_key(record.attributes, record.resource)
