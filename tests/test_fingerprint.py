"""Operation fingerprints: SQL normalised, URLs templated, and the demo fixtures' expected keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcp_sessions.analysis.fingerprint import (
    attributes_fingerprint,
    normalize_sql,
    request_fingerprint,
    span_fingerprint,
    template_path,
    template_url,
)
from mcp_sessions.model import Span

EXPECTED = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "expected").glob("*.json"))

SQL = {
    # literals
    "SELECT * FROM t WHERE a = 5 AND b = 'x'": "SELECT * FROM t WHERE a = ? AND b = ?",
    "SELECT -5, 3.14, 0xFF, 1e10, -2.5e-3, .5, 1. FROM t": "SELECT ?, ?, ?, ?, ?, ?, ? FROM t",
    "SELECT a FROM t WHERE flag = TRUE OR other = false": "SELECT a FROM t WHERE flag = ? OR other = ?",
    # numbers inside identifiers stay; an operator before a number stays an operator
    "SELECT t1.a FROM t1 JOIN t2 ON t1.id = t2.id WHERE t1.x = 5": (
        "SELECT t1.a FROM t1 JOIN t2 ON t1.id = t2.id WHERE t1.x = ?"
    ),
    'SELECT "col1", col_2 FROM "t3" WHERE y = col-1 AND z=-1': 'SELECT "col1", col_2 FROM "t3" WHERE y = col-? AND z=?',
    # strings: doubled quotes, backslash escapes, prefixes, dollar quoting, a truncated statement
    "SELECT * FROM t WHERE name = 'O''Brien' AND x = 'a\\'b'": "SELECT * FROM t WHERE name = ? AND x = ?",
    "SELECT E'foo\\nbar', N'x', X'ff', U&'d' FROM t": "SELECT ?, ?, ?, ? FROM t",
    "SELECT $$ body 1 $$, $fn$ x $fn$ FROM t": "SELECT ?, ? FROM t",
    "SELECT a FROM t WHERE b = 'cut off by the SDK": "SELECT a FROM t WHERE b = ?",
    "SELECT name FROM t WHERE name='x'": "SELECT name FROM t WHERE name=?",
    # comments, including comment markers inside strings and quotes inside comments
    "SELECT /* hint */ a FROM t -- trailing\n WHERE b = 1": "SELECT a FROM t WHERE b = ?",
    "SELECT * FROM t WHERE x = 'a--b' AND y = 1": "SELECT * FROM t WHERE x = ? AND y = ?",
    "SELECT * FROM t WHERE x = '/*' AND y = 1 /* it's */": "SELECT * FROM t WHERE x = ? AND y = ?",
    # IN lists and multi-row VALUES collapse, whatever their length or placeholder style
    "SELECT * FROM t WHERE a IN (1, 2, 3) AND b IN ('x','y')": "SELECT * FROM t WHERE a IN (?) AND b IN (?)",
    "SELECT * FROM t WHERE a IN (?, ?, ?) AND b IN ($1, $2)": "SELECT * FROM t WHERE a IN (?) AND b IN (?)",
    "SELECT * FROM t WHERE a IN (7)": "SELECT * FROM t WHERE a IN (?)",
    "INSERT INTO t (a, b) VALUES (1, 2), (3, 4), (5, 6)": "INSERT INTO t (a, b) VALUES (?)",
    "INSERT INTO t VALUES (1, 'a'), (2, 'b')": "INSERT INTO t VALUES (?)",
    # bind parameters of every driver style
    "SELECT * FROM t WHERE a = :name AND b = %s AND c = %(foo)s AND d = ? AND e = ?1 AND f = $2 AND g = @p1": (
        "SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ? AND e = ? AND f = ? AND g = ?"
    ),
    # Postgres casts keep their type; the value goes
    "SELECT a::text, $1::int, '2020-01-01'::date FROM t WHERE x = 5::bigint": (
        "SELECT a::text, ?::int, ?::date FROM t WHERE x = ?::bigint"
    ),
    # whitespace and a trailing semicolon
    "SELECT  a\n\tFROM t\n WHERE x = 1 ;": "SELECT a FROM t WHERE x = ?",
    "SELECT a FROM t LIMIT 10 OFFSET 20": "SELECT a FROM t LIMIT ? OFFSET ?",
}


@pytest.mark.parametrize(("statement", "expected"), SQL.items(), ids=list(range(len(SQL))))
def test_normalize_sql(statement: str, expected: str) -> None:
    assert normalize_sql(statement) == expected


def test_statements_differing_only_in_values_share_a_fingerprint() -> None:
    a = normalize_sql("SELECT * FROM orders WHERE user_id = 7 AND status IN ('new', 'paid')")
    b = normalize_sql("SELECT * FROM orders WHERE user_id = 123456 AND status IN ('x')")
    assert a == b == "SELECT * FROM orders WHERE user_id = ? AND status IN (?)"
    assert normalize_sql("SELECT * FROM t WHERE id = 1") != normalize_sql("SELECT * FROM u WHERE id = 1")


def test_fingerprints_are_bounded() -> None:
    long = "SELECT " + ", ".join(f"col{i}" for i in range(500)) + " FROM t"
    assert len(normalize_sql(long)) == 300
    assert len(template_path("/a" * 400)) == 300


PATHS = {
    "/api/orders/1234/items?x=1#frag": "/api/orders/{id}/items",
    "/u/550e8400-e29b-41d4-a716-446655440000": "/u/{uuid}",
    "/u/550E8400E29B41D4A716446655440000/edit": "/u/{uuid}/edit",
    "/commit/3f786850e387550fdab836ed7e6dc881de23001b": "/commit/{hash}",
    "/obj/507f1f77bcf86cd799439011": "/obj/{hash}",
    "/reset/eyJhbGciOiJIUzI1NiJ9abcd1234efgh": "/reset/{token}",
    "/x/12.5/-3": "/x/{id}/{id}",
    "/v1/users": "/v1/users",  # short version-like words stay
    "/a/deadbeefcafe": "/a/deadbeefcafe",  # hex letters without a digit: a word, not a hash
    "/files/report-2024.pdf": "/files/report-2024.pdf",
    "/p/{product_id}": "/p/{product_id}",  # already a template
    "": "/",
    "/": "/",
}


@pytest.mark.parametrize(("path", "expected"), PATHS.items())
def test_template_path(path: str, expected: str) -> None:
    assert template_path(path) == expected


def test_template_url_of_a_redacted_host() -> None:
    # urlsplit rejects "[REDACTED]" as an IPv6 literal; ingest must not fail on such a span.
    assert template_url("http://[REDACTED]/api/products/12?x=1") == "/api/products/{id}"
    assert template_url("http://[REDACTED]/api/products/12", keep_host=True) == "[REDACTED]/api/products/{id}"
    assert attributes_fingerprint("GET", "client", {"http.method": "GET", "http.url": "http://[REDACTED]/a/7"}) == (
        "GET [REDACTED]/a/{id}"
    )


def test_template_url_and_request_fingerprint() -> None:
    assert template_url("https://api.example.com:8443/orders/99?x=1") == "/orders/{id}"
    assert template_url("https://user:pw@api.example.com/orders/99", keep_host=True) == "api.example.com/orders/{id}"
    assert request_fingerprint("get", "http://h/api/products/7/reviews?page=2") == "GET /api/products/{id}/reviews"
    # the route, when the instrumentation names it, wins over templating
    route = "/api/products/{product_id}/reviews"
    assert request_fingerprint("GET", "http://h/api/products/7/reviews", route) == f"GET {route}"
    assert request_fingerprint(None, None) == "GET ?"


def test_urls_without_a_path_hierarchy_and_hostile_hosts() -> None:
    assert template_url("data:image/png;base64," + "A" * 100_000) == "data:image/png"
    assert template_url("blob:https://shop.example/6f1c2a4e-9b7d-4c1e-8a3f-2d5b6c7e8f90") == (
        "blob:shop.example/{uuid}"
    )
    assert template_url("about:blank") == "about:blank"
    assert template_url("javascript:void(0)") == "javascript:"
    assert template_url("http://[REDACTED/api/7", keep_host=True) == "[REDACTED/api/{id}"  # an unclosed bracket
    assert template_url("http://shop:99999/api/7", keep_host=True) == "shop/api/{id}"  # a port that is none
    assert template_url("https://Shop.Example:443/api/7", keep_host=True) == "shop.example/api/{id}"


def test_the_stored_fingerprint_wins_over_recomputing_it() -> None:
    stored = Span("a" * 32, "b" * 16, None, "GET", "client", 0, 1, attributes={"http.method": "GET"}, fingerprint="X")
    assert span_fingerprint(stored) == "X"
    assert stored == Span("a" * 32, "b" * 16, None, "GET", "client", 0, 1, attributes={"http.method": "GET"})


def span(name: str, kind: str, **attributes: object) -> Span:
    return Span("a" * 32, "b" * 16, None, name, kind, 0, 1, attributes=attributes)  # type: ignore[arg-type]


def test_span_fingerprint_prefers_statement_then_route_then_url_then_name() -> None:
    db = span("SELECT", "client", **{"db.statement": "SELECT * FROM t WHERE id = 4", "db.system": "sqlite"})
    assert span_fingerprint(db) == "SELECT * FROM t WHERE id = ?"
    new_db = span("SELECT t", "client", **{"db.query.text": "SELECT * FROM t WHERE id = $1"})
    assert span_fingerprint(new_db) == "SELECT * FROM t WHERE id = ?"
    server = span("GET /p/{id}", "server", **{"http.method": "GET", "http.route": "/p/{id}", "http.target": "/p/9"})
    assert span_fingerprint(server) == "GET /p/{id}"
    client = span("GET", "client", **{"http.request.method": "GET", "url.full": "http://pay:8001/charges/77?x=1"})
    assert span_fingerprint(client) == "GET pay:8001/charges/{id}"
    no_route = span("GET", "server", **{"http.method": "post", "http.target": "/orders/12/cancel"})
    assert span_fingerprint(no_route) == "POST /orders/{id}/cancel"
    assert span_fingerprint(span("render /users/42/profile", "internal")) == "render /users/{id}/profile"


@pytest.mark.skipif(not EXPECTED, reason="no fixtures/expected/*.json")
def test_the_fixtures_expected_fingerprints() -> None:
    checked = 0
    for path in EXPECTED:
        expected = json.loads(path.read_text())
        for statement in expected.get("checkout", {}).get("statements", []):
            assert normalize_sql(statement["statement"]) == statement["fingerprint"], (path.name, statement)
            checked += 1
        if "n_plus_one" in expected:
            n_plus_one = expected["n_plus_one"]
            assert normalize_sql(n_plus_one["statement"]) == n_plus_one["fingerprint"]
    assert checked >= 20
