"""Secrets and personal data removed before anything is stored.

Rules, each counted under its own name so an ingest can report what it masked (never
the values):

    sensitive_key     attribute / header / field named like a credential
                      (authorization, cookie, password, secret, token, api key, ...)
    sensitive_header  request/response headers that carry a session (x-session-id, csrf)
    query_param       sensitive query-string parameters inside URLs (?token=..., &api_key=...)
                      and form-encoded bodies (password=...&user=...)
    cookie            every cookie value a browser recording carries
    json_field        "password": "..." style fields inside JSON text
    jwt               anything shaped like a JSON Web Token
    bearer            Bearer / Basic credentials in free text
    card_number       digit runs that pass the Luhn check and look like a payment card
    prefixed_token    in browser text (console messages, bodies, URLs): vendor-style tokens,
                      a short lowercase prefix and a long digit-bearing tail (sk_live_4e8f…,
                      pat_7Hq2Lx9Vb4Kd, sup_erin_c0ns0le_55aa), as secret scanners flag them
    known_value       a value already masked under a sensitive key, met again in free text
                      (the token in an `auth_token` attribute, repeated in a log body)

The session-link keys (`session.id` and friends) are identifiers we join on, not
credentials, so they are kept.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mcp_sessions.model import Event, LogRecord, Record, Span, SpanEvent, SpanLink

MASK = "[REDACTED]"

_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "authorization",
        "cookie",
        "credential",
        "credentials",
        "apikey",
        "jwt",
        "signature",
        "passphrase",
        "privatekey",
        "set-cookie",
    }
)
_SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("access", "key"),
        ("private", "key"),
        ("secret", "key"),
        ("auth", "token"),
        ("client", "secret"),
        ("session", "token"),
        ("refresh", "token"),
        ("id", "token"),
    }
)
_HEADER_PREFIXES = ("http.request.header.", "http.response.header.")
_HEADER_WORDS = frozenset({"session", "sessionid", "sid", "csrf", "xsrf", "auth"})

_SENSITIVE_PARAMS = (
    "access_token|refresh_token|id_token|token|auth|auth_token|api_key|apikey|api-key|key|secret|"
    "client_secret|password|passwd|pwd|sig|signature|session|sessionid|session_id|sid|jwt|code|credential"
)
# After ?, & or ; in a URL, or at the start of a form-encoded body (password=...&user=...).
_QUERY_PARAM = re.compile(rf"((?:^|[?&;])(?:{_SENSITIVE_PARAMS})=)[^&#\s\"']*", re.IGNORECASE)
_JSON_FIELD = re.compile(
    r"(\"(?:[a-z_\-]*(?:password|passwd|secret|token|api_?key|authorization|cookie|credential)[a-z_\-]*)\"\s*:\s*)"
    r"\"(?:[^\"\\]|\\.)*\"",
    re.IGNORECASE,
)
_PREFIXED_TOKEN = re.compile(r"\b[a-z]{2,8}_(?=[A-Za-z0-9_]*\d[A-Za-z0-9_]*\d)[A-Za-z0-9_]{12,}\b")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}")
_BEARER = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_CARD = re.compile(r"(?<![\d.])(?:\d[ -]?){12,18}\d(?![\d.])")
_CARD_HINT = re.compile(r"(?:\d[ -]?){12}\d")


_MIN_KNOWN = 6
_KNOWN_SPLIT = re.compile(r"[\s;,=]+")


@dataclass
class RedactionReport:
    """How many values each rule masked, and the values masked by key (to catch them again in text).

    One report lives for one ingest; the values it remembers are never stored or printed.
    """

    counts: Counter[str] = field(default_factory=Counter)
    known: set[str] = field(default_factory=set)
    # Parsers share one resource mapping among all spans of a resource: redact it once.
    _resources: dict[int, tuple[Mapping[str, Any], dict[str, Any]]] = field(default_factory=dict)

    def remember(self, value: Any) -> None:
        if isinstance(value, str):
            parts = [value, *_KNOWN_SPLIT.split(value)]
            self.known.update(p for p in parts if len(p) >= _MIN_KNOWN and p.lower() not in ("bearer", "basic"))

    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        return {rule: n for rule, n in sorted(self.counts.items()) if n}


def _key_words(key: str) -> list[str]:
    return [w for w in re.split(r"[._\-\s/:]+", key.lower()) if w]


@functools.lru_cache(maxsize=4096)
def is_sensitive_key(key: str) -> str | None:
    """The rule name if a key names a credential, else None."""
    lowered = key.lower()
    words = _key_words(lowered)
    if any(w in _SECRET_WORDS for w in words) or any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words)):
        return "sensitive_key"
    if lowered.startswith(_HEADER_PREFIXES):
        header_words = _key_words(lowered.split(".header.", 1)[1])
        if any(w in _HEADER_WORDS for w in header_words):
            return "sensitive_header"
    return None


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def redact_text(text: str, report: RedactionReport) -> str:
    """Mask secrets inside free text: URLs' query strings, JSON fields, tokens, card numbers."""
    for value in report.known:
        if value in text:
            report.counts["known_value"] += text.count(value)
            text = text.replace(value, MASK)
    if "=" in text:
        text, n = _QUERY_PARAM.subn(rf"\g<1>{MASK}", text)
        report.counts["query_param"] += n
    if '"' in text and ":" in text:
        text, n = _JSON_FIELD.subn(rf'\g<1>"{MASK}"', text)
        report.counts["json_field"] += n
    if "eyJ" in text:
        text, n = _JWT.subn(MASK, text)
        report.counts["jwt"] += n
    if " " in text:
        text, n = _BEARER.subn(rf"\g<1> {MASK}", text)
        report.counts["bearer"] += n
    if _CARD_HINT.search(text):
        text = _CARD.sub(lambda m: _mask_card(m, report), text)
    return text


def _mask_card(match: re.Match[str], report: RedactionReport) -> str:
    raw = match.group(0)
    digits = re.sub(r"\D", "", raw)
    if 13 <= len(digits) <= 19 and digits[0] in "3456" and _luhn(digits):
        report.counts["card_number"] += 1
        return MASK
    return raw


def redact_browser_text(text: str, report: RedactionReport) -> str:
    """Free text a browser recorded: the general rules, then vendor-style tokens."""
    text = redact_text(text, report)
    if "_" in text:
        text, n = _PREFIXED_TOKEN.subn(MASK, text)
        report.counts["prefixed_token"] += n
    return text


def _redact_browser_value(value: Any, report: RedactionReport) -> Any:
    if isinstance(value, str):
        return redact_browser_text(value, report)
    if isinstance(value, list):
        return [_redact_browser_value(v, report) for v in value]
    if isinstance(value, Mapping):
        return {k: _redact_browser_value(v, report) for k, v in value.items()}
    return value


def redact_value(value: Any, report: RedactionReport) -> Any:
    if isinstance(value, str):
        return redact_text(value, report)
    if isinstance(value, list):
        return [redact_value(v, report) for v in value]
    if isinstance(value, dict):
        return redact_attributes(value, report)
    return value


def redact_attributes(attributes: Mapping[str, Any], report: RedactionReport) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        rule = is_sensitive_key(key)
        if rule and value not in (None, "", [], {}):
            report.counts[rule] += 1
            report.remember(value)
            out[key] = MASK
        else:
            out[key] = redact_value(value, report)
    return out


def redact_span(span: Span, report: RedactionReport) -> Span:
    attributes = redact_attributes(span.attributes, report)  # first: values masked by key are then known
    resource = _redact_resource(span.resource, report)
    return replace(
        span,
        name=redact_text(span.name, report),
        status_message=redact_text(span.status_message, report) if span.status_message else None,
        attributes=attributes,
        resource=resource,
        events=tuple(
            SpanEvent(e.time_ns, redact_text(e.name, report), redact_attributes(e.attributes, report))
            for e in span.events
        ),
        links=tuple(SpanLink(li.trace_id, li.span_id, redact_attributes(li.attributes, report)) for li in span.links),
    )


def redact_log(record: LogRecord, report: RedactionReport) -> LogRecord:
    attributes = redact_attributes(record.attributes, report)  # first: values masked by key are then known
    resource = _redact_resource(record.resource, report)
    return replace(record, body=redact_value(record.body, report), attributes=attributes, resource=resource)


def _redact_resource(resource: Mapping[str, Any], report: RedactionReport) -> dict[str, Any]:
    """A resource redacted once per ingest, however many records share it (counted once, too)."""
    cached = report._resources.get(id(resource))
    if cached is not None and cached[0] is resource:
        return cached[1]
    redacted = redact_attributes(resource, report)
    if len(report._resources) >= 1_024:  # bounded: a long JSON Lines file brings new mappings every line
        report._resources.clear()
    report._resources[id(resource)] = (resource, redacted)
    return redacted


_HEADER_MAPS = {"request_headers": "http.request.header.", "response_headers": "http.response.header."}
_COOKIE_MAPS = ("request_cookies", "response_cookies", "cookies")


def redact_event(event: Event, report: RedactionReport) -> Event:
    """A browser event with headers judged as headers, every cookie value masked, text rules everywhere."""
    detail: dict[str, Any] = dict(event.detail)
    for key, prefix in _HEADER_MAPS.items():
        headers = detail.get(key)
        if isinstance(headers, Mapping):
            detail[key] = redact_attributes({f"{prefix}{name}": v for name, v in headers.items()}, report)
            detail[key] = {name[len(prefix) :]: v for name, v in detail[key].items()}
    for key in _COOKIE_MAPS:
        cookies = detail.get(key)
        if isinstance(cookies, Mapping) and cookies:
            for value in cookies.values():
                report.remember(value)
            report.counts["cookie"] += len(cookies)
            detail[key] = dict.fromkeys(cookies, MASK)
    others = {k: v for k, v in detail.items() if k not in _HEADER_MAPS and k not in _COOKIE_MAPS}
    detail.update(redact_attributes(others, report))
    return replace(
        event,
        summary=redact_browser_text(event.summary, report),
        url=redact_browser_text(event.url, report) if event.url else None,
        target=redact_browser_text(event.target, report) if event.target else None,
        detail=_redact_browser_value(detail, report),
    )


def redact_records(records: Iterable[Record], report: RedactionReport) -> Iterator[Record]:
    """Every span and log record redacted; other records pass through."""
    for record in records:
        if isinstance(record, Span):
            yield redact_span(record, report)
        elif isinstance(record, LogRecord):
            yield redact_log(record, report)
        elif isinstance(record, Event):
            yield redact_event(record, report)
        else:
            yield record
