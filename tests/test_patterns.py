"""Patterns: unit cases built from model records, then the demo shop's recordings and their answers."""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from mcp_sessions.analysis.patterns import (
    DUPLICATE_WINDOW_NS,
    LARGE_RESPONSE_BYTES,
    MAX_IDS,
    N_PLUS_ONE_MIN_REPEATS,
    Pattern,
    count_records,
    detect_patterns,
    merge_requests,
    requested_limit,
)
from mcp_sessions.analysis.tree import TraceTree, build_tree
from mcp_sessions.formats.detect import read_path
from mcp_sessions.ingest import ingest_paths
from mcp_sessions.model import Event, Span
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite import queries

MS = 1_000_000
T0 = 1_700_000_000_000 * MS
TRACE = "7" * 32
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXPECTED = {p.stem: json.loads(p.read_text()) for p in sorted((FIXTURES / "expected").glob("*.json"))}


def span(
    span_id: str,
    parent: str | None,
    start_ms: float,
    end_ms: float,
    name: str = "work",
    kind: str = "internal",
    trace_id: str = TRACE,
    service: str = "shop",
    **attributes: Any,
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id.rjust(16, "0"),
        parent_span_id=parent.rjust(16, "0") if parent else None,
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_ns=T0 + round(start_ms * MS),
        end_ns=T0 + round(end_ms * MS),
        attributes=attributes,
        resource={"service.name": service},
    )


def query(span_id: str, parent: str, start_ms: float, end_ms: float, sql: str, **attributes: Any) -> Span:
    attrs = {"db.system": "postgresql", "db.statement": sql, **attributes}
    return span(span_id, parent, start_ms, end_ms, name="SELECT", kind="client", **attrs)


def get(span_id: str, parent: str, start_ms: float, end_ms: float, url: str, method: str = "GET") -> Span:
    attrs = {"http.request.method": method, "url.full": url}
    return span(span_id, parent, start_ms, end_ms, name=method, kind="client", **attrs)


def server(span_id: str = "1", end_ms: float = 1000, **attributes: Any) -> Span:
    attrs = {"http.method": "POST", "http.route": "/api/checkout", **attributes}
    return span(span_id, None, 0, end_ms, name="POST /api/checkout", kind="server", **attrs)


def fetch(seq: int, at_ms: float, took_ms: float, url: str, method: str = "GET", **detail: Any) -> Event:
    return Event(
        source="rrweb",
        seq=seq,
        time_ns=T0 + round(at_ms * MS),
        kind="network",
        summary=f"{method} {url}",
        url=url,
        method=method,
        status=200,
        duration_ns=round(took_ms * MS),
        detail={"initiator": "fetch", **detail},
    )


def action(seq: int, at_ms: float, kind: str = "click") -> Event:
    return Event(source="rrweb", seq=seq, time_ns=T0 + round(at_ms * MS), kind=kind, summary=kind)  # type: ignore[arg-type]


def patterns(spans: Sequence[Span] = (), events: Sequence[Event] = (), kind: str | None = None) -> list[Pattern]:
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for s in spans:
        by_trace[s.trace_id].append(s)
    found = detect_patterns([build_tree(v) for v in by_trace.values()], events)
    return [p for p in found if kind is None or p.kind == kind]


N1_SQL = "SELECT id, name FROM products WHERE id = ?"


def n_plus_one_spans(repeats: int = 6, parent: str = "1", gap_ms: float = 2, took_ms: float = 5) -> list[Span]:
    out = []
    for i in range(repeats):
        start = 10 + i * (took_ms + gap_ms)
        out.append(query(f"{parent}{i + 10:03d}", parent, start, start + took_ms, N1_SQL))
    return out


# --- N+1 -------------------------------------------------------------------------------


def test_n_plus_one_reports_count_time_parent_statement_and_code_location() -> None:
    repeats = [
        query(
            f"{i + 10}",
            "1",
            10 + i * 10,
            18 + i * 10,
            N1_SQL,
            **{
                "code.function": "load",
                "code.namespace": "shop.cart",
                "code.filepath": "shop/cart.py",
                "code.lineno": 42,
            },
        )
        for i in range(6)
    ]
    found = patterns([server(), *repeats])
    assert len(found) == 1
    p = found[0]
    assert (p.kind, p.fingerprint, p.count, p.service) == ("n_plus_one", N1_SQL, 6, "shop")
    assert p.total_ns == 6 * 8 * MS and p.wall_ns == (68 - 10) * MS and p.impact_ns == 5 * 8 * MS
    assert p.start_ns == T0 + 10 * MS
    assert (p.trace_id, p.parent_span_id, p.parent_name) == (TRACE, "1".rjust(16, "0"), "POST /api/checkout")
    assert p.span_ids == tuple(s.span_id for s in repeats)
    assert p.example == N1_SQL
    assert (p.code_function, p.code_filepath, p.code_lineno) == ("shop.cart.load", "shop/cart.py", 42)


def test_n_plus_one_reads_current_code_attribute_names_and_literal_statements() -> None:
    repeats = [
        query(
            f"{i + 10}",
            "1",
            i * 10,
            i * 10 + 5,
            f"SELECT * FROM t WHERE id = {i}",
            **{"code.function.name": "m.f", "code.file.path": "m.py", "code.line.number": "7"},
        )
        for i in range(5)
    ]
    (p,) = patterns([server(), *repeats])
    assert p.fingerprint == "SELECT * FROM t WHERE id = ?" and p.example == "SELECT * FROM t WHERE id = 0"
    assert (p.code_function, p.code_filepath, p.code_lineno) == ("m.f", "m.py", 7)
    assert p.facts["distinct_statements"] == 5


def test_detection_leaves_its_input_unchanged() -> None:
    spans = [server(), *n_plus_one_spans(8)]
    events = [fetch(1, 0, 10, "http://h/api/a"), fetch(2, 1, 10, "http://h/api/a")]
    trees = [build_tree(spans)]
    before = (copy.deepcopy(spans), copy.deepcopy(events), copy.deepcopy(trees))
    found = detect_patterns(trees, events)
    assert {p.kind for p in found} == {"n_plus_one", "duplicate_calls"}
    assert (spans, events, trees) == before


def test_overlapping_parallel_repeats_are_not_an_n_plus_one() -> None:
    parallel = [query(f"{i + 10}", "1", 10 + i, 60 + i, N1_SQL) for i in range(10)]  # a pool, all at once
    assert patterns([server(), *parallel]) == []


def test_few_repeats_are_ordinary_code() -> None:
    assert N_PLUS_ONE_MIN_REPEATS == 5
    inserts = [
        query("10", "1", 10, 12, "INSERT INTO t (a) VALUES (?)"),
        query("11", "1", 13, 15, "INSERT INTO t (a) VALUES (?)"),
    ]
    assert patterns([server(), *inserts]) == []
    assert patterns([server(), *n_plus_one_spans(N_PLUS_ONE_MIN_REPEATS - 1)]) == []
    assert len(patterns([server(), *n_plus_one_spans(N_PLUS_ONE_MIN_REPEATS)])) == 1


def test_repeats_under_different_parents_are_not_merged() -> None:
    parents = [span("2", "1", 0, 400, "load a"), span("3", "1", 500, 900, "load b")]
    split = n_plus_one_spans(3, parent="2") + n_plus_one_spans(3, parent="3")
    assert patterns([server(), *parents, *split]) == []
    both = n_plus_one_spans(5, parent="2") + n_plus_one_spans(5, parent="3")
    found = patterns([server(), *parents, *both])
    assert sorted(p.parent_name for p in found) == ["load a", "load b"]
    assert all(p.count == 5 for p in found)


def test_repeated_internal_spans_are_not_round_trips() -> None:
    renders = [span(f"{i + 10}", "1", i * 10, i * 10 + 5, "render item") for i in range(10)]
    assert patterns([server(), *renders]) == []


def test_outbound_http_calls_in_a_loop_are_an_n_plus_one_with_a_templated_fingerprint() -> None:
    calls = [get(f"{i + 10}", "1", i * 10, i * 10 + 8, f"http://stock:9000/items/{i}?fields=qty") for i in range(7)]
    (p,) = patterns([server(), *calls])
    assert (p.kind, p.fingerprint, p.count) == ("n_plus_one", "GET stock:9000/items/{id}", 7)
    assert p.example == "GET http://stock:9000/items/0?fields=qty"


def test_many_repeats_keep_a_bounded_sample_and_are_not_reported_twice() -> None:
    spans = [server(end_ms=2000), *n_plus_one_spans(50, took_ms=20, gap_ms=1)]
    (p,) = patterns(spans)
    assert p.count == 50 and len(p.span_ids) == MAX_IDS
    assert p.impact_ns == 49 * 20 * MS


# --- duplicate calls inside a trace -----------------------------------------------------


def test_identical_literal_reads_in_a_trace_are_duplicates() -> None:
    sql = "SELECT plan FROM accounts WHERE id = 42"
    spans = [server(), query("10", "1", 10, 30, sql), query("11", "1", 40, 55, sql)]
    (p,) = patterns(spans)
    assert (p.kind, p.count, p.fingerprint, p.example) == (
        "duplicate_calls",
        2,
        "SELECT plan FROM accounts WHERE id = ?",
        sql,
    )
    assert p.impact_ns == 15 * MS and p.parent_name == "POST /api/checkout"


def test_duplicates_need_the_same_values_and_no_write_between_and_the_window() -> None:
    bound = "SELECT plan FROM accounts WHERE id = $1"  # equal text, unknown values
    assert patterns([server(), query("10", "1", 10, 30, bound), query("11", "1", 40, 55, bound)]) == []
    sql = "SELECT plan FROM accounts WHERE id = 42"
    write = query("12", "1", 32, 35, "UPDATE accounts SET plan = 'pro' WHERE id = 42")
    assert patterns([server(), query("10", "1", 10, 30, sql), write, query("11", "1", 40, 55, sql)]) == []
    late = DUPLICATE_WINDOW_NS / MS + 50
    root = server(end_ms=late + 100)
    assert patterns([root, query("10", "1", 10, 30, sql), query("11", "1", late, late + 5, sql)]) == []


def test_identical_client_gets_are_duplicates_posts_are_not() -> None:
    url = "http://pay:8001/limits?user=7"
    (p,) = patterns([server(), get("10", "1", 10, 20, url), get("11", "1", 30, 40, url)])
    assert (p.kind, p.fingerprint, p.count) == ("duplicate_calls", "GET pay:8001/limits", 2)
    posts = [get("10", "1", 10, 20, url, "POST"), get("11", "1", 30, 40, url, "POST")]
    assert patterns([server(), *posts]) == []


def test_one_call_recorded_by_two_nested_instrumentations_is_not_a_duplicate() -> None:
    url = "http://pay:8001/limits?user=7"
    outer, inner = get("10", "1", 10, 30, url), get("11", "10", 11, 29, url)  # requests over urllib3
    assert patterns([server(), outer, inner]) == []


# --- sequential calls ------------------------------------------------------------------


def test_back_to_back_reads_to_different_targets_could_overlap() -> None:
    calls = [
        get("10", "1", 10, 50, "http://users/u/1"),
        get("11", "1", 52, 112, "http://stock/s/1"),
        get("12", "1", 115, 145, "http://prices/p/1"),
    ]
    (p,) = patterns([server(), *calls])
    assert (p.kind, p.count) == ("sequential_calls", 3)
    assert p.impact_ns == (40 + 60 + 30 - 60) * MS and p.total_ns == 130 * MS
    assert p.facts["steps"] == ("GET users/u/{id}", "GET stock/s/{id}", "GET prices/p/{id}")


def test_sequential_calls_need_three_reads_a_real_saving_and_no_overlap_or_write() -> None:
    two = [get("10", "1", 10, 50, "http://users/u/1"), get("11", "1", 52, 112, "http://stock/s/1")]
    assert patterns([server(), *two]) == []
    small = [get(f"{10 + i}", "1", i * 10, i * 10 + 8, f"http://svc{i}/x") for i in range(4)]  # saves 24 ms
    assert patterns([server(), *small]) == []
    overlapping = [get(f"{10 + i}", "1", i * 30, i * 30 + 50, f"http://svc{i}/x") for i in range(4)]
    assert patterns([server(), *overlapping]) == []
    calls = [
        get("10", "1", 10, 50, "http://users/u/1"),
        get("11", "1", 52, 112, "http://stock/s/1", "POST"),  # a write: what follows may depend on it
        get("12", "1", 115, 145, "http://prices/p/1"),
        get("13", "1", 150, 190, "http://tax/t/1"),
    ]
    assert patterns([server(), *calls]) == []


# --- duplicate and chained browser requests ---------------------------------------------


def test_the_same_fetch_three_times_on_one_page_is_a_duplicate() -> None:
    url = "http://shop/api/products/7/reviews"
    events = [action(0, 0, "navigation"), fetch(1, 100, 150, url), fetch(2, 101, 160, url), fetch(3, 103, 140, url)]
    (p,) = patterns(events=events)
    assert (p.kind, p.count, p.fingerprint, p.example) == (
        "duplicate_calls",
        3,
        "GET /api/products/{id}/reviews",
        f"GET {url}",
    )
    assert p.event_seqs == (1, 2, 3) and p.impact_ns == 300 * MS and p.total_ns == 450 * MS
    assert p.facts["url"] == url and p.trace_id is None


def test_duplicates_are_named_by_their_traces_route_and_service() -> None:
    url = "http://shop/api/products/7/reviews"
    traces = [f"{i}" * 32 for i in (1, 2)]
    roots = [
        span(
            "a1",
            None,
            100,
            200,
            "GET /api/products/{product_id}/reviews",
            "server",
            trace_id=traces[0],
            **{"http.method": "GET", "http.route": "/api/products/{product_id}/reviews"},
        ),
        span(
            "a2",
            None,
            101,
            201,
            "GET /api/products/{product_id}/reviews",
            "server",
            trace_id=traces[1],
            **{"http.method": "GET", "http.route": "/api/products/{product_id}/reviews"},
        ),
    ]
    events = [
        Event(
            "rrweb",
            i + 1,
            T0 + (100 + i) * MS,
            "network",
            "GET",
            url=url,
            method="GET",
            duration_ns=100 * MS,
            trace_id=t,
            span_id="c" * 16,
            detail={"initiator": "fetch"},
        )
        for i, t in enumerate(traces)
    ]
    (p,) = patterns(roots, events)
    assert p.fingerprint == "GET /api/products/{product_id}/reviews" and p.service == "shop"
    assert p.trace_ids == tuple(traces) and p.span_ids == ("a1".rjust(16, "0"), "a2".rjust(16, "0"))


def test_a_user_action_navigation_or_write_between_makes_a_fresh_request() -> None:
    url = "http://shop/api/cart"
    assert patterns(events=[fetch(1, 0, 20, url), action(2, 100), fetch(3, 200, 20, url)]) == []
    assert patterns(events=[fetch(1, 0, 20, url), action(2, 100, "navigation"), fetch(3, 200, 20, url)]) == []
    write = fetch(2, 100, 20, "http://shop/api/cart/items", "POST", request_body='{"id": 3}')
    assert patterns(events=[fetch(1, 0, 20, url), write, fetch(3, 200, 20, url)]) == []
    late = DUPLICATE_WINDOW_NS / MS + 1
    assert patterns(events=[fetch(1, 0, 20, url), fetch(3, late, 20, url)]) == []
    assert patterns(events=[fetch(1, 0, 20, url), fetch(3, 10, 20, url + "?page=2")]) == []


def test_a_write_sent_twice_with_the_same_body_is_a_double_submit() -> None:
    url = "http://shop/api/orders"
    same = [
        fetch(1, 0, 30, url, "POST", request_body='{"cart": 1}'),
        fetch(2, 5, 30, url, "POST", request_body='{"cart": 1}'),
    ]
    (p,) = patterns(events=same)
    assert (p.kind, p.count, p.fingerprint) == ("duplicate_calls", 2, "POST /api/orders")
    different = [
        fetch(1, 0, 30, url, "POST", request_body='{"cart": 1}'),
        fetch(2, 5, 30, url, "POST", request_body='{"cart": 2}'),
    ]
    assert patterns(events=different) == []
    unknown = [fetch(1, 0, 30, url, "POST"), fetch(2, 5, 30, url, "POST")]  # bodies not recorded
    assert patterns(events=unknown) == []


def test_the_har_and_rrweb_copies_of_one_request_are_one_request() -> None:
    url = "http://shop/api/products?limit=10"
    rrweb = fetch(1, 100, 30, url)
    har = Event(
        "har",
        5,
        T0 + 60 * MS,
        "network",
        "GET",
        url=url,
        method="GET",
        duration_ns=31 * MS,
        detail={"response_body_size": 900},
    )
    traced = [
        Event(
            "rrweb",
            2,
            T0 + 300 * MS,
            "network",
            "GET",
            url=url,
            method="GET",
            duration_ns=5 * MS,
            trace_id="e" * 32,
            span_id="1" * 16,
        ),
        Event(
            "har",
            9,
            T0 + 290 * MS,
            "network",
            "GET",
            url=url,
            method="GET",
            duration_ns=5 * MS,
            trace_id="e" * 32,
            span_id="1" * 16,
        ),
    ]
    requests = merge_requests([har, rrweb, *traced])
    assert [(r.ref.source, r.ref.seq) for r in requests] == [("rrweb", 1), ("rrweb", 2)]
    assert requests[0].detail["response_body_size"] == 900 and requests[0].detail["initiator"] == "fetch"
    # two requests of one recorder are two requests, however alike
    assert len(merge_requests([rrweb, fetch(7, 101, 30, url)])) == 2


def test_page_asset_reloads_on_each_page_are_not_duplicates() -> None:
    def har(seq: int, at_ms: float, url: str, dest: str) -> Event:
        headers = {"sec-fetch-dest": dest}
        return Event(
            "har",
            seq,
            T0 + at_ms * MS,
            "network",
            "GET",
            url=url,
            method="GET",
            duration_ns=MS,
            detail={"request_headers": headers},
        )

    events = [
        har(1, 0, "http://shop/cart", "document"),
        har(2, 40, "http://shop/config.js", "script"),
        har(3, 300, "http://shop/checkout", "document"),
        har(4, 340, "http://shop/config.js", "script"),
    ]
    assert patterns(events=events) == []


def test_chained_fetches_are_a_waterfall_that_could_run_at_once() -> None:
    chain = [
        fetch(1, 0, 100, "http://h/api/a"),
        fetch(2, 105, 120, "http://h/api/b"),
        fetch(3, 230, 80, "http://h/api/c"),
    ]
    (p,) = patterns(events=chain)
    assert (p.kind, p.count, p.event_seqs) == ("sequential_calls", 3, (1, 2, 3))
    assert p.impact_ns == (100 + 80) * MS and p.facts["steps"] == ("GET /api/a", "GET /api/b", "GET /api/c")
    paused = [
        fetch(1, 0, 100, "http://h/api/a"),
        fetch(2, 300, 120, "http://h/api/b"),
        fetch(3, 425, 80, "http://h/api/c"),
    ]
    assert patterns(events=paused) == []
    clicked = [*chain[:2], action(9, 226), chain[2]]
    assert patterns(events=clicked) == []


def test_without_browser_requests_the_traces_server_spans_stand_in() -> None:
    def root(trace: str, start_ms: float, method: str = "GET", url: str = "http://shop/api/cart?x=1") -> Span:
        attrs = {"http.method": method, "http.url": url, "http.route": "/api/cart"}
        return span("1", None, start_ms, start_ms + 40, f"{method} /api/cart", "server", trace_id=trace * 32, **attrs)

    (p,) = patterns([root("a", 0), root("b", 10), root("c", 20)])
    assert (p.kind, p.count, p.fingerprint, p.trace_id) == ("duplicate_calls", 3, "GET /api/cart", None)
    assert p.trace_ids == ("a" * 32, "b" * 32, "c" * 32) and p.facts["source"] == "server spans"
    assert patterns([root("a", 0), root("b", 10, "POST"), root("c", 20)]) == []
    assets = [root("a", 0, url="http://shop/static/app.js"), root("b", 10, url="http://shop/static/app.js")]
    assert patterns(assets) == []
    # with browser requests recorded, those are compared instead
    assert patterns([root("a", 0), root("b", 10)], [fetch(1, 0, 40, "http://shop/other")]) == []


# --- over-fetching ----------------------------------------------------------------------


def test_records_counted_whole_or_estimated_from_a_cut_body() -> None:
    assert count_records('[{"a": 1}, {"a": 2}]', 20) == (2, False)
    assert count_records('{"total": 3, "items": [1, 2, 3]}', None) == (3, False)
    assert count_records('{"name": "x"}', None) is None
    assert count_records("not json", 10) is None
    records = [{"id": i, "name": f"product {i:03d}"} for i in range(200)]
    full = json.dumps({"count": 200, "products": records}, separators=(",", ":"))
    cut = full[: full.index('"id":60,') + 6]  # records 0..59 whole, the 61st cut short
    estimate, estimated = count_records(cut, len(full))  # type: ignore[misc]
    assert estimated and abs(estimate - 200) <= 5
    assert count_records(cut, None) == (60, True)  # without the full size: the whole records only


def test_requested_limit() -> None:
    assert requested_limit("http://h/api/products?limit=10") == 10
    assert requested_limit("http://h/api/products?page=2&per_page=25") == 25
    assert requested_limit("http://h/img?size=large") is None
    assert requested_limit("http://h/api/products") is None


def test_more_records_than_the_limit_asked_for_is_over_fetching() -> None:
    body = json.dumps({"products": [{"id": i} for i in range(50)]})
    url = "http://shop/api/products?limit=10"
    (p,) = patterns(events=[fetch(1, 0, 100, url, response_body=body, response_body_size=len(body))])
    assert (p.kind, p.count, p.fingerprint, p.example) == ("over_fetching", 1, "GET /api/products", f"GET {url}")
    assert p.facts["records"] == 50 and not p.facts["records_estimated"] and p.facts["limit"] == 10
    assert p.facts["response_bytes"] == len(body) and p.facts["rule"] == "limit"
    assert p.impact_ns == 80 * MS  # the 40 records of 50 nobody asked for
    fitting = json.dumps({"products": [{"id": i} for i in range(10)]})
    assert patterns(events=[fetch(1, 0, 100, url, response_body=fitting)]) == []


def test_a_very_large_api_response_is_over_fetching_a_large_asset_is_not() -> None:
    big = LARGE_RESPONSE_BYTES * 3
    timings = {"wait": 10.0, "receive": 250.0}
    (p,) = patterns(events=[fetch(1, 0, 300, "http://h/api/export", response_body_size=big, timings=timings)])
    assert (p.kind, p.facts["rule"], p.facts["response_bytes"], p.impact_ns) == ("over_fetching", "size", big, 250 * MS)
    assert patterns(events=[fetch(1, 0, 300, "http://h/static/app.js", response_body_size=big)]) == []
    assert patterns(events=[fetch(1, 0, 300, "http://h/api/export", response_body_size=big // 10)]) == []


def test_a_large_response_on_a_span_is_over_fetching() -> None:
    attrs = {"http.method": "GET", "http.route": "/api/report", "http.response.body.size": LARGE_RESPONSE_BYTES * 2}
    (p,) = patterns([span("1", None, 0, 90, "GET /api/report", "server", **attrs)])
    assert (p.kind, p.fingerprint, p.span_ids) == ("over_fetching", "GET /api/report", ("1".rjust(16, "0"),))


# --- the whole ----------------------------------------------------------------------------


def test_findings_are_ranked_by_impact_and_stable_whatever_the_input_order() -> None:
    spans = [server(end_ms=3000), *n_plus_one_spans(6, took_ms=50)]
    sql = "SELECT plan FROM accounts WHERE id = 42"
    spans += [query("20", "1", 500, 510, sql), query("21", "1", 520, 530, sql)]
    events = [fetch(1, 0, 100, "http://h/api/a"), fetch(2, 1, 100, "http://h/api/a")]
    found = patterns(spans, events)
    assert [p.kind for p in found] == ["n_plus_one", "duplicate_calls", "duplicate_calls"]
    assert [p.impact_ns for p in found] == sorted((p.impact_ns for p in found), reverse=True)
    assert patterns(list(reversed(spans)), list(reversed(events))) == found


# --- the demo shop's recordings --------------------------------------------------------------

needs_fixtures = pytest.mark.skipif(not EXPECTED, reason="no fixtures/expected/*.json")


def read(relative: str) -> list[Any]:
    with read_path(FIXTURES / relative) as parsed:
        return list(parsed.records)


def scenario(name: str) -> Iterator[tuple[list[TraceTree], list[Event]]]:
    """Each session of a scenario as parsed from its recordings: every trace, every copy of every event."""
    for session in EXPECTED[name]["sessions"]:
        recordings = session["recordings"]
        by_trace: dict[str, list[Span]] = defaultdict(list)
        for record in read(recordings["otlp"]):
            if isinstance(record, Span):
                by_trace[record.trace_id].append(record)
        events = [
            r for kind in ("rrweb", "har") if kind in recordings for r in read(recordings[kind]) if isinstance(r, Event)
        ]
        yield [build_tree(spans) for spans in by_trace.values()], events


def found_in(name: str) -> list[Pattern]:
    return [p for trees, events in scenario(name) for p in detect_patterns(trees, events)]


@needs_fixtures
def test_the_planted_n_plus_one_is_found_with_its_count_and_statement() -> None:
    expected = EXPECTED["n-plus-one"]["n_plus_one"]
    repeats = {p.fingerprint: p for p in found_in("n-plus-one") if p.kind == "n_plus_one"}
    assert set(repeats) == {expected["fingerprint"], expected["per_item_companion"]}
    p = repeats[expected["fingerprint"]]
    assert (p.count, p.trace_id, p.example, p.parent_name) == (
        expected["count"],
        expected["trace_id"],
        expected["statement"],
        "POST /api/checkout",
    )
    assert repeats[expected["per_item_companion"]].count == expected["count"]


@needs_fixtures
def test_the_redundant_review_fetches_are_flagged_with_their_count() -> None:
    expected = EXPECTED["redundant-calls"]["redundant"]
    (p,) = found_in("redundant-calls")
    assert (p.kind, p.count, p.fingerprint) == ("duplicate_calls", expected["count"], f"GET {expected['http_route']}")
    assert set(p.trace_ids) == set(expected["trace_ids"]) and p.example.endswith(expected["url_path"])  # type: ignore[union-attr]
    assert all(e.source == "rrweb" for e in p.events)  # the HAR copies merged, not counted again


@needs_fixtures
def test_the_whole_catalogue_behind_limit_10_is_over_fetching() -> None:
    expected = EXPECTED["over-fetching"]["over_fetching"]
    (p,) = found_in("over-fetching")
    assert (p.kind, p.trace_id, p.fingerprint) == (
        "over_fetching",
        expected["trace_id"],
        f"GET {expected['http_route']}",
    )
    assert p.example.endswith(expected["url_path"])  # type: ignore[union-attr]
    assert p.facts["response_bytes"] == expected["response_bytes"] and p.facts["limit"] == expected["records_shown"]
    # the HAR keeps 2,000 characters of the body: the 241 records are estimated from those it holds
    assert (
        p.facts["records_estimated"]
        and abs(p.facts["records"] - expected["records_returned"]) <= 0.05 * expected["records_returned"]
    )


@needs_fixtures
def test_the_regressed_builds_full_flow_shows_all_three_regressions() -> None:
    kinds = defaultdict(int)
    for p in found_in("n-plus-one"):
        kinds[p.kind] += 1
    # two N+1 in checkout; the reviews fetched three times on each of the ten product pages; the home page's catalogue
    assert dict(kinds) == {"n_plus_one": 2, "duplicate_calls": 10, "over_fetching": 1}


@needs_fixtures
@pytest.mark.parametrize("name", [n for n, e in EXPECTED.items() if e.get("build") == "good"])
def test_the_good_build_shows_no_pattern(name: str) -> None:
    # every trace of the recording (page loads included) and both browser recorders' copies of every request
    assert found_in(name) == []


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(tmp_path_factory.mktemp("patterns") / "shop.db")
    results = list(ingest_paths(store, [str(FIXTURES / "recordings"), str(FIXTURES / "recordings-browser")]))
    assert results and all(r.status == "stored" for r in results), [(r.source, r.error) for r in results]
    yield store
    store.close()


@needs_fixtures
def test_from_the_database_the_n_plus_one_and_duplicates_are_found(shop_db: Store) -> None:
    def session_patterns(name: str) -> list[Pattern]:
        session_id = EXPECTED[name]["sessions"][0]["session_id"]
        trees = [build_tree(spans) for spans in queries.session_traces(shop_db.conn, session_id).values()]
        return detect_patterns(trees, queries.session_events(shop_db.conn, session_id))

    n_plus_one = EXPECTED["n-plus-one"]["n_plus_one"]
    assert any(
        p.kind == "n_plus_one" and p.fingerprint == n_plus_one["fingerprint"] and p.count == n_plus_one["count"]
        for p in session_patterns("n-plus-one")
    )
    (redundant,) = session_patterns("redundant-calls")
    assert redundant.count == 3 and set(redundant.trace_ids) == set(
        EXPECTED["redundant-calls"]["redundant"]["trace_ids"]
    )
    assert session_patterns("baseline") == []


def test_the_sdk_generated_sessions_slow_checkout_has_its_n_plus_one(shop_db: Store) -> None:
    def found(session_id: str) -> list[Pattern]:
        trees = [build_tree(spans) for spans in queries.session_traces(shop_db.conn, session_id).values()]
        return detect_patterns(trees, queries.session_events(shop_db.conn, session_id))

    (p,) = found("s-slow-91c2")  # fixtures/generate_sdk_traces.py: one product query per cart item
    assert (p.kind, p.count, p.fingerprint, p.parent_name) == (
        "n_plus_one",
        6,
        "SELECT * FROM products WHERE id = ?",
        "POST /checkout",
    )
    assert found("s-fast-7f3a") == []  # the same checkout with one IN query


def test_three_clicks_each_loading_the_list_once_are_not_duplicates() -> None:
    """Duplicates only within what one user action caused: the browser's requests, and the server's alone."""
    url = "http://shop/api/items?page=1"
    clicks = [action(0, 0, "navigation"), action(1, 100), action(3, 400), action(5, 700)]
    loads = [fetch(2, 105, 20, url), fetch(4, 405, 20, url), fetch(6, 705, 20, url)]
    assert patterns(events=clicks + loads, kind="duplicate_calls") == []
    assert [p.count for p in patterns(events=[*clicks[:2], *loads], kind="duplicate_calls")] == [3]
    # no browser requests recorded, only the clicks: the server's roots are split by them the same way
    roots = [
        span(f"r{i}", None, at, at + 20, "GET /api/items", "server", trace_id=f"{i + 1}" * 32,
             **{"http.method": "GET", "http.url": url})
        for i, at in enumerate((106, 406, 706))
    ]  # fmt: skip
    assert patterns(spans=roots, events=clicks, kind="duplicate_calls") == []
    assert [p.count for p in patterns(spans=roots, events=clicks[:2], kind="duplicate_calls")] == [3]
