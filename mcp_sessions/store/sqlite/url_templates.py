"""The URL templates learned across everything stored (analysis/path_templates.py judges them).

Each ingest, inside its transaction, before traces are derived:

    this ingest's fingerprints, span routes and request URL templates (shape-templated only)
        │ observe: (position, value) pairs, hashed, at most VALUES_KEPT per position
        ▼
    url_values ──► judge the positions that gained values ──► url_rules (only ever widened)
        │ a rule was born or widened: re-observe every stored path under the new rules
        │ (a deeper position's key changes once the one above it is a template)
        ▼
    re-template: this ingest's fingerprints, and when a rule changed every stored one
        (spans.fingerprint, events.url_template); traces of earlier ingests whose
        fingerprints changed are derived again, so the operation summaries stay exact

No path text is kept here: positions and values are stored as hashes with the value's
shape (its kinds of characters and length), which is all judging needs. In `url_values` both
hashes are keyed with the database's salt (erased_ids.py), so they match no table of common
words made elsewhere; `url_rules` keeps the plain position hash, which templating looks up.

Erasure (`forget_paths`, inside the erasure's transaction, after its rows are deleted): a
value tells a person apart however it is hashed (a user name in `/users/ann/orders`), so
what only erased data observed goes with it:

    erased rows' paths ──► every (position, value) they may have been stored under: each
                           earlier position literal, or templated where a rule matches
                           (rules only widen, so this covers every time they were observed)
    remaining stored fingerprints and request templates ──► the (position, value) pairs and
                           the positions they still use (a `{id}` there counts)
    url_values: erased pairs no remaining path has, and rows at positions no remaining
                path uses, are deleted; url_rules at such positions too. Declared rows
                (an http.route's placeholder, value '') are the application's, kept.

A value a remaining path hides behind `{id}` cannot be read back from its fingerprint, so
an erased value shared with someone else there is deleted too: the rule at that position
stays (its position is in use), so no stored fingerprint changes and the summaries stay exact.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from mcp_sessions.analysis.path_templates import (
    PLACEHOLDER,
    VALUES_KEPT,
    Observation,
    PathTemplates,
    Rule,
    is_placeholder,
    judge,
    observe,
    observe_route,
    paths_in,
    position_key,
    value_key,
)
from mcp_sessions.store.sqlite.erased_ids import salt_of

# Re-observing under new rules settles within the depth of the deepest templated path.
MAX_ROUNDS = 8
# Ways an erased path may have been keyed (positions above it literal or templated), at most.
MAX_KEYINGS = 64


def _salt(conn: sqlite3.Connection) -> bytes | None:
    """The database's salt; None while migration 8 relearns an older file (stored as schema 8 did,
    unsalted, and salted by migration 9)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'salt'").fetchone() is None:
        return None
    return salt_of(conn)


def _keyed(salt: bytes | None, key: str) -> str:
    """How `url_values` stores a position or value hash ('' marks a route's placeholder: kept as it is)."""
    if salt is None or not key:
        return key
    return hashlib.blake2b(key.encode(), key=salt, person=b"url_values", digest_size=8).hexdigest()


def salt_stored_values(conn: sqlite3.Connection, salt: bytes) -> None:
    """Key every stored position and value hash with `salt` (schema 9)."""
    rows = conn.execute("SELECT position, value, shape, declared FROM url_values").fetchall()
    conn.execute("DELETE FROM url_values")
    conn.executemany(
        "INSERT OR IGNORE INTO url_values (position, value, shape, declared) VALUES (?, ?, ?, ?)",
        ((_keyed(salt, p), _keyed(salt, v), shape, declared) for p, v, shape, declared in rows),
    )


def load(conn: sqlite3.Connection) -> PathTemplates:
    """The rules learned so far."""
    return PathTemplates(
        {
            position: Rule(kind, kinds, min_len, max_len)
            for position, kind, kinds, min_len, max_len in conn.execute(
                "SELECT position, kind, kinds, min_len, max_len FROM url_rules"
            )
        }
    )


def update(
    conn: sqlite3.Connection,
    ingest_id: int,
    fingerprints: Iterable[str],
    routes: Iterable[str],
    url_templates: Iterable[str],
) -> set[str]:
    """Learn from one ingest's fingerprints, routes and request templates, then re-template what is stored.

    Returns the ids of traces from earlier ingests whose span fingerprints changed: the
    caller derives them again.
    """
    fingerprints, url_templates = set(fingerprints), set(url_templates)
    before = load(conn)
    templates = _learn(conn, before, fingerprints | url_templates, set(routes))
    everything = templates != before
    span_texts = fingerprints | (_stored_fingerprints(conn) if everything else set())
    event_texts = url_templates | (_stored_url_templates(conn) if everything else set())
    older: set[str] = set()
    for old in span_texts:
        new = templates.retemplate(old)
        if new != old:
            older.update(
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT trace_id FROM spans WHERE fingerprint = ? AND ingest_id != ?", (old, ingest_id)
                )
            )
            conn.execute("UPDATE spans SET fingerprint = ? WHERE fingerprint = ?", (new, old))
    for old in event_texts:
        new = templates.retemplate(old)
        if new != old:
            conn.execute("UPDATE events SET url_template = ? WHERE url_template = ?", (new, old))
    return older


def relearn_everything(conn: sqlite3.Connection) -> bool:
    """Learn from every stored fingerprint, route and request template, and re-template them all (a schema
    upgrade); True when any stored fingerprint changed."""
    routes = {r[0] for r in conn.execute("SELECT DISTINCT http_route FROM spans WHERE http_route IS NOT NULL")}
    fingerprints = {r[0] for r in conn.execute("SELECT DISTINCT fingerprint FROM spans WHERE fingerprint IS NOT NULL")}
    url_templates = _stored_url_templates(conn)
    templates = _learn(conn, load(conn), fingerprints | url_templates, routes)
    changed = False
    for old in fingerprints:
        new = templates.retemplate(old)
        if new != old:
            conn.execute("UPDATE spans SET fingerprint = ? WHERE fingerprint = ?", (new, old))
            changed = True
    for old in url_templates:
        new = templates.retemplate(old)
        if new != old:
            conn.execute("UPDATE events SET url_template = ? WHERE url_template = ?", (new, old))
    return changed


def _learn(conn: sqlite3.Connection, templates: PathTemplates, texts: set[str], routes: set[str]) -> PathTemplates:
    observations = [o for route in routes for o in observe_route(route)]
    paths = {p for text in texts for p in paths_in(text)}
    for round_ in range(MAX_ROUNDS):
        observations += [o for path in paths for o in observe(path, templates)]
        changes = _judge(conn, _store(conn, observations), templates)
        observations = []
        if not changes:
            break
        templates = templates.with_rules(changes)
        if round_ == 0:  # deeper positions are keyed anew: read them again from everything stored
            paths |= {p for text in _stored_fingerprints(conn) | _stored_url_templates(conn) for p in paths_in(text)}
    return templates


def _store(conn: sqlite3.Connection, observations: list[Observation]) -> set[str]:
    """Keep new observations (at most VALUES_KEPT values a position); the positions that gained one."""
    if not observations:
        return set()
    salt = _salt(conn)
    stored = {p: _keyed(salt, p) for p in {o.position for o in observations}}
    by_stored = {k: p for p, k in stored.items()}
    held = {
        by_stored[k]: n
        for k, n in _chunked(
            conn,
            "SELECT position, count(*) FROM url_values WHERE position IN ({}) GROUP BY position",
            sorted(stored.values()),
        )
    }
    gained: set[str] = set()
    for o in dict.fromkeys(observations):
        if held.get(o.position, 0) >= VALUES_KEPT and not o.declared:
            continue
        added = conn.execute(
            "INSERT OR IGNORE INTO url_values (position, value, shape, declared) VALUES (?, ?, ?, ?)",
            (stored[o.position], _keyed(salt, o.value), o.shape, int(o.declared)),
        ).rowcount
        if added:
            held[o.position] = held.get(o.position, 0) + 1
            gained.add(o.position)
    return gained


def _judge(conn: sqlite3.Connection, positions: set[str], templates: PathTemplates) -> dict[str, Rule]:
    """Rules of the positions that gained values, where they are new or wider than before (and stored)."""
    shapes: dict[str, list[str]] = {}
    declared: set[str] = set()
    salt = _salt(conn)
    by_stored = {_keyed(salt, p): p for p in positions}
    for stored, shape, is_declared in _chunked(
        conn, "SELECT position, shape, declared FROM url_values WHERE position IN ({})", sorted(by_stored)
    ):
        position = by_stored[stored]
        if is_declared:
            declared.add(position)
        else:
            shapes.setdefault(position, []).append(shape)
    changes: dict[str, Rule] = {}
    for position in positions:
        rule = judge(shapes.get(position, ()), position in declared)
        if rule is None:
            continue
        current = templates.rules.get(position)
        merged = rule.merged(current)
        if merged != current:
            changes[position] = merged
            conn.execute(
                "INSERT OR REPLACE INTO url_rules (position, kind, kinds, min_len, max_len) VALUES (?, ?, ?, ?, ?)",
                (position, merged.kind, merged.kinds, merged.min_len, merged.max_len),
            )
    return changes


def forget_paths(conn: sqlite3.Connection, erased_texts: Iterable[str]) -> int:
    """Delete what url_values and url_rules keep only for `erased_texts` (see the module docstring).

    `erased_texts` are the fingerprints and request URL templates of the erased rows as the
    writer learned from them (before learned templating: `attributes_fingerprint`, `template_url`).
    Runs after the rows are deleted, inside the erasure's transaction; returns the url_values
    rows deleted.
    """
    templates = load(conn)
    erased = {pair for text in set(erased_texts) for path in paths_in(text) for pair in _every_keying(path, templates)}
    if not erased:
        return 0
    kept, in_use = _in_use(_stored_fingerprints(conn) | _stored_url_templates(conn), templates)
    salt = _salt(conn)
    idle = sorted({_keyed(salt, p) for p, _ in erased if p not in in_use})
    removed = conn.executemany(
        "DELETE FROM url_values WHERE position = ? AND value = ? AND declared = 0",
        ((_keyed(salt, p), _keyed(salt, v)) for p, v in erased - kept),
    ).rowcount
    removed += conn.executemany(
        "DELETE FROM url_values WHERE position = ? AND declared = 0", ((p,) for p in idle)
    ).rowcount
    conn.executemany(
        "DELETE FROM url_rules WHERE position = ? AND kind != 'declared'",
        ((p,) for p in sorted({p for p, _ in erased if p not in in_use})),
    )
    return removed


def _every_keying(path: str, templates: PathTemplates) -> Iterator[tuple[str, str]]:
    """Every (position, value) hash pair `path` may have been stored under, its earlier positions
    literal or, where a rule matches, templated (at most MAX_KEYINGS ways)."""
    if not path.startswith("/"):
        return
    prefixes: list[list[str]] = [[""]]
    for index, segment in enumerate(path.split("/")[1:], start=1):
        judged = index >= 2 and segment and not is_placeholder(segment)
        following: list[list[str]] = []
        for out in prefixes:
            if judged:
                key = position_key(out)
                yield key, value_key(segment)
                rule = templates.rules.get(key)
                if rule is not None and rule.matches(segment):
                    following.append([*out, PLACEHOLDER])
            following.append([*out, segment])
        prefixes = following[:MAX_KEYINGS]


def _in_use(texts: Iterable[str], templates: PathTemplates) -> tuple[set[tuple[str, str]], set[str]]:
    """The (position, value) pairs stored texts hold literally, and every position they use (`{id}` included)."""
    values: set[tuple[str, str]] = set()
    positions: set[str] = set()
    for text in texts:
        for path in paths_in(text):
            if not path.startswith("/"):
                continue
            out = [""]
            for index, segment in enumerate(path.split("/")[1:], start=1):
                if index >= 2 and segment:
                    key = position_key(out)
                    positions.add(key)
                    if not is_placeholder(segment):
                        values.add((key, value_key(segment)))
                        rule = templates.rules.get(key)
                        if rule is not None and rule.matches(segment):
                            segment = PLACEHOLDER
                out.append(segment)
    return values, positions


def _stored_fingerprints(conn: sqlite3.Connection) -> set[str]:
    """The distinct fingerprints of stored traces that hold a path (from the operation summaries: one row each)."""
    return {r[0] for r in conn.execute("SELECT DISTINCT fingerprint FROM operations WHERE instr(fingerprint, '/') > 0")}


def _stored_url_templates(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT DISTINCT url_template FROM events WHERE url_template IS NOT NULL")}


def _chunked(conn: sqlite3.Connection, sql: str, keys: list[str]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        rows += conn.execute(sql.format(",".join("?" * len(part))), part).fetchall()
    return rows
