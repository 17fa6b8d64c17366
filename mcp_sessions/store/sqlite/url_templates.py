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
shape (its kinds of characters and length), which is all judging needs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from mcp_sessions.analysis.path_templates import (
    VALUES_KEPT,
    Observation,
    PathTemplates,
    Rule,
    judge,
    observe,
    observe_route,
    paths_in,
)

# Re-observing under new rules settles within the depth of the deepest templated path.
MAX_ROUNDS = 8


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
    positions = sorted({o.position for o in observations})
    held = dict(
        _chunked(conn, "SELECT position, count(*) FROM url_values WHERE position IN ({}) GROUP BY position", positions)
    )
    gained: set[str] = set()
    for o in dict.fromkeys(observations):
        if held.get(o.position, 0) >= VALUES_KEPT and not o.declared:
            continue
        added = conn.execute(
            "INSERT OR IGNORE INTO url_values (position, value, shape, declared) VALUES (?, ?, ?, ?)",
            (o.position, o.value, o.shape, int(o.declared)),
        ).rowcount
        if added:
            held[o.position] = held.get(o.position, 0) + 1
            gained.add(o.position)
    return gained


def _judge(conn: sqlite3.Connection, positions: set[str], templates: PathTemplates) -> dict[str, Rule]:
    """Rules of the positions that gained values, where they are new or wider than before (and stored)."""
    shapes: dict[str, list[str]] = {}
    declared: set[str] = set()
    for position, shape, is_declared in _chunked(
        conn, "SELECT position, shape, declared FROM url_values WHERE position IN ({})", sorted(positions)
    ):
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
