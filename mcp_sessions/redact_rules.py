"""Redaction rules: which names are secret, and what a redaction config adds.

The built-in verdict on a name (`is_sensitive_key`): an attribute, header or field named
like a credential (`sensitive_key`) or a header that carries a session (`sensitive_header`).

A redaction config (`RedactionRules`, read from TOML by `load_rules`) adds to the built-in
rules (see `mcp_sessions.redact`, which applies them) and never removes one:

    configured_key    a name the config lists under `[keys] mask` / `mask_containing`,
                      as attribute, header, JSON field or query/form parameter
    <pattern name>    each `[[patterns]]` regex, masked anywhere in text, counted under its name
    [keys] keep       names never masked BY NAME (`token_count`); credential-shaped values in
                      them (JWT, bearer, card number, configured patterns) are still masked
    [inputs] keep     typed values kept for inputs matched by name, id, type, autocomplete,
                      placeholder or label, never for a password input or a field named like
                      a secret (see `RedactionRules.keeps_input`)

`DEFAULT_RULES` is the built-in behaviour. A rules object is immutable and travels with the
ingest that uses it (ingest_file, the receiver, the rrweb parser): there is no global state
beyond the verdicts it memoises, which depend on nothing but the rules and the input.
"""

from __future__ import annotations

import functools
import itertools
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp_sessions.config import SESSION_HEADERS
from mcp_sessions.errors import InvalidArgumentError

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
        ("account", "key"),
        ("signing", "key"),
        ("master", "key"),
    }
)
_SECRET_SUFFIXES = ("token", "secret", "password", "passwd", "passphrase", "credential", "credentials")
# Glued spellings of the key pairs: `accesskey`, `AccountKey` (Azure), `secretkey`.
_GLUED_KEYS = frozenset({"accesskey", "accountkey", "secretkey", "signingkey", "masterkey", "apitoken", "sessionkey"})
_HEADER_PREFIXES = ("http.request.header.", "http.response.header.")
_HEADER_WORDS = frozenset({"session", "sessionid", "sid", "csrf", "xsrf", "auth"})
_SESSION_HEADERS = frozenset(h.replace("_", "-") for h in SESSION_HEADERS)


# camelCase and acronym boundaries: `accessToken` → access Token, `X-CSRFToken` → X-CSRF Token.
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD_SPLIT = re.compile(r"[._\-\s/:\[\]]+")


def key_words(key: str) -> list[str]:
    """A name as lowercase words, however it is spelled: camelCase, kebab, snake, dotted, bracketed.

    `app.sessionToken`, `X-CSRFToken`, `client_secret`, `user[password]` all split into words.
    """
    return [w for w in _WORD_SPLIT.split(_CAMEL.sub(" ", key).lower()) if w]


def _secret_word(word: str) -> bool:
    """A credential word, or one glued to a qualifier (`csrftoken`, `newpassword`, `clientsecret`)."""
    return word in _SECRET_WORDS or word.endswith(_SECRET_SUFFIXES) or word in _GLUED_KEYS


@functools.lru_cache(maxsize=4096)
def is_sensitive_key(key: str) -> str | None:
    """The rule name if a key names a credential, else None."""
    lowered = key.lower()
    words = key_words(key)
    if any(_secret_word(w) for w in words) or any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words)):
        return "sensitive_key"
    if lowered.startswith(_HEADER_PREFIXES):
        header = lowered.split(".header.", 1)[1]
        if lowered.startswith("http.request.") and header.replace("_", "-") in _SESSION_HEADERS:
            return None  # a header read as the session key: an id we join on, like `session.id`
        header_words = key_words(header)
        if any(w in _HEADER_WORDS for w in header_words):
            return "sensitive_header"
    return None


BUILTIN_RULES = frozenset(
    {
        "sensitive_key",
        "sensitive_header",
        "query_param",
        "cookie",
        "json_field",
        "jwt",
        "bearer",
        "card_number",
        "prefixed_token",
        "userinfo",
        "path_token",
        "vendor_token",
        "cloud_key",
        "private_key",
        "sql_password",
        "encoded_value",
        "known_value",
        "input_value",
        "configured_key",
    }
)
# Words that make an input field sensitive on top of the credential words: a config can
# never keep what is typed into these (payment cards, one-time codes, national ids).
_INPUT_SECRET_WORDS = frozenset(
    {"cc", "card", "cardnumber", "ccnumber", "cvv", "cvc", "csc", "ssn", "iban", "pin", "otp"}
)
_INPUT_NAMING_FACTS = ("name", "id", "label", "placeholder", "autocomplete")
_INPUT_MATCHED_FACTS = (*_INPUT_NAMING_FACTS, "input_type")
_KEY_CACHE_LIMIT = 8_192
_MISSING = object()


@dataclass(frozen=True)
class Pattern:
    """A configured regex masked anywhere in text, counted under `name`."""

    name: str
    regex: str
    ignore_case: bool = False


@dataclass(frozen=True, eq=False)
class RedactionRules:
    """Rules added to the built-in ones by a redaction config; `DEFAULT_RULES` adds none.

    Names are compared case-insensitively; a dotted attribute key also matches by its last
    segment (`ssn` matches `app.user.ssn`, `x-tenant` matches `http.request.header.x-tenant`).
    Everything the hot path needs (the key verdict cache, one alternation of all patterns,
    the field regexes for JSON and query text) is built once, here.
    """

    mask_keys: frozenset[str] = frozenset()
    mask_containing: tuple[str, ...] = ()
    keep_keys: frozenset[str] = frozenset()
    patterns: tuple[Pattern, ...] = ()
    keep_inputs: frozenset[str] = frozenset()
    source: Path | None = None  # the file they were read from, if any

    # Derived (not part of the rules' identity).
    key_rule: Callable[[str], str | None] = field(init=False, repr=False)
    patterns_re: re.Pattern[str] | None = field(init=False, repr=False)
    pattern_names: dict[str, str] = field(init=False, repr=False)
    query_re: re.Pattern[str] | None = field(init=False, repr=False)
    json_re: re.Pattern[str] | None = field(init=False, repr=False)
    names_configured: bool = field(init=False, repr=False)  # any [keys] entry: field rules take the slow path
    _key_cache: dict[str, str | None] = field(init=False, repr=False)
    # What the text rules make of a string, with the counts they add: a pure function of the
    # text and these rules, memoised by `redact.redact_text` (most values recur: methods, routes,
    # user agents, statements).
    text_memo: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        set_ = functools.partial(object.__setattr__, self)
        set_("text_memo", {})
        for name in ("mask_keys", "keep_keys", "keep_inputs"):  # compared lowercased, whitespace collapsed
            set_(name, frozenset(" ".join(n.lower().split()) for n in getattr(self, name)))
        set_("mask_containing", tuple(s.lower() for s in self.mask_containing))
        configured = bool(self.mask_keys or self.mask_containing or self.keep_keys)
        set_("_key_cache", {})
        # Without configured names the built-in verdict (memoised module-wide) is the whole answer.
        set_("names_configured", configured)
        set_("key_rule", self._cached_key_rule if configured else is_sensitive_key)
        groups = {f"mcp_rule_{i}": p for i, p in enumerate(self.patterns)}
        set_("pattern_names", {group: p.name for group, p in groups.items()})
        set_(
            "patterns_re",
            re.compile("|".join(f"(?P<{g}>{_scoped(p)})" for g, p in groups.items())) if groups else None,
        )
        names = "|".join(re.escape(n) for n in sorted(self.mask_keys, key=len, reverse=True))
        subs = "|".join(re.escape(s) for s in self.mask_containing)
        if names or subs:
            query_name = "|".join(filter(None, [names, subs and rf"[^=&#\s\"'?;]*(?:{subs})[^=&#\s\"'?;]*"]))
            json_name = "|".join(filter(None, [names, subs and rf"[^\"\\]*(?:{subs})[^\"\\]*"]))
            set_("query_re", re.compile(rf"((?:^|[?&;])(?:{query_name})=)[^&#\s\"']*", re.IGNORECASE))
            set_(
                "json_re",
                re.compile(
                    rf"(\"(?:{json_name})\"\s*:\s*)(?:\"(?:[^\"\\]|\\.)*\"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)",
                    re.IGNORECASE,
                ),
            )
        else:
            set_("query_re", None)
            set_("json_re", None)

    def _cached_key_rule(self, key: str) -> str | None:
        rule = self._key_cache.get(key, _MISSING)
        if rule is _MISSING:
            rule = None if self.keeps_key(key) else is_sensitive_key(key) or self._configured(key)
            if len(self._key_cache) >= _KEY_CACHE_LIMIT:
                self._key_cache.clear()
            self._key_cache[key] = rule
        return rule  # type: ignore[return-value]

    def _configured(self, key: str) -> str | None:
        lowered = key.lower()
        if _names_match(lowered, self.mask_keys) or any(s in lowered for s in self.mask_containing):
            return "configured_key"
        return None

    def keeps_key(self, key: str) -> bool:
        """True when the config keeps values under this name (never masked by name)."""
        return bool(self.keep_keys) and _names_match(key.lower(), self.keep_keys)

    def keeps_input(self, facts: Mapping[str, Any]) -> bool:
        """Whether the typed value of an input described by `facts` may be kept.

        `facts` holds what the page says of the field: name, id, label, placeholder,
        autocomplete, input_type. It is kept only when one of them is listed under
        `[inputs] keep`, and never when the input is a password input or any of its names
        looks sensitive (built-in credential words, configured keys, card / one-time-code
        words); `[keys] keep` does not count here, so no config can unmask a password field.
        """
        if not self.keep_inputs or str(facts.get("input_type") or "").lower() == "password":
            return False
        candidates: set[str] = set()
        for fact in _INPUT_MATCHED_FACTS:
            value = facts.get(fact)
            if not isinstance(value, str) or not value.strip():
                continue
            lowered = " ".join(value.lower().split())
            if fact in _INPUT_NAMING_FACTS and self._input_name_is_sensitive(lowered):
                return False
            candidates.add(lowered)
            if fact == "autocomplete":
                candidates.update(lowered.split())
        return not candidates.isdisjoint(self.keep_inputs)

    def _input_name_is_sensitive(self, lowered: str) -> bool:
        words = key_words(lowered)
        return (
            is_sensitive_key(lowered) is not None
            or self._configured(lowered) is not None
            or any(w in _INPUT_SECRET_WORDS for w in words)
            or "one-time-code" in lowered
        )


def _names_match(lowered: str, names: frozenset[str]) -> bool:
    return lowered in names or ("." in lowered and lowered.rsplit(".", 1)[1] in names)


def _scoped(pattern: Pattern) -> str:
    return f"(?i:{pattern.regex})" if pattern.ignore_case else pattern.regex


DEFAULT_RULES = RedactionRules()


# ---- the config file -----------------------------------------------------------------------

_CONFIG_KEYS: dict[str, frozenset[str]] = {
    "keys": frozenset({"mask", "mask_containing", "keep"}),
    "inputs": frozenset({"keep"}),
}
_PATTERN_KEYS = frozenset({"name", "regex", "ignore_case"})
_RULE_NAME = re.compile(r"\A[a-z][a-z0-9_]{0,39}\Z")
_NUMBERED_BACKREF = re.compile(r"(?<!\\)(?:\\\\)*\\[1-9]|\(\?\(\d")
_MIN_CONTAINING = 3
# Text a pattern must not match with zero width at any place (an empty match would mask between characters).
_EMPTY_PROBE = "a A 1 _-./:@\"'=&?\n"


def load_rules(path: Path) -> RedactionRules:
    """Read and validate a redaction config (TOML); raises InvalidArgumentError naming file and key."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidArgumentError(
            f"redaction config {path} does not exist; create it or point --redaction-config elsewhere"
        ) from None
    except OSError as exc:
        raise InvalidArgumentError(f"redaction config {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidArgumentError(f"redaction config {path}: not UTF-8 text; save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgumentError(f"redaction config {path}: not valid TOML: {exc}; fix the syntax") from None
    return rules_from_config(doc, path)


def rules_from_config(doc: Mapping[str, Any], source: Path | None = None) -> RedactionRules:
    """RedactionRules from a parsed config document; every problem is one line naming the key."""
    where = f"redaction config {source}" if source else "redaction config"

    def fail(key: str, problem: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"{where}: {key}: {problem}")

    allowed = ", ".join([*_CONFIG_KEYS, "patterns"])
    for key in doc:
        if key not in _CONFIG_KEYS and key != "patterns":
            raise fail(key, f"unknown key; use {allowed} (see README 'Redaction rules')")
    tables: dict[str, Mapping[str, Any]] = {}
    for table, keys in _CONFIG_KEYS.items():
        value = doc.get(table, {})
        if not isinstance(value, Mapping):
            raise fail(table, f"must be a table ([{table}]), not {_kind(value)}")
        for key in value:
            if key not in keys:
                raise fail(f"{table}.{key}", f"unknown key; [{table}] takes {', '.join(sorted(keys))}")
        tables[table] = value

    def names(table: str, key: str, min_length: int = 1) -> list[str]:
        value = tables[table].get(key, [])
        if not isinstance(value, list):
            raise fail(f"{table}.{key}", f'must be a list of strings, such as ["{key}_example"], not {_kind(value)}')
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or len(item.strip()) < min_length:
                need = f"at least {min_length} characters" if min_length > 1 else "non-empty"
                raise fail(f"{table}.{key}[{i}]", f"must be a {need} string, not {_kind(item)} {item!r}")
            out.append(" ".join(item.lower().split()))
        return out

    return RedactionRules(
        mask_keys=frozenset(names("keys", "mask")),
        mask_containing=tuple(dict.fromkeys(names("keys", "mask_containing", _MIN_CONTAINING))),
        keep_keys=frozenset(names("keys", "keep")),
        patterns=_patterns(doc.get("patterns", []), fail),
        keep_inputs=frozenset(names("inputs", "keep")),
        source=source,
    )


def _patterns(value: Any, fail: Callable[[str, str], InvalidArgumentError]) -> tuple[Pattern, ...]:
    example = "[[patterns]] tables, each with name and regex"
    if not isinstance(value, list):
        raise fail("patterns", f"must be {example}, not {_kind(value)}")
    patterns: list[Pattern] = []
    for i, item in enumerate(value):
        key = f"patterns[{i}]"
        if not isinstance(item, Mapping):
            raise fail(key, f"must be a table with name and regex ({example}), not {_kind(item)}")
        for k in item:
            if k not in _PATTERN_KEYS:
                raise fail(f"{key}.{k}", f"unknown key; a pattern takes {', '.join(sorted(_PATTERN_KEYS))}")
        name, regex, ignore_case = item.get("name"), item.get("regex"), item.get("ignore_case", False)
        if not isinstance(name, str) or not _RULE_NAME.match(name):
            raise fail(f"{key}.name", "must be a lowercase rule name such as employee_id (a-z, 0-9, _; 40 at most)")
        if name in BUILTIN_RULES or any(p.name == name for p in patterns):
            raise fail(f"{key}.name", f"{name!r} is already a rule name; pick another so the report stays clear")
        if not isinstance(regex, str) or not regex:
            raise fail(f"{key}.regex", "must be a non-empty string (a Python regular expression; use '...' quotes)")
        if not isinstance(ignore_case, bool):
            raise fail(f"{key}.ignore_case", f"must be true or false, not {_kind(ignore_case)}")
        if _NUMBERED_BACKREF.search(regex):  # the alternation numbers groups anew, so \1 would change meaning
            raise fail(f"{key}.regex", r"numbered backreferences (\1) are not supported; use (?P<n>...) and (?P=n)")
        pattern = Pattern(name, regex, ignore_case)
        try:
            compiled = re.compile(_scoped(pattern))
            re.compile(f"(?P<mcp_rule_0>{_scoped(pattern)})")  # as it will sit in the alternation
        except re.error as exc:
            hint = (
                "; set ignore_case = true instead of a leading (?i)"
                if "global flags" in str(exc)
                else "; fix the expression"
            )
            raise fail(f"{key}.regex", f"not a valid regular expression ({exc}){hint}") from None
        if any(m.end() == m.start() for m in compiled.finditer(_EMPTY_PROBE)):
            raise fail(f"{key}.regex", "matches empty text; make it match at least one character (+ not *)")
        patterns.append(pattern)
    try:
        RedactionRules(patterns=tuple(patterns))  # the alternation of all of them must compile too
    except re.error as exc:
        raise fail("patterns", f"the patterns do not combine ({exc}); rename clashing (?P<name>) groups") from None
    return tuple(patterns)


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}.get(
        type(value), "a table" if isinstance(value, Mapping) else type(value).__name__
    )
