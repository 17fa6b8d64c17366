"""The browser side joined to the backend: linking, sessions, redaction across channels, get_timeline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mcp import Client

from mcp_sessions.ingest import ingest_paths
from mcp_sessions.server import create_server
from mcp_sessions.store import Store

ROOT = Path(__file__).resolve().parents[1]
OTLP = ROOT / "fixtures" / "recordings" / "shop" / "otlp"
BROWSER = ROOT / "fixtures" / "recordings-browser" / "shop"
EXPECTED = {p.stem: json.loads(p.read_text()) for p in (ROOT / "fixtures" / "expected").glob("*.json")}


def ingest(db: Path, *paths: Path) -> list:
    with Store(db) as store:
        results = list(ingest_paths(store, [str(p) for p in paths]))
    assert all(r.status != "failed" for r in results), [(r.source, r.error) for r in results]
    return results


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("shop") / "shop.db"
    ingest(db, OTLP, BROWSER)
    return db


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    with Store(db) as store:
        return store.conn.execute(sql, params).fetchall()


def test_every_backend_request_trace_is_linked_to_the_request_that_caused_it(shop_db: Path):
    (total,) = query(shop_db, "SELECT count(*) FROM traces WHERE root_kind = 'server'")[0]
    (linked,) = query(
        shop_db,
        "SELECT count(*) FROM traces t WHERE root_kind = 'server' AND EXISTS "
        "(SELECT 1 FROM events e WHERE e.trace_id = t.trace_id)",
    )[0]
    assert total > 250
    assert linked / total >= 0.95, f"{linked} of {total} linked"
    methods = dict(
        query(shop_db, "SELECT link_method, count(*) FROM events WHERE trace_id IS NOT NULL GROUP BY link_method")
    )
    assert methods["traceparent"] > 100 and methods["time-window"] > 0


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_recordings_of_one_session_become_one_session(shop_db: Path, scenario: str):
    for session in EXPECTED[scenario]["sessions"]:
        rows = query(
            shop_db,
            "SELECT sources, event_count, trace_count FROM sessions WHERE session_id = ?",
            session["session_id"],
        )
        assert rows, session["session_id"]
        sources, events, traces = rows[0]
        assert {"otlp-jsonl", "rrweb", "har"} <= set(json.loads(sources))
        assert events > 0 and traces >= session["trace_count"]


def test_expected_traces_are_linked_by_their_traceparent(shop_db: Path):
    for scenario in EXPECTED.values():
        for session in scenario["sessions"]:
            for trace in session["traces"]:
                if trace.get("in_rrweb") or trace.get("in_har"):
                    rows = query(
                        shop_db,
                        "SELECT DISTINCT link_method, session_id FROM events WHERE trace_id = ?",
                        trace["trace_id"],
                    )
                    assert ("traceparent", session["session_id"]) in rows, trace["trace_id"]


@pytest.mark.parametrize("order", ["browser-first", "backend-first"])
def test_linking_does_not_depend_on_which_side_is_ingested_first(tmp_path: Path, order: str):
    db = tmp_path / "order.db"
    otlp, har = OTLP / "server-error.jsonl", BROWSER / "har" / "server-error.har"
    for path in [har, otlp] if order == "browser-first" else [otlp, har]:
        ingest(db, path)
    trace = EXPECTED["server-error"]["sessions"][0]["traces"][0]["trace_id"]
    rows = query(
        db,
        "SELECT t.session_id, t.session_source, e.link_method FROM traces t JOIN events e "
        "ON e.trace_id = t.trace_id WHERE t.trace_id = ?",
        trace,
    )
    assert rows and rows[0][0] == "sess_218ccee84f7164d7"
    links = query(db, "SELECT count(*) FROM events WHERE trace_id IS NOT NULL")[0][0]
    static = query(db, "SELECT count(*) FROM events WHERE link_method = 'time-window'")[0][0]
    assert links >= 12 and static >= 1


def test_keyless_events_are_cut_into_sessions_by_inactivity(tmp_path: Path):
    def entry(minute: int, path: str) -> dict:
        return {
            "startedDateTime": f"2026-01-05T10:{minute:02d}:00.000Z",
            "time": 12,
            "request": {"method": "GET", "url": f"http://app.test{path}", "headers": []},
            "response": {"status": 200, "headers": [], "content": {"size": 10, "mimeType": "text/html"}},
            "timings": {"send": 1, "wait": 10, "receive": 1},
        }

    har = {
        "log": {
            "version": "1.2",
            "creator": {"name": "Browser"},
            "entries": [entry(0, "/a"), entry(10, "/b"), entry(29, "/c"), entry(59 if False else 45, "/d")],
        }
    }
    # 10:29 → 10:45 is 16 minutes: one session; a second file 31 minutes later starts another.
    later = {
        "log": {
            "version": "1.2",
            "creator": {"name": "Browser"},
            "entries": [{**entry(45, "/e"), "startedDateTime": "2026-01-05T11:16:00.000Z"}],
        }
    }
    (tmp_path / "one.har").write_text(json.dumps(har))
    (tmp_path / "two.har").write_text(json.dumps(later))
    db = tmp_path / "s.db"
    ingest(db, tmp_path / "one.har")
    ingest(db, tmp_path / "two.har")
    sessions = query(db, "SELECT session_id, event_count FROM sessions ORDER BY start_ns")
    assert [count for _, count in sessions] == [4, 1]
    assert all(sid.startswith("auto-") for sid, _ in sessions)


def test_a_client_within_the_gap_continues_its_session(tmp_path: Path):
    def har(minute: int) -> dict:
        return {
            "log": {
                "version": "1.2",
                "creator": {"name": "Browser"},
                "entries": [
                    {
                        "startedDateTime": f"2026-01-05T10:{minute:02d}:00.000Z",
                        "time": 5,
                        "request": {"method": "GET", "url": f"http://app.test/p{minute}", "headers": []},
                        "response": {"status": 200, "headers": [], "content": {"size": 1}},
                        "timings": {},
                    }
                ],
            }
        }

    for minute in (0, 20):
        (tmp_path / f"{minute}.har").write_text(json.dumps(har(minute)))
    db = tmp_path / "c.db"
    ingest(db, tmp_path / "0.har")
    ingest(db, tmp_path / "20.har")
    assert query(db, "SELECT count(*), sum(event_count) FROM sessions")[0] == (1, 2)


def all_text(results: list) -> str:
    return "\n".join(c.text for r in results for c in r.content) + json.dumps([r.structured_content for r in results])


@pytest.mark.anyio
async def test_planted_secrets_survive_in_no_byte_and_no_tool_output(tmp_path: Path):
    db = tmp_path / "secrets.db"
    for folder, name in (
        (OTLP, "secrets.jsonl"),
        (BROWSER / "rrweb", "secrets.json"),
        (BROWSER / "har", "secrets.har"),
    ):
        shutil.copy(folder / name, tmp_path / name)
    ingest(db, *(tmp_path / n for n in ("secrets.jsonl", "secrets.json", "secrets.har")))
    secrets = [s["value"] for s in EXPECTED["secrets"]["secrets"]]
    channels = {s["where"] for s in EXPECTED["secrets"]["secrets"]}
    assert len(secrets) == 7 and len(channels) == 7
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("secrets.db*"))
    for secret in secrets:
        variants = {secret, secret.replace(" ", "")}
        for value in variants:
            assert value.encode() not in raw, f"{value} is in the database file"
    session_id = EXPECTED["secrets"]["sessions"][0]["session_id"]
    async with Client(create_server(db)) as client:
        outputs = [
            await client.call_tool("list_sessions", {}),
            await client.call_tool("list_traces", {"session_id": session_id, "limit": 100}),
        ]
        cursor = None
        while True:
            page = await client.call_tool(
                "get_timeline", {"session_id": session_id, "limit": 20, **({"cursor": cursor} if cursor else {})}
            )
            outputs.append(page)
            cursor = page.structured_content["next_cursor"]
            if not cursor:
                break
        for trace in outputs[1].structured_content["traces"]:
            outputs.append(await client.call_tool("get_trace", {"trace_id": trace["trace_id"], "max_spans": 300}))
    text = all_text(outputs)
    for secret in secrets:
        assert secret not in text and secret.replace(" ", "") not in text


@pytest.mark.anyio
async def test_timeline_of_the_longest_session_stays_in_budget_and_pages_through_all(shop_db: Path):
    ((session_id, count),) = query(
        shop_db, "SELECT session_id, event_count FROM sessions ORDER BY event_count DESC LIMIT 1"
    )
    seen = 0
    cursor = None
    pages = 0
    async with Client(create_server(shop_db)) as client:
        while True:
            result = await client.call_tool(
                "get_timeline", {"session_id": session_id, "limit": 200, **({"cursor": cursor} if cursor else {})}
            )
            assert not result.is_error
            assert len(result.content[0].text) <= 2_000 * 4
            page = result.structured_content
            assert page["first"] == seen
            seen += page["shown"]
            pages += 1
            cursor = page["next_cursor"]
            if not cursor:
                break
            assert f"cursor='{cursor}'" in result.content[0].text
    assert pages > 1
    assert seen == page["total"] >= count


@pytest.mark.anyio
async def test_timeline_filters_and_errors(shop_db: Path):
    session_id = EXPECTED["server-error"]["sessions"][0]["session_id"]
    async with Client(create_server(shop_db)) as client:
        errors = await client.call_tool("get_timeline", {"session_id": session_id, "kinds": ["console", "click"]})
        window = await client.call_tool("get_timeline", {"session_id": session_id, "from_ms": 1000, "to_ms": 2000})
        unknown = await client.call_tool("get_timeline", {"session_id": "sess_nope"})
        foreign = await client.call_tool(
            "get_timeline", {"session_id": session_id, "cursor": errors.structured_content["next_cursor"] or "x"}
        )
    kinds = {e["kind"] for e in errors.structured_content["entries"]}
    assert kinds == {"console", "click"}
    assert any(e["level"] == "error" for e in errors.structured_content["entries"])
    assert 'click button "Apply"' in errors.content[0].text
    assert all(1000 <= e["offset_ms"] <= 2000 for e in window.structured_content["entries"])
    assert unknown.is_error and "list_sessions" in unknown.content[0].text
    assert foreign.is_error
