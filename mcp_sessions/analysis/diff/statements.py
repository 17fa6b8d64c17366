"""Whether one SQL statement is a narrower form of another: the per-item query of a batch.

A loop that replaced one query (the N+1 a refactor or an ORM's lazy loading introduces)
rarely keeps the batch's text with `IN (?)` turned into `= ?`: the per-item lookup gains a
`LIMIT` (Django's `get()`, Rails' `find`), loses the `ORDER BY`, reads fewer columns, spells
the table with or without a qualifier. What stays is what a person compares: the same kind
of statement over the same tables, reading no column the batch did not, and a predicate
that pins one row where the batch asked for a list (or for everything).

Both statements are read from their fingerprints (analysis/fingerprint.py: literals and
bind parameters as `?`, lists as `(?)`) into a `Shape`:

    SELECT p.id, p.name AS n FROM products p WHERE p.id IN (?) AND p.active = ? ORDER BY p.id
      verb     SELECT
      tables   {products}                     FROM / JOIN / UPDATE / INTO targets, unqualified
      columns  {id, name}                     the select list, qualifiers and aliases dropped
      filters  {id: 'in', active: '='}        per column of the WHERE clause: '=' one value,
                                              'in' a list (IN (?), = ANY (?)), 'other'
      (ORDER BY, GROUP BY, LIMIT and OFFSET shape the answer, not which rows it reads)

    narrower(loop, batch):  same verb and tables
                            loop's columns within the batch's (either may be `*`)
                            every column the batch filters on, the loop filters on too
                            some column the loop pins ('=') the batch listed ('in') or left free
                            no column the batch pins that the loop lists

Anything the reader does not understand (no verb, a statement cut short) has no shape and
relates to nothing: a missed pairing costs a "New" and a "Gone" finding, a wrong one would
merge two unrelated queries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from mcp_sessions.analysis.diff.nodes import Node, NodeKey

_VERB = re.compile(r"^\s*(SELECT|UPDATE|DELETE|INSERT)\b", re.I)
_IDENT = r'(?:"[^"]+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][\w$]*)'
_QUALIFIED = rf"{_IDENT}(?:\s*\.\s*{_IDENT})*"
_TABLE = re.compile(rf"\b(?:FROM|JOIN|UPDATE|INTO)\s+({_QUALIFIED})", re.I)
_FROM = re.compile(r"\bFROM\b", re.I)
_WHERE = re.compile(r"\bWHERE\b", re.I)
_CLAUSE_END = re.compile(r"\b(?:GROUP\s+BY|ORDER\s+BY|HAVING|LIMIT|OFFSET|RETURNING|UNION|FOR\s+UPDATE)\b", re.I)
_AND = re.compile(r"\bAND\b", re.I)
_DISTINCT = re.compile(r"^DISTINCT\s+", re.I)
_SELECT_ITEM = re.compile(rf"^({_QUALIFIED})(?:\s+(?:AS\s+)?{_IDENT})?$", re.I)
_AS_ALIAS = re.compile(rf"\s+AS\s+{_IDENT}$", re.I)
_EQUALS = re.compile(rf"^({_QUALIFIED})\s*=\s*\?$")
_LIST = re.compile(rf"^({_QUALIFIED})\s+(?:IN\s*\(\s*\?\s*\)|=\s*ANY\s*\(\s*\?\s*\))$", re.I)
_COLUMN = re.compile(rf"^({_QUALIFIED})")
_KEYWORDS = frozenset({"not", "exists", "select", "case", "null", "true", "false"})


@dataclass(frozen=True)
class Shape:
    verb: str
    tables: frozenset[str]
    columns: frozenset[str]  # '*' when the select list reads every column
    filters: tuple[tuple[str, str], ...]  # (column, '=' | 'in' | 'other'), sorted


def _name(qualified: str) -> str:
    """The last part of a possibly qualified, possibly quoted name, lowercase."""
    last = re.split(r"\s*\.\s*", qualified.strip())[-1]
    return last.strip('"`[]').lower()


def _depths(text: str) -> list[int]:
    """The parenthesis depth at each character."""
    out, depth = [], 0
    for ch in text:
        depth += ch == "("
        out.append(depth)
        depth -= ch == ")"
    return out


def _top_level(pattern: re.Pattern[str], text: str, depths: list[int], start: int = 0) -> re.Match[str] | None:
    """The first match of `pattern` outside any parentheses (not inside a subquery)."""
    return next((m for m in pattern.finditer(text, start) if depths[m.start()] == 0), None)


def _split(text: str, pattern: re.Pattern[str]) -> list[str]:
    """`text` cut at the top-level matches of `pattern` (a separator), each part stripped of outer parentheses."""
    depths, parts, start = _depths(text), [], 0
    for m in pattern.finditer(text):
        if depths[m.start()] == 0:
            parts.append(text[start : m.start()])
            start = m.end()
    parts.append(text[start:])
    return [_unwrap(p) for p in parts if p.strip()]


def _unwrap(part: str) -> str:
    part = part.strip()
    while part.startswith("(") and part.endswith(")") and _depths(part[:-1]).count(0) == 0:
        part = part[1:-1].strip()
    return part


def _columns(select_list: str) -> frozenset[str]:
    out = set()
    for item in _split(select_list, re.compile(",")):
        item = _DISTINCT.sub("", item)
        if item == "*" or item.endswith(".*"):
            out.add("*")
        elif m := _SELECT_ITEM.match(item):
            out.add(_name(m.group(1)))
        else:  # an expression: count(*), lower(name) AS n
            out.add(" ".join(_AS_ALIAS.sub("", item).lower().split()))
    return frozenset(out)


def _filters(where: str) -> tuple[tuple[str, str], ...]:
    found: dict[str, str] = {}
    for part in _split(where, _AND):
        if m := _EQUALS.match(part):
            kind, column = "=", m.group(1)
        elif m := _LIST.match(part):
            kind, column = "in", m.group(1)
        elif (m := _COLUMN.match(part)) and _name(m.group(1)) not in _KEYWORDS:
            kind, column = "other", m.group(1)
        else:
            continue
        name = _name(column)
        found[name] = kind if name not in found else "other"  # two conditions on one column: a range, say
    return tuple(sorted(found.items()))


@lru_cache(maxsize=4096)
def shape(statement: str) -> Shape | None:
    """The shape of a normalised statement, or None when it cannot be read."""
    verb = _VERB.match(statement)
    if not verb or statement.count("(") != statement.count(")"):
        return None
    depths = _depths(statement)
    kind = verb.group(1).upper()
    tables = frozenset(_name(t) for t in _TABLE.findall(statement))
    if not tables:
        return None
    columns: frozenset[str] = frozenset()
    if kind == "SELECT":
        from_at = _top_level(_FROM, statement, depths, verb.end())
        if from_at is None:
            return None
        columns = _columns(statement[verb.end() : from_at.start()])
    filters: tuple[tuple[str, str], ...] = ()
    if where_at := _top_level(_WHERE, statement, depths):
        end = _top_level(_CLAUSE_END, statement, depths, where_at.end())
        filters = _filters(statement[where_at.end() : end.start() if end else len(statement)])
    return Shape(kind, tables, columns, filters)


def narrower(loop: str, batch: str) -> bool:
    """Whether `loop` reads, row by row, what `batch` reads at once (see the module docstring)."""
    if loop == batch:
        return False
    one, many = shape(loop), shape(batch)
    if one is None or many is None or one.verb != many.verb or one.tables != many.tables:
        return False
    if "*" not in one.columns and "*" not in many.columns and not one.columns <= many.columns:
        return False
    pins, lists = dict(one.filters), dict(many.filters)
    if any(column not in pins for column in lists):
        return False
    if any(kind == "=" and pins[column] == "in" for column, kind in lists.items()):
        return False
    return any(kind == "=" and lists.get(column) in (None, "in") for column, kind in pins.items())


def _similarity(x: Shape, y: Shape) -> float:
    """Jaccard of the columns read and the columns filtered on: which of several related statements is closest."""
    sets = ((x.columns, y.columns), (frozenset(c for c, _ in x.filters), frozenset(c for c, _ in y.filters)))
    return sum(len(a & b) / len(a | b) if a | b else 1.0 for a, b in sets)


def replacements(baseline: Sequence[Node], target: Sequence[Node]) -> dict[NodeKey, Node]:
    """Target operations paired with the baseline operation each replaced: target key → baseline node.

    A pair is two statements of one service, one `narrower` than the other, the narrower one run
    more often (the loop that replaced a batch, or the batch that replaced a loop). Each node
    pairs once; where several could, the most similar pair goes first (then the first in order).
    """
    options = []
    for j, b in enumerate(target):
        for i, a in enumerate(baseline):
            if a.key[0] != "op" or b.key[0] != "op" or a.key[1:-1] != b.key[1:-1]:
                continue
            old, new = a.key[-1], b.key[-1]
            loop_replaced_batch = narrower(new, old) and b.stats.count > a.stats.count
            batch_replaced_loop = narrower(old, new) and a.stats.count > b.stats.count
            if loop_replaced_batch or batch_replaced_loop:
                x, y = shape(old), shape(new)
                assert x is not None and y is not None
                options.append((-_similarity(x, y), j, i))
    paired: dict[NodeKey, Node] = {}
    used: set[int] = set()
    for _, j, i in sorted(options):
        if target[j].key not in paired and i not in used:
            paired[target[j].key] = baseline[i]
            used.add(i)
    return paired
