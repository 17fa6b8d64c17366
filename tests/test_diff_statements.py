"""A loop that replaced a related statement is one N+1 finding; the automatic baseline takes sessions that
started no later.

The SQL is what an app running under the real OpenTelemetry SDK and its DB-API instrumentation
records (tests/sdk_catalog.py): a batched `IN (?, ?, …)` query in the good session, one query
per item in the regressed one, in the shapes ORMs emit (a `LIMIT` on the per-item lookup, an
`ORDER BY` on the batch, quoted and qualified names, aliases).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client
from sdk_catalog import BATCH_QUERY, ITEM_QUERY, Catalog, cart

from mcp_sessions.analysis.diff import SessionRecording, diff_sides, session_side
from mcp_sessions.analysis.diff.align import align
from mcp_sessions.analysis.diff.statements import narrower, shape
from mcp_sessions.analysis.fingerprint import normalize_sql
from mcp_sessions.ingest import ingest_file
from mcp_sessions.model import SessionFilter
from mcp_sessions.server import create_server
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite import queries

ITEMS = 25

# (per-item statement, batch statement with {marks}) as ORMs and hand-written code issue them.
SHAPES = {
    "limit and order by": (ITEM_QUERY, BATCH_QUERY),
    "django": (
        'SELECT "shop_product"."id", "shop_product"."name" FROM "products" "shop_product" '
        'WHERE "shop_product"."id" = ? LIMIT 21',
        'SELECT "shop_product"."id", "shop_product"."name", "shop_product"."price" FROM "products" "shop_product" '
        'WHERE "shop_product"."id" IN ({marks})',
    ),
    "rails": (
        'SELECT "products".* FROM "products" WHERE "products"."id" = ? LIMIT ?',
        'SELECT "products".* FROM "products" WHERE "products"."id" IN ({marks})',
    ),
    "sqlalchemy": (
        "SELECT products.id AS products_id, products.name AS products_name FROM products WHERE products.id = ?",
        "SELECT products.id AS products_id, products.name AS products_name FROM products "
        "WHERE products.id IN ({marks})",
    ),
    "whole table, then per item": (
        "SELECT id, name FROM products WHERE id = ?",
        "SELECT id, name, price FROM products",
    ),
}


def record(tmp_path: Path, name: str, *, batch: bool, requests: int = 1, **queries_: str) -> Path:
    app = Catalog(**queries_)
    for _ in range(requests):
        app.run("/api/cart", cart(range(1, ITEMS + 1), batch=batch), session=name)
    return app.export(tmp_path / f"{name}.json")


def build(tmp_path: Path, *exports: Path) -> Path:
    db = tmp_path / "diff.db"
    with Store(db) as store:
        for export in exports:
            result = ingest_file(store, export)
            assert result.status == "stored", result.error
    return db


async def diff(db: Path, **args: str) -> dict:
    async with Client(create_server(db)) as client:
        result = await client.call_tool("diff_against_baseline", args)
    assert not result.is_error, result.content[0].text
    return {"data": result.structured_content, "text": result.content[0].text}


@pytest.mark.anyio
@pytest.mark.parametrize("orm", list(SHAPES))
async def test_a_loop_that_replaced_a_related_batch_is_one_n_plus_one_finding(tmp_path: Path, orm: str) -> None:
    item, batch = SHAPES[orm]
    good = record(tmp_path, "good", batch=True, item_query=item, batch_query=batch)
    bad = record(tmp_path, "bad", batch=False, item_query=item, batch_query=batch)
    db = build(tmp_path, good, bad)
    result = await diff(db, session_id="bad", baseline="good")
    findings = result["data"]["findings"]
    ops = [f for f in findings if f["level"] == "op" and f["kind"] in ("added", "removed", "count")]
    (loop,) = ops  # one finding, never "New … ran 25×" beside "Gone … ran 1×"
    assert loop["kind"] == "count" and (loop["count_before"], loop["count_after"]) == (1, ITEMS)
    assert loop["label"] == normalize_sql(item)
    assert loop["baseline_label"] == normalize_sql(batch.format(marks="?"))
    headline = next(line for line in result["text"].splitlines() if line.startswith("1. "))
    assert headline.startswith("1. **N+1 loop** `") and f"ran {ITEMS}× (was 1× as `" in headline


@pytest.mark.anyio
async def test_the_loop_and_the_batch_pair_whichever_came_first_and_across_several_requests(tmp_path: Path) -> None:
    loop_first = record(tmp_path, "loops", batch=False, requests=3)
    fixed = record(tmp_path, "batched", batch=True, requests=3)
    db = build(tmp_path, loop_first, fixed)
    improved = await diff(db, session_id="batched", baseline="loops")
    (change,) = [f for f in improved["data"]["findings"] if f["level"] == "op"]
    assert (change["kind"], change["count_before"], change["count_after"]) == ("count", 3 * ITEMS, 3)
    assert change["label"] == normalize_sql(BATCH_QUERY.format(marks="?"))
    assert change["baseline_label"] == normalize_sql(ITEM_QUERY)


@pytest.mark.anyio
async def test_a_loop_run_while_the_template_renders_is_one_finding_with_the_batch_the_view_ran(
    tmp_path: Path,
) -> None:
    app = Catalog()
    app.run("/api/cart", cart(range(1, ITEMS + 1), batch=True), session="good")
    good = app.export(tmp_path / "good.json")
    app.run("/api/cart", cart(range(1, ITEMS + 1), lazy=True), session="bad")
    db = build(tmp_path, good, app.export(tmp_path / "bad.json"))
    result = await diff(db, session_id="bad", baseline="good")
    ops = [f for f in result["data"]["findings"] if f["level"] == "op" and f["kind"] in ("added", "removed", "count")]
    (loop,) = ops
    assert (loop["kind"], loop["count_before"], loop["count_after"]) == ("count", 1, ITEMS)
    assert loop["context"][-1] == "render cart.html"  # where the loop runs now
    assert loop["baseline_label"] == normalize_sql(BATCH_QUERY.format(marks="?"))


@pytest.mark.anyio
async def test_a_loop_over_another_table_is_not_taken_for_the_batch_it_did_not_replace(tmp_path: Path) -> None:
    reviews = "SELECT rating FROM reviews WHERE product_id = ?"
    good = record(tmp_path, "good", batch=True)
    bad = record(tmp_path, "bad", batch=False, item_query=reviews)
    db = build(tmp_path, good, bad)
    result = await diff(db, session_id="bad", baseline="good")
    kinds = {f["label"]: f["kind"] for f in result["data"]["findings"] if f["level"] == "op"}
    assert kinds.get(normalize_sql(reviews)) == "added"
    assert all(f.get("baseline_label") is None for f in result["data"]["findings"])


def test_pairing_by_statement_leaves_the_sides_unchanged(tmp_path: Path) -> None:
    db = build(tmp_path, record(tmp_path, "good", batch=True), record(tmp_path, "bad", batch=False))
    with Store(db) as store:
        sides = [
            session_side(SessionRecording(sid, [], queries.session_traces(store.conn, sid))) for sid in ("good", "bad")
        ]
    before = [repr(s) for s in sides]
    paired = align(*sides)
    assert diff_sides(*sides).findings and repr(paired.baseline) == before[0] and repr(paired.target) == before[1]
    assert [repr(s) for s in sides] == before


def shifted(export: Path, to_start: int) -> Path:
    """The same export with every time moved so its first span starts at `to_start` (ns)."""
    document = json.loads(export.read_text())
    spans = [s for r in document["resourceSpans"] for scope in r["scopeSpans"] for s in scope["spans"]]
    offset = to_start - min(int(s["startTimeUnixNano"]) for s in spans)
    for s in spans:
        for key in ("startTimeUnixNano", "endTimeUnixNano"):
            s[key] = str(int(s[key]) + offset)
        for event in s.get("events", ()):
            event["timeUnixNano"] = str(int(event["timeUnixNano"]) + offset)
    out = export.with_name(f"{export.stem}-shifted.json")
    out.write_text(json.dumps(document))
    return out


@pytest.mark.anyio
async def test_the_automatic_baseline_takes_a_session_that_started_in_the_same_instant(tmp_path: Path) -> None:
    good = record(tmp_path, "good", batch=True)
    start = min(
        int(s["startTimeUnixNano"])
        for r in json.loads(good.read_text())["resourceSpans"]
        for scope in r["scopeSpans"]
        for s in scope["spans"]
    )
    bad = shifted(record(tmp_path, "bad", batch=False), start)
    db = build(tmp_path, good, bad)
    with Store(db) as store:
        starts = {s.session_id: s.start_ns for s in queries.list_sessions(store.conn, SessionFilter()).rows}
    assert starts["good"] == starts["bad"]
    for target, other in (("bad", "good"), ("good", "bad")):  # either may be the one asked about
        result = await diff(db, session_id=target)
        assert result["data"]["baseline"]["session_ids"] == [other]  # never the session itself


@pytest.mark.anyio
async def test_a_session_alone_has_no_automatic_baseline_not_even_itself(tmp_path: Path) -> None:
    db = build(tmp_path, record(tmp_path, "alone", batch=True))
    async with Client(create_server(db)) as client:
        result = await client.call_tool("diff_against_baseline", {"session_id": "alone"})
    assert result.is_error and "no other session that started no later" in result.content[0].text


@pytest.mark.parametrize(
    ("loop", "batch", "related"),
    [
        (ITEM_QUERY, BATCH_QUERY.format(marks="?, ?"), True),
        ("SELECT * FROM products WHERE id = ?", "SELECT * FROM products", True),  # one row, or all of them
        (
            "SELECT count(*) FROM reviews WHERE product_id = ?",
            "SELECT product_id, count(*) FROM reviews WHERE product_id IN (?, ?) GROUP BY product_id",
            True,
        ),
        (
            "SELECT name FROM products WHERE id = ? AND active = ?",
            "SELECT id, name FROM products WHERE id IN (?) AND active = ?",
            True,
        ),
        ("SELECT * FROM users WHERE email = ?", "SELECT * FROM users WHERE id IN (?)", False),  # another column
        ("SELECT * FROM orders WHERE id = ?", "SELECT * FROM products WHERE id IN (?)", False),  # another table
        ("SELECT secret FROM products WHERE id = ?", "SELECT id, name FROM products WHERE id IN (?)", False),
        ("DELETE FROM products WHERE id = ?", "SELECT * FROM products WHERE id IN (?)", False),  # another verb
        ("SELECT * FROM products WHERE id IN (?)", "SELECT * FROM products WHERE id = ?", False),  # broader
        (
            "SELECT name FROM products WHERE id = ?",
            "SELECT id, name FROM products WHERE id IN (?) AND active = ?",
            False,
        ),  # drops a condition the batch had
        ("SELECT name FROM products WHERE id = ?", "SELECT name FROM products WHERE id = ANY (?)", True),
        ("SELECT * FROM products WHERE id = ?", "SELECT * FROM products WHERE (id IN (", False),  # cut short
    ],
)
def test_narrower_reads_tables_columns_and_predicates(loop: str, batch: str, related: bool) -> None:
    assert narrower(normalize_sql(loop), normalize_sql(batch)) is related
    assert not narrower(normalize_sql(batch), normalize_sql(loop)) or not related


def test_shape_reads_qualified_quoted_and_aliased_names_and_ignores_subqueries() -> None:
    parsed = shape(
        normalize_sql(
            'SELECT "p"."id", p.name AS label, (SELECT count(*) FROM reviews r WHERE r.product_id = p.id) AS n '
            'FROM "products" p JOIN stock s ON s.product_id = p.id WHERE p.id IN (1, 2) AND s.count > 0 '
            "ORDER BY p.id LIMIT 10"
        )
    )
    assert parsed is not None
    assert parsed.tables == {"products", "stock", "reviews"}
    assert {"id", "name"} <= parsed.columns
    assert parsed.filters == (("count", "other"), ("id", "in"))
