"""Secret shapes found in free text, and the values a run has already masked.

The text rules `redact.text_rules` applies, beside the older ones it keeps there:

    named_field     `name=value` (query strings, form bodies, DSNs, `key=value` logs) and
                    `"name": value` / `name: "value"` (JSON, GraphQL arguments, JS and Python
                    literals), the name judged by its words (`is_sensitive_key`: camelCase,
                    kebab, snake, dotted), the value a string or a number; counted as
                    query_param / json_field
    encoded_value   a percent-encoded run whose decoded text holds a secret (masked whole)
    userinfo        `scheme://user:pw@host` → `scheme://[REDACTED]@host` (still one URL)
    path_token      a token-shaped path segment after a segment that names a secret or a
                    one-time link (`/reset-password/9f8e…`, `/api/tokens/…`), Slack, Discord
                    and Telegram webhook paths
    vendor_token    vendor key formats (GitHub `ghp_`, Stripe `sk_live_`, Slack `xoxb-`,
                    GitLab, npm, OpenAI, Google `AIza`, SendGrid, Hugging Face)
    cloud_key       AWS access key ids (`AKIA…`) and 40-character secret access keys
    private_key     PEM private key blocks, the whole block (or all the rest when cut)
    sql_password    `PASSWORD '…'`, `IDENTIFIED BY '…'` literals in SQL

`KnownValues` holds the values masked by key (and the token-shaped cookie values) so they
are caught again in free text, across every file of one ingest run or the receiver's
lifetime; bounded (the oldest are forgotten first) and safe to share between threads.
A known value is masked only as a whole token (never inside a longer word or path segment).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from mcp_sessions import urls
from mcp_sessions.config import SESSION_BAGGAGE_KEYS, SESSION_HEADERS, SESSION_KEYS
from mcp_sessions.redact_rules import is_sensitive_key, key_words

MASK = "[REDACTED]"  # what every rule writes in place of a secret (redact.MASK)

# ---- names judged inside text ----------------------------------------------------------------

# Query and form names masked as a whole name besides those `is_sensitive_key` judges, in a
# URL or form only (after `?`, `&`, `;` or at the start): `exit code=1` in a log is no secret.
_PARAM_NAMES = frozenset(
    {
        "auth",
        "key",
        "sig",
        "session",
        "sessionid",
        "session_id",
        "sid",
        "code",
        "pw",
        "pass",
        "otp",
        "apikey",
        "api_key",
    }
)
# Names as JSON / literal fields masked besides those `is_sensitive_key` judges.
_FIELD_NAMES = frozenset({"pw", "pass", "otp", "apikey", "api_key"})
# Session keys are ids we join on, not credentials: never masked by name (baggage, query).
_SESSION_NAMES = frozenset(n.lower() for n in (*SESSION_KEYS, *SESSION_BAGGAGE_KEYS, *SESSION_HEADERS))
# Every `name=` after a delimiter is found and its name judged in Python (cached).
_NAME_CHARS = r"[A-Za-z0-9_.\-\[\]%]"
_NAMED_PARAM = re.compile(rf"(^|[?&;\s,(|])({_NAME_CHARS}{{1,80}}+=)([^&#\s\"']*)")
_QUOTED_STRING = r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
# `"name": value`, `'name': value`, `name: "value"` (GraphQL arguments, JS objects, YAML).
_FIELD_CHARS = r"[A-Za-z0-9_.\-\[\]$@]"
# Every `name: value` is found (cheap: no look-ahead for the stems at each place) and its name
# judged in Python; fields are few beside the characters of a body.
_NAMED_FIELD = re.compile(
    rf"([\"']?(?<!{_FIELD_CHARS})({_FIELD_CHARS}{{1,80}}+)[\"']?\s*:\s*)({_QUOTED_STRING}|{_NUMBER}(?![\w.]))"
)


@functools.lru_cache(maxsize=4096)
def param_name_is_secret(name: str, in_url: bool = True) -> bool:
    """Whether a query / form / `key=value` name names a credential (percent-decoded, any spelling).

    `in_url`: the name follows `?`, `&`, `;` or starts the text, where the short names
    (`key`, `sig`, `code`, `auth`, ...) are credentials too.
    """
    name = urls.unquote(name).strip()
    if not name or len(name) > 80 or name.lower() in _SESSION_NAMES:
        return False
    if is_sensitive_key(name) is not None:
        return True
    return in_url and (
        name.lower() in _PARAM_NAMES or "_".join(key_words(name)) in _PARAM_NAMES - {"session_id", "sessionid"}
    )


@functools.lru_cache(maxsize=4096)
def field_name_is_secret(name: str) -> bool:
    """Whether a JSON / literal field name names a credential."""
    name = name.lstrip("$@")
    if name.lower() in _SESSION_NAMES:
        return False
    return is_sensitive_key(name) is not None or "_".join(key_words(name)) in _FIELD_NAMES


# Bound parameters in statements and templates are not values: `token=?`, `password=$1`, `pw=:pw`.
_PLACEHOLDER = re.compile(r"\?|\$\d+|:\w+|%s|%\(\w+\)s|@\w+|\{\{?\s*\w+\s*\}?\}|\$\{\w+\}|\*+")


def mask_named_params(text: str, keeps: Callable[[str], bool], count: Callable[[str], None]) -> str:
    def one(match: re.Match[str]) -> str:
        delimiter, prefix, value = match.group(1), match.group(2), match.group(3)
        name = prefix[:-1]
        if not value or value == MASK or _PLACEHOLDER.fullmatch(value):
            return match.group(0)
        if not param_name_is_secret(name, delimiter in ("", "?", "&", ";")) or keeps(urls.unquote(name)):
            return match.group(0)
        count("query_param")
        return delimiter + prefix + MASK

    return _NAMED_PARAM.sub(one, text)


def mask_named_fields(text: str, keeps: Callable[[str], bool], count: Callable[[str], None]) -> str:
    def one(match: re.Match[str]) -> str:
        prefix, name, value = match.group(1), match.group(2), match.group(3)
        inner = value[1:-1] if value[0] in "\"'" else value
        if inner == MASK or _PLACEHOLDER.fullmatch(inner) or not field_name_is_secret(name) or keeps(name.lstrip("$@")):
            return match.group(0)
        count("json_field")
        quote = value[0] if value[0] in "\"'" else '"'
        return f"{prefix}{quote}{MASK}{quote}"

    return _NAMED_FIELD.sub(one, text)


# ---- shapes -------------------------------------------------------------------------------

_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]{0,30}://)([^\s/?#\"'<>\[\]]+)@")
_VENDOR = re.compile(
    r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}|glpat-[A-Za-z0-9_\-]{20,}|AIza[0-9A-Za-z_\-]{35}|npm_[A-Za-z0-9]{36}"
    r"|sk-(?:proj-|ant-|live-)?[A-Za-z0-9_\-]{20,}|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}|hf_[A-Za-z0-9]{30,}"
    r"|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}|dop_v1_[a-f0-9]{64}|pypi-[A-Za-z0-9_\-]{50,})"
)
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}\b")
# 40 characters of base64 standing alone, with upper and lower case and a digit (a SHA-1 in
# hex has no upper case; a path begins with `/`).
_AWS_SECRET = re.compile(
    r"(?<![A-Za-z0-9/+=_\-.])(?=[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=_\-.]))(?!/)"
    r"(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])(?=[A-Za-z0-9/+]{0,39}[0-9])[A-Za-z0-9/+]{40}"
)
_PEM = re.compile(
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END[A-Z0-9 ]{0,40}-----|.*\Z)", re.DOTALL
)
_SQL_PASSWORD = re.compile(
    r"(?<![\w\"'$])(PASSWORD|IDENTIFIED\s+BY|SECRET)(\s*=\s*|\s*\(\s*|\s+)"
    r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(?<=BY )\w+)",
    re.IGNORECASE,
)
_PATH_TRIGGER = (
    r"token|secret|passw|reset|invit|verif|magic|confirm|activat|apikey|api-key|api_key|unsubscribe|signin|login|auth"
)
_PATH_TOKEN = re.compile(
    rf"(/(?=[A-Za-z0-9_\-.]{{0,40}}?(?i:{_PATH_TRIGGER}))[A-Za-z0-9_\-.]{{1,60}}/)([A-Za-z0-9._~\-+=%]{{16,}})(?=[/?#\s\"';,()<>\[\]]|$)"
)
_WEBHOOK = re.compile(
    r"(hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9]+/[A-Za-z0-9]+/)[A-Za-z0-9]+"
    r"|(/api/webhooks/\d+/)[A-Za-z0-9_\-]{20,}"
    r"|(/bot)\d{5,}:[A-Za-z0-9_\-]{20,}"
)
_RUN_DELIMITERS = r"\s&?=#\"'/:;,<>"
_ENCODED_RUN = re.compile(rf"(?<![^{_RUN_DELIMITERS}])[^{_RUN_DELIMITERS}]*?%[0-9A-Fa-f]{{2}}[^{_RUN_DELIMITERS}]*")


def token_shaped(value: str) -> bool:
    """A value that reads as a generated token: 16+ characters with 3+ digits and 3+ letters."""
    if len(value) < 16:
        return False
    digits = sum(c.isdigit() for c in value)
    return digits >= 3 and sum(c.isalpha() for c in value) >= 3


# Literal markers each detector needs (a C-speed `in` is far cheaper than a regex pass).
_VENDOR_MARKERS = (
    "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "_live_", "_test_", "xox", "glpat-", "AIza",
    "npm_", "sk-", "SG.", "hf_", "shp", "dop_v1_", "pypi-",
)  # fmt: skip
_AWS_MARKERS = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA", "AROA", "ASCA")
_AWS_SECRET_HINT = re.compile(r"[A-Za-z0-9/+]{40}")
_SQL_MARKERS = ("password", "identified", "secret")
_PATH_MARKERS = tuple(_PATH_TRIGGER.split("|"))


def mask_shapes(text: str, count: Callable[[str], None]) -> str:
    """Every shape detector over `text`, each one run only when its literal marker is there."""
    if "://" in text and "@" in text:
        text = _USERINFO.sub(lambda m: _userinfo(m, count), text)
    if "-----BEGIN" in text:
        text = _sub(_PEM, text, MASK, "private_key", count)
    if any(marker in text for marker in _VENDOR_MARKERS):
        text = _sub(_VENDOR, text, MASK, "vendor_token", count)
    if any(marker in text for marker in _AWS_MARKERS):
        text = _sub(_AWS_KEY_ID, text, MASK, "cloud_key", count)
    if len(text) >= 40 and _AWS_SECRET_HINT.search(text):
        text = _sub(_AWS_SECRET, text, MASK, "cloud_key", count)
    lowered = text.lower()
    if any(marker in lowered for marker in _SQL_MARKERS):
        text = _SQL_PASSWORD.sub(lambda m: _sql(m, count), text)
    if "/" in text:
        if any(marker in lowered for marker in _PATH_MARKERS):
            text = _PATH_TOKEN.sub(lambda m: _path_token(m, count), text)
        if "hooks" in text or "/bot" in text:
            text = _WEBHOOK.sub(lambda m: _webhook(m, count), text)
    return text


def _sub(regex: re.Pattern[str], text: str, mask: str, rule: str, count: Callable[[str], None]) -> str:
    out, n = regex.subn(mask, text)
    for _ in range(n):
        count(rule)
    return out


def _userinfo(match: re.Match[str], count: Callable[[str], None]) -> str:
    if match.group(2) == MASK:
        return match.group(0)
    count("userinfo")
    return f"{match.group(1)}{MASK}@"


def _sql(match: re.Match[str], count: Callable[[str], None]) -> str:
    value = match.group(3)
    if MASK in value:
        return match.group(0)
    count("sql_password")
    quote = value[0] if value[0] in "'\"" else ""
    return f"{match.group(1)}{match.group(2)}{quote}{MASK}{quote}"


def _path_token(match: re.Match[str], count: Callable[[str], None]) -> str:
    if not token_shaped(urls.unquote(match.group(2))):
        return match.group(0)
    count("path_token")
    return match.group(1) + MASK


def _webhook(match: re.Match[str], count: Callable[[str], None]) -> str:
    count("path_token")
    return next(g for g in match.groups() if g) + MASK


def encoded_runs(text: str) -> Iterator[re.Match[str]]:
    """The percent-encoded runs of `text` (between URL and form delimiters)."""
    return _ENCODED_RUN.finditer(text)


def mask_encoded(text: str, masks: Callable[[str], bool], count: Callable[[str], None]) -> str:
    """Each percent-encoded run whose decoded text `masks` judges secret, masked whole."""

    def one(match: re.Match[str]) -> str:
        run = match.group(0)
        decoded = urls.unquote(run.replace("+", " "))
        if decoded == run or not masks(decoded):
            return run
        count("encoded_value")
        return MASK

    return _ENCODED_RUN.sub(one, text)


# ---- values already masked --------------------------------------------------------------

MIN_KNOWN = 6
# The first MIN_KNOWN characters at every place no letter or digit precedes (where a whole token may begin).
_TOKEN_STARTS = re.compile(rf"(?<![A-Za-z0-9])(?=(.{{{MIN_KNOWN}}}))", re.DOTALL)
_KNOWN_SPLIT = re.compile(r"[\s;,=&:]+")
_FEW_KNOWN = 16  # up to this many known values, looking for each in the text is cheaper than the heads
MAX_KNOWN = 8_192  # values remembered at once; the oldest are forgotten first
_CLEAN_ENTRIES = 16_384  # texts remembered as holding no known value (bounded memory)
_CLEAN_TEXT = 1_024  # longer texts are not remembered (they rarely recur)
_NOT_SECRETS = frozenset({"bearer", "basic", "token", "httponly", "samesite", "secure", "path"})
_BASIC = re.compile(r"\bBasic\s+([A-Za-z0-9+/=]{8,})", re.IGNORECASE)


def _parts(value: str, *, whole: bool) -> list[str]:
    """What to remember of one masked value: itself (when `whole`), token-shaped parts, Basic credentials."""
    out = [value] if whole and len(value) >= MIN_KNOWN and value.lower() not in _NOT_SECRETS else []
    for part in _KNOWN_SPLIT.split(value):
        if part != value and len(part) >= MIN_KNOWN and (token_shaped(part) or len(part) >= 24):
            out.append(part.strip("\"'"))
    for match in _BASIC.finditer(value):
        try:
            user, _, password = base64.b64decode(match.group(1), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        out.extend(p for p in (password, f"{user}:{password}") if len(p) >= MIN_KNOWN)
    encoded = [urls.quote(p) for p in out]
    return [*out, *(e for e, p in zip(encoded, out, strict=True) if e != p)]


class KnownValues:
    """Values masked by key, looked for again in free text; shared by the reports of one run.

    Lookups never lock (each head maps to an immutable tuple, swapped whole); adding locks.
    """

    def __init__(self, limit: int = MAX_KNOWN) -> None:
        self.limit = limit
        self._values: dict[str, None] = {}  # insertion order: the oldest first
        self._by_head: dict[str, tuple[str, ...]] = {}
        self._few: tuple[str, ...] = ()
        self._version = 0  # changes whenever a value is added
        self._clean: dict[str, int] = {}  # texts that held no known value, with the version they were judged at
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._values))

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def remember(self, value: Any, *, whole: bool = True, cookie: bool = False) -> None:
        """Remember a masked value; a cookie's value only when token-shaped (`checkout` is not a secret)."""
        if not isinstance(value, str) or len(value) < MIN_KNOWN:
            return
        if cookie and not (token_shaped(value) or len(value) >= 24):
            whole = False
        parts = [p for p in _parts(value, whole=whole) if p not in self._values]
        if not parts:
            return
        with self._lock:
            for part in parts:
                if part in self._values:
                    continue
                self._values[part] = None
                head = part[:MIN_KNOWN]
                self._by_head[head] = (*self._by_head.get(head, ()), part)
            self._version += 1
            while len(self._values) > self.limit:
                self._forget(next(iter(self._values)))
            self._few = tuple(self._values) if len(self._values) <= _FEW_KNOWN else ()

    def _forget(self, value: str) -> None:
        del self._values[value]
        head = value[:MIN_KNOWN]
        rest = tuple(v for v in self._by_head.get(head, ()) if v != value)
        if rest:
            self._by_head[head] = rest
        else:
            self._by_head.pop(head, None)

    def may_hold(self, text: str) -> bool:
        """False only when no known value occurs in `text` as a whole token.

        Each one begins with one of the heads, at a place no letter or digit precedes: the
        first characters at every such place are gathered by one regex scan and compared
        with the heads as sets (both in C).
        """
        if len(self._values) <= _FEW_KNOWN:
            return bool(self._values)
        version = self._version
        if self._clean.get(text) == version:
            return False  # most texts recur (methods, routes, user agents): judged once per set of values
        if not self._by_head.keys().isdisjoint(_TOKEN_STARTS.findall(text)):
            return True
        if len(text) <= _CLEAN_TEXT:
            if len(self._clean) >= _CLEAN_ENTRIES:
                self._clean.clear()
            self._clean[text] = version
        return False

    def found_in(self, text: str) -> list[str]:
        """The known values that occur in `text`, longest first (a value holding another goes first)."""
        few = self._few
        if few or len(self._values) <= _FEW_KNOWN:
            found = {v for v in (few or tuple(self._values)) if v in text}
        else:
            heads = self._by_head
            found = {v for head in set(_TOKEN_STARTS.findall(text)) for v in heads.get(head, ()) if v in text}
        return sorted(found, key=lambda v: (-len(v), v))


@functools.lru_cache(maxsize=4096)
def whole_token(value: str) -> re.Pattern[str]:
    """`value` where it stands as a whole token: no letter or digit glued to either end."""
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])")
