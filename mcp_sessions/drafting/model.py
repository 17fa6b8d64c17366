"""The records a regression-test draft is made of: recorded calls, options, the draft itself.

Also the one parser the drafts need beyond `json`: `parse_json_prefix` reads a JSON body the
recording cut after its first 2,000 characters, keeping every container seen so far (marked
`CutList` / `CutDict`: more may have followed) and every value that was seen whole:

    {"products":[{"id":1,...},{"id":2,"na       →  CutDict(products=CutList([{"id": 1, ...}]))
                                      ^ cut
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp_sessions.redact import MASK

Style = Literal["api", "ui"]
ErrorMode = Literal["pin", "expect_fixed"]


def is_masked(value: object) -> bool:
    """True for text the ingest redacted (`[REDACTED]`) or masked (`[masked]`) wholly or in part."""
    return isinstance(value, str) and (MASK[:-1] in value or "[masked]" in value)


@dataclass(frozen=True)
class QueryFacts:
    """The database queries one recorded trace ran: how many, and the N+1 loops among them."""

    count: int
    n_plus_one: tuple[tuple[str, int], ...] = ()  # (statement fingerprint, times run) per loop


@dataclass(frozen=True)
class RecordedCall:
    """One recorded request with what is known of its response."""

    order: int  # position among the session's API calls
    source: str  # rrweb | har | trace
    time_ns: int | None
    method: str
    origin: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]  # request headers the app set itself, lowercase names
    body: Any  # the JSON body parsed, text, or None
    body_kind: Literal["none", "json", "text", "unknown"]  # unknown: a body was likely sent, but not recorded
    cookies: tuple[str, ...]  # names of the cookies the request carried
    status: int | None
    duration_ms: float | None
    trace_id: str | None
    response_type: str | None  # media type without parameters
    response: Any  # parsed JSON (cut containers are CutList / CutDict), None when not recorded
    response_text: str | None
    sets_cookie: bool
    queries: QueryFacts | None = None  # the database queries its trace recorded, when it has one

    @property
    def target(self) -> str:
        """`/api/products?limit=10`, for comments and summaries (recorded text; redacted values as `***`)."""
        query = "&".join(f"{k}={'***' if is_masked(v) else v}" for k, v in self.query)
        path = "/".join("***" if is_masked(s) else s for s in self.path.split("/"))
        return path + (f"?{query}" if query else "")

    @property
    def failed(self) -> bool:
        return self.status is not None and self.status >= 400


@dataclass(frozen=True)
class CallSet:
    """The session's replayable calls, how many requests were left out and why, and the app's origin."""

    calls: tuple[RecordedCall, ...]
    skipped: Mapping[str, int]
    origin: str | None
    source: str  # "browser" or "backend traces"


@dataclass(frozen=True)
class DraftOptions:
    style: Style = "api"
    trace_id: str | None = None
    from_ns: int | None = None
    to_ns: int | None = None
    around_error: bool = False
    latency_factor: float | None = None
    # recorded times of a reference run (a good build), by `request_fingerprint`: the latency guard's base
    baseline_ms: Mapping[str, float] | None = None
    baseline_session_id: str | None = None
    recorded_errors: ErrorMode = "pin"
    env_prefix: str = "APP"
    # assert each request's query count, read from the app's own spans (None: when drafted from traces)
    count_queries: bool | None = None
    # the most queries a reference run made per `request_fingerprint`: the query bound's base
    baseline_queries: Mapping[str, int] | None = None


@dataclass(frozen=True)
class EnvVar:
    name: str
    purpose: str
    required: bool


@dataclass(frozen=True)
class DraftStep:
    """One replayed request (api) or user action (ui), as the drafted file's comments name it."""

    number: int
    role: Literal["replay", "setup", "action"]
    summary: str  # recorded text: `GET /api/cart → 200` or `click button "Apply"`
    trace_id: str | None = None
    time_ns: int | None = None


@dataclass(frozen=True)
class Draft:
    style: Style
    filename: str
    source: str
    focus: str  # what was chosen, in words
    steps: tuple[DraftStep, ...]
    total_calls: int
    skipped: Mapping[str, int]
    env: tuple[EnvVar, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    counts_queries: bool = False  # each request's query count is asserted


class CutList(list):
    """A JSON array the recording cut short: the items seen, more may have followed."""


class CutDict(dict):
    """A JSON object the recording cut short: the members seen, more may have followed."""


class _End(Exception):
    def __init__(self, partial: Any) -> None:
        self.partial = partial


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_NUMBER_START = re.compile(r"-?[\d.eE+-]*")


def parse_json_prefix(text: str) -> tuple[Any, bool]:
    """(value, complete) for JSON text that may have been cut: containers seen so far, whole values only."""
    try:
        return json.loads(text), True
    except ValueError:
        pass
    reader = _PrefixReader(text)
    try:
        return reader.value(), False
    except _End as end:
        return end.partial, False
    except ValueError:
        return None, False


class _PrefixReader:
    def __init__(self, text: str) -> None:
        self.text, self.i = text, 0

    def _skip(self) -> str:
        while self.i < len(self.text) and self.text[self.i] in " \t\r\n":
            self.i += 1
        if self.i >= len(self.text):
            raise _End(None)
        return self.text[self.i]

    def value(self) -> Any:
        ch = self._skip()
        if ch == "{":
            return self._object()
        if ch == "[":
            return self._array()
        if ch == '"':
            match = _STRING.match(self.text, self.i)
            if match is None:
                raise _End(None)
            self.i = match.end()
            return json.loads(match.group(0))
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.i):
                self.i += len(word)
                return value
        match = _NUMBER.match(self.text, self.i)
        rest = self.text[self.i :]
        if match is None:
            if any(word.startswith(rest) for word in ("true", "false", "null")) or _NUMBER_START.fullmatch(rest):
                raise _End(None)  # a literal or number the cut went through
            raise ValueError("not JSON")
        if match.end() >= len(self.text):  # a number at the cut may be missing digits
            raise _End(None)
        self.i = match.end()
        return json.loads(match.group(0))

    def _array(self) -> list[Any]:
        self.i += 1
        items: list[Any] = []
        while True:
            if self._skip() == "]":
                self.i += 1
                return items
            try:
                items.append(self.value())
            except _End:
                raise _End(CutList(items)) from None
            try:
                sep = self._skip()
            except _End:
                raise _End(CutList(items)) from None
            self.i += 1
            if sep == "]":
                return items
            if sep != ",":
                raise ValueError("not JSON")

    def _object(self) -> dict[str, Any]:
        self.i += 1
        members: dict[str, Any] = {}
        while True:
            key: str | None = None
            try:
                if self._skip() == "}":
                    self.i += 1
                    return members
                name = self.value()
                if not isinstance(name, str) or self._skip() != ":":
                    raise ValueError("not JSON")
                self.i, key = self.i + 1, name
                members[key] = self.value()
                sep = self._skip()
            except _End as end:
                if key is not None and key not in members and isinstance(end.partial, CutList | CutDict):
                    members[key] = end.partial  # a container cut inside: keep what it holds
                raise _End(CutDict(members)) from None
            self.i += 1
            if sep == "}":
                return members
            if sep != ",":
                raise ValueError("not JSON")


# Writes a drafted module's header docstring once its notes and environment variables are known.
Header = Callable[[Sequence[str], Sequence[EnvVar]], list[str]]
