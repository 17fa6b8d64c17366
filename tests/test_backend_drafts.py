"""Drafts from backend-only sessions, run for real: green on the build recorded, red on the N+1 build.

    record:  client ──x-session-id──► Flask app (good | n_plus_one) ──OTLP──► collect ──► sessions.db
    draft:   draft_regression_test(session_id=...) through the MCP client
    run:     pytest drafted.py ──HTTP──► Flask app ──OTLP (its own spans)──► the drafted test's receiver

The Flask app (tests/flask_orders.py) runs under `opentelemetry-instrument` with the official
Flask and SQLAlchemy instrumentations; its N+1 build loads each order's lines with a query of
its own. The drafted test counts each request's queries from the spans the app sends it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from netutil import free_port
from otelrun import running_collect, running_flask
from shoprun import run_drafted

from mcp_sessions.server import create_server

NEEDS = ("flask", "sqlalchemy", "opentelemetry.instrumentation.flask", "opentelemetry.instrumentation.sqlalchemy")
FLOW = ("/api/health", "/api/orders", "/api/orders?limit=5", "/api/orders/3", "/api/orders/99")
CAPTURE = {"OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": "x-session-id"}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One backend-only session per build, recorded through collect."""
    for module in NEEDS:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"needs {module}: pip install -e '.[test]'")
    work = tmp_path_factory.mktemp("backend-drafts")
    db = work / "sessions.db"
    with running_collect(db, work) as collect:
        for build in ("good", "n_plus_one"):
            with running_flask(build, work / build, f"{collect}/v1/traces", **CAPTURE) as app:
                for path in FLOW:
                    httpx.get(f"{app}{path}", headers={"x-session-id": f"flask-{build}"}, timeout=10)
    return db


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory, recorded: Path) -> Iterator[dict[str, tuple[str, int]]]:
    """Both builds running, each exporting its spans to a port a drafted test listens on: build → (URL, port)."""
    work = tmp_path_factory.mktemp("backend-apps")
    ports = {"good": free_port(), "n_plus_one": free_port()}
    with (
        running_flask("good", work / "good", f"http://127.0.0.1:{ports['good']}/v1/traces") as good,
        running_flask("n_plus_one", work / "n1", f"http://127.0.0.1:{ports['n_plus_one']}/v1/traces") as bad,
    ):
        yield {"good": (good, ports["good"]), "n_plus_one": (bad, ports["n_plus_one"])}


def drafted(db: Path, **args: Any) -> dict[str, Any]:
    async def go() -> Any:
        async with Client(create_server(db)) as client:
            return await client.call_tool("draft_regression_test", {"budget_tokens": 6_000, **args})

    result = anyio.run(go)
    assert not result.is_error, result.content[0].text
    return result.structured_content


def run(source: str, app: tuple[str, int], work: Path) -> str:
    return run_drafted(source, work, {"APP_BASE_URL": app[0], "APP_OTLP_PORT": str(app[1])})


def test_a_draft_from_the_good_build_passes_there_and_fails_on_the_n_plus_one(
    recorded: Path, apps: dict[str, tuple[str, int]], tmp_path: Path
):
    draft = drafted(recorded, session_id="flask-good")
    source = draft["files"][0]["content"]
    assert len(draft["steps"]) == len(FLOW)
    assert 'client.get("/api/orders/99")' in source and "check(r, 404)" in source
    assert 'params={"limit": "5"}' in source
    assert "at_most_queries(r, telemetry, 2, " in source  # orders + their lines (selectinload)
    assert "within(r, " in source  # the latency budget a draft from traces has by default
    good = run(source, apps["good"], tmp_path / "good")
    assert good.startswith("exit 0") and "1 passed" in good, good
    bad = run(source, apps["n_plus_one"], tmp_path / "bad")
    assert bad.startswith("exit 1") and "GET /api/orders: 13 queries, over 2 (recorded 2)" in bad, bad


def test_a_draft_from_the_n_plus_one_build_names_it_and_a_good_baseline_bounds_it(
    recorded: Path, apps: dict[str, tuple[str, int]], tmp_path: Path
):
    alone = drafted(recorded, session_id="flask-n_plus_one")["files"][0]["content"]
    assert "recorded 13: SELECT" in alone and "ran 12× (an N+1)" in alone
    fixed = drafted(recorded, session_id="flask-n_plus_one", recorded_errors="expect_fixed")["files"][0]["content"]
    assert "at_most_queries(r, telemetry, 2, " in fixed  # 13 with the loop of 12 folded to one
    draft = drafted(recorded, session_id="flask-n_plus_one", baseline_session_id="flask-good")
    source = draft["files"][0]["content"]
    assert "session flask-good ran 2; recorded 13" in source
    good = run(source, apps["good"], tmp_path / "good")
    assert good.startswith("exit 0") and "1 passed" in good, good
    bad = run(source, apps["n_plus_one"], tmp_path / "bad")
    assert bad.startswith("exit 1") and "13 queries, over 2 (session flask-good ran 2; recorded 13" in bad, bad
    assert "(an N+1)" in bad, bad


def test_the_drafted_test_says_how_to_send_it_the_spans_when_none_arrive(recorded: Path, tmp_path: Path):
    source = drafted(recorded, session_id="flask-good", to_ms=1)["files"][0]["content"]
    with running_flask("good", tmp_path / "app", "http://127.0.0.1:9/v1/traces") as app:  # exports nowhere
        out = run_drafted(
            source.replace("OTLP_WAIT_S = 15", "OTLP_WAIT_S = 1"),
            tmp_path / "run",
            {"APP_BASE_URL": app, "APP_OTLP_PORT": str(free_port())},
        )
    assert out.startswith("exit 1") and "no span of its trace reached" in out, out
    assert "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:" in out, out
