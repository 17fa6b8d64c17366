"""Secrets and personal data removed before anything is stored.

Rules, each counted under its own name so an ingest can report what it masked (never
the values):

    sensitive_key     attribute / header / field named like a credential
                      (authorization, cookie, password, secret, token, api key, ...)
    sensitive_header  request/response headers that carry a session (x-sid, csrf); the request
                      headers read as the session key (x-session-id, config.SESSION_HEADERS)
                      are join keys and stay readable
    query_param       `name=value` in URLs, form bodies, DSNs and logs whose name names a
                      credential in any spelling (?accessToken=, &X-Amz-Signature=, new_password=)
    cookie            every cookie value a browser recording carries
    json_field        "password": "..." / "pin": 1234 / password: "..." fields inside JSON,
                      GraphQL and object literals, by the same judgement of the name
    userinfo, path_token, vendor_token, cloud_key, private_key, sql_password, encoded_value
                      shapes found anywhere in text (see `mcp_sessions.redact_detect`)
    jwt               anything shaped like a JSON Web Token
    bearer            Bearer / Basic credentials in free text
    card_number       digit runs that pass the Luhn check and look like a payment card
    prefixed_token    in browser text (console messages, bodies, URLs): vendor-style tokens,
                      a short lowercase prefix and a long digit-bearing tail (sk_live_4e8f…,
                      pat_7Hq2Lx9Vb4Kd, sup_erin_c0ns0le_55aa), as secret scanners flag them
    known_value       a value already masked under a sensitive key (or a token-shaped cookie
                      value), met again in free text as a whole token (the token in an
                      `auth_token` attribute, repeated in a log body), remembered across the
                      files of one ingest run and over the receiver's lifetime (`KnownValues`)

The session-link keys (`session.id` and friends) are identifiers we join on, not
credentials, so they are kept. Typed input values are masked by the rrweb parser itself (the
raw value never leaves it) and counted here as `input_value`.

Names are judged by their words (`key_words`: camelCase, kebab, snake, dotted), values are
also judged decoded (percent-encoding, Basic credentials, JSON numbers), and the parsers cut
long text only after the text rules have seen all of it (`clip`).

A redaction config (`RedactionRules`, see `mcp_sessions.redact_rules`) adds names to mask or
keep and patterns of its own, never removes a rule.

Speed: every string of every record passes through `redact_text`, so it is built for the
common case. Values masked by key are looked for in text only where one may occur (a value
no known value's first characters appear in cannot hold one); what the text rules make of a
string, and what they count, is a pure function of the string and the rules, memoised on
the rules object (most values recur: methods, routes, user agents, statements). A span
that no rule changes is passed on as it is.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mcp_sessions.cuts import cut_note
from mcp_sessions.model import Event, LogRecord, Record, Span, SpanEvent, SpanLink
from mcp_sessions.redact_detect import (
    MASK,
    MIN_KNOWN,
    KnownValues,
    mask_encoded,
    mask_named_fields,
    mask_named_params,
    mask_shapes,
    whole_token,
)
from mcp_sessions.redact_rules import (
    BUILTIN_RULES,
    DEFAULT_RULES,
    Pattern,
    RedactionRules,
    is_sensitive_key,
    load_rules,
    rules_from_config,
)

__all__ = [
    "BUILTIN_RULES",
    "DEFAULT_RULES",
    "INPUT_MASK",
    "MASK",
    "KnownValues",
    "Pattern",
    "RedactionReport",
    "RedactionRules",
    "clip",
    "is_sensitive_key",
    "load_rules",
    "redact_attributes",
    "redact_browser_text",
    "redact_event",
    "redact_log",
    "redact_records",
    "redact_span",
    "redact_text",
    "redact_value",
    "rules_from_config",
]

_JSON_MASK = f'"{MASK}"'
_BEARER_MASK = rf"\g<1> {MASK}"
INPUT_MASK = "[masked]"  # what the rrweb parser puts in place of a typed value

_PREFIXED_TOKEN = re.compile(r"\b[a-z]{2,8}_(?=[A-Za-z0-9_]*\d[A-Za-z0-9_]*\d)[A-Za-z0-9_]{12,}\b")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}")
_BEARER = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_CARD = re.compile(r"(?<![\d.])(?:\d[ -]?){12,18}\d(?![\d.])")
_CARD_HINT = re.compile(r"(?:\d[ -]?){12}\d")


_PCT_HEX = re.compile(r"%[0-9A-Fa-f]{2}")
_CLIP_MARGIN = 1_024
_CUT_DELIMITERS = r"\s\"',;&=<>(){}\[\]|"
# The word a cut ends in: up to 256 characters back to a delimiter (a longer run is data, not a credential).
_CUT_RUN = re.compile(rf"(?<![^{_CUT_DELIMITERS}])[^{_CUT_DELIMITERS}]{{1,256}}\Z")
_CUT_CONTINUES = re.compile(rf"[^{_CUT_DELIMITERS}]")
_MEMO_ENTRIES = 16_384  # texts memoised per rules object before the memo starts over
_MEMO_TEXT = 1_024  # longer texts are not memoised (bounded memory; they rarely recur)
_PLAIN = frozenset({int, float, bool, type(None)})  # values no text rule applies to


@dataclass
class RedactionReport:
    """How many values each rule masked, and the values masked by key (to catch them again in text).

    One report lives for one file or one receiver request, under one set of rules; `known`
    may be shared by the reports of one ingest run or one receiver (pass the same
    `KnownValues`). The values it remembers are never stored or printed.
    """

    rules: RedactionRules = DEFAULT_RULES
    counts: Counter[str] = field(default_factory=Counter)
    known: KnownValues = field(default_factory=KnownValues)
    # Parsers share one resource mapping among all spans of a resource: redact it once.
    _resources: dict[int, tuple[Mapping[str, Any], Mapping[str, Any]]] = field(default_factory=dict)

    def remember(self, value: Any) -> None:
        if isinstance(value, list):
            for item in value[:64]:
                self.known.remember(item)
        else:
            self.known.remember(value)

    def may_hold_known(self, text: str) -> bool:
        """False only when no known value occurs in `text`: each one begins with one of the heads."""
        return self.known.may_hold(text)

    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        return {rule: n for rule, n in sorted(self.counts.items()) if n}


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
    known = report.known
    if len(text) >= MIN_KNOWN and known.may_hold(text):
        for value in known.found_in(text):
            text, n = whole_token(value).subn(MASK, text)
            report.counts["known_value"] += n
    memo = report.rules.text_memo
    done = memo.get(text)
    if done is None:
        done = text_rules(text, report.rules)
        if len(text) <= _MEMO_TEXT:
            if len(memo) >= _MEMO_ENTRIES:
                memo.clear()
            memo[text] = done
    masked, counted = done
    if counted:
        counts = report.counts
        for rule, n in counted:
            counts[rule] += n
    return masked


def text_rules(text: str, rules: RedactionRules) -> tuple[str, tuple[tuple[str, int], ...]]:
    """The text with every text rule applied, and how many values each rule masked (never zero).

    A pure function of its arguments (no known values: `redact_text` masks those first).
    """
    counts: Counter[str] = Counter()

    def count(rule: str) -> None:
        counts[rule] += 1

    keeps = rules.keeps_key
    if rules.patterns_re is not None:
        text = rules.patterns_re.sub(lambda m: _mask_pattern(m, rules, counts), text)
    text = mask_shapes(text, count)
    if "=" in text:
        text = mask_named_params(text, keeps, count)
        if rules.query_re is not None:
            text = _mask_fields(rules.query_re, text, rules, counts, "configured_key", _param_name, MASK)
    if ":" in text:
        text = mask_named_fields(text, keeps, count)
        if rules.json_re is not None and '"' in text:
            text = _mask_fields(rules.json_re, text, rules, counts, "configured_key", _field_name, _JSON_MASK)
    if "eyJ" in text:
        text, n = _JWT.subn(MASK, text)
        counts["jwt"] += n
    if " " in text:
        text, n = _BEARER.subn(_BEARER_MASK, text)
        counts["bearer"] += n
    if _CARD_HINT.search(text):
        text = _CARD.sub(lambda m: _mask_card(m, counts), text)
    if "%" in text and _PCT_HEX.search(text):
        text = mask_encoded(text, lambda decoded: bool(text_rules(decoded, rules)[1]), count)
    return text, tuple((rule, n) for rule, n in counts.items() if n)


def clip(text: str, limit: int, rules: RedactionRules = DEFAULT_RULES, ellipsis: str | None = None) -> str:
    """`text` cut to `limit` characters, after the text rules have seen all of it.

    A parser bounds what it keeps with this, so a secret cut in half is still recognised
    (the rules run on the whole text first), and a word cut at the limit is dropped whole:
    the prefix of a value recognised only later (a known value, a configured pattern) is
    not kept. The cut ends with the one cut mark (`cuts.cut_text`: the original length
    said), or with `ellipsis` on a one-line summary. Pure: what the rules count here is
    counted again by the redaction stage only for what remains.
    """
    if len(text) <= limit:
        return text
    # Only what is kept, and a margin as long as any secret shape, can hold a secret that is kept.
    seen = text[: limit + _CLIP_MARGIN]
    masked = text_rules(seen, rules)[0]
    if len(seen) == len(text) and len(masked) <= limit:
        return masked
    end = cut_note(len(text)) if ellipsis is None else ellipsis
    keep = max(0, limit - len(end))
    cut = masked[:keep]
    if keep < len(masked) and keep and _CUT_CONTINUES.match(masked[keep]) is not None:
        partial = _CUT_RUN.search(cut)
        if partial is not None:
            cut = cut[: partial.start()]
    return cut + end


def _mask_pattern(match: re.Match[str], rules: RedactionRules, counts: Counter[str]) -> str:
    if match.end() == match.start():
        return ""  # a lookaround-only pattern matching nothing: nothing to mask
    counts[rules.pattern_names[match.lastgroup or ""]] += 1
    return MASK


def _mask_fields(
    regex: re.Pattern[str],
    text: str,
    rules: RedactionRules,
    counts: Counter[str],
    rule: str,
    name_of: Callable[[str], str],
    mask: str,
) -> str:
    """Mask the value after each `name=` / `"name":` that `regex` finds, unless the config keeps the name."""

    def replace_one(match: re.Match[str]) -> str:
        if rules.keeps_key(name_of(match.group(1))):
            return match.group(0)
        counts[rule] += 1
        return match.group(1) + mask

    return regex.sub(replace_one, text)


def _param_name(prefix: str) -> str:
    return prefix.lstrip("?&;")[:-1]  # "?token=" → token


def _field_name(prefix: str) -> str:
    return prefix[1:].split('"', 1)[0]  # '"password": ' → password


def _mask_card(match: re.Match[str], counts: Counter[str]) -> str:
    raw = match.group(0)
    digits = re.sub(r"\D", "", raw)
    if 13 <= len(digits) <= 19 and digits[0] in "3456" and _luhn(digits):
        counts["card_number"] += 1
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
    judge = report.rules.key_rule
    for key, value in attributes.items():
        rule = judge(key)
        if rule and value not in (None, "", [], {}):
            report.counts[rule] += 1
            report.remember(value)
            out[key] = MASK
        elif type(value) is str:  # the common cases first, without redact_value's checks
            out[key] = redact_text(value, report)
        elif type(value) in _PLAIN:
            out[key] = value
        else:
            out[key] = redact_value(value, report)
    return out


def redact_span(span: Span, report: RedactionReport) -> Span:
    attributes = redact_attributes(span.attributes, report)  # first: values masked by key are then known
    resource = _redact_resource(span.resource, report)
    name = redact_text(span.name, report)
    status_message = redact_text(span.status_message, report) if span.status_message else None
    events = (
        tuple(
            SpanEvent(e.time_ns, redact_text(e.name, report), redact_attributes(e.attributes, report))
            for e in span.events
        )
        if span.events
        else ()
    )
    links = (
        tuple(SpanLink(li.trace_id, li.span_id, redact_attributes(li.attributes, report)) for li in span.links)
        if span.links
        else ()
    )
    if (
        resource is span.resource
        and name == span.name
        and status_message == span.status_message
        and attributes == span.attributes
        and events == span.events
        and links == span.links
    ):
        return span  # nothing to mask: the record as parsed (equal to what `replace` would build)
    return replace(
        span,
        name=name,
        status_message=status_message,
        attributes=attributes,
        resource=resource,
        events=events,
        links=links,
    )


def redact_log(record: LogRecord, report: RedactionReport) -> LogRecord:
    attributes = redact_attributes(record.attributes, report)  # first: values masked by key are then known
    resource = _redact_resource(record.resource, report)
    return replace(record, body=redact_value(record.body, report), attributes=attributes, resource=resource)


def _redact_resource(resource: Mapping[str, Any], report: RedactionReport) -> Mapping[str, Any]:
    """A resource redacted once per ingest, however many records share it (counted once, too).

    A resource no rule changes is returned as it is, so a span's identity check sees it unchanged.
    """
    cached = report._resources.get(id(resource))
    if cached is not None and cached[0] is resource:
        return cached[1]
    redacted: Mapping[str, Any] = redact_attributes(resource, report)
    if redacted == resource:
        redacted = resource
    if len(report._resources) >= 1_024:  # bounded: a long JSON Lines file brings new mappings every line
        report._resources.clear()
    report._resources[id(resource)] = (resource, redacted)
    return redacted


_HEADER_MAPS = {"request_headers": "http.request.header.", "response_headers": "http.response.header."}
_COOKIE_MAPS = ("request_cookies", "response_cookies", "cookies")


def redact_event(event: Event, report: RedactionReport) -> Event:
    """A browser event with headers judged as headers, every cookie value masked, text rules everywhere.

    A typed value the config kept (`[inputs] keep`) is text like any other here: a card
    number or a configured pattern inside it is still masked.
    """
    detail: dict[str, Any] = dict(event.detail)
    if event.kind == "input" and detail.get("value") == INPUT_MASK:
        report.counts["input_value"] += 1  # masked by the parser; counted here, with every other rule
    for key, prefix in _HEADER_MAPS.items():
        headers = detail.get(key)
        if isinstance(headers, Mapping):
            detail[key] = redact_attributes({f"{prefix}{name}": v for name, v in headers.items()}, report)
            detail[key] = {name[len(prefix) :]: v for name, v in detail[key].items()}
    for key in _COOKIE_MAPS:
        cookies = detail.get(key)
        if isinstance(cookies, Mapping) and cookies:
            for value in cookies.values():
                report.known.remember(value, cookie=True)
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
