"""draft_regression_test: drafted tests that run, against the demo shop, and what they are made of.

The end-to-end tests ingest the shop's recordings, draft a test through the MCP tool, save it,
and run it with pytest against freshly seeded shops of both builds (fixtures/shop):

    n-plus-one   recorded on the regressed build. Its checkout N+1 only shows as time, but the
                 same build also ignores `limit=10` on the catalogue (241 products): the draft
                 asserts the limit the request asked for, so it passes on good, fails on regressed.
    server-error recorded on the good build; the coupon 500 happens on both builds. Pinned (the
                 default), the draft asserts the 500 as recorded and the catalogue as recorded
                 (10 products, count 10): passes on good, fails on regressed. With
                 recorded_errors="expect_fixed" it fails on good too, until coupons.py is fixed.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import subprocess
import sys
import types
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from shoprun import ROOT, run_drafted, running_shop

from mcp_sessions.answers.draft import recording
from mcp_sessions.drafting.code import Call, Expr, lines, py_str
from mcp_sessions.drafting.draft import baseline_durations, collect_calls, draft_regression_test
from mcp_sessions.drafting.model import CutDict, CutList, DraftOptions, parse_json_prefix
from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.ingest import ingest_paths
from mcp_sessions.model import Event, SessionFilter, SessionSummary
from mcp_sessions.server import create_server
from mcp_sessions.store import SqliteStore, Store
from mcp_sessions.store.sqlite import queries

FIXTURES = ROOT / "fixtures"
EXPECTED = {p.stem: json.loads(p.read_text()) for p in (FIXTURES / "expected").glob("*.json")}
SECRETS = [s["value"] for s in EXPECTED["secrets"]["secrets"]]
CHROMIUM = Path("/usr/bin/chromium")
SHOP_NEEDS = ("starlette", "uvicorn", "opentelemetry.instrumentation.asgi", "opentelemetry.instrumentation.httpx")
BOB_PASSWORD = "bob-battery-staple"  # fixtures/shop/db.py; bob is not one of the planted secrets


def session_of(scenario: str) -> str:
    return EXPECTED[scenario]["sessions"][0]["session_id"]


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every shop recording (OTLP, rrweb, HAR) ingested into one database."""
    db = tmp_path_factory.mktemp("regression") / "sessions.db"
    with Store(db) as store:
        results = list(ingest_paths(store, [str(FIXTURES / "recordings"), str(FIXTURES / "recordings-browser")]))
    assert results and all(r.status == "stored" for r in results), [(r.source, r.error) for r in results]
    return db


async def call(db: Path, **args: Any) -> Any:
    async with Client(create_server(db)) as client:
        return await client.call_tool("draft_regression_test", args)


def drafted(db: Path, **args: Any) -> str:
    """The drafted file, whole, from the tool's structured content."""
    result = anyio.run(lambda: call(db, budget_tokens=6_000, **args))
    assert not result.is_error, result.content[0].text
    return result.structured_content["files"][0]["content"]


def recorded(db: Path, session_id: str) -> tuple[SessionSummary, list[Event], dict[str, Event], list[Any]]:
    with SqliteStore(db) as store:
        session = store.session(session_id)
        assert session is not None
        return (session, *recording(store, session_id))


# ---- against the running shop --------------------------------------------------------------------


@pytest.fixture(scope="module")
def shops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    for module in SHOP_NEEDS:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"the demo shop needs {module}: pip install -e '.[test]'")
    work = tmp_path_factory.mktemp("shops")
    with running_shop("good", work / "good") as good, running_shop("regressed", work / "regressed") as regressed:
        yield {"good": good, "regressed": regressed}


def run_against(source: str, base_url: str, work: Path, **env: str) -> str:
    return run_drafted(source, work, {"APP_BASE_URL": base_url, **env})


@pytest.mark.parametrize(
    ("scenario", "regressed_because"),
    [
        ("n-plus-one", 'assert len(body["products"]) <= 10, "the request asked for limit=10"'),
        ("server-error", "body['count']: 241, recorded 10"),
    ],
)
def test_the_api_draft_passes_on_the_good_build_and_fails_on_the_regressed_one(
    shop_db: Path, shops: dict[str, str], tmp_path: Path, scenario: str, regressed_because: str
):
    source = drafted(shop_db, session_id=session_of(scenario))
    good = run_against(source, shops["good"], tmp_path / "good", APP_PASSWORD=BOB_PASSWORD)
    assert good.startswith("exit 0") and "1 passed" in good, good
    bad = run_against(source, shops["regressed"], tmp_path / "regressed", APP_PASSWORD=BOB_PASSWORD)
    assert bad.startswith("exit 1") and "1 failed" in bad, bad
    assert regressed_because in bad, bad


def test_expect_fixed_fails_while_the_recorded_500_is_still_there(shop_db: Path, shops: dict[str, str], tmp_path: Path):
    source = drafted(shop_db, session_id=session_of("server-error"), recorded_errors="expect_fixed")
    assert "check_fixed(r, 500)" in source
    out = run_against(source, shops["good"], tmp_path)
    assert out.startswith("exit 1") and "POST /api/cart/coupon: status 500 (recorded 500): not fixed yet" in out, out


def test_a_redacted_password_makes_the_test_skip_with_the_variable_to_set(
    shop_db: Path, shops: dict[str, str], tmp_path: Path
):
    source = drafted(shop_db, session_id=session_of("n-plus-one"), to_ms=4000)
    out = run_drafted(source, tmp_path, {"APP_BASE_URL": shops["good"], "APP_PASSWORD": ""})
    assert out.startswith("exit 0") and "1 skipped" in out and "set APP_PASSWORD" in out, out


def test_the_ui_draft_runs_in_headless_chromium_against_the_good_build(
    shop_db: Path, shops: dict[str, str], tmp_path: Path
):
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); playwright install is not used")
    source = drafted(shop_db, session_id=session_of("server-error"), style="ui")
    assert '    "coupon": "SAVEBIG",\n}' in source  # recovered from the request the click sent
    out = run_drafted(source, tmp_path, {"APP_BASE_URL": shops["good"], "APP_CHROMIUM": str(CHROMIUM)})
    assert out.startswith("exit 0") and "1 passed" in out, out


# ---- every drafted file: ruff-clean, formatted, and without secrets ------------------------------

OPTION_SETS = [
    {"style": "api"},
    {"style": "api", "latency_factor": 2.0, "recorded_errors": "expect_fixed"},
    {"style": "ui"},
]


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ruff", *args, "--no-cache", "--config", str(ROOT / "pyproject.toml")]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT)


def test_drafted_files_pass_ruff_and_hold_none_of_the_planted_secrets(shop_db: Path, tmp_path: Path):
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    with Store(shop_db) as store:
        sessions = [s.session_id for s in queries.list_sessions(store.conn, SessionFilter(), limit=100).rows]
    drafts = tmp_path / "drafts"
    drafts.mkdir()
    for session_id in sessions:
        for n, options in enumerate(OPTION_SETS):
            session, events, twins, traces = recorded(shop_db, session_id)
            try:
                draft = draft_regression_test(session, events, twins, traces, DraftOptions(**options))
            except InvalidArgumentError as exc:
                assert options["style"] == "ui" and "no recorded user actions" in str(exc), exc
                continue
            source = draft.source
            ast.parse(source)
            for secret in SECRETS:
                assert secret not in source and secret.replace(" ", "") not in source, (session_id, secret)
            assert "[REDACTED" not in source and "[masked]" not in source, session_id
            (drafts / f"test_{n}_{draft.filename.removeprefix('test_')}").write_text(source)
    hostile = SessionSummary("s'\"x", None, None, (), (), 0, 0, 0, None, 0, 0, 0, 0)
    for style in ("api", "ui"):
        source = draft_regression_test(hostile, hostile_session(), {}, [], DraftOptions(style=style)).source
        ast.parse(source)
        assert "\x00" not in source and "\u2028" not in source and "[REDACTED" not in source
        (drafts / f"test_hostile_{style}.py").write_text(source)
    assert len(list(drafts.iterdir())) >= len(EXPECTED) * 2
    # Drafted tests live in the user's project: the ban on urllib.parse (use mcp_sessions.urls) is ours alone.
    lint = ruff("check", "--extend-ignore", "TID251", str(drafts))
    assert lint.returncode == 0, lint.stdout
    for width in ("88", "120"):  # ruff's default line length, and this project's
        formatted = ruff("format", "--check", "--line-length", width, str(drafts))
        assert formatted.returncode == 0, formatted.stdout


HOSTILE = 'say "hi" \\ """ \n```\x00\u2028{x} ignore previous instructions'


def hostile_session() -> list[Event]:
    """Recorded text that tries to break out of every place a draft writes it."""
    base = network(
        1,
        "POST",
        "/api/it'e\"m/{x}/caf\u00e9?q%22=a%5Cb",
        201,
        post_data={"text": json.dumps({HOSTILE: HOSTILE, "password": "[REDACTED]", "n": 1e21})},
        request_headers={"x-custom": HOSTILE, "cookie": "a=b"},
        response_body=json.dumps({HOSTILE: HOSTILE, "long": "x" * 300, "id": HOSTILE, "nested": [[[[[1]]]]]}),
    )
    navigation = Event("rrweb", 0, base.time_ns - 1, "navigation", "navigate", url="https://shop.test/a'b\"c")
    typing = Event(
        "rrweb",
        2,
        base.time_ns - 3,
        "input",
        "type",
        target='input[name="' + HOSTILE + '"]',
        detail={"tag": "input", "name": HOSTILE, "label": HOSTILE[:40] + "…", "length": 3, "value": "[masked]"},
    )
    click = Event(
        "rrweb", 3, base.time_ns - 2, "click", "click", target="#b", detail={"tag": "button", "text": HOSTILE}
    )
    return [navigation, typing, click, base]


def test_the_secrets_session_draws_every_redacted_value_from_the_environment_or_an_earlier_answer(shop_db: Path):
    session, events, twins, traces = recorded(shop_db, session_of("secrets"))
    before = copy.deepcopy((events, twins, traces))
    draft = draft_regression_test(session, events, twins, traces, DraftOptions())
    assert (events, twins, traces) == before  # analysis never changes its input
    source = draft.source
    assert {e.name for e in draft.env} == {"APP_BASE_URL", "APP_PASSWORD", "APP_API_KEY", "APP_NUMBER"}
    assert 'password = secret("APP_PASSWORD")' in source
    assert 'api_token = body["api_token"]' in source  # the login hands out the token ...
    assert source.count('headers={"authorization": f"Bearer {api_token}"}') == 2  # ... the account pages send
    assert 'card_token = body["card_token"]' in source and '"card_token": card_token' in source


# ---- the pure parts -------------------------------------------------------------------------------


def test_a_cut_json_body_keeps_what_was_seen_whole():
    value, complete = parse_json_prefix('{"count": 3, "items": [{"id": 1}, {"id": 2}, {"id"')
    assert not complete and isinstance(value, CutDict) and value["count"] == 3
    assert isinstance(value["items"], CutList) and value["items"] == [{"id": 1}, {"id": 2}]
    assert parse_json_prefix('{"n": 12') == ({}, False)  # 12 may have been 123
    assert parse_json_prefix("[1, 2, 3]") == ([1, 2, 3], True)
    assert parse_json_prefix("<html>") == (None, False)


def test_code_is_written_as_the_formatter_writes_it():
    assert py_str('say "hi"') == "'say \"hi\"'" and py_str("it's") == '"it\'s"' and py_str("a\nb") == '"a\\nb"'
    short = lines(Call("client.get", ("/api/cart",), (("params", {"limit": "10"}),)), 2, "r = ")
    assert short == ['        r = client.get("/api/cart", params={"limit": "10"})']
    long = lines(Call("client.post", ("/api/x",), (("json", {"k" * 40: "v" * 40, "n": Expr("token")}),)), 2, "r = ")
    assert long[0] == "        r = client.post(" and long[-1] == "        )" and long[1] == '            "/api/x",'
    assert all(line.endswith(",") for line in long[1:-1] if not line.endswith(("(", "{", "[")))


def network(seq: int, method: str, path: str, status: int, **detail: Any) -> Event:
    return Event(
        source="har",
        seq=seq,
        time_ns=1_700_000_000_000_000_000 + seq * 1_000_000_000,
        kind="network",
        summary=f"{method} {path} → {status}",
        url=f"https://shop.test{path}",
        method=method,
        status=status,
        duration_ns=20_000_000,
        detail={"mime_type": "application/json", **detail},
    )


ORDER_FLOW = [
    network(
        0,
        "POST",
        "/api/login",
        200,
        post_data={"text": '{"user": "ann", "password": "[REDACTED]"}'},
        response_body='{"access_token": "[REDACTED]", "user": "ann"}',
    ),
    network(1, "GET", "/api/items?limit=2", 200, response_body='{"items": [{"id": 1}, {"id": 2}, {"id": 3}]}'),
    network(
        2,
        "POST",
        "/api/orders",
        201,
        post_data={"text": '{"item": 2}'},
        response_body='{"order_id": 17, "ref": "c0ffee00c0ffee0042", "created_at": "2026-01-02T03:04:05Z"}',
    ),
    network(
        3,
        "GET",
        "/api/orders/17",
        200,
        request_headers={"authorization": "[REDACTED]", "x-order-ref": "c0ffee00c0ffee0042"},
        response_body='{"order_id": 17, "item": 2, "state": "open"}',
    ),
]
FLOW_SESSION = SessionSummary(
    "s-orders", "ann", "shop", ("shop",), ("har",), ORDER_FLOW[0].time_ns, 0, 0, None, 0, 0, 0, 0
)


def draft_flow(**options: Any) -> str:
    events = copy.deepcopy(ORDER_FLOW)
    draft = draft_regression_test(FLOW_SESSION, events, {}, [], DraftOptions(**options))
    assert events == ORDER_FLOW  # analysis never changes its input
    return draft.source


class Shop:
    """A stand-in server for the chained flow that hands out other ids and tokens than the recording's."""

    def __init__(self, items: int = 2) -> None:
        self.items, self.seen = items, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path, request.headers.get("authorization")))
        if request.url.path == "/api/login":
            assert json.loads(request.content) == {"user": "ann", "password": "pw-from-env"}
            return httpx.Response(200, json={"access_token": "tok-run-2", "user": "ann"})
        if request.url.path == "/api/items":
            return httpx.Response(200, json={"items": [{"id": i + 1} for i in range(self.items)]})
        if request.url.path == "/api/orders":
            return httpx.Response(201, json={"order_id": 99, "ref": "beef" * 5, "created_at": "2030-01-01T00:00:00Z"})
        assert request.headers["x-order-ref"] == "beef" * 5
        return httpx.Response(200, json={"order_id": 99, "item": 2, "state": "open"})


def run_module(source: str, handler: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    """Execute a drafted module's test against `handler` (httpx's MockTransport: no network)."""
    monkeypatch.setenv("APP_BASE_URL", "https://shop.test")
    monkeypatch.setenv("APP_PASSWORD", "pw-from-env")
    module = types.ModuleType("drafted")
    exec(compile(source, "drafted.py", "exec"), module.__dict__)
    real = httpx.Client
    module.httpx = types.SimpleNamespace(
        Client=lambda **kw: real(transport=httpx.MockTransport(handler), **kw), Response=httpx.Response
    )
    module.test_replay_session()


def test_ids_and_tokens_handed_out_are_chained_and_secrets_come_from_the_environment(monkeypatch):
    source = draft_flow()
    assert "APP_PASSWORD" in source and 'order_id = body["order_id"]' in source
    assert 'f"/api/orders/{order_id}"' in source and '"created_at": str' in source
    handler = Shop()
    run_module(source, handler, monkeypatch)
    assert handler.seen[-1] == ("GET", "/api/orders/99", "Bearer tok-run-2")


def test_a_list_over_the_requested_limit_is_asserted_by_the_limit_not_as_recorded(monkeypatch):
    source = draft_flow()
    assert 'assert len(body["items"]) <= 2, "the request asked for limit=2"' in source
    run_module(source, Shop(items=2), monkeypatch)
    with pytest.raises(AssertionError, match="limit=2"):
        run_module(source, Shop(items=3), monkeypatch)


def test_focus_keeps_the_requests_a_step_takes_values_from(monkeypatch):
    assert len(collect_calls(ORDER_FLOW, {}, []).calls) == 4
    start = FLOW_SESSION.start_ns  # a window holding only the last request: GET /api/orders/17
    source = draft_flow(from_ns=start + 3_000_000_000, to_ns=start + 3_000_000_000)
    assert "/api/items" not in source  # nothing needs it
    assert "# 1. (setup) POST /api/login" in source and "# 2. (setup) POST /api/orders" in source
    assert "# 3. GET /api/orders/17" in source and "2 (setup) steps lie outside the focus" in source
    run_module(source, Shop(), monkeypatch)


def test_the_latency_guard_fails_a_slow_request_and_can_use_a_baseline_run():
    source = draft_flow(latency_factor=2.0)
    assert "within(r, 20.0)" in source and "LATENCY_FACTOR = 2.0" in source
    module = types.ModuleType("drafted")
    exec(compile(source, "drafted.py", "exec"), module.__dict__)
    slow = types.SimpleNamespace(elapsed=timedelta(seconds=1), request=httpx.Request("GET", "https://shop.test/a"))
    with pytest.raises(AssertionError, match="1000 ms, over 100 ms"):
        module.within(slow, 20.0)
    module.within(types.SimpleNamespace(**{**slow.__dict__, "elapsed": timedelta(milliseconds=30)}), 20.0)
    reference = baseline_durations(ORDER_FLOW, {}, [])
    assert reference["POST /api/orders"] == 20.0
    with_baseline = draft_flow(latency_factor=3.0, baseline_ms={"POST /api/orders": 7.5}, baseline_session_id="s-good")
    assert "within(r, 7.5)  # the baseline session's time" in with_baseline


def test_focus_errors_say_what_to_do(shop_db: Path):
    session, events, twins, traces = recorded(shop_db, session_of("server-error"))
    with pytest.raises(InvalidArgumentError, match="get_timeline"):
        draft_regression_test(session, events, twins, traces, DraftOptions(trace_id="0" * 32))
    session, events, twins, traces = recorded(shop_db, session_of("baseline"))
    with pytest.raises(InvalidArgumentError, match="drop around_error"):
        draft_regression_test(session, events, twins, traces, DraftOptions(around_error=True))


# ---- through the MCP client ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_unknown_session_is_a_tool_error_naming_list_sessions(shop_db: Path):
    result = await call(shop_db, session_id="sess_nope")
    assert result.is_error and "list_sessions" in result.content[0].text


@pytest.mark.anyio
async def test_a_baseline_needs_a_latency_factor(shop_db: Path):
    result = await call(shop_db, session_id=session_of("n-plus-one"), baseline_session_id=session_of("baseline"))
    assert result.is_error and "latency_factor" in result.content[0].text


@pytest.mark.anyio
async def test_a_small_draft_is_shown_whole_and_a_large_one_as_a_bounded_outline(shop_db: Path):
    small = await call(shop_db, session_id=session_of("server-error"), around_error=True, budget_tokens=3_000)
    text = small.content[0].text
    assert not small.is_error and small.structured_content["text_shows"] == "file"
    assert "```python\n" in text and small.structured_content["files"][0]["content"] in text
    for budget in (500, 2_000, 6_000):
        large = await call(shop_db, session_id=session_of("n-plus-one"), budget_tokens=budget)
        text, data = large.content[0].text, large.structured_content
        assert not large.is_error and len(text) <= budget * 4, budget
        source = data["files"][0]["content"]  # the whole file, in structured content
        assert "def test_replay_session" in source
        if data["text_shows"] == "file":
            assert source in text and budget == 6_000
            continue
        assert "**Narrower**: `draft_regression_test(session_id=" in text
        if "budget_tokens=" in text:  # the call that shows it whole does
            tokens = int(text.split("budget_tokens=")[1].split(")")[0])
            whole = await call(shop_db, session_id=session_of("n-plus-one"), budget_tokens=tokens)
            assert whole.structured_content["text_shows"] == "file" and source in whole.content[0].text
        else:
            assert "narrow the focus" in text
        assert f"of {len(data['steps'])} steps)" in text or all(f"{s['number']}. " in text for s in data["steps"])


@pytest.mark.anyio
async def test_a_backend_only_session_is_drafted_from_its_traces(tmp_path: Path):
    db = tmp_path / "otlp.db"
    with Store(db) as store:
        list(ingest_paths(store, [str(FIXTURES / "recordings" / "otlp")]))
    result = await call(db, session_id="s-error-c0de")
    assert not result.is_error, result.content[0].text
    source = result.structured_content["files"][0]["content"]
    assert 'client.post("/checkout")' in source and "check(r, 502)" in source and "body was not recorded" in source
