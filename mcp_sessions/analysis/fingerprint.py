"""Operation fingerprints: one key for every span (or request) that does the same work.

Thirty `SELECT … WHERE id = 7`, `… id = 8`, … are one query run thirty times; an N+1,
a duplicate call or a regression against a baseline is only visible once they share a
key. The key is what a person would call the operation:

    database   its statement with literals turned into placeholders and lists collapsed
               SELECT * FROM t WHERE id IN (1, 2, 3) AND name = 'x'
               → SELECT * FROM t WHERE id IN (?) AND name = ?
    HTTP       method and route (`http.route` when the span has one), else the URL path
               with numeric, UUID and hash-like segments templated, host kept for clients
               GET /api/orders/1234/items?x=1   → GET /api/orders/{id}/items
    otherwise  the span name, with the same templating applied to its path-like parts

Those are the templates one segment shows by itself. Ids only their company gives away
(`/api/products/1YMWWN1N4O` beside `/api/products/OLJCESPC7Z`) are judged across the values
stored at each path position (analysis/path_templates.py): the store applies what it learned
to the fingerprints it keeps (`Span.fingerprint`, `Event.url_template`), and the functions
here prefer those, so every tool reads the fingerprint the store keeps.

Fingerprints never include the service: callers pair them with it where it matters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from mcp_sessions import urls
from mcp_sessions.model import Event, Span
from mcp_sessions.semconv import first

MAX_FINGERPRINT = 300

# Comments and quoted literals in one left-to-right pass, so `'a--b'` stays a string and
# `/* it's */` stays a comment. Strings take E'' N'' B'' X'' U&'' prefixes, '' and \' escapes
# (MySQL's; a standard-SQL literal ending in a backslash is the price), Postgres $tag$…$tag$
# bodies, and a quote left open by a truncated statement.
_SQL_QUOTED = re.compile(
    r"(?P<comment>/\*.*?\*/|--[^\n]*)"
    r"|(?P<string>(?:(?<![\w$])(?:[EeNnBbXx]|[Uu]&))?'(?:[^'\\]|\\.|'')*(?:'|\Z))"
    r"|(?P<dollar>\$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag)\$)",
    re.S,
)
# Numbers must not touch identifiers (`t1`, `col_2`); `.5` and `1.` are numbers too.
_SQL_NUMBER = re.compile(
    r"(?<![\w$.])[-+]?(?:0x[0-9a-f]+|\d+(?:\.\d*)?(?:e[-+]?\d+)?|\.\d+(?:e[-+]?\d+)?)(?![\w$])", re.I
)
_SQL_PARAM = re.compile(r"\$\d+|%\(\w+\)s|%s|(?<![:\w]):\w+|@\w+|\?\d*")
_SQL_BOOL = re.compile(r"(?<![\w.])(?:TRUE|FALSE)(?![\w])", re.I)
_SQL_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)")
_SQL_ROWS = re.compile(r"\(\?\)(?:\s*,\s*\(\?\))+")
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def normalize_sql(statement: str) -> str:
    """The statement with comments dropped, literals and bind parameters as `?`, lists as `(?)`."""
    text = _SQL_QUOTED.sub(lambda m: " " if m.group("comment") else "?", statement)
    text = _SQL_PARAM.sub("?", text)
    text = _SQL_NUMBER.sub("?", text)
    text = _SQL_BOOL.sub("?", text)
    text = _SPACE.sub(" ", text).strip().rstrip(";").strip()
    text = _SQL_LIST.sub("(?)", text)
    text = _SQL_ROWS.sub("(?)", text)
    return text[:MAX_FINGERPRINT]


_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I)
_HEX = re.compile(r"^[0-9a-f]{12,}$", re.I)
_NUMERIC = re.compile(r"^[-+]?\d+(?:[.,]\d+)?$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{24,}$")


def _segment(segment: str) -> str:
    if not segment or segment.startswith("{"):
        return segment
    if _NUMERIC.match(segment):
        return "{id}"
    if _UUID.match(segment):
        return "{uuid}"
    if _HEX.match(segment) and any(c.isdigit() for c in segment):
        return "{hash}"
    if _TOKEN.match(segment) and sum(c.isdigit() for c in segment) >= 4:
        return "{token}"
    return segment


@lru_cache(maxsize=8192)
def template_path(path: str) -> str:
    """A URL path with its variable segments as placeholders; no query string."""
    path = path.split("?", 1)[0].split("#", 1)[0] or "/"
    return "/".join(_segment(s) for s in path.split("/"))[:MAX_FINGERPRINT]


def template_url(url: str, *, keep_host: bool = False) -> str:
    """`template_path` of a full or relative URL; `keep_host` prefixes the host (client calls)."""
    parts = urls.split(url)
    if parts.opaque:
        return _opaque(parts)
    templated = template_path(parts.path or "/")
    host = parts.host_port
    return f"{host}{templated}" if keep_host and host else templated


def _opaque(parts: urls.Url) -> str:
    """`data:image/png`, `blob:shop.example/{uuid}`, `about:blank`: a URL without a path hierarchy."""
    if parts.scheme == "data":
        media = parts.path.split(",", 1)[0].split(";", 1)[0].strip().lower()
        return f"data:{media[:60]}"
    if parts.scheme == "blob":
        return f"blob:{template_url(parts.path, keep_host=True)}"
    if parts.scheme == "about":
        return f"about:{parts.path[:40]}"
    return f"{parts.scheme}:"


def request_fingerprint(
    method: str | None, url: str | None, route: str | None = None, *, url_template: str | None = None
) -> str:
    """`GET /api/products/{id}`: a recorded request or an HTTP span, by method and template (the route,
    else the URL template the store derived, else the URL templated here)."""
    target = route or url_template or (template_url(url) if url else "?")
    return f"{(method or 'GET').upper()} {target}"


def event_fingerprint(event: Event) -> str:
    """A recorded request's fingerprint, with the URL template the store derived when it has one."""
    return request_fingerprint(event.method, event.url, url_template=event.url_template)


def event_url_template(event: Event) -> str:
    """The path template of an event's URL (a page, a request): the store's when it has one."""
    return event.url_template or template_url(event.url or "")


def span_fingerprint(span: Span) -> str:
    """The fingerprint of one span: the store's, else its statement, its request template, or its name."""
    if span.fingerprint is not None:
        return span.fingerprint
    return attributes_fingerprint(span.name, span.kind, span.attributes)


def attributes_fingerprint(name: str, kind: str, attrs: Mapping[str, Any]) -> str:
    statement = first(attrs, "db.query.text", "db.statement")
    if statement:
        return normalize_sql(str(statement))
    method = first(attrs, "http.request.method", "http.method")
    if method:
        route = first(attrs, "http.route")
        url = first(attrs, "url.full", "http.url", "http.target", "url.path")
        if kind == "client" and url and not route:
            return f"{str(method).upper()} {template_url(str(url), keep_host=True)}"
        if route or url:
            return request_fingerprint(str(method), str(url) if url else None, str(route) if route else None)
    return _templated_name(name)


@lru_cache(maxsize=8192)
def _templated_name(name: str) -> str:
    words = name.split(" ")
    return " ".join(template_path(w) if "/" in w else w for w in words)[:MAX_FINGERPRINT]
