"""The ClickHouse store on the real engine (chdb in-process, through clickhouse-connect's client).

The contract suite (tests/contract) runs on it unchanged; here: every tool answers as it does
on SQLite, the second question about a session is served by the cache, retried inserts count
once, what the cluster holds is redacted on the way in, the variant is read from the tables.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from mcp import Client

from mcp_sessions.errors import InvalidArgumentError, StoreError
from mcp_sessions.model import Span, TraceFilter
from mcp_sessions.server import create_server
from mcp_sessions.store import protocol
from mcp_sessions.store.open import open_store
from tests import clickhouse_support
from tests.contract.conftest import HOSTILE_SESSION, HOSTILE_TRACE, corpus, hostile, sqlite_store

pytestmark = pytest.mark.skipif(not clickhouse_support.available(), reason="needs the [clickhouse] extra (chdb)")


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """The same corpus as a SQLite file, and in chdb (its browser events in a local file)."""
    folder = tmp_path_factory.mktemp("clickhouse-tools")
    ingests = corpus()
    sqlite_store(folder, ingests).close()
    dsn = clickhouse_support.load_cluster(ingests, "tools")
    cache = folder / "cache.db"
    clickhouse_support.load_local_browser(cache, ingests)
    return folder / "contract.db", dsn, cache


def test_every_question_of_the_seam_fills_the_cache_first():
    from mcp_sessions.store.clickhouse.store import ClickHouseStore

    for cls in (protocol.TraceStore, protocol.EventStore):
        for name, member in vars(cls).items():
            if callable(member) and not name.startswith("_"):
                assert name in vars(ClickHouseStore), name


async def _answers(server) -> list[object]:
    out: list[object] = []
    async with Client(server) as client:
        sessions = (await client.call_tool("list_sessions", {"limit": 50})).structured_content
        out.append(sessions)
        traces = (await client.call_tool("list_traces", {"limit": 50})).structured_content
        out.append(traces)
        for name, args in (("find_slow_spans", {}), ("find_errors", {}), ("find_slow_spans", {"group_by": "span"})):
            out.append((await client.call_tool(name, args)).structured_content)
        for s in sessions["sessions"][:6]:
            sid = s["session_id"]
            for name in ("get_session", "get_timeline", "find_errors", "find_slow_spans"):
                result = await client.call_tool(name, {"session_id": sid})
                out.append((name, sid, result.is_error, result.structured_content))
        for t in traces["traces"][:6]:
            result = await client.call_tool("get_trace", {"trace_id": t["trace_id"]})
            out.append(("get_trace", result.is_error, result.structured_content))
    return out


def _one_source(value: object) -> object:
    """The answer with each session's `sources` read as one: the SQLite fixture stores every ingest as
    format 'records'; here the spans came from 'clickhouse' and the browser events as 'records'."""
    if isinstance(value, dict):
        return {
            k: sorted({"records" if s == "clickhouse" else s for s in v}) if k == "sources" else _one_source(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_one_source(v) for v in value]
    return value


@pytest.mark.anyio
async def test_every_tool_answers_as_on_sqlite(both):
    sqlite_db, dsn, cache = both
    on_sqlite = await _answers(create_server(sqlite_db))
    on_clickhouse = await _answers(create_server(cache, store_dsn=dsn))
    assert len(on_sqlite) == len(on_clickhouse) > 20
    for a, b in zip(on_sqlite, on_clickhouse, strict=True):
        assert _one_source(a) == _one_source(b)


def test_the_second_question_about_a_session_is_answered_from_the_cache(both, tmp_path):
    _, dsn, _ = both
    store = open_store(dsn, database=tmp_path / "cache.db")
    try:
        assert store.cache_status().traces == 0
        first = store.session_traces(HOSTILE_SESSION)
        asked = store.remote.statements  # type: ignore[attr-defined]
        assert asked > 0 and list(first) == [HOSTILE_TRACE]
        store._asked.clear()  # type: ignore[attr-defined]  (past the refresh interval)
        again = store.session_traces(HOSTILE_SESSION)
        assert again == first
        # only the session's trace ids are asked again; its spans come from the file
        assert store.remote.statements == asked + 1  # type: ignore[attr-defined]
        status = store.cache_status()
        assert status.traces == 1 and status.spans == 2 and status.fetches == 1
        assert status.oldest_fetch_ns is not None and status.newest_fetch_ns is not None
    finally:
        store.close()


def test_spans_inserted_twice_by_collector_retries_count_once(both, tmp_path):
    sqlite_db, dsn, _ = both  # load_cluster wrote every row twice
    from mcp_sessions.store import SqliteStore

    local = SqliteStore(sqlite_db, readonly=True)
    remote = open_store(dsn, database=tmp_path / "cache.db")
    try:
        a = local.traces(TraceFilter(), sort="oldest", limit=500, cursor=None)
        b = remote.traces(TraceFilter(), sort="oldest", limit=500, cursor=None)
        assert a.total == b.total == len(b.rows)
        assert [(t.trace_id, t.span_count) for t in a.rows] == [(t.trace_id, t.span_count) for t in b.rows]
        assert sum(t.span_count for t in b.rows) > 1000
    finally:
        local.close()
        remote.close()


def test_secrets_the_cluster_holds_are_redacted_on_the_way_in(tmp_path):
    secret = "sk_live_51HqLyjWDarjtT1zdp7dcXYZ"
    records = hostile()
    records[0] = replace(
        records[0],
        attributes={**records[0].attributes, "http.request.header.authorization": f"Bearer {secret}"},  # type: ignore[attr-defined]
    )
    dsn = clickhouse_support.load_cluster([records], "redaction")
    store = open_store(dsn, database=tmp_path / "cache.db")
    try:
        spans = store.trace_spans(HOSTILE_TRACE)
        assert spans and secret not in repr(spans)
        assert secret not in (tmp_path / "cache.db").read_bytes().decode("latin-1")
    finally:
        store.close()


@pytest.mark.parametrize(("json", "long_names"), [(False, False), (False, True), (True, False)])
def test_the_variant_is_read_from_the_tables(json, long_names, tmp_path):
    from mcp_sessions.store.clickhouse.connect import remote_of

    database = f"variant_{int(json)}{int(long_names)}"
    dsn = clickhouse_support.load_cluster([hostile()], database, json=json, long_names=long_names, copies=1)
    remote = remote_of(dsn)
    try:
        v = remote.variant
        assert (v.attributes, v.spelling) == ("json" if json else "map", "long" if long_names else "short")
        assert v.has_trace_id_ts == (not json) and v.has_logs and v.logs_event_name
        spans = sorted(remote.spans([HOSTILE_TRACE]), key=lambda s: s.span_id)
        assert [(s.kind, s.status_code) for s in spans] == [("server", "error"), ("client", "unset")]
        assert spans[0].attributes["session.id"] == HOSTILE_SESSION
        assert spans[0].events[0].attributes["exception.type"] == "KeyError"
        assert isinstance(spans[0], Span) and spans[0].parent_span_id is None
        assert [r.body for r in remote.logs([HOSTILE_TRACE])] == ["it broke"]
    finally:
        remote.client.close()


def test_a_store_dsn_of_an_unknown_kind_names_the_known_ones(tmp_path):
    with pytest.raises(InvalidArgumentError, match=r"unknown scheme 'mysql'.*clickhouse://"):
        open_store("mysql://h/db", database=tmp_path / "x.db")


def test_a_database_without_the_exporter_tables_says_where_to_point(tmp_path):
    c = clickhouse_support.client()
    c.command("CREATE DATABASE IF NOT EXISTS empty_one")
    c.close()
    with pytest.raises(StoreError, match="otel_traces"):
        open_store(f"{clickhouse_support.DSN_ROOT}?database=empty_one", database=tmp_path / "x.db")


def test_failures_and_loops_over_all_data_fetch_only_the_traces_that_hold_them(both, tmp_path):
    from mcp_sessions.analysis.patterns import calls_tree, trace_patterns
    from mcp_sessions.analysis.tree import build_tree
    from mcp_sessions.model import SpanScope
    from mcp_sessions.store import SqliteStore

    sqlite_db, dsn, _ = both
    local = SqliteStore(sqlite_db, readonly=True)
    remote = open_store(dsn, database=tmp_path / "cache.db")
    try:
        everything = SpanScope()
        a, b = local.failures(everything), remote.failures(everything)
        assert [(s, span.span_id) for s, span in a.spans] == [(s, span.span_id) for s, span in b.spans]
        assert [(s, log.time_ns, log.body) for s, log in a.logs] == [(s, log.time_ns, log.body) for s, log in b.logs]
        assert a.spans and a.logs
        fetched = remote.cache_status().traces
        all_traces = local.traces(TraceFilter(), sort="oldest", limit=500, cursor=None).total
        assert 0 < fetched < all_traces  # only the failing traces came over

        loops = {
            (p.service, p.fingerprint)
            for t in local.traces(TraceFilter(), sort="oldest", limit=500, cursor=None).rows
            for p in trace_patterns(calls_tree(build_tree(local.trace_spans(t.trace_id))))
            if p.kind == "n_plus_one"
        }
        assert loops
        fresh = open_store(dsn, database=tmp_path / "cache-loops.db")
        try:
            assert fresh.operation_loops(everything, sorted(loops)) == local.operation_loops(everything, sorted(loops))
            assert 0 < fresh.cache_status().traces < all_traces  # type: ignore[attr-defined]
        finally:
            fresh.close()
    finally:
        local.close()
        remote.close()


def test_accelerators_find_the_same_traces_of_every_session(tmp_path, capsys):
    from mcp_sessions.cli import main
    from mcp_sessions.store.clickhouse.connect import remote_of

    ingests = corpus()
    dsn = clickhouse_support.load_cluster(ingests, "accelerated", copies=1)
    plain = remote_of(dsn)
    keys = sorted(
        {
            s.attributes["session.id"]
            for i in ingests
            for s in i
            if isinstance(s, Span) and s.attributes.get("session.id")
        }
    )
    before = {k: sorted(plain.session_trace_ids(k)) for k in keys}
    plain.client.close()
    assert len(keys) > 5 and all(before.values())

    assert main(["--db", str(tmp_path / "x.db"), "clickhouse", "init-accelerators", "--store", dsn]) == 0
    printed = capsys.readouterr().out
    assert "ADD COLUMN IF NOT EXISTS McpSessionId" in printed and "otel_mcp_sessions" in printed
    assert not remote_of(dsn).has_sessions_table  # printing changes nothing
    assert main(["--db", str(tmp_path / "x.db"), "clickhouse", "init-accelerators", "--store", dsn, "--apply"]) == 0
    accelerated = remote_of(dsn)
    try:
        assert accelerated.has_sessions_table and accelerated.variant.session_column
        assert {k: sorted(accelerated.session_trace_ids(k)) for k in keys} == before
    finally:
        accelerated.client.close()
    assert main(["--db", str(tmp_path / "x.db"), "clickhouse", "status", "--store", dsn]) == 0
    assert "accelerators yes" in capsys.readouterr().out


def test_serve_with_a_store_of_an_unknown_kind_exits_with_a_setup_error(tmp_path, capsys):
    from mcp_sessions.cli import main

    assert main(["--db", str(tmp_path / "x.db"), "serve", "--store", "mysql://h/db"]) == 2
    assert "clickhouse://" in capsys.readouterr().err


def test_an_unreachable_cluster_is_a_store_error_naming_the_host(tmp_path):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreError, match=f"cannot reach ClickHouse at 127.0.0.1:{port}") as caught:
        open_store(f"clickhouse://reader:s3cret@127.0.0.1:{port}/otel", database=tmp_path / "x.db")
    assert "s3cret" not in str(caught.value)


def _browser_only(tmp_path: Path) -> Path:
    """A local file holding only the browser recordings, as before any question to the cluster."""
    path = tmp_path / "browser.db"
    clickhouse_support.load_local_browser(path, corpus())
    return path


def test_a_session_asked_first_from_an_empty_cache_holds_what_sqlite_holds(both, tmp_path):
    """Its traces by key, by the trace header of its requests, and those linked to a request by time window."""
    from mcp_sessions.model import SessionFilter
    from mcp_sessions.store import SqliteStore

    sqlite_db, dsn, _ = both
    local = SqliteStore(sqlite_db, readonly=True)
    browser_only = _browser_only(tmp_path)
    try:
        for n, s in enumerate(local.sessions(SessionFilter(), sort="oldest", limit=500, cursor=None).rows):
            cache = tmp_path / f"cache-{n}.db"
            shutil.copy(browser_only, cache)
            remote = open_store(dsn, database=cache)
            try:
                assert sorted(remote.session_traces(s.session_id)) == sorted(local.session_traces(s.session_id))
                got = remote.session(s.session_id)
                assert got is not None and (got.trace_count, got.span_count) == (s.trace_count, s.span_count)
            finally:
                remote.close()
    finally:
        local.close()


def test_automatic_baselines_are_found_as_on_sqlite_from_an_empty_cache(both, tmp_path):
    from mcp_sessions.model import SessionFilter
    from mcp_sessions.store import SqliteStore

    sqlite_db, dsn, _ = both
    local = SqliteStore(sqlite_db, readonly=True)
    try:
        sessions = [
            s for s in local.sessions(SessionFilter(), sort="oldest", limit=500, cursor=None).rows if s.trace_count
        ]
        expected = {s.session_id: local.baseline_candidates(s.session_id, s.start_ns) for s in sessions}
    finally:
        local.close()
    assert any(expected.values())
    browser_only = _browser_only(tmp_path)
    for n, s in enumerate(sessions):
        cache = tmp_path / f"cache-{n}.db"
        shutil.copy(browser_only, cache)
        remote = open_store(dsn, database=cache)
        try:
            assert remote.baseline_candidates(s.session_id, s.start_ns) == expected[s.session_id], s.session_id
        finally:
            remote.close()


def test_questions_over_a_time_window_answer_as_on_sqlite_from_an_empty_cache(both, tmp_path):
    from mcp_sessions.model import SpanScope
    from mcp_sessions.store import SqliteStore

    sqlite_db, dsn, _ = both
    local = SqliteStore(sqlite_db, readonly=True)
    try:
        traces = local.traces(TraceFilter(), sort="oldest", limit=500, cursor=None).rows
        starts = sorted(t.start_ns for t in traces)
        scope = SpanScope(since_ns=starts[len(starts) // 3], until_ns=starts[2 * len(starts) // 3])
        expected = (local.slow_operations(scope, 10), local.slow_spans(scope, 10))
        remote = open_store(dsn, database=tmp_path / "cache.db")
        try:
            assert (remote.slow_operations(scope, 10), remote.slow_spans(scope, 10)) == expected
            assert expected[0].rows and 0 < remote.cache_status().traces < len(traces)  # type: ignore[attr-defined]
        finally:
            remote.close()
    finally:
        local.close()


@pytest.mark.anyio
async def test_an_answer_over_more_traces_than_were_mirrored_says_so(both, tmp_path):
    """A window holding more traces than `max_traces` is answered over its newest ones: every answer's
    source line says how many the cluster holds and how many the answer covers, never only a log line."""
    from mcp_sessions.store.clickhouse.connect import dsn_options

    _, dsn, _ = both
    capped = f"{dsn}&max_traces=3"
    assert dsn_options(capped) == {"max_traces": 3}
    for bad in ("0", "-5", "2.5", "²", "99999999999", "%00"):
        with pytest.raises(StoreError, match=r"max_traces=.* in the DSN: use a whole number"):
            dsn_options(f"{dsn}&max_traces={bad}")
    async with Client(create_server(tmp_path / "cache.db", store_dsn=capped)) as client:
        listed = await client.call_tool("list_traces", {"limit": 50})
        note = listed.meta["mcp-sessions/source"]
        assert len(listed.structured_content["traces"]) == 3
        held = re.search(r"holds ([\d,]+) traces on the cluster: answers over it cover the newest 3 ", note)
        assert held and int(held.group(1).replace(",", "")) > 3, note
        assert note in listed.content[-1].text
        one = await client.call_tool("get_trace", {"trace_id": listed.structured_content["traces"][0]["trace_id"]})
        assert "cover the newest" not in one.meta["mcp-sessions/source"]
    async with Client(create_server(tmp_path / "whole.db", store_dsn=dsn)) as client:
        whole = await client.call_tool("list_traces", {"limit": 50})
        assert re.search(
            r"the last window asked \(all data\): all [\d,]+ of its traces", whole.meta["mcp-sessions/source"]
        )
