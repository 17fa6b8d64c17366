"""rrweb batches over HTTP (`POST /v1/rrweb`): a real recording posted in pieces reads as the file does.

The recordings are the demo shop's, made by `@rrweb/record` (console and network plugins) in
Chromium; the invariants hold for any recording: cut it anywhere, post the pieces, and the
stored session is the file's session.
"""

from __future__ import annotations

import gzip
import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_receiver import Running, rows

from mcp_sessions.ingest import ingest_paths
from mcp_sessions.receiver_limits import ReceiverLimits
from mcp_sessions.store import Store

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = sorted((ROOT / "fixtures" / "recordings-browser" / "shop" / "rrweb").glob("*.json"))
SECRETS = [s["value"] for s in json.loads((ROOT / "fixtures" / "expected" / "secrets.json").read_text())["secrets"]]
# Runs (keystrokes, scrolls, resizes) end with their batch, and a focus joins its click only in one
# batch; every other event must come out of the pieces exactly as it comes out of the file.
RUN_KINDS = ("input", "scroll", "resize", "focus")
EXTENT_MARKS = ("recording_start_ns", "recording_end_ns")
EXTENTS: dict[str, list[tuple[Any, ...]]] = {}  # each recording's session extent as the file gives it (`reference`)
COLUMNS = (
    "kind, summary, time_ns, url, target, level, method, status, duration_ns, trace_id, span_id, session_id, detail"
)


def recorded_events(path: Path) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text())
    return doc["events"] if isinstance(doc, dict) else doc


def file_rows(path: Path, db: Path) -> list[tuple[Any, ...]]:
    with Store(db) as store:
        [result] = list(ingest_paths(store, [str(path)]))
    assert result.status == "stored", result.error
    return timeline_rows(db)


def timeline_rows(db: Path, where: str = "1") -> list[tuple[Any, ...]]:
    """The events as stored. Where the recording began and had reached when a batch ended (the
    `recording_*_ns` marks) sit on that batch's edges: left out here, `session_extent` holds them."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(f"SELECT {COLUMNS} FROM events WHERE {where} ORDER BY coalesce(time_ns, 0), seq").fetchall()
    finally:
        conn.close()
    return [(*r[:-1], json.dumps({k: v for k, v in json.loads(r[-1]).items() if k not in EXTENT_MARKS})) for r in rows]


def session_extent(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT session_id, start_ns, end_ns FROM sessions ORDER BY session_id").fetchall()
    finally:
        conn.close()


def batch(session: str, page: str, seq: int, events: list[Any], **extra: Any) -> dict[str, Any]:
    return {"session_id": session, "page_id": page, "seq": seq, "events": events, **extra}


# One client (a new one per request costs tens of ms); no Nagle delay between the headers and the body.
_HTTP = httpx.Client(
    timeout=30, transport=httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
)


@pytest.fixture(scope="module", autouse=True)
def _close_the_client() -> Iterator[None]:
    yield
    _HTTP.close()


def post(url: str, doc: Any, *, gzipped: bool = False, **headers: str) -> httpx.Response:
    body = json.dumps(doc).encode()
    if gzipped:
        body, headers = gzip.compress(body), {**headers, "content-encoding": "gzip"}
    return _HTTP.post(f"{url}/v1/rrweb", content=body, headers={"content-type": "application/json", **headers})


def cut_at_rest(events: list[Any], per_batch: int) -> list[list[Any]]:
    """Pieces ending after every `per_batch`-th click or full snapshot: where no run is open."""
    pieces, current, ends = [], [], 0
    for event in events:
        current.append(event)
        data = event.get("data") or {}
        if event["type"] == 2 or (event["type"] == 3 and data.get("source") == 2 and data.get("type") == 2):
            ends += 1
            if ends % per_batch == 0:
                pieces.append(current)
                current = []
    return [*pieces, current] if current else pieces


def cut_every(events: list[Any], n: int) -> list[list[Any]]:
    return [events[i : i + n] for i in range(0, len(events), n)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[Any, ...]]]:
    """Each recording ingested as a file, in a database of its own."""
    out = {}
    for path in RECORDINGS:
        db = tmp_path_factory.mktemp("file") / "file.db"
        out[path.stem] = file_rows(path, db)
        EXTENTS[path.stem] = session_extent(db)
    return out


def the_session(rows_: list[tuple[Any, ...]]) -> str:
    sessions = {r[11] for r in rows_}
    assert len(sessions) == 1, sessions
    return sessions.pop()


def test_the_fixture_recordings_are_there():
    assert len(RECORDINGS) >= 8


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_a_recording_posted_in_batches_cut_at_rest_is_stored_as_the_file_is(
    path: Path, reference: dict[str, list[tuple[Any, ...]]], db_path: Path
):
    expected = reference[path.stem]
    session = the_session(expected)
    pieces = cut_at_rest(recorded_events(path), 1)
    assert len(pieces) > 1
    with Running(db_path, max_body=4 * 1024 * 1024) as r:
        for seq, events in enumerate(pieces):
            response = post(r.url, batch(session, "page-1", seq, events), gzipped=seq % 2 == 1)
            assert response.status_code == 200, response.text
            assert response.json()["duplicate"] is False
    assert timeline_rows(db_path) == expected
    assert session_extent(db_path) == EXTENTS[path.stem]


@pytest.mark.parametrize("size", [1, 7, 40])
@pytest.mark.parametrize("path", RECORDINGS[:4], ids=lambda p: p.stem)
def test_a_recording_cut_anywhere_keeps_every_action_request_and_message(
    path: Path, size: int, reference: dict[str, list[tuple[Any, ...]]], db_path: Path
):
    expected = [r for r in reference[path.stem] if r[0] not in RUN_KINDS]
    session = the_session(expected)
    with Running(db_path, max_body=4 * 1024 * 1024) as r:
        for seq, events in enumerate(cut_every(recorded_events(path), size)):
            assert post(r.url, batch(session, "page-1", seq, events)).status_code == 200
    kinds = ", ".join(f"'{k}'" for k in RUN_KINDS)
    assert timeline_rows(db_path, f"kind NOT IN ({kinds})") == expected
    # the session begins where the file's does; it ends where the last batch holding an event of its
    # own said the recording had reached (a batch of mouse moves alone makes no event to say it)
    [(sid, start, end)] = session_extent(db_path)
    [(file_sid, file_start, file_end)] = EXTENTS[path.stem]
    assert (sid, start) == (file_sid, file_start) and end <= file_end
    typed = [r for r in timeline_rows(db_path) if r[0] == "input"]
    assert all(json.loads(r[12])["value"] == "[masked]" for r in typed)


def test_batches_arriving_swapped_keep_the_recorded_order(reference: dict[str, list[tuple[Any, ...]]], db_path: Path):
    path = RECORDINGS[0]
    pieces = cut_at_rest(recorded_events(path), 1)
    assert len(pieces) >= 4
    order = [0, 2, 1, *range(3, len(pieces))]
    session = the_session(reference[path.stem])
    with Running(db_path, max_body=4 * 1024 * 1024) as r:
        for seq in order:
            assert post(r.url, batch(session, "page-1", seq, pieces[seq])).status_code == 200
    # Requests take their start from the page's time origin as estimated so far, and names from the
    # node map as it stood: those may differ. The user's actions and messages keep time and order.
    kept = ("click", "dblclick", "navigation", "console", "custom")
    expected = [(row[0], row[2]) for row in reference[path.stem] if row[0] in kept]
    got = [(row[0], row[2]) for row in timeline_rows(db_path) if row[0] in kept]
    assert got == expected and len(got) > 3


def test_a_resent_batch_is_acknowledged_and_stored_once_also_after_a_restart(db_path: Path):
    pieces = cut_at_rest(recorded_events(RECORDINGS[0]), 1)
    with Running(db_path) as r:
        first = post(r.url, batch("resend", "page-1", 0, pieces[0]))
        again = post(r.url, batch("resend", "page-1", 0, pieces[0]), gzipped=True)
        stored = rows(db_path, "events")
    assert first.json() == {"events": stored, "stored": stored, "duplicate": False, "refused": 0} and stored > 0
    assert again.status_code == 200 and again.json()["duplicate"] is True
    with Running(db_path) as r:  # the page states are gone; the database still knows the batch
        after_restart = post(r.url, batch("resend", "page-1", 0, pieces[0]))
        next_batch = post(r.url, batch("resend", "page-1", 1, pieces[1]))
    assert after_restart.json()["duplicate"] is True
    assert next_batch.json()["duplicate"] is False and rows(db_path, "events") > stored


def test_a_failed_batch_leaves_the_page_state_as_it_was(db_path: Path):
    """A navigation in a batch that fails is seen again when the batch is resent whole."""
    events = recorded_events(RECORDINGS[0])
    meta = next(i for i, e in enumerate(events) if e["type"] == 4)
    head, rest = events[: meta + 1], events[meta + 1 :]
    poisoned = [*head, {"type": 3, "data": "not an object", "timestamp": 1}]
    with Running(db_path, max_body=4 * 1024 * 1024) as r:
        bad = post(r.url, batch("restore", "page-1", 0, poisoned))
        assert rows(db_path, "events") == 0
        good = post(r.url, batch("restore", "page-1", 0, head))
        post(r.url, batch("restore", "page-1", 1, rest))
    assert bad.status_code == 400 and "events[" in bad.json()["message"] and "data" in bad.json()["message"]
    assert good.status_code == 200
    navigations = timeline_rows(db_path, "kind = 'navigation'")
    assert navigations and navigations[0][1].startswith("navigate to")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "JSON object"),
        ({"page_id": "p", "seq": 0, "events": []}, "session_id"),
        ({"session_id": "s", "seq": 0, "events": []}, "page_id"),
        ({"session_id": "s", "page_id": "p", "events": []}, "seq"),
        ({"session_id": "s", "page_id": "p", "seq": -1, "events": []}, "seq"),
        ({"session_id": "s", "page_id": "p", "seq": True, "events": []}, "seq"),
        ({"session_id": "s", "page_id": "p", "seq": 0, "events": {}}, "events"),
        ({"session_id": "s" * 129, "page_id": "p", "seq": 0, "events": []}, "session_id"),
        ({"session_id": "a\nb", "page_id": "p", "seq": 0, "events": []}, "session_id"),
        ({"session_id": "s", "page_id": "p", "seq": 0, "events": [], "user_id": 7}, "user_id"),
        ({"session_id": "s", "page_id": "p", "seq": 0, "events": [{"type": 2, "data": {"node": 5}}]}, "events[0]"),
    ],
)
def test_a_malformed_batch_is_400_naming_the_field_and_stores_nothing(db_path: Path, doc: Any, message: str):
    with Running(db_path) as r:
        response = post(r.url, doc)
    assert response.status_code == 400 and message in response.json()["message"], response.text
    assert rows(db_path, "events") == 0


def test_media_types_encodings_and_the_session_header(db_path: Path):
    events = cut_at_rest(recorded_events(RECORDINGS[0]), 1)[0]
    with Running(db_path) as r:
        beacon = _HTTP.post(
            f"{r.url}/v1/rrweb",
            content=json.dumps(batch("beacon", "p", 0, events)),
            headers={"content-type": "text/plain;charset=UTF-8"},
        )
        header_only = post(r.url, {"page_id": "p", "seq": 0, "events": events}, **{"x-session-id": "from-header"})
        differ = post(r.url, batch("a", "p", 1, events), **{"x-session-id": "b"})
        form = _HTTP.post(f"{r.url}/v1/rrweb", data={"x": "1"})
        broken = _HTTP.post(
            f"{r.url}/v1/rrweb",
            content=gzip.compress(json.dumps(batch("z", "p", 0, events)).encode())[:-9],
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )
    assert beacon.status_code == 200 and header_only.status_code == 200
    assert differ.status_code == 400 and "X-Session-Id" in differ.json()["message"]
    assert form.status_code == 415 and broken.status_code == 400
    sessions = {row[0] for row in sqlite3.connect(db_path).execute("SELECT DISTINCT session_id FROM events")}
    assert sessions == {"beacon", "from-header"}


def test_an_empty_batch_is_acknowledged_and_adds_no_ingest(db_path: Path):
    with Running(db_path) as r:
        response = post(r.url, batch("s", "p", 0, []))
    assert response.status_code == 200
    assert response.json() == {"events": 0, "stored": 0, "duplicate": False, "refused": 0}
    assert rows(db_path, "ingests") == 0


def test_the_planted_secrets_never_reach_the_database(db_path: Path):
    path = next(p for p in RECORDINGS if p.stem == "secrets")
    with Running(db_path, max_body=4 * 1024 * 1024) as r:
        for seq, events in enumerate(cut_every(recorded_events(path), 5)):
            assert post(r.url, batch("secret-session", "p", seq, events, user_id="u-1")).status_code == 200
    dump = "\n".join(sqlite3.connect(db_path).iterdump())
    assert "secret-session" in dump and "u-1" in dump
    for secret in SECRETS:
        assert secret not in dump, secret


def test_page_states_are_bounded_in_number_and_nodes(db_path: Path):
    events = recorded_events(RECORDINGS[0])
    snapshot_end = next(i for i, e in enumerate(events) if e["type"] == 2) + 1
    limits = ReceiverLimits(max_body=4 * 1024 * 1024, max_rrweb_pages=3, max_rrweb_nodes=10**6)
    with Running(db_path, limits=limits) as r:
        for page in range(6):
            assert post(r.url, batch("many", f"page-{page}", 0, events[:snapshot_end])).status_code == 200
        pages = r.app.state.intake.pages
        assert len(pages) == 3 and pages.dropped == 3
        nodes_one_page = pages.nodes() // 3
    tight = ReceiverLimits(max_body=4 * 1024 * 1024, max_rrweb_nodes=nodes_one_page * 2 - 1)
    with Running(db_path, limits=tight) as r:
        for page in range(3):
            assert post(r.url, batch("tight", f"page-{page}", 0, events[:snapshot_end])).status_code == 200
        pages = r.app.state.intake.pages
        assert pages.nodes() <= tight.max_rrweb_nodes and len(pages) == 1
        lone = ReceiverLimits(max_body=4 * 1024 * 1024, max_rrweb_nodes=nodes_one_page - 1)
    with Running(db_path, limits=lone) as r:
        assert post(r.url, batch("lone", "page-0", 0, events[:snapshot_end])).status_code == 200
        pages = r.app.state.intake.pages
        assert pages.nodes() == 0 and len(pages) == 1  # its own map was over the bound: dropped, the page kept


def test_a_sender_counting_again_from_zero_under_one_page_id_loses_nothing(db_path: Path):
    """Only the same content is a resend: batch 0 of a reloaded page under the same page id is new."""
    pieces = cut_at_rest(recorded_events(RECORDINGS[0]), 1)
    with Running(db_path, max_body=4 * 1024 * 1024) as r:
        first = post(r.url, batch("reload", "one-page-id", 0, pieces[0]))
        stored = rows(db_path, "events")
        second = post(r.url, batch("reload", "one-page-id", 0, pieces[1]))
    assert first.json()["duplicate"] is False and second.json()["duplicate"] is False
    assert rows(db_path, "events") > stored
