"""What a span called: the one line that says where an outbound call went.

Instrumentations name client spans after the verb alone (`GET`, `SELECT`, `send`), which says
nothing; the attributes say the rest, under old and new spellings alike (semconv.CALL_SPELLINGS):

    database    db.query.summary, else the statement (db.query.text / db.statement), else
                db.operation + collection    → `sqlite: SELECT … FROM order_lines WHERE …`
    messaging   system, operation, destination  → `kafka publish orders.created`
    RPC         rpc.system, rpc.service/rpc.method → `grpc corpus.Quotes/Watch`
    HTTP        an outbound call (not a server span): its method, host and templated path,
                from url.full / http.url, else server.address (net.peer.name) + url.path
                (http.target)        → `GET 127.0.0.1:37583/downstream/catalog/{id}`

The path template is the one the store keeps in the span's fingerprint when it has one (learned
across every stored value), else each segment templated by its own shape. Recorded text is
already redacted; a statement is whitespace-collapsed and cut at TARGET_CHARS, the cut said.
"""

from __future__ import annotations

from mcp_sessions import urls
from mcp_sessions.analysis.fingerprint import template_path
from mcp_sessions.model import CallTarget, Span
from mcp_sessions.semconv import call_facts

TARGET_CHARS = 200

__all__ = ["TARGET_CHARS", "CallTarget", "call_target"]


def call_target(span: Span) -> CallTarget | None:
    """Where `span` called, or None when its attributes do not say (a server span names no HTTP target)."""
    facts = call_facts(span.attributes)
    if "statement" in facts or "db_summary" in facts or ("db_system" in facts and "db_operation" in facts):
        what = _database(facts)
        system = facts.get("db_system")
        return CallTarget("database", _cut(f"{system}: {what}" if system else what), _cut(what))
    if "destination" in facts:
        parts = (facts.get("messaging_system"), facts.get("messaging_operation"), facts["destination"])
        return CallTarget("messaging", _cut(" ".join(p for p in parts if p)), _cut(facts["destination"]))
    if "rpc_service" in facts or "/" in facts.get("rpc_method", ""):
        called = _rpc(facts)
        system = facts.get("rpc_system")
        return CallTarget("rpc", _cut(f"{system} {called}" if system else called), _cut(called))
    if span.kind not in ("server", "consumer") and "method" in facts:
        found = _http(facts, span.fingerprint)
        return CallTarget("http", _cut(f"{facts['method'].upper()} {found}"), _cut(found)) if found else None
    return None


def _database(facts: dict[str, str]) -> str:
    what = facts.get("db_summary") or facts.get("statement")
    return what or " ".join(p for p in (facts.get("db_operation"), facts.get("db_collection")) if p)


def _rpc(facts: dict[str, str]) -> str:
    """`Service/Method`, from rpc.service and rpc.method (or an rpc.method that holds both)."""
    method = facts.get("rpc_method", "")
    service = facts.get("rpc_service")
    called = method if "/" in method or not service else f"{service}/{method}" if method else service
    return called.lstrip("/")


def _http(facts: dict[str, str], fingerprint: str | None) -> str | None:
    """`host:port/templated/path` of an outbound call, or None when neither is recorded."""
    method = facts["method"].upper()
    if "url" in facts:
        parts = urls.split(facts["url"])
        host, path = parts.host_port, parts.path
    else:
        address, port = facts.get("address", ""), facts.get("port", "")
        host = address if not address or port in ("", "80", "443") else f"{address}:{port}"
        path = urls.split(facts.get("path", "")).path if facts.get("path") else ""
    if not host and not path:
        return None
    return f"{host}{_template(path, method, fingerprint)}"


def _template(path: str, method: str, fingerprint: str | None) -> str:
    """The path as the store's fingerprint templates it (same segment count), else by each segment's shape."""
    if not path:
        return ""
    own = template_path(path)
    if fingerprint and fingerprint.startswith(f"{method} "):
        kept = fingerprint[len(method) + 1 :]
        kept = kept[kept.find("/") :] if "/" in kept else ""
        if kept.count("/") == own.count("/"):
            return kept
    return own


def _cut(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= TARGET_CHARS:
        return text
    return f"{text[: TARGET_CHARS - 1]}… (cut: {len(text)} chars)"
