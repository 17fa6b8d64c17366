"""Paging: the cursors this store issues, and the keyset page every sorted list reads.

A list cursor carries the sort it belongs to, the last row's sort value and its id, so a page
stays stable while new data arrives and seeks straight to the next rows through the sort
order's index:

    page 1:  ORDER BY start_ns DESC, id DESC LIMIT n+1      last row shown: (t5, "b7…")
    page 2:  WHERE (start_ns, id) < (t5, "b7…") ...         the row after it, whatever arrived since

A timeline cursor carries an offset and the session it belongs to. Cursors are opaque to
callers: base64 of a small JSON array, checked when read back.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.model import Page

T = TypeVar("T")

# sort name → (column, descending?); the same columns on sessions and traces
SORTS: dict[str, tuple[str, bool]] = {
    "recent": ("start_ns", True),
    "oldest": ("start_ns", False),
    "slowest": ("duration_ns", True),
    "errors": ("error_count", True),
    "largest": ("span_count", True),
}

_TIMELINE = "timeline"


def encode_cursor(sort: str, value: Any, key: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([sort, value, key])).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, key = orjson.loads(raw)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidArgumentError(
            "cursor is not one this server issued; repeat the call without a cursor to start over"
        ) from None
    if cursor_sort != sort:
        raise InvalidArgumentError(
            f"cursor belongs to sort={cursor_sort!r}, not {sort!r}; pass the same sort as the first call"
        )
    return value, str(key)


def timeline_offset(cursor: str | None, session_id: str) -> int:
    """Where a timeline cursor resumes (0 without one); an error for a cursor of another list."""
    if not cursor:
        return 0
    offset, owner = decode_cursor(cursor, _TIMELINE)
    if owner != session_id or not isinstance(offset, int) or offset < 0:
        raise InvalidArgumentError("that cursor belongs to another timeline; start again without one")
    return offset


def timeline_cursors(session_id: str, offset: int, count: int) -> dict[int, str]:
    """The cursor resuming after each of the first n items of a page that starts at `offset`."""
    return {n: encode_cursor(_TIMELINE, offset + n, session_id) for n in range(1, count + 1)}


def where_sql(clauses: Sequence[str]) -> str:
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


@dataclass
class Filter:
    """A list's WHERE clauses with their parameters, and a cheaper way to count when there is one."""

    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    count_sql: str | None = None  # counts all matches straight from a kept table
    count_params: tuple[Any, ...] = ()

    def count(self, table: str) -> tuple[str, list[Any]]:
        """SQL and parameters counting every match: from the kept table alone when it is the only filter."""
        if self.count_sql is not None and len(self.where) == 1:
            return self.count_sql, list(self.count_params)
        return f"SELECT count(*) FROM {table} {where_sql(self.where)}", list(self.params)


def _keyset(
    sort_sql: str,
    descending: bool,
    key_column: str,
    cursor: tuple[Any, str] | None,
    where: list[str],
    params: list[Any],
) -> str:
    op = "<" if descending else ">"
    if cursor is not None:  # a row value, so the sort order's index seeks straight to the next page
        value, key = cursor
        where.append(f"({sort_sql}, {key_column}) {op} (?, ?)")
        params.extend([value, key])
    direction = "DESC" if descending else "ASC"
    return f"ORDER BY {sort_sql} {direction}, {key_column} {direction}"


def keyset_page(
    conn: sqlite3.Connection,
    table: str,
    columns: Sequence[str],
    key_column: str,
    f: Filter,
    sort: str,
    cursor: str | None,
    limit: int,
    record: Callable[[Sequence[Any]], T],
) -> Page[T]:
    """One page of `table` in `sort` order after `cursor`, with the exact count of all that match.

    The count rides along as an uncorrelated subquery, computed once in the same statement;
    one row more than the limit is read to tell whether more follow.
    """
    sort_column, descending = SORTS[sort]
    count_sql, count_params = f.count(table)
    where, params = list(f.where), list(f.params)
    after = decode_cursor(cursor, sort) if cursor else None
    order = _keyset(sort_column, descending, key_column, after, where, params)
    rows = conn.execute(
        f"SELECT {', '.join(columns)}, ({count_sql}) FROM {table} {where_sql(where)} {order} LIMIT ?",
        [*count_params, *params, limit + 1],
    ).fetchall()
    total = rows[0][-1] if rows else conn.execute(count_sql, count_params).fetchone()[0]
    sort_at, key_at = columns.index(sort_column), columns.index(key_column)
    resume = tuple(encode_cursor(sort, row[sort_at], row[key_at]) for row in rows[:limit])
    records = [record(row[:-1]) for row in rows[:limit]]
    return Page(records, total, resume[-1] if len(rows) > limit else None, resume)
