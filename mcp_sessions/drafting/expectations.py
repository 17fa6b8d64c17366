"""What a drafted API test asserts about one recorded response body.

The expected body is written as a Python value that the drafted module's `matches` helper
reads: objects are matched member by member (the members listed; more may exist), a type
(`str`, `int`, ...) stands for any value of that type, and a list ending in `...` for a list
that starts with the items listed. Which values are asserted as recorded:

    kept           ids and names of things read (GET), counts, prices, messages, flags, null
    kept           any value the request itself sent (an echo: `"user_id": "bob"` after login)
    type only      ids / tokens / refs in the answer to a POST, PUT, ... (handed out per run),
                   timestamps, uuid- or hash-like strings, redacted values, text over 60 chars
    not listed     list items past the third (with `assert len(...) == n` when the list was
                   recorded whole), members past the twelfth, anything nested over 4 deep

Limits. A list answering a request with `limit=N` (or per_page, page_size, ...) gets
`assert len(...) <= N`. When the recording holds more than N items the server ignored the
limit: the recorded list is not asserted beyond its first items, nor a count equal to its
length, since both record the bug.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mcp_sessions.drafting.code import Expr, inline
from mcp_sessions.drafting.model import CutList, RecordedCall, is_masked

LIST_ITEMS = 3
DICT_KEYS = 12
DEPTH = 4
LONG_TEXT = 60
LIMIT_PARAMS = frozenset({"limit", "per_page", "perpage", "page_size", "pagesize", "size", "max", "max_results", "top"})
_ID_WORDS = frozenset({"id", "ids", "uuid", "guid", "ref", "token", "key", "handle", "nonce", "secret", "code"})
_TIME_WORDS = frozenset({"at", "time", "timestamp", "date", "created", "updated", "expires", "modified", "ts"})
_ISO_TIME = re.compile(r"\A\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_HTTP_TIME = re.compile(r"\A[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}")
_UUID = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z", re.I)
_HEXISH = re.compile(r"\A[0-9a-f]{12,}\Z", re.I)
_OPAQUE = re.compile(r"\A[A-Za-z0-9_\-.+/=]{16,}\Z")


def words(key: str) -> list[str]:
    """`orderId`, `order_id`, `order-id` → ['order', 'id']."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def is_id_key(key: str) -> bool:
    found = words(key)
    return bool(found) and found[-1] in _ID_WORDS


def is_time_key(key: str) -> bool:
    return bool(set(words(key)) & _TIME_WORDS)


def looks_random(value: str) -> bool:
    """uuid-, hash- or token-like text: a value that differs every run."""
    if _UUID.match(value) or (_HEXISH.match(value) and any(c.isdigit() for c in value)):
        return True
    return bool(_OPAQUE.match(value)) and sum(c.isdigit() for c in value) >= 2 and any(c.isalpha() for c in value)


def sent_values(call: RecordedCall) -> set[Any]:
    """Every plain value the request carried: path segments, query values, body leaves."""
    found: set[Any] = set(call.path.split("/")) | {v for _, v in call.query}
    stack = [call.body] if call.body_kind == "json" else []
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str | int) and not isinstance(value, bool):
            found.add(value)
    return {v for v in found if v != "" and not is_masked(v)}


def request_limit(call: RecordedCall) -> tuple[str, int] | None:
    """(`limit`, 10) when the request asked for at most that many items."""
    for key, value in call.query:
        if key.lower() in LIMIT_PARAMS and value.isdigit() and 0 < int(value) < 10_000:
            return key, int(value)
    return None


@dataclass
class Expectation:
    """The expected body, extra `assert` lines, and what the reader should know."""

    body: Any
    asserts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def path_expr(path: tuple[str | int, ...]) -> str:
    return "body" + "".join(f"[{inline(p)}]" for p in path)


class _Builder:
    def __init__(self, call: RecordedCall, chained: Mapping[tuple[str, Any], str]) -> None:
        self.call, self.chained = call, chained
        self.sent = sent_values(call)
        self.handed_out = call.method != "GET"
        self.limit = request_limit(call)
        self.asserts: list[str] = []
        self.notes: list[str] = []

    def limited(self, path: tuple[str | int, ...]) -> int | None:
        """The request's limit, for the list at `path` when it is the answer's (top-level) list."""
        return self.limit[1] if self.limit and len(path) <= 1 else None

    def tree(self, value: Any, key: str | None, path: tuple[str | int, ...], depth: int) -> Any:
        if isinstance(value, dict):
            if depth >= DEPTH:
                return dict
            limits = [self.limited((*path, k)) for k, v in value.items() if isinstance(v, list)]
            over = any(isinstance(v, list) and len(v) > (self.limited((*path, k)) or 10**9) for k, v in value.items())
            out = {}
            for k, v in list(value.items())[:DICT_KEYS]:
                # with a list over the limit, a number past the limit counts the same bug
                is_count = over and isinstance(v, int) and not isinstance(v, bool) and v > min(filter(None, limits))
                out[k] = int if is_count else self.tree(v, k, (*path, k), depth + 1)
            return out
        if isinstance(value, list):
            return list if depth >= DEPTH else self.items(value, key, path, depth)
        return self.leaf(key, value)

    def items(self, value: list[Any], key: str | None, path: tuple[str | int, ...], depth: int) -> list[Any]:
        limit = self.limited(path)
        complete = not isinstance(value, CutList)
        shown = value[: min(LIST_ITEMS, limit) if limit else LIST_ITEMS]
        items = [self.tree(v, key, (*path, i), depth + 1) for i, v in enumerate(shown)]
        if limit is not None:
            assert self.limit is not None
            name = f"{self.limit[0]}={limit}"
            self.asserts.append(f'assert len({path_expr(path)}) <= {limit}, "the request asked for {name}"')
            if len(value) > limit:
                seen = f"{len(value)}{'' if complete else '+'}"
                self.notes.append(
                    f"{self.call.method} {self.call.target} was answered with {seen} items for {name}: the "
                    "recording holds the bug, so the test asserts the limit rather than the recorded list"
                )
                return [*items, ...]
        if complete and len(value) <= LIST_ITEMS:
            return items
        if complete:
            self.asserts.append(f"assert len({path_expr(path)}) == {len(value)}")
        return [*items, ...]

    def leaf(self, key: str | None, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        var = self.chained.get((key or "", value)) or (
            self.chained.get(("", value)) if isinstance(value, str) else None
        )
        if var is not None:  # a value handed out earlier: it must come back as this run's
            return Expr(var)
        if is_masked(value) or not isinstance(value, str | int | float):
            return type(value) if not is_masked(value) else str
        if value in self.sent and not (isinstance(value, str) and len(value) > LONG_TEXT):
            return value
        if key and (is_time_key(key) or (self.handed_out and is_id_key(key))):
            return type(value)
        if isinstance(value, str) and (
            len(value) > LONG_TEXT or _ISO_TIME.match(value) or _HTTP_TIME.match(value) or looks_random(value)
        ):
            return str
        return value


def expect_body(call: RecordedCall, chained: Mapping[tuple[str, Any], str] | None = None) -> Expectation | None:
    """What to assert about the recorded JSON body of `call`; None when none was recorded.

    `chained` maps (key, value) of values captured from earlier answers to their variables
    (key "" for strings, which match under any key): such a value is expected to be this run's.
    """
    if call.response is None:
        return None
    builder = _Builder(call, chained or {})
    body = builder.tree(call.response, None, (), 0)
    return Expectation(body, builder.asserts, builder.notes)
