"""URL templates judged across the values seen at a path position, stored, and read the same by every tool.

The ids are the OpenTelemetry Demo's products (open-telemetry/opentelemetry-demo,
src/product-catalog/products/products.json), their pictures the file names the demo serves
under /images/products/. Spans come from the real OTel SDK and httpx instrumentation calling
a local server; the browser side is a HAR Chromium recorded through Playwright.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from google.protobuf.json_format import MessageToJson
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import Client
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from schema_shims import remove_schema_8, remove_schema_9, remove_schema_10, remove_schema_11, remove_schema_12

from mcp_sessions.analysis.fingerprint import attributes_fingerprint, template_path
from mcp_sessions.analysis.path_templates import (
    NO_TEMPLATES,
    PathTemplates,
    Rule,
    judge,
    observe,
    observe_route,
    paths_in,
    position_key,
    shape_of,
)
from mcp_sessions.ingest import ingest_file
from mcp_sessions.server import create_server
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite import derive, schema, summaries

pytestmark = pytest.mark.anyio

PRODUCTS = [
    "OLJCESPC7Z", "66VCHSJNUP", "1YMWWN1N4O", "L9ECAV7KIM", "2ZYFJ3GM2N",
    "0PUK6V6EV0", "LS4PSXUNUM", "9SIQT8TOJO", "6E92ZMYYFZ", "HQTGWGPNH4",
]  # fmt: skip
PICTURES = [
    "NationalParkFoundationExplorascope.jpg", "StarsenseExplorer.jpg", "EclipsmartTravelRefractorTelescope.jpg",
    "LensCleaningKit.jpg", "RoofBinoculars.jpg", "SolarSystemColorImager.jpg", "RedFlashlight.jpg",
    "OpticalTubeAssembly.jpg", "SolarFilter.jpg", "TheCometBook.jpg",
]  # fmt: skip


def learned(paths: list[str], routes: list[str] = ()) -> PathTemplates:
    """Rules judged from these paths the way the store judges them (all values at once, until settled)."""
    templates = NO_TEMPLATES
    for _ in range(8):
        values: dict[str, dict[str, str]] = {}
        declared = {o.position for r in routes for o in observe_route(r)}
        for path in paths:
            for o in observe(template_path(path), templates):
                values.setdefault(o.position, {})[o.value] = o.shape
        changes = {}
        for position in set(values) | declared:
            rule = judge(values.get(position, {}).values(), position in declared)
            if rule is not None and rule.merged(templates.rules.get(position)) != templates.rules.get(position):
                changes[position] = rule.merged(templates.rules.get(position))
        if not changes:
            return templates
        templates = templates.with_rules(changes)
    raise AssertionError("did not settle")


def test_opaque_ids_under_one_prefix_are_templated_words_and_files_are_not() -> None:
    paths = [f"/api/products/{p}" for p in PRODUCTS]
    paths += [f"/images/products/{p}" for p in PICTURES]
    paths += ["/checkout/payment", "/checkout/shipping", "/checkout/review", "/api/v1/cart", "/api/v2/cart"]
    paths += ["/api/products/featured", "/location/update/v4", "/img/logos/logoBig2.svg", "/img/logos/logoFooter.svg"]
    templates = learned(paths)
    apply = templates.apply
    assert {apply(f"/api/products/{p}") for p in PRODUCTS} == {"/api/products/{id}"}
    assert apply("/api/products/ABCDEFGHIJ") == "/api/products/{id}"  # a later id of the same shape
    assert apply("/api/products/featured") == "/api/products/featured"  # a word beside the ids
    for path in paths[len(PRODUCTS) :]:
        assert apply(path) == path, path
    # one id alone says nothing: it stays itself
    assert learned(["/api/products/1YMWWN1N4O"]).apply("/api/products/1YMWWN1N4O") == "/api/products/1YMWWN1N4O"


def test_nested_positions_gather_under_their_templated_prefix() -> None:
    users = ["u7Kx9pQ2", "a1B2c3D4", "Zz9Yy8Xx", "mN3bV5cX"]
    orders = ["ORD4QX91", "ORD77KPA", "ORD0Z3ZZ", "ORD5TT2C"]
    paths = [f"/api/users/{u}/orders/{o}" for u, o in zip(users, orders, strict=True)]
    assert learned(paths).apply("/api/users/u7Kx9pQ2/orders/ORD4QX91") == "/api/users/{id}/orders/{id}"
    # each user's orders alone are one value per prefix: only their company under /api/users/{id} tells
    assert learned(paths[:1]).apply(paths[0]) == paths[0]


def test_a_route_declares_its_position_and_many_values_are_enough_without_a_shape() -> None:
    declared = learned(["/product/telescope"], routes=["/product/[productId]", "/api/users/:id/cart"])
    assert declared.apply("/product/telescope") == "/product/{id}"
    assert declared.apply("/api/users/ann/cart") == "/api/users/{id}/cart"
    names = ["ann", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "ken", "leo"]
    names += ["mallory", "nina", "oscar", "peggy"]
    many = learned([f"/users/{n}" for n in names])
    assert many.apply("/users/trent") == "/users/{id}" and many.apply("/users/trent.png") == "/users/trent.png"
    assert learned([f"/users/{n}" for n in names[:15]]).apply("/users/ann") == "/users/ann"


def test_the_first_segment_and_placeholders_are_never_judged() -> None:
    sections = [f"/{p}/home" for p in PRODUCTS]
    assert learned(sections).apply("/OLJCESPC7Z/home") == "/OLJCESPC7Z/home"
    assert list(observe_route("/*path")) == []


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_applying_templates_never_raises_and_is_idempotent(text: str) -> None:
    rules = {position_key(["", "api", "products"]): Rule("shape", "9A", 6, 12), position_key(["", "u"]): Rule("many")}
    templates = PathTemplates(rules)
    once = templates.retemplate(text)
    assert templates.retemplate(once) == once
    for path in paths_in(text):
        list(observe(path, templates))
    shape_of(text)


@given(st.lists(st.sampled_from([*PRODUCTS, "featured", "v2", "a.png", "{id}", ""]), max_size=12))
@settings(max_examples=200, deadline=None)
def test_wider_rules_applied_to_an_older_template_give_the_raw_paths_template(values: list[str]) -> None:
    """What lets the store re-template kept fingerprints instead of recomputing them."""
    paths = [f"/api/products/{v}/reviews" for v in values]
    narrow = learned(paths[: len(paths) // 2])
    wide = learned(paths)
    for path in paths:
        assert wide.apply(narrow.apply(path)) == wide.apply(path)


# ---- stored, across ingests, through the tools -----------------------------------------------------------------


class _Demo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def demo_port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Demo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def record_frontend(port: int, products: list[str], session: str = "demo-session") -> list[ReadableSpan]:
    """A frontend's server span calling the product API once per product (an N+1), then a few pages."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "frontend"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = HTTPXClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        tracer = provider.get_tracer("tests.urls")
        base = f"http://127.0.0.1:{port}"
        attributes = {"session.id": session, "http.request.method": "GET", "http.route": "/api/cart"}
        with (
            tracer.start_as_current_span("GET /api/cart", kind=SpanKind.SERVER, attributes=attributes),
            httpx.Client() as client,
        ):
            for product in products:
                client.get(f"{base}/api/products/{product}")
        with httpx.Client() as client:
            for picture in PICTURES[:4]:
                client.get(f"{base}/images/products/{picture}")
            client.get(f"{base}/checkout/payment")
    finally:
        instrumentor.uninstrument()
    provider.shutdown()
    return list(exporter.get_finished_spans())


def _write(tmp_path: Path, name: str, spans: list[ReadableSpan]) -> Path:
    path = tmp_path / name
    path.write_text(MessageToJson(encode_spans(spans)))
    return path


def _fingerprints(store: Store) -> Counter[str]:
    return Counter(r[0] for r in store.conn.execute("SELECT fingerprint FROM spans"))


async def test_demo_product_calls_share_one_operation_in_every_tool(demo_port: int, tmp_path: Path):
    export = _write(tmp_path, "frontend.json", record_frontend(demo_port, PRODUCTS))
    db = tmp_path / "demo.db"
    with Store(db) as store:
        assert ingest_file(store, export).status == "stored"
        fingerprints = _fingerprints(store)
        assert summaries.differences(store.conn) == {}
    host = f"127.0.0.1:{demo_port}"
    assert fingerprints[f"GET {host}/api/products/{{id}}"] == len(PRODUCTS)
    assert all(fingerprints[f"GET {host}/images/products/{p}"] == 1 for p in PICTURES[:4])
    assert fingerprints[f"GET {host}/checkout/payment"] == 1
    assert fingerprints["GET /api/cart"] == 1  # the route, kept
    operation = f"GET {host}/api/products/{{id}}"
    async with Client(create_server(db)) as client:
        slow = (await client.call_tool("find_slow_spans", {"limit": 100})).structured_content
        session = await client.call_tool("get_session", {"session_id": "demo-session"})
    [row] = [op for op in slow["operations"] if op["fingerprint"] == operation]
    assert row["count"] == len(PRODUCTS)
    # the loop over the products is one N+1, named by the same fingerprint find_slow_spans shows
    patterns = session.structured_content["patterns"]
    assert any(p["kind"] == "n_plus_one" and p["fingerprint"] == operation for p in patterns), patterns


async def test_templates_do_not_depend_on_which_file_brought_the_values(demo_port: int, tmp_path: Path):
    """Each file alone holds too few ids to judge; together they do, whatever order they arrive in."""
    files = [
        _write(tmp_path, f"part-{n}.json", record_frontend(demo_port, PRODUCTS[n * 2 : n * 2 + 2], f"s{n}"))
        for n in range(5)
    ]
    results = []
    for order in (files, list(reversed(files)), random.Random(7).sample(files, len(files))):
        with Store(tmp_path / f"order-{len(results)}.db") as store:
            for file in order:
                assert ingest_file(store, file).status == "stored"
            results.append(_fingerprints(store))
            assert summaries.differences(store.conn) == {}
    assert results[0] == results[1] == results[2]
    assert results[0][f"GET 127.0.0.1:{demo_port}/api/products/{{id}}"] == len(PRODUCTS)


async def test_a_chromium_har_of_the_demo_templates_its_product_requests(tmp_path: Path, demo_port: int):
    from playwright.async_api import async_playwright

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip(f"no Chromium at {chromium} (apt-get install chromium); playwright install is not used")
    har = tmp_path / "demo.har"
    base = f"http://127.0.0.1:{demo_port}"
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(chromium),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = await browser.new_context(record_har_path=str(har))
        page = await context.new_page()
        await page.goto(f"{base}/checkout/payment")
        for product in PRODUCTS[:6]:
            await page.evaluate("url => fetch(url).then(r => r.text())", f"{base}/api/products/{product}")
        await context.close()
        await browser.close()
    db = tmp_path / "har.db"
    with Store(db) as store:
        assert ingest_file(store, har).status == "stored"
        templates = Counter(r[0] for r in store.conn.execute("SELECT url_template FROM events WHERE kind = 'network'"))
    assert templates["/api/products/{id}"] == 6
    assert templates["/checkout/payment"] == 1


async def test_upgrading_to_schema_8_learns_from_what_is_stored(demo_port: int, tmp_path: Path, samples: Path):
    export = _write(tmp_path, "frontend.json", record_frontend(demo_port, PRODUCTS))
    spans_now = "SELECT id, fingerprint FROM spans ORDER BY id"
    events_now = "SELECT id, url_template FROM events ORDER BY id"
    patterns_now = "SELECT * FROM trace_patterns ORDER BY trace_id, span_id, kind"
    with Store(tmp_path / "fresh.db") as store:
        for path in [export, *sorted((samples / "har").glob("*.har"))]:
            assert ingest_file(store, path).status == "stored"
        expected = [store.conn.execute(q).fetchall() for q in (spans_now, events_now, patterns_now)]
        store.conn.execute("VACUUM INTO ?", (str(tmp_path / "old.db"),))
    assert any("{id}" in str(fp) for _, fp in expected[0])
    # the file as schema 7 wrote it: fingerprints (and the patterns named by them) templated one
    # segment at a time, no learned tables
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("BEGIN")
    rows = conn.execute("SELECT id, name, kind, attributes FROM spans").fetchall()
    conn.executemany(
        "UPDATE spans SET fingerprint = ? WHERE id = ?",
        ((attributes_fingerprint(name, kind, json.loads(attrs)), i) for i, name, kind, attrs in rows),
    )
    summaries.rebuild(conn)
    derive.backfill_patterns(conn)
    conn.execute("COMMIT")
    remove_schema_12(conn)
    remove_schema_11(conn)
    remove_schema_10(conn)
    remove_schema_9(conn)
    remove_schema_8(conn)
    conn.execute("PRAGMA user_version = 7")
    assert conn.execute(spans_now).fetchall() != expected[0]
    assert conn.execute(patterns_now).fetchall() != expected[2]
    conn.close()
    with Store(tmp_path / "old.db") as store:
        assert schema.current_version(store.conn) == schema.LATEST_VERSION
        assert store.conn.execute(spans_now).fetchall() == expected[0]
        assert store.conn.execute(events_now).fetchall() == expected[1]
        assert store.conn.execute(patterns_now).fetchall() == expected[2]
        assert summaries.differences(store.conn) == {}


def _sample_files(samples: Path) -> list[Path]:
    return sorted(p for p in samples.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl", ".har"))


def test_on_every_sample_templates_keep_files_and_do_not_depend_on_ingest_order(samples: Path, tmp_path: Path):
    from mcp_sessions import urls

    files = _sample_files(samples)
    assert len(files) >= 30
    seen = []
    for n, order in enumerate((files, list(reversed(files)))):
        with Store(tmp_path / f"samples-{n}.db") as store:
            for path in order:
                ingest_file(store, path)
            # Spans holding a path (two samples share span ids with different names: both records are kept,
            # in whichever order they came).
            seen.append(
                (
                    Counter(fp for fp, n in _fingerprints(store).items() for _ in range(n) if "/" in fp),
                    Counter(r[0] for r in store.conn.execute("SELECT url_template FROM events")),
                    store.conn.execute("SELECT * FROM url_rules ORDER BY 1").fetchall(),
                )
            )
            pairs = store.conn.execute("SELECT url, url_template FROM events WHERE url IS NOT NULL").fetchall()
    assert seen[0] == seen[1]
    assert pairs
    for url, template in pairs:
        parts = urls.split(url)
        if parts.opaque:
            continue
        raw, templated = (parts.path or "/").split("/"), template.split("/")
        assert len(raw) == len(templated), (url, template)
        for segment, result in zip(raw, templated, strict=True):
            # a placeholder never stands for a file name: /img/socialmedia/facebook-round.svg stays itself
            assert result == segment or "." not in segment, (url, template)
