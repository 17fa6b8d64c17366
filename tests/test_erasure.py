"""Erasure is total: forget and prune leave no byte of what they removed, and what they removed never comes back.

The corpus (erasure_corpus.py) is a user's real recordings (OTLP from the OpenTelemetry SDK,
a Playwright HAR, an @rrweb/record recording) with a unique marker in every field the
parsers read, beside other users' recordings. Each test erases her and scans the raw bytes
of the database, its -wal and its -shm.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from erasure_corpus import ANN_SESSION, MARKER, Corpus, build, markers_in
from google.protobuf.json_format import MessageToJson
from mcp import Client
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from mcp_sessions import receiver
from mcp_sessions.analysis.path_templates import value_key
from mcp_sessions.errors import ErasureIncompleteError, StoreError
from mcp_sessions.ingest import ingest_file, ingest_paths
from mcp_sessions.server import create_server
from mcp_sessions.store import Store
from mcp_sessions.store.sqlite import erasure_map, retention, summaries, url_templates
from mcp_sessions.store.sqlite.derive import derive_sessions
from mcp_sessions.store.sqlite.erased_ids import salt_of

# Marker kinds that must reach the database before erasure (a cookie value is masked at ingest).
STORED_KINDS = {
    "user id",
    "file name",
    "url query",
    "url path segment",
    "otlp resource attribute",
    "otlp span attribute",
    "otlp span name",
    "otlp span event name",
    "otlp span event attribute",
    "otlp span link attribute",
    "otlp status message",
    "otlp log body",
    "otlp log attribute",
    "har page title",
    "har request header",
    "har response header",
    "har response body",
    "rrweb page text",
    "rrweb request header",
    "rrweb console message",
    "rrweb console stack",
    "rrweb custom event",
    "sdk span name",
    "sdk span attribute",
    "sdk child attribute",
    "sdk log body",
    "sdk log attribute",
}


def file_bytes(db: Path) -> bytes:
    """The database, its -wal and its -shm, as they are on disk."""
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcp_sessions", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Corpus, Path]:
    folder = tmp_path_factory.mktemp("corpus")
    corpus = build(folder / "files")
    db = folder / "corpus.db"
    with Store(db) as store:
        results = list(ingest_paths(store, [str(f) for f in corpus.files]))
    assert [r.error for r in results if r.status != "stored"] == []
    return corpus, db


@pytest.fixture
def corpus(built: tuple[Corpus, Path]) -> Corpus:
    return built[0]


@pytest.fixture
def db(built: tuple[Corpus, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "sessions.db"
    shutil.copyfile(built[1], copy)
    return copy


def ann_traces(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT trace_id FROM traces WHERE session_id = ?", (ANN_SESSION,))} | {
            r[0] for r in conn.execute("SELECT DISTINCT trace_id FROM spans WHERE user_id LIKE 'ann-%'")
        }
    finally:
        conn.close()


def kept_state(conn: sqlite3.Connection) -> dict[str, list]:
    """What erasing ann must leave exactly as it was."""
    return {
        "sessions": conn.execute("SELECT * FROM sessions WHERE session_id != ? ORDER BY 1", (ANN_SESSION,)).fetchall(),
        "spans": conn.execute(
            "SELECT trace_id, span_id, fingerprint, self_ns, critical_ns FROM spans WHERE trace_id IN "
            "(SELECT trace_id FROM traces WHERE session_id IS NOT NULL AND session_id != ?) ORDER BY 1, 2",
            (ANN_SESSION,),
        ).fetchall(),
    }


def assert_exact(conn: sqlite3.Connection) -> None:
    """Every kept summary equals a fresh computation, and every session row a fresh derivation."""
    assert summaries.differences(conn) == {}
    before = conn.execute("SELECT * FROM sessions ORDER BY session_id").fetchall()
    conn.execute("BEGIN")
    derive_sessions(conn, [r[0] for r in before])
    again = conn.execute("SELECT * FROM sessions ORDER BY session_id").fetchall()
    conn.execute("ROLLBACK")
    assert again == before


class Reader:
    """Another process holding a read transaction on the database (as a `sqlite3` shell or a server would)."""

    SCRIPT = (
        "import sqlite3, sys, time\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('BEGIN'); c.execute('SELECT count(*) FROM spans').fetchone()\n"
        "print('holding', flush=True)\n"
        "hold = float(sys.argv[2])\n"
        "time.sleep(hold) if hold >= 0 else sys.stdin.readline()\n"
        "c.execute('COMMIT')\n"
        "print('released', flush=True)\n"
        "sys.stdin.readline()\n"
    )

    def __init__(self, db: Path, hold_s: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, str(db), str(hold_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "holding"

    def release(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def idle_reader(db: Path) -> Iterator[Reader]:
    """A connection of another process left open outside any transaction, so the -wal and -shm stay on disk
    to be scanned. (In this process, reading the files would drop its own connections' POSIX locks.)"""
    reader = Reader(db, hold_s=0)
    assert reader.process.stdout is not None and reader.process.stdout.readline().strip() == "released"
    yield reader
    reader.close()


def test_every_table_is_named_by_the_erasure_map(tmp_path: Path):
    with Store(tmp_path / "fresh.db") as store:
        tables = {
            r[0]
            for r in store.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        # every statement and condition of the map compiles against the schema
        scope = erasure_map.user_scope("nobody")
        erasure_map.select(store.conn, scope)
        assert erasure_map.leftovers(store.conn, scope) == {}
    missing = tables - erasure_map.covered_tables()
    assert not missing, f"tables neither erased nor declared as holding no personal data: {sorted(missing)}"
    assert erasure_map.covered_tables() <= tables, "the map names a table the schema does not have"
    assert all(c.holds.strip() for c in erasure_map.TABLES)
    assert {c.how for c in erasure_map.TABLES if c.table in ("spans", "events", "logs", "traces", "sessions")} >= {
        "deleted"
    }


def test_forget_leaves_no_byte_of_the_user_in_the_db_wal_or_shm(corpus: Corpus, db: Path, idle_reader):
    raw = file_bytes(db)
    found = markers_in(raw)
    assert corpus.planter.kinds(found) >= STORED_KINDS, STORED_KINDS - corpus.planter.kinds(found)
    traces = ann_traces(db)
    assert len(traces) >= 60 and all(t.encode() in raw for t in traces)
    with Store(db) as store:
        kept = kept_state(store.conn)

    result = run("forget", "--user", corpus.user, "--db", str(db))

    assert result.returncode == 0, result.stderr
    assert "removed 1 sessions, 65 traces" in result.stdout and "browser events" in result.stdout
    assert "is refused at ingest" in result.stdout and "salted hashes" in result.stdout
    assert {p.name for p in db.parent.glob(db.name + "*")} == {db.name, f"{db.name}-wal", f"{db.name}-shm"}
    raw = file_bytes(db)
    assert markers_in(raw) == set(), corpus.planter.kinds(markers_in(raw))
    assert ANN_SESSION.encode() not in raw and corpus.user.encode() not in raw
    assert [t for t in traces if t.encode() in raw] == []
    assert b"sess_fe4b521ef5dd312b" in raw  # carol's session is still there
    with Store(db) as store:
        conn = store.conn
        assert_exact(conn)
        assert kept_state(conn) == kept
        ann_sources = [r[0] for r in conn.execute("SELECT source FROM ingests WHERE id <= 5 ORDER BY id")]
        assert ann_sources == [erasure_map.REMOVED_SOURCE] * 5


def test_forget_drops_the_hashes_of_path_values_only_the_user_had(corpus: Corpus, db: Path):
    segments = [m for m, kind in corpus.planter.planted.items() if kind == "url path segment"]
    with Store(db) as store:
        conn = store.conn
        salt = salt_of(conn)

        def stored_values() -> set[str]:
            return {r[0] for r in conn.execute("SELECT value FROM url_values")}

        planted = {url_templates._keyed(salt, value_key(m)) for m in segments}
        assert planted & stored_values()  # the corpus did teach the templates her values
        assert not {value_key(m) for m in segments} & stored_values()  # never unsalted
        rules_in_use = set(conn.execute("SELECT * FROM url_rules"))
        removed = retention.forget_user(conn, corpus.user)
        assert removed.url_values > 0
        assert planted & stored_values() == set()
        # rules only go where no remaining path reaches: every stored fingerprint templates as before
        templates = url_templates.load(conn)
        for (fingerprint,) in conn.execute("SELECT DISTINCT fingerprint FROM spans WHERE fingerprint LIKE '%/%'"):
            assert templates.retemplate(fingerprint) == fingerprint
        assert set(conn.execute("SELECT * FROM url_rules")) <= rules_in_use


def test_prune_leaves_no_byte_of_what_it_removed(corpus: Corpus, db: Path, idle_reader):
    with Store(db) as store:
        conn = store.conn
        (ann_end,) = conn.execute("SELECT end_ns FROM sessions WHERE session_id = ?", (ANN_SESSION,)).fetchone()
        (kept_start,) = conn.execute(
            "SELECT min(start_ns) FROM sessions WHERE session_id != ?", (ANN_SESSION,)
        ).fetchone()
        assert ann_end < kept_start
        kept = kept_state(conn)
        removed = retention.prune_older_than(conn, ann_end + 1)
        assert (removed.sessions, removed.traces, removed.logs) == (1, 65, 3) and removed.events > 150
        raw = file_bytes(db)
        assert markers_in(raw) == set(), corpus.planter.kinds(markers_in(raw))
        assert ANN_SESSION.encode() not in raw
        assert_exact(conn)
        assert kept_state(conn) == kept
        assert conn.execute("SELECT count(*) FROM erased_ids").fetchone() == (0,)  # prune remembers nothing


def test_prune_takes_stray_logs_whose_trace_was_never_stored(tmp_path: Path):
    doc = {
        "resourceLogs": [
            {
                "resource": {"attributes": []},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1700000000000000000",
                                "body": {"stringValue": "orphan ZQMK9999x"},
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                            }
                        ]
                    }
                ],
            }
        ]
    }
    path = tmp_path / "logs.json"
    path.write_text(json.dumps(doc))
    db = tmp_path / "stray.db"
    with Store(db) as store:
        assert ingest_file(store, path).status == "stored"
        removed = retention.prune_older_than(store.conn, 1_700_000_000_000_000_001)
        assert removed.logs == 1
        assert MARKER.search(file_bytes(db)) is None


def test_forget_waits_for_a_reader_then_succeeds(corpus: Corpus, db: Path):
    reader = Reader(db, hold_s=2.0)
    try:
        started = time.monotonic()
        result = run("forget", "--user", corpus.user, "--db", str(db), "--wait", "30")
        waited = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert waited >= 1.5
        assert markers_in(file_bytes(db)) == set()  # the reader is still connected: its -wal and -shm are scanned
    finally:
        reader.close()


def test_forget_fails_loudly_while_a_reader_holds_the_file_and_removes_nothing(corpus: Corpus, db: Path):
    before = markers_in(file_bytes(db))
    reader = Reader(db, hold_s=-1)
    try:
        result = run("forget", "--user", corpus.user, "--db", str(db), "--wait", "1")
        assert result.returncode == 2
        assert "nothing was removed" in result.stderr
        assert f"pid {reader.process.pid}" in result.stderr and "--wait" in result.stderr
        assert "forgot" not in result.stdout
    finally:
        reader.release()
        reader.close()
    assert markers_in(file_bytes(db)) == before
    with Store(db) as store:
        assert store.conn.execute("SELECT count(*) FROM sessions WHERE session_id = ?", (ANN_SESSION,)).fetchone() == (
            1,
        )
    again = run("forget", "--user", corpus.user, "--db", str(db))
    assert again.returncode == 0, again.stderr
    assert markers_in(file_bytes(db)) == set()


def test_a_rewrite_a_reader_blocks_is_an_error_and_the_bytes_are_really_still_there(corpus: Corpus, db: Path):
    with Store(db) as store:
        conn = store.conn
        reader = Reader(db, hold_s=-1)  # its snapshot still holds the row deleted next
        try:
            conn.execute("PRAGMA secure_delete = OFF")
            conn.execute("DELETE FROM logs WHERE body LIKE '%ZQMK%'")
            with pytest.raises(ErasureIncompleteError, match="may still be in the file") as failure:
                retention.reclaim(conn, wait_s=0.5)
            assert f"pid {reader.process.pid}" in str(failure.value)
            assert "otlp log body" in {corpus.planter.planted[m] for m in markers_in(file_bytes(db))}
        finally:
            reader.release()
            reader.close()
        retention.reclaim(conn, wait_s=5)
        assert "otlp log body" not in {corpus.planter.planted[m] for m in markers_in(file_bytes(db))}


def test_an_erasure_whose_derived_rows_would_outlive_it_commits_nothing(corpus: Corpus, db: Path):
    with Store(db) as store:
        conn = store.conn
        conn.execute("DROP TRIGGER sessions_derived_delete")  # her session's search text would stay
        with pytest.raises(StoreError, match="left rows in session_search; nothing was removed"):
            retention.forget_user(conn, corpus.user)
        assert conn.execute("SELECT count(*) FROM sessions WHERE session_id = ?", (ANN_SESSION,)).fetchone() == (1,)


def _changed_copies(corpus: Corpus, folder: Path) -> list[Path]:
    """Her files again with different bytes (a re-export), so ingest does not skip them as already seen."""
    folder.mkdir()
    copies = []
    for path in corpus.ann_files:
        copy = folder / path.name.replace("ann-", "again-")
        copy.write_bytes(path.read_bytes() + b"\n")
        copies.append(copy)
    return copies


def _sdk_export(path: Path, spans: list[tuple[str, dict, str | None]]) -> Path:
    """Spans (name, attributes, parent trace id or None) as the OpenTelemetry SDK exports them."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.erasure.later")
    for name, attributes, trace_id in spans:
        context = None
        if trace_id is not None:
            parent = SpanContext(int(trace_id, 16), 0x1234, is_remote=True, trace_flags=TraceFlags(1))
            context = set_span_in_context(NonRecordingSpan(parent))
        with tracer.start_as_current_span(name, context=context, attributes=attributes):
            if name.startswith("parent"):
                with tracer.start_as_current_span(f"{name} child"):
                    pass
    provider.shutdown()
    path.write_text(MessageToJson(encode_spans(exporter.get_finished_spans())))
    return path


def test_data_arriving_later_under_erased_ids_is_refused_and_reported(corpus: Corpus, db: Path, tmp_path: Path):
    erased_trace = sorted(ann_traces(db))[0]
    assert run("forget", "--user", corpus.user, "--db", str(db)).returncode == 0
    with Store(db) as store:
        before = {t: store.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("spans", "events", "logs")}
    later = _sdk_export(
        tmp_path / "later.json",
        [
            ("parent under her session", {"session.id": ANN_SESSION}, None),  # and its child, which carries no id
            ("under her user", {"user.id": corpus.user}, None),
            ("late span of her trace", {}, erased_trace),
            ("someone else", {"session.id": "sess-someone-else"}, None),
        ],
    )
    result = run("ingest", *map(str, _changed_copies(corpus, tmp_path / "again")), str(later), "--db", str(db))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all("under erased sessions/users refused" in line for line in lines[:-1]), result.stdout
    assert "later.json (otlp-json): 1 spans" in result.stdout and "4 records under erased" in result.stdout
    raw = file_bytes(db)
    assert markers_in(raw) == set() and ANN_SESSION.encode() not in raw and erased_trace.encode() not in raw
    with Store(db) as store:
        conn = store.conn
        after = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("spans", "events", "logs")}
        assert after == {**before, "spans": before["spans"] + 1}
        assert conn.execute("SELECT name FROM spans WHERE session_id = 'sess-someone-else'").fetchall() == [
            ("someone else",)
        ]
        refused = conn.execute("SELECT sum(records_refused) FROM ingests").fetchone()[0]
        assert refused >= 280 + 92 + 73 + 4
        assert conn.execute("SELECT count(*) FROM ingests WHERE source LIKE '%again-%'").fetchone() == (0,)
        assert_exact(conn)


def _posthog_lines(window: str, user: str) -> str:
    """PostHog's export: rrweb events per line, keyed by window, no session id; one request names the user."""
    start = 1_795_000_000_000
    click = {"type": 3, "timestamp": start, "data": {"source": 2, "type": 2, "id": 1}}
    request = {
        "type": 6,
        "timestamp": start + 500,
        "data": {
            "plugin": "rrweb/network@1",
            "payload": {
                "requests": [
                    {
                        "method": "GET",
                        "name": "https://shop.test/api/orders?m=ZQMK9998x",
                        "status": 200,
                        "requestHeaders": {"baggage": f"user.id={user}"},
                    }
                ]
            },
        },
    }
    scroll = {"type": 3, "timestamp": start + 900, "data": {"source": 3, "id": 1, "x": 0, "y": 400}}
    return "".join(json.dumps({"window_id": window, "data": [e]}) + "\n" for e in (click, request, scroll))


def test_keyless_events_in_an_erased_inactivity_session_are_refused(tmp_path: Path):
    db = tmp_path / "posthog.db"
    first = tmp_path / "export.jsonl"
    first.write_text(_posthog_lines("win-1", "ann-posthog"))
    with Store(db) as store:
        assert ingest_file(store, first).counts.events_stored == 3
        assert retention.forget_user(store.conn, "ann-posthog").events == 3
        again = tmp_path / "export-again.jsonl"
        again.write_text(_posthog_lines("win-1", "ann-posthog").replace("ZQMK9998x", "ZQMK9997x") + "\n")
        result = ingest_file(store, again)
        # the request names her: refused at once; the click and scroll fall in her inactivity session again
        assert (result.counts.events_stored, result.counts.records_refused) == (0, 3)
        assert store.conn.execute("SELECT count(*) FROM events").fetchone() == (0,)
    assert MARKER.search(file_bytes(db)) is None


@pytest.fixture
def forgotten(corpus: Corpus, db: Path) -> Path:
    with Store(db) as store:
        retention.forget_user(store.conn, corpus.user)
    return db


def test_the_receiver_refuses_spans_under_erased_ids_and_says_so(forgotten: Path):
    store = Store(forgotten)
    sock = receiver.bind("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = receiver.uvicorn_server(receiver.create_app(store))
    import threading

    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        before = store.conn.execute("SELECT count(*) FROM spans").fetchone()[0]
        # the SDK's own exporter: its batch is answered 200 (nothing to retry) though most of it is refused
        provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces")))
        tracer = provider.get_tracer("tests.erasure.receiver")
        with (
            tracer.start_as_current_span("POST /api/cart", attributes={"session.id": ANN_SESSION}),
            tracer.start_as_current_span("INSERT cart"),  # no id of its own: refused with its trace
        ):
            pass
        with tracer.start_as_current_span("GET /health", attributes={"session.id": "sess-live"}):
            pass
        provider.shutdown()
        assert store.conn.execute("SELECT count(*) FROM spans").fetchone()[0] == before + 1
        # by hand, to read the answer: one request holding a refused and a kept span
        doc = json.loads(
            _sdk_export(
                Path(forgotten.parent / "mixed.json"),
                [("GET /cart", {"session.id": ANN_SESSION}, None), ("GET /ok", {"session.id": "s-ok"}, None)],
            ).read_text()
        )
        response = httpx.post(f"{url}/v1/traces", json=doc, timeout=30)
        assert response.status_code == 200
        partial = response.json()["partialSuccess"]
        assert partial["rejectedSpans"] == "1"
        assert partial["errorMessage"] == "1 spans under erased sessions or users refused"
        assert store.conn.execute("SELECT count(*) FROM spans WHERE name = 'GET /ok'").fetchone() == (1,)
        assert store.conn.execute("SELECT count(*) FROM spans WHERE session_id = ?", (ANN_SESSION,)).fetchone() == (0,)
        # a page of her erased session posting rrweb events: refused, and the answer says how many
        events = [
            {
                "type": 4,
                "timestamp": 1_700_000_000_000,
                "data": {"href": "https://shop.example/", "width": 1, "height": 1},
            },
            {"type": 5, "timestamp": 1_700_000_000_100, "data": {"tag": "checkout", "payload": {"step": 1}}},
        ]
        batch = {"session_id": ANN_SESSION, "page_id": "p-1", "seq": 0, "events": events}
        answer = httpx.post(f"{url}/v1/rrweb", json=batch, timeout=30)
        assert answer.status_code == 200 and answer.json()["stored"] == 0 and answer.json()["refused"] == 2, answer.text
        assert store.conn.execute("SELECT count(*) FROM events WHERE session_key = ?", (ANN_SESSION,)).fetchone() == (
            0,
        )
    finally:
        server.should_exit = True
        thread.join(20)
        store.close()
    assert ANN_SESSION.encode() not in file_bytes(forgotten)


@pytest.mark.anyio
async def test_no_tool_finds_anything_of_an_erased_user(corpus: Corpus, db: Path):
    traces = sorted(ann_traces(db))
    server = create_server(db)
    async with Client(server) as client:
        errors = await client.call_tool("find_errors", {})
        assert "ZQMK" in errors.content[0].text  # her console error is shown before
        with Store(db) as store:
            retention.forget_user(store.conn, corpus.user)
        outputs = [
            await client.call_tool("list_sessions", {}),
            await client.call_tool("list_sessions", {"user_id": corpus.user}),
            await client.call_tool("list_traces", {}),
            await client.call_tool("list_traces", {"unsessioned": True}),
            await client.call_tool("find_errors", {}),
            await client.call_tool("find_slow_spans", {}),
            await client.call_tool("find_slow_spans", {"group_by": "operation"}),
        ]
        for result in outputs:
            assert not result.is_error, result.content[0].text
        about_her = [
            await client.call_tool("get_session", {"session_id": ANN_SESSION}),
            await client.call_tool("get_timeline", {"session_id": ANN_SESSION}),
            await client.call_tool("list_traces", {"session_id": ANN_SESSION}),
            await client.call_tool("get_trace", {"trace_id": traces[0]}),
            await client.call_tool("diff_against_baseline", {"session_id": ANN_SESSION}),
            await client.call_tool("draft_regression_test", {"session_id": ANN_SESSION}),
        ]
        resources = []
        for uri in (f"session://{ANN_SESSION}", f"trace://{traces[0]}"):
            try:
                resources.append(str(await client.read_resource(uri)))
            except Exception as exc:  # an unknown resource is an MCP error: its text is checked all the same
                resources.append(str(exc))
    assert all(r.is_error for r in about_her[:4] + about_her[5:]), [r.content[0].text for r in about_her]
    assert (outputs[1].structured_content or {}).get("sessions") == []
    texts = [r.content[0].text + json.dumps(r.structured_content or {}) for r in outputs] + resources
    texts += [r.content[0].text + json.dumps(r.structured_content or {}) for r in about_her]
    for text in texts:  # a requested id may be echoed back; nothing else of hers may appear
        assert MARKER.search(text.encode()) is None, text[:500]
        assert not any(t in text for t in traces[1:])
    assert all(corpus.user not in text for n, text in enumerate(texts) if n != 1)
    listed = [t["trace_id"] for t in (outputs[2].structured_content or {}).get("traces", [])]
    assert listed and not set(listed) & set(traces)


def test_upgrading_to_schema_9_salts_the_stored_url_values(corpus: Corpus, tmp_path: Path, monkeypatch):
    from schema_shims import (
        add_schema_9,
        add_schema_10,
        add_schema_11,
        add_schema_12,
        remove_schema_9,
        remove_schema_10,
        remove_schema_11,
        remove_schema_12,
    )

    from mcp_sessions.store.sqlite import db as db_module
    from mcp_sessions.store.sqlite import schema

    def schema_8_as_todays_writer_needs(conn: sqlite3.Connection) -> None:
        schema.migrate(conn, target=8)
        add_schema_9(conn)
        add_schema_10(conn)
        add_schema_11(conn)
        add_schema_12(conn)

    old = tmp_path / "old.db"
    with monkeypatch.context() as schema_8:
        schema_8.setattr(db_module, "migrate", schema_8_as_todays_writer_needs)
        schema_8.setattr(url_templates, "_salt", lambda conn: None)  # url_values as schema 8 kept them
        with Store(old) as store:
            assert all(r.status == "stored" for r in ingest_paths(store, [str(f) for f in corpus.kept_files]))
            assert schema.current_version(store.conn) == 8
            unsalted = set(store.conn.execute("SELECT * FROM url_values"))
            remove_schema_12(store.conn)
            remove_schema_11(store.conn)
            remove_schema_10(store.conn)
            remove_schema_9(store.conn)
    assert unsalted
    with Store(old) as upgraded, Store(tmp_path / "fresh.db") as fresh:
        conn = upgraded.conn
        assert schema.current_version(conn) == schema.LATEST_VERSION
        salt = salt_of(conn)
        assert set(conn.execute("SELECT * FROM url_values")) == {
            (url_templates._keyed(salt, p), url_templates._keyed(salt, v), shape, declared)
            for p, v, shape, declared in unsalted
        }
        assert conn.execute("SELECT count(*) FROM erased_ids").fetchone() == (0,)
        # learning goes on from the salted values as it would have from the start
        assert all(r.status == "stored" for r in ingest_paths(upgraded, [str(f) for f in corpus.ann_files]))
        everything = [*corpus.kept_files, *corpus.ann_files]
        assert all(r.status == "stored" for r in ingest_paths(fresh, [str(f) for f in everything]))
        rules = "SELECT * FROM url_rules ORDER BY position"
        assert conn.execute(rules).fetchall() == fresh.conn.execute(rules).fetchall()
        fingerprints = "SELECT DISTINCT service, fingerprint FROM spans ORDER BY 1, 2"
        assert conn.execute(fingerprints).fetchall() == fresh.conn.execute(fingerprints).fetchall()
        retention.forget_user(conn, corpus.user)
        assert_exact(conn)
