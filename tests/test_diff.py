"""diff_against_baseline: the pure layer on small built cases, then the tool through a real client
on the fixture recordings (shop sessions with their expected answers) and the public samples."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from mcp import Client

from mcp_sessions.analysis.diff import (
    LOW_TRUST,
    SessionRecording,
    comparable_sides,
    diff_sides,
    median_side,
    session_side,
    trace_side,
)
from mcp_sessions.analysis.diff.align import align, loose_key
from mcp_sessions.analysis.diff.noise import MIN_DELTA_NS, confirmed, large_enough, mann_whitney_p
from mcp_sessions.config import CHARS_PER_TOKEN, MAX_BUDGET_TOKENS
from mcp_sessions.formats.coerce import MAX_TIME_NS
from mcp_sessions.ingest import ingest_paths
from mcp_sessions.model import Event, Span
from mcp_sessions.render.diff import render_diff
from mcp_sessions.render.markdown import Budget
from mcp_sessions.server import create_server
from mcp_sessions.store import Store

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
EXPECTED = {p.stem: json.loads(p.read_text()) for p in (FIXTURES / "expected").glob("*.json")}
MS = 1_000_000
N_PLUS_ONE_SQL = "SELECT id, name, price_cents FROM products WHERE id = ?"
REVIEWS_SQL = "SELECT COUNT(*), AVG(rating) FROM reviews WHERE product_id = ?"
LARGEST_SAMPLE_TRACE = "e4e2c10bce6f7e12ab14362e112995a6"  # 465 spans, highlight-traces.json
SECOND_SAMPLE_TRACE = "fac38f0e83dff2d0b09cab93acb2753f"  # 145 spans, the next largest


pytestmark = pytest.mark.skipif(not EXPECTED, reason="no fixtures/expected/*.json (run fixtures/regenerate.sh)")


def session_of(scenario: str) -> str:
    return EXPECTED[scenario]["sessions"][0]["session_id"] if scenario in EXPECTED else ""


def text(result) -> str:
    return "\n".join(c.text for c in result.content)


# ---------------------------------------------------------------- built cases (pure layer)


def span(span_id: str, parent: str | None, start_ms: float, end_ms: float, name: str, **attrs) -> Span:
    return Span(
        trace_id=attrs.pop("trace", "a" * 32),
        span_id=span_id.rjust(16, "0"),
        parent_span_id=parent.rjust(16, "0") if parent else None,
        name=name,
        kind="client" if "db.statement" in attrs else "server",
        start_ns=int(start_ms * MS),
        end_ns=int(end_ms * MS),
        status_code="error" if attrs.pop("error", False) else "unset",
        attributes=attrs,
        resource={"service.name": "shop"},
    )


def checkout(trace: str, items: int, *, batched: bool) -> list[Span]:
    """POST /checkout: one batched product query, or per item a product query and a reviews scan."""
    route = {"http.request.method": "POST", "http.route": "/checkout"}
    spans = [span("1", None, 0, 10 + items * 12, "POST /checkout", trace=trace, **route)]
    if batched:
        spans.append(
            span("2", "1", 1, 2, "SELECT", trace=trace, **{"db.statement": "SELECT * FROM p WHERE id IN (1, 2, 3)"})
        )
        return spans
    for i in range(items):
        t = 1 + i * 12
        spans.append(
            span(f"a{i}", "1", t, t + 1, "SELECT", trace=trace, **{"db.statement": f"SELECT * FROM p WHERE id = {i}"})
        )
        spans.append(
            span(
                f"b{i}",
                "1",
                t + 1,
                t + 11,
                "SELECT",
                trace=trace,
                **{"db.statement": f"SELECT avg(r) FROM r WHERE p = {i}"},
            )
        )
    return spans


def test_an_n_plus_one_is_one_changed_node_and_the_top_finding():
    good = checkout("a" * 32, 10, batched=True)
    bad = checkout("b" * 32, 10, batched=False)
    kept_good, kept_bad = copy.deepcopy(good), copy.deepcopy(bad)
    base_side, target_side = trace_side("a" * 32, good), trace_side("b" * 32, bad)
    kept_sides = copy.deepcopy((base_side, target_side))
    result = diff_sides(base_side, target_side)
    assert (good, bad) == (kept_good, kept_bad)  # inputs unchanged
    assert (base_side, target_side) == kept_sides

    top = result.findings[0]
    assert top.label == "SELECT * FROM p WHERE id = ?"
    assert top.baseline_label == "SELECT * FROM p WHERE id IN (?)"  # the batch it replaced
    assert (top.count_before, top.count_after) == (1, 10)
    assert [c.label for c in top.companions] == ["SELECT avg(r) FROM r WHERE p = ?"]
    # The loop's time: 10 × (1 ms + 10 ms), less the 1 ms batch it replaced.
    assert top.delta_ns == 109 * MS
    assert len(result.findings) == 1  # one loop, one finding: not 19 new nodes


def test_per_parent_counts_a_repeated_request_is_one_finding_not_one_per_statement():
    """Three calls of a request where there was one: its statements tripled with it and did not change."""

    def recording(session: str, calls: int) -> SessionRecording:
        events, traces = [Event("rrweb", 0, 0, "navigation", "navigate to /p/1", url="http://x/p/1")], {}
        for i in range(calls):
            trace = f"{session}{i}".ljust(32, "0")
            events.append(
                Event(
                    "rrweb",
                    i + 1,
                    MS,
                    "network",
                    "GET",
                    url="http://x/api/r/1",
                    method="GET",
                    status=200,
                    duration_ns=20 * MS,
                    trace_id=trace,
                )
            )
            traces[trace] = [
                span(
                    "1",
                    None,
                    1,
                    21,
                    "GET /api/r/{id}",
                    trace=trace,
                    **{"http.request.method": "GET", "http.route": "/api/r/{id}"},
                ),
                span("2", "1", 2, 20, "SELECT", trace=trace, **{"db.statement": "SELECT * FROM r WHERE p = 1"}),
            ]
        return SessionRecording(session, events, traces)

    base, target = recording("a", 1), recording("b", 3)
    kept = copy.deepcopy((base, target))
    sides = comparable_sides([target, base])
    result = diff_sides(sides[1], sides[0])
    assert (base, target) == kept
    assert [(f.kind, f.level, f.label) for f in result.findings] == [("count", "request", "GET /api/r/{id}")]
    assert (result.findings[0].count_before, result.findings[0].count_after) == (1, 3)
    assert result.findings[0].delta_ns == 0  # concurrent: the user waited for their union, 20 ms as before


def test_new_errors_status_changes_and_bigger_responses_are_findings():
    def recording(session: str, status: int, size: int) -> SessionRecording:
        trace = session.ljust(32, "0")
        route = {"http.request.method": "POST", "http.route": "/api/pay", "http.response.status_code": status}
        spans = [
            span("1", None, 0, 10, "POST /api/pay", trace=trace, error=status >= 500, **route),
            span("2", "1", 1, 9, "SELECT", trace=trace, **{"db.statement": "SELECT 1"}),
        ]
        events = [
            Event("rrweb", 0, 0, "click", 'click button "Pay"', target="#pay"),
            Event(
                "rrweb",
                1,
                MS,
                "network",
                "POST",
                url="http://x/api/pay",
                method="POST",
                status=status,
                duration_ns=10 * MS,
                trace_id=trace,
                detail={"response_body_size": size},
            ),
        ]
        return SessionRecording(session, events, {trace: spans})

    good, bad = recording("a", 200, 2_000), recording("b", 500, 9_000)
    kept = copy.deepcopy((good, bad))
    target, baseline = comparable_sides([bad, good])
    result = diff_sides(baseline, target)
    assert (good, bad) == kept
    top = result.findings[0]
    assert (top.kind, top.label, top.errors_before, top.errors_after) == ("errors", "POST /api/pay", 0, 1)
    assert (top.statuses_before, top.statuses_after) == ((200,), (500,))
    assert top.size_before == 2_000 and top.size_after == 9_000
    assert top.trace_ids == ("b".ljust(32, "0"),) and top.baseline_trace_ids == ("a".ljust(32, "0"),)
    assert result.trust == 1.0


def test_steps_align_in_order_and_trust_counts_what_matched():
    def events(*labels: str) -> list[Event]:
        return [Event("rrweb", i, i * MS, "click", f"click {label}", target=label) for i, label in enumerate(labels)]

    a = session_side(SessionRecording("a", events("#one", "#two", "#three"), {}))
    b = session_side(SessionRecording("b", events("#one", "#extra", "#two", "#three"), {}))
    alignment = align(a, b)
    assert [(s.a is not None, s.b is not None) for s in alignment.steps] == [
        (True, True),
        (False, True),
        (True, True),
        (True, True),
    ]
    assert alignment.trust.steps.ratio == pytest.approx(2 * 3 / 7)


def test_the_median_side_drops_one_sessions_accident_and_keeps_the_typical_count():
    sides = [trace_side(f"{i}" * 32, checkout(f"{i}" * 32, 3, batched=True)) for i in range(1, 3)]
    odd = trace_side("3" * 32, checkout("3" * 32, 3, batched=False))
    kept = copy.deepcopy([*sides, odd])
    median = median_side([*sides, odd])
    assert [*sides, odd] == kept
    request = median.steps[0].nodes[0]
    root = request.children[0]
    assert [c.label for c in root.children] == ["SELECT * FROM p WHERE id IN (?)"]  # odd's loop is dropped
    assert root.children[0].stats.count == 1
    assert len(root.stats.samples) == 3  # every session's wait, for the noise test


def test_loose_keys_match_a_batch_with_its_per_item_query_and_a_call_on_another_port():
    assert loose_key(("op", "shop", "SELECT a FROM t WHERE id IN (?)")) == loose_key(
        ("op", "shop", "SELECT a FROM t WHERE id = ?")
    )
    assert loose_key(("op", "shop", "POST 127.0.0.1:4711/charge")) == loose_key(
        ("op", "shop", "POST 10.0.0.2:80/charge")
    )
    assert loose_key(("request", "GET /a")) == ("request", "GET /a")


def test_noise_rank_test_and_tolerances():
    separated = mann_whitney_p([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16, 17, 18, 19, 20])
    assert separated < 0.001  # scipy.stats.mannwhitneyu(..., method="asymptotic"): 0.00018
    assert separated == pytest.approx(0.000182672, rel=1e-3)
    assert mann_whitney_p([5, 5, 5], [5, 5, 5]) == 1.0
    assert not large_enough(MIN_DELTA_NS - 1, 0)
    assert not large_enough(10 * MS, 100 * MS)  # 10%
    assert large_enough(30 * MS, 100 * MS)
    samples = [10 * MS] * 5
    assert confirmed(samples, [30 * MS] * 5, pooled_baselines=False)[0]
    assert not confirmed([10 * MS], [300 * MS], pooled_baselines=False)[0]  # one sample a side: unconfirmed
    assert confirmed([10 * MS], [900 * MS], pooled_baselines=False)[0]  # but no hiccup adds 0.9 s


def test_render_stays_within_the_budget_with_hundreds_of_findings():
    many = [span("1", None, 0, 5000, "GET /r", **{"http.request.method": "GET", "http.route": "/r"})]
    many += [span(f"{i:x}", "1", i * 10, i * 10 + 8, f"step-{i}-{'x' * 200}") for i in range(1, 400)]
    result = diff_sides(trace_side("a" * 32, many[:1]), trace_side("b" * 32, many))
    assert len(result.findings) > 300
    for tokens in (500, 2_000, MAX_BUDGET_TOKENS):
        body, view = render_diff(result, budget=Budget(tokens), max_findings=50, retry={"trace_id": "b" * 32})
        assert len(body) <= tokens * CHARS_PER_TOKEN
        assert f"shows {view.shown} of {view.total_findings}" in body
        assert "max_findings=" in body  # the call for more


# ---------------------------------------------------------------- the tool on the fixtures


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("diff") / "shop.db"
    with Store(db) as store:
        results = list(ingest_paths(store, [str(FIXTURES / "recordings"), str(FIXTURES / "recordings-browser")]))
    assert results and all(r.status == "stored" for r in results), [(r.source, r.error) for r in results]
    return db


async def diff(db: Path, **args):
    async with Client(create_server(db)) as client:
        return await client.call_tool("diff_against_baseline", args)


@pytest.mark.anyio
@pytest.mark.parametrize("baseline", ["baseline", None])  # named, or the automatic median of earlier runs
async def test_regressed_checkout_top_finding_is_the_n_plus_one(shop_db: Path, baseline: str | None):
    result = await diff(
        shop_db, session_id=session_of("n-plus-one"), **({"baseline": session_of(baseline)} if baseline else {})
    )
    assert not result.is_error, text(result)
    data, body = result.structured_content, text(result)
    top = data["findings"][0]
    assert top["label"] == N_PLUS_ONE_SQL and top["rank"] == 1
    assert (top["count_before"], top["count_after"]) == (1, 10)  # the batched `IN (?)` became one query per item
    assert "IN (?)" in top["baseline_label"]
    assert [c["label"] for c in top["companions"]] == [REVIEWS_SQL]
    checkout_bad = EXPECTED["n-plus-one"]["checkout"]
    checkout_good = EXPECTED["baseline"]["checkout"]
    # The time it added: most of the checkout's growth, never more than all of it.
    growth = checkout_bad["duration_ms"] - checkout_good["duration_ms"]
    assert 0.6 * growth <= top["delta_ms"] <= checkout_bad["duration_ms"]
    assert top["trace_ids"][0] == checkout_bad["trace_id"]
    assert f"get_trace(trace_id='{checkout_bad['trace_id']}', span_id=" in top["next_call"]
    assert f"`{N_PLUS_ONE_SQL}` ran 10× (was 1×" in body
    assert data["trust"]["overall"] >= 0.8 and not data["trust"]["low"]
    if baseline is None:
        assert data["baseline"]["kind"] == "median"
        assert set(data["baseline"]["session_ids"]) == {session_of("baseline"), session_of("baseline-rerun")}
    else:
        assert top["baseline_trace_ids"][0] == checkout_good["trace_id"]
    # The regressed build's other changes come after it: three review fetches per page, the whole catalogue.
    kinds = {(f["kind"], f["label"]) for f in data["findings"][1:]}
    assert ("count", "GET /api/products/{id}/reviews") in kinds
    assert ("size", "GET /api/products") in kinds


@pytest.mark.anyio
async def test_checkout_trace_against_checkout_trace(shop_db: Path):
    result = await diff(
        shop_db,
        trace_id=EXPECTED["n-plus-one"]["checkout"]["trace_id"],
        baseline_trace_id=EXPECTED["baseline"]["checkout"]["trace_id"],
    )
    top = result.structured_content["findings"][0]
    assert (top["label"], top["count_before"], top["count_after"]) == (N_PLUS_ONE_SQL, 1, 10)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("target", "baseline"),
    [("baseline", "baseline"), ("baseline", "baseline-rerun"), ("baseline-rerun", "baseline")],
)
async def test_the_same_flow_on_the_same_build_shows_no_significant_change(shop_db: Path, target, baseline):
    result = await diff(shop_db, session_id=session_of(target), baseline=session_of(baseline))
    data, body = result.structured_content, text(result)
    assert data["findings"] == [] and not data["significant"], body
    assert "**Verdict**: no significant change" in body
    assert data["trust"]["overall"] >= 0.95


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("target", "baseline"),
    [
        (session_of("server-error"), session_of("over-fetching")),
        (session_of("secrets"), session_of("redundant-calls")),
        ("s-fast-7f3a", session_of("baseline")),  # sdk-shop.jsonl against a shop session
    ],
)
async def test_unrelated_sessions_get_a_low_trust_warning_not_a_list(shop_db: Path, target, baseline):
    result = await diff(shop_db, session_id=target, baseline=baseline)
    data, body = result.structured_content, text(result)
    assert data["trust"]["low"] and data["trust"]["overall"] < LOW_TRUST
    assert data["findings"] == [] and "**Trust**: LOW" in body
    assert len(body) < 1_200  # short
    assert "diff_against_baseline(session_id=" in body or "list_sessions(" in body


@pytest.mark.anyio
@pytest.mark.parametrize("tokens", [500, 2_000, MAX_BUDGET_TOKENS])
@pytest.mark.parametrize(
    ("target", "baseline"),
    [
        ("n-plus-one", "baseline"),
        ("baseline", "n-plus-one"),
        ("n-plus-one", "slow-payment"),
        ("slow-payment", "baseline"),
    ],
)
async def test_output_within_budget_on_the_largest_fixture_sessions(shop_db: Path, tokens: int, target, baseline):
    result = await diff(
        shop_db, session_id=session_of(target), baseline=session_of(baseline), max_findings=50, budget_tokens=tokens
    )
    body = text(result)
    assert not result.is_error, body
    assert len(body) <= tokens * CHARS_PER_TOKEN
    data = result.structured_content
    assert data["shown"] == len(data["findings"]) <= data["total_findings"]
    if data["shown"] < data["total_findings"] and not data["trust"]["low"]:
        assert f"shows {data['shown']} of {data['total_findings']}" in body
        assert "budget_tokens=" in body  # the call that shows the rest


@pytest.mark.anyio
async def test_max_findings_cuts_the_list_and_names_the_call_for_the_rest(shop_db: Path):
    result = await diff(shop_db, session_id=session_of("n-plus-one"), baseline=session_of("baseline"), max_findings=1)
    data, body = result.structured_content, text(result)
    assert data["shown"] == 1 < data["total_findings"]
    assert data["findings"][0]["label"] == N_PLUS_ONE_SQL
    assert f"max_findings={data['total_findings']})" in body


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("trace_id", "baseline_trace_id"),
    [(LARGEST_SAMPLE_TRACE, SECOND_SAMPLE_TRACE), (LARGEST_SAMPLE_TRACE, LARGEST_SAMPLE_TRACE)],
)
@pytest.mark.parametrize("tokens", [2_000, MAX_BUDGET_TOKENS])
async def test_largest_sample_traces_trace_against_trace(
    samples: Path, tmp_path: Path, trace_id, baseline_trace_id, tokens
):
    db = tmp_path / "samples.db"
    with Store(db) as store:
        list(ingest_paths(store, [str(samples / "otlp")]))
    result = await diff(
        db, trace_id=trace_id, baseline_trace_id=baseline_trace_id, max_findings=50, budget_tokens=tokens
    )
    body = text(result)
    assert not result.is_error, body
    assert len(body) <= tokens * CHARS_PER_TOKEN
    if trace_id == baseline_trace_id:
        assert result.structured_content["trust"]["overall"] == 1.0
        assert result.structured_content["findings"] == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "pass session_id"),
        ({"trace_id": "ab" * 16}, "baseline_trace_id is missing"),
        ({"baseline_trace_id": "ab" * 16}, "trace_id is missing"),
        ({"session_id": "s-fast-7f3a", "trace_id": "ab" * 16}, "not both"),
        ({"session_id": "nope"}, "no session `nope`"),
        ({"session_id": "s-fast-7f3a", "baseline": "nope"}, "no session `nope`"),
        ({"trace_id": "zz", "baseline_trace_id": "ab" * 16}, "trace_id `zz` is not a hex trace id"),
        ({"trace_id": "ab" * 16, "baseline_trace_id": "zz"}, "baseline_trace_id `zz` is not a hex"),
        ({"trace_id": "ab" * 16, "baseline_trace_id": "ab" * 16}, "call list_traces"),
        ({"session_id": "s-fast-7f3a"}, "no automatic baseline"),  # the first session of its flow
        ({"session_id": "s-slow-91c2", "baseline": "0f21ddb66cad4a268d116ece1738f7d9"}, "is a trace id"),
    ],
)
async def test_bad_arguments_say_what_to_do(shop_db: Path, args, message):
    result = await diff(shop_db, **args)
    assert result.is_error
    assert message in text(result), text(result)


@pytest.mark.anyio
async def test_automatic_baseline_of_a_backend_only_session(shop_db: Path):
    """sdk-shop.jsonl has no browser recording: its sessions align by their traces' roots."""
    result = await diff(shop_db, session_id="s-slow-91c2")
    data = result.structured_content
    assert data["mode"] == "traces" and data["baseline"]["session_ids"] == ["s-fast-7f3a"]
    assert data["findings"], text(result)
    assert data["findings"][0]["delta_ms"] > 1000  # the slow checkout's payment call, about 1.2 s


@pytest.mark.anyio
async def test_pathological_traces_deep_wide_and_odd_against_each_other(tmp_path: Path):
    def otlp(trace: str, i: int, parent: int | None, start: int, end: int, name: str) -> dict:
        span = {"traceId": trace, "spanId": format(i + 1, "016x"), "name": name}
        span |= {"startTimeUnixNano": str(start), "endTimeUnixNano": str(end)}
        return span | ({"parentSpanId": format(parent + 1, "016x")} if parent is not None else {})

    deep = [otlp("d" * 32, i, i - 1 if i else None, i, 20_000 - i, f"level {i}") for i in range(5_000)]
    wide = [otlp("e" * 32, 0, None, 0, 10**9, "root")]
    wide += [otlp("e" * 32, i, 0, i * 10, i * 10 + 5, f"op {i} " + "x" * 500) for i in range(1, 5_000)]
    odd = [otlp("f" * 32, 0, None, 0, 0, ""), otlp("f" * 32, 1, 0, MAX_TIME_NS // 2, MAX_TIME_NS, "far future")]
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": deep + wide + odd}]}]}))
    db = tmp_path / "odd.db"
    with Store(db) as store:
        list(ingest_paths(store, [str(path)]))
    for target, baseline in [("d", "e"), ("e", "d"), ("e", "f"), ("d", "d"), ("e", "e")]:
        result = await diff(db, trace_id=target * 32, baseline_trace_id=baseline * 32, budget_tokens=MAX_BUDGET_TOKENS)
        assert not result.is_error, text(result)
        assert len(text(result)) <= MAX_BUDGET_TOKENS * CHARS_PER_TOKEN
