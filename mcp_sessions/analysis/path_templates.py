"""URL templates learned across the values seen at each path position, not one segment at a time.

A segment alone rarely says whether it is an id: `1YMWWN1N4O` (an OpenTelemetry Demo
product) looks like `logoBig2`, `v4` or `oauth2`. What tells them apart is the company a
segment keeps: many distinct opaque values under one prefix are ids, one value is a word.

    /api/products/1YMWWN1N4O  ┐
    /api/products/OLJCESPC7Z  ├─ position 3 under /api/products: 3+ distinct opaque values
    /api/products/66VCHSJNUP  ┘    → /api/products/{id}; later ids of that shape too
    /checkout/payment         ─ position 2 under /checkout: one word → stays literal
    /img/socialmedia/x.svg    ─ file names are resources, never ids

Every path is read as segments; the key of a position is the path before it, its own
earlier positions already templated (`/api/users/{id}/orders` gathers the orders of every
user in one place). The first segment is never judged: it names an area of the app. A
position becomes a template when one of these holds, strongest first:

    declared  an `http.route` has a placeholder there (`/api/products/{productId}`,
              `:id`, `[id]`, `<id>`): every value there is an id
    many      MANY_VALUES or more distinct values that are not file names
    shape     OPAQUE_VALUES or more distinct opaque values (6+ letters, digits, `-`, `_`,
              with both a letter and a digit): values of their shape (the same kinds of
              characters, a length within what was seen) are ids there

Segments the shape rules of `fingerprint.template_path` already placeholder (numbers,
UUIDs, hashes, long tokens) are not values: they are templated whatever their company.

The values are gathered across everything stored (store/url_templates.py keeps them,
hashed, bounded per position): a rule never depends on which file or which question
brought the values, so every tool reads the same fingerprint. Rules only grow (more
values widen a shape or turn it into `many`), so applying newer rules to an already
templated path gives what applying them to the raw path gives; that lets the store
re-template the fingerprints it keeps instead of recomputing them from attributes.
Learning is pure: `observe` turns paths into observations, `judge` turns the
observations of one position into a rule, `PathTemplates.apply` templates a path.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

PLACEHOLDER = "{id}"
OPAQUE_VALUES = 3
MANY_VALUES = 16
MIN_OPAQUE_LENGTH = 6
# Distinct values kept per position: enough to judge it, bounded however many ids a shop has.
VALUES_KEPT = 64

RuleKind = Literal["declared", "many", "shape"]
_STRENGTH = {"shape": 0, "many": 1, "declared": 2}

_FILE = re.compile(r"\.[A-Za-z0-9]{1,5}$")
_ROUTE_PLACEHOLDER = re.compile(r"^(?:\{[^{}*]+\}|:[A-Za-z_]\w*\??|\[[^\[\].]+\]|<[^<>]+>)$")
_CATCH_ALL = re.compile(r"^(?:\*.*|\{\*.*\}|\{[^{}]*:path\}|\[\.\.\.[^\]]*\]|\[\[\.\.\.[^\]]*\]\])$")


def is_placeholder(segment: str) -> bool:
    """A segment that stands for values already: `{id}` from templating, a route's `:id`, `[id]`, `<id>`."""
    return bool(_ROUTE_PLACEHOLDER.match(segment) or _CATCH_ALL.match(segment))


def shape_of(value: str) -> str:
    """The kinds of characters of a value and its length, e.g. `A9:10` for `1YMWWN1N4O`.

    A upper, a lower, 9 digit, - dash, _ underscore, . anything else; `f` marks a file name.
    """
    kinds = set()
    for char in value:
        if char.isascii() and char.isupper():
            kinds.add("A")
        elif char.isascii() and char.islower():
            kinds.add("a")
        elif char.isascii() and char.isdigit():
            kinds.add("9")
        elif char in "-_":
            kinds.add(char)
        else:
            kinds.add(".")
    file = "f" if _FILE.search(value) else ""
    return f"{''.join(sorted(kinds))}{file}:{len(value)}"


def _opaque(shape: str) -> bool:
    kinds, length = shape.rsplit(":", 1)
    return (
        int(length) >= MIN_OPAQUE_LENGTH
        and "." not in kinds
        and "9" in kinds
        and bool({"A", "a"} & set(kinds))
        and not kinds.endswith("f")
    )


@dataclass(frozen=True)
class Rule:
    """How one position is templated (see the module docstring)."""

    kind: RuleKind
    kinds: str = ""  # for `shape`: the kinds of characters its values use
    min_len: int = 0
    max_len: int = 0

    def matches(self, value: str) -> bool:
        if self.kind == "declared":
            return True
        shape = shape_of(value)
        kinds, length = shape.rsplit(":", 1)
        if kinds.endswith("f"):
            return False
        if self.kind == "many":
            return True
        return set(kinds) <= set(self.kinds) and self.min_len <= int(length) <= self.max_len

    def merged(self, other: Rule | None) -> Rule:
        """The wider of two rules for one position: a stronger kind wins, two shapes combine."""
        if other is None:
            return self
        if _STRENGTH[self.kind] != _STRENGTH[other.kind]:
            return self if _STRENGTH[self.kind] > _STRENGTH[other.kind] else other
        if self.kind != "shape":
            return self
        kinds = "".join(sorted(set(self.kinds) | set(other.kinds)))
        return Rule("shape", kinds, min(self.min_len, other.min_len), max(self.max_len, other.max_len))


def position_key(templated: Iterable[str]) -> str:
    """The stored key of the position after these (templated) segments: a hash, so no path text is kept."""
    text = "/".join("*" if is_placeholder(s) else s for s in templated)
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()


def value_key(value: str) -> str:
    return hashlib.blake2b(value.encode("utf-8", "replace"), digest_size=8).hexdigest()


@dataclass(frozen=True)
class PathTemplates:
    """The learned rules, by position key. Immutable: learning returns a new one."""

    rules: Mapping[str, Rule] = field(default_factory=dict)

    def apply(self, path: str) -> str:
        """`path` (starting with `/`, shape-templated or not) with the learned positions as `{id}`."""
        if not self.rules or not path.startswith("/"):
            return path
        out = [""]
        for index, segment in enumerate(path.split("/")[1:], start=1):
            if index >= 2 and segment and not is_placeholder(segment):
                rule = self.rules.get(position_key(out))
                if rule is not None and rule.matches(segment):
                    segment = PLACEHOLDER
            out.append(segment)
        return "/".join(out)

    def retemplate(self, text: str) -> str:
        """Every word of a fingerprint or URL template holding a path, that path templated (`GET h/a/X`)."""
        if not self.rules or "/" not in text:
            return text
        words = text.split(" ")
        for n, word in enumerate(words):
            slash = word.find("/")
            if slash >= 0:
                words[n] = word[:slash] + self.apply(word[slash:])
        return " ".join(words)

    def with_rules(self, changes: Mapping[str, Rule]) -> PathTemplates:
        return PathTemplates({**self.rules, **changes})


NO_TEMPLATES = PathTemplates()


@dataclass(frozen=True)
class Observation:
    """One value seen at one position (`declared`: a route's placeholder there, the value then empty)."""

    position: str
    value: str
    shape: str
    declared: bool = False


def paths_in(text: str) -> Iterator[str]:
    """The path part (from its first `/`) of every word of a fingerprint or URL template."""
    if "/" not in text:
        return
    for word in text.split(" "):
        slash = word.find("/")
        if slash >= 0:
            yield word[slash:]


def observe(path: str, templates: PathTemplates) -> Iterator[Observation]:
    """The literal values of a path at each judged position, keyed by the templated path before them."""
    if not path.startswith("/"):
        return
    out = [""]
    for index, segment in enumerate(path.split("/")[1:], start=1):
        if index >= 2 and segment and not is_placeholder(segment):
            key = position_key(out)
            yield Observation(key, value_key(segment), shape_of(segment))
            rule = templates.rules.get(key)
            if rule is not None and rule.matches(segment):
                segment = PLACEHOLDER
        out.append(segment)


def observe_route(route: str) -> Iterator[Observation]:
    """A route's placeholders as declarations: the position after `/api/products` in `/api/products/{id}`."""
    if not route.startswith("/"):
        return
    segments = route.split("/")[1:]
    for index, segment in enumerate(segments, start=1):
        if index >= 2 and _ROUTE_PLACEHOLDER.match(segment):
            yield Observation(position_key(["", *segments[: index - 1]]), "", "", declared=True)


def judge(shapes: Iterable[str], declared: bool) -> Rule | None:
    """The rule for a position from the shapes of its distinct values (one shape per value) and whether a
    route declares it."""
    if declared:
        return Rule("declared")
    shapes = list(shapes)
    if sum(1 for s in shapes if not s.rsplit(":", 1)[0].endswith("f")) >= MANY_VALUES:
        return Rule("many")
    opaque = [s for s in shapes if _opaque(s)]
    if len(opaque) < OPAQUE_VALUES:
        return None
    kinds = "".join(sorted({k for s in opaque for k in s.rsplit(":", 1)[0]}))
    lengths = [int(s.rsplit(":", 1)[1]) for s in opaque]
    return Rule("shape", kinds, min(lengths), max(lengths))
