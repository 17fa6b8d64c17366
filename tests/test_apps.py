"""The MCP Apps views through the SDK client, their payloads, and the static report (no browser here).

A client that negotiated Apps sees each view as a `ui://` resource with the app MIME type,
the tools that draw into it by `_meta.ui.resourceUri`, and the views' own read-only tools; a
client without Apps gets today's tool list and exactly the text it got before. The payloads
hold invariants on any trace (critical path stretches inside their spans and adding up to the
root; loops under their parent), leave the answers they read unchanged, and the report's
embedded JSON cannot close its element whatever was recorded.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.server.apps import APP_MIME_TYPE

from mcp_sessions.answers import report as report_module
from mcp_sessions.answers.diff import diff_against_baseline
from mcp_sessions.answers.session import session_overview
from mcp_sessions.answers.timeline import session_timeline
from mcp_sessions.answers.trace import trace_view
from mcp_sessions.cli import main
from mcp_sessions.config import DEFAULT_BUDGET_TOKENS
from mcp_sessions.render import apps as apps_module
from mcp_sessions.render.apps import VIEWS, WATERFALL_MAX_SPANS, page
from mcp_sessions.render.apps.payloads import diff_picture, session_picture, waterfall
from mcp_sessions.render.apps.report import DATA_ELEMENT_ID, embed_json
from mcp_sessions.render.diff import render_diff_answer
from mcp_sessions.render.markdown import Budget
from mcp_sessions.render.models import ReportData
from mcp_sessions.render.session import render_session
from mcp_sessions.render.timeline import render_timeline_answer
from mcp_sessions.render.trace import render_trace_view
from mcp_sessions.server import create_server
from mcp_sessions.store import SqliteStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from apps_harness.harness import apps_client
from apps_harness.recordings import EXPECTED, SHOP, ingest, sample_traces, session_of

pytestmark = pytest.mark.anyio

STATIC = Path(apps_module.__file__).parent / "static"
N_PLUS_ONE = session_of("n-plus-one")
BASELINE = session_of("baseline")
COUPON = session_of("server-error")
CHECKOUT = EXPECTED["n-plus-one"]["checkout"]["trace_id"]
SLOW_CHECKOUT = EXPECTED["slow-payment"]["checkout"]["trace_id"]
BOUND = {"get_trace": "trace", "get_timeline": "session", "get_session": "session", "diff_against_baseline": "diff"}
VIEW_TOOLS = {"view_trace": "trace", "view_session": "session", "view_diff": "diff"}
CALLS = [
    ("get_trace", {"trace_id": CHECKOUT}),
    ("get_trace", {"trace_id": SLOW_CHECKOUT, "max_spans": 5}),
    ("get_timeline", {"session_id": COUPON}),
    ("get_session", {"session_id": COUPON}),
    ("diff_against_baseline", {"session_id": N_PLUS_ONE, "baseline": BASELINE}),
]


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ingest(tmp_path_factory.mktemp("apps") / "shop.db", SHOP)


async def test_the_views_are_app_resources_bound_to_the_tools_that_draw_into_them(shop_db: Path):
    async with apps_client(create_server(shop_db)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        resources = {r.uri: r for r in (await client.list_resources()).resources}
        for view in VIEWS.values():
            assert resources[view.uri].mime_type == APP_MIME_TYPE
            contents = (await client.read_resource(view.uri)).contents
            assert contents[0].mime_type == APP_MIME_TYPE
            assert contents[0].text.startswith("<!doctype html>")
            assert contents[0].meta == {"ui": {"prefersBorder": True}}
    for name, view in {**BOUND, **VIEW_TOOLS}.items():
        ui = tools[name].meta["ui"]
        assert ui["resourceUri"] == VIEWS[view].uri and tools[name].meta["ui/resourceUri"] == VIEWS[view].uri
        assert ui.get("visibility", ["model", "app"]) == (["app"] if name in VIEW_TOOLS else ["model", "app"])
        assert tools[name].annotations.read_only_hint is True
    assert not [n for n, t in tools.items() if (t.meta or {}).get("ui") and n not in {**BOUND, **VIEW_TOOLS}]


async def test_the_view_tools_are_described_like_every_tool_and_in_the_readme(shop_db: Path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    async with apps_client(create_server(shop_db)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    for name in VIEW_TOOLS:
        tool = tools[name]
        text = tool.description
        assert "Example:" in text and f"{name}(" in text and "not by the model" in text
        assert tool.title and tool.output_schema["type"] == "object" and f"`{name}`" in readme
        assert tool.annotations.idempotent_hint and not tool.annotations.open_world_hint


async def test_a_client_without_apps_lists_and_reads_what_it_did_before(shop_db: Path):
    async with Client(create_server(shop_db)) as plain, apps_client(create_server(shop_db)) as apps:
        plain_tools = {t.name for t in (await plain.list_tools()).tools}
        apps_tools = {t.name for t in (await apps.list_tools()).tools}
        assert plain_tools == apps_tools - set(VIEW_TOOLS) and set(VIEW_TOOLS) <= apps_tools
        assert not [r.uri for r in (await plain.list_resources()).resources if r.uri.startswith("ui://")]
        for tool, args in CALLS:
            seen_plain = await plain.call_tool(tool, args)
            seen_apps = await apps.call_tool(tool, args)
            assert [c.text for c in seen_plain.content] == [c.text for c in seen_apps.content], tool
            assert seen_plain.structured_content == seen_apps.structured_content, tool
            assert [c.text for c in seen_plain.content] == [text_answer(shop_db, tool, args)], tool


def text_answer(db: Path, tool: str, args: dict) -> str:
    """What the tool's renderer writes for these arguments, asked directly (no server, no Apps)."""
    budget = Budget(DEFAULT_BUDGET_TOKENS)
    with SqliteStore(db, readonly=True) as store:
        if tool == "get_trace":
            answer = trace_view(store, args["trace_id"], max_spans=args.get("max_spans", 40))
            return render_trace_view(answer, budget=budget)[0]
        if tool == "get_timeline":
            answer = session_timeline(
                store, args["session_id"], kinds=None, from_ms=None, to_ms=None, cursor=None, limit=60
            )
            return render_timeline_answer(answer, budget=budget, next_call={"session_id": args["session_id"]})[0]
        if tool == "get_session":
            return render_session(session_overview(store, args["session_id"]), budget=budget)[0]
        answer = diff_against_baseline(store, args["session_id"], args["baseline"], None, None)
        return render_diff_answer(answer, budget=budget, max_findings=10)[0]


async def test_the_view_tools_answer_with_their_pictures(shop_db: Path):
    async with apps_client(create_server(shop_db)) as client:
        drawn = await client.call_tool("view_trace", {"trace_id": CHECKOUT})
        timeline = await client.call_tool("view_session", {"session_id": COUPON})
        diff = await client.call_tool("view_diff", {"session_id": N_PLUS_ONE, "baseline": BASELINE})
        missing = await client.call_tool("view_trace", {"trace_id": "ab" * 16})
    assert drawn.structured_content["trace"]["shown_spans"] == EXPECTED["n-plus-one"]["checkout"]["span_count"]
    assert "drawn by the mcp-sessions trace view" in drawn.content[0].text
    assert timeline.structured_content["timeline"]["shown"] == timeline.structured_content["timeline"]["total"]
    assert diff.structured_content["rows"] and diff.structured_content["diff"]["findings"]
    assert missing.is_error and "list_traces" in missing.content[0].text


def check_waterfall(answer, picture) -> None:
    """Invariants of a waterfall on any trace."""
    view = picture.trace
    spans = view.spans
    assert len(spans) == min(view.total_spans, WATERFALL_MAX_SPANS) == len(picture.attributes)
    assert [s.span_id for s in spans] == [answer.tree.spans[n].span_id for n in answer.selection.shown]
    one_root = view.focus_span_id is None and len(answer.tree.roots) == 1
    assert [c.start_ms for c in picture.critical] == sorted(c.start_ms for c in picture.critical)
    previous_end = -1.0
    for c in picture.critical:
        span = spans[c.row]
        assert span.offset_ms - 0.002 <= c.start_ms <= c.end_ms <= span.offset_ms + span.duration_ms + 0.002
        assert c.start_ms >= previous_end - 0.002 or not one_root  # one root waits on one thing at a time
        previous_end = c.end_ms
    if one_root:
        root = spans[0]
        assert sum(c.end_ms - c.start_ms for c in picture.critical) == pytest.approx(root.duration_ms, abs=0.01)
    for loop in picture.loops:
        parent = spans[loop.parent_row]
        assert len(loop.rows) >= 5
        assert all(spans[r].parent_span_id == parent.span_id and spans[r].depth == parent.depth + 1 for r in loop.rows)
        assert [spans[r].offset_ms for r in loop.rows] == sorted(spans[r].offset_ms for r in loop.rows)


def test_waterfalls_hold_on_the_shop_and_on_every_sample_trace(shop_db: Path, samples: Path, tmp_path: Path):
    sample_db = ingest(tmp_path / "samples.db", sample_traces(samples))
    for db in (shop_db, sample_db):
        with SqliteStore(db, readonly=True) as store:
            ids = [r[0] for r in store.conn.execute("SELECT trace_id FROM traces")]
            for trace_id in ids:
                answer = trace_view(store, trace_id, max_spans=WATERFALL_MAX_SPANS)
                before = copy.deepcopy((answer.tree, answer.selfs, answer.selection))
                check_waterfall(answer, waterfall(answer)[1])
                assert (answer.tree, answer.selfs, answer.selection) == before  # input unchanged
    with SqliteStore(shop_db, readonly=True) as store:
        loops = waterfall(trace_view(store, CHECKOUT, max_spans=WATERFALL_MAX_SPANS))[1].loops
    expected = {s["fingerprint"] for s in EXPECTED["n-plus-one"]["checkout"]["statements"] if s["count"] == 10}
    assert {loop.fingerprint for loop in loops} == expected and all(len(loop.rows) == 10 for loop in loops)


def test_the_aligned_diff_marks_each_finding_on_its_node(shop_db: Path):
    with SqliteStore(shop_db, readonly=True) as store:
        answer = diff_against_baseline(store, N_PLUS_ONE, BASELINE, None, None)
    _, picture = diff_picture(answer)
    ranks = {f.rank for f in picture.diff.findings}
    marked = {rank for row in picture.rows for rank in row.findings}
    assert ranks and marked == ranks  # every finding lands on a row, no row names another
    assert sum(1 for r in picture.rows if r.depth == 0) == len(answer.result.alignment.steps)
    assert all(b.depth <= a.depth + 1 for a, b in zip(picture.rows, picture.rows[1:], strict=False))
    loop = next(f for f in picture.diff.findings if f.kind == "count")
    row = next(r for r in picture.rows if loop.rank in r.findings)
    assert (row.baseline.count, row.target.count) == (loop.count_before, loop.count_after)


def test_the_session_picture_holds_the_whole_timeline(shop_db: Path):
    with SqliteStore(shop_db, readonly=True) as store:
        overview = session_overview(store, COUPON)
        answer = session_timeline(store, COUPON, kinds=None, from_ms=None, to_ms=None, cursor=None, limit=5_000)
    _, picture = session_picture(overview, answer)
    assert picture.timeline.shown == picture.timeline.total == len(answer.page.items) > 20
    assert picture.overview.session.session_id == COUPON and picture.overview.errors


@pytest.mark.parametrize(
    "text",
    [
        "</script><script>window.__pwned=1</script>",
        "<!-- <script>",
        "a\u2028b\u2029c & <b> > </SCRIPT >",
        "".join(chr(c) for c in range(0, 300)),
    ],
)
def test_embedded_json_cannot_close_its_element_and_reads_back_unchanged(text: str):
    raw = json.dumps({"name": text, "nested": [text, {"k": text}]}, ensure_ascii=False)
    safe = embed_json(raw)
    assert not re.search(r"[<>&\u2028\u2029]", safe)
    assert json.loads(safe) == json.loads(raw)


def test_a_view_whose_script_would_end_its_element_is_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(apps_module, "_static", lambda name: "x = '</script>';" if name.endswith(".js") else "")
    with pytest.raises(ValueError, match="closing tag"):
        page("trace", "t", ("dom.js",))


def test_the_views_never_parse_recorded_text_as_markup_and_fetch_nothing():
    banned = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*[\"']on"
        r"|\bfetch\(|XMLHttpRequest|WebSocket|EventSource|importScripts|\.src\s*=|\.href\s*="
    )
    for path in STATIC.iterdir():
        text = re.sub(r"(?m)^\s*//[^\n]*$|/\*.*?\*/", "", path.read_text(), flags=re.S)  # comments may name them
        assert len(text) > len(path.read_text()) / 2, path.name
        assert not banned.search(text), (path.name, banned.search(text))
        assert not re.search(r"https?://|@import|url\(", text), path.name
    for view in VIEWS.values():
        html = apps_module.view_html(view.name)
        assert html.count("<script") == 1 and not re.search(r"\b(src|href)\s*=", html)


def test_every_view_file_ships_in_the_wheel():
    """pyproject's package-data globs cover every file the views read (a built wheel was checked by hand)."""
    config = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    globs = re.search(r'"mcp_sessions\.render\.apps" = \[(.*?)\]', config).group(1)
    patterns = [g.strip().strip('"') for g in globs.split(",")]
    files = sorted(p.name for p in STATIC.iterdir())
    assert files and all(any(Path("static", f).match(p) for p in patterns) for f in files)
    used = {s for v in VIEWS.values() for s in v.scripts} | set(apps_module.REPORT_SCRIPTS) | {"base.css"}
    assert used == set(files)


def report_data(path: Path) -> ReportData:
    html = path.read_text()
    found = re.search(rf'<script type="application/json" id="{DATA_ELEMENT_ID}">(.*?)</script>', html, re.S)
    return ReportData.model_validate_json(found.group(1))


def test_report_writes_a_session_with_every_trace_it_links(shop_db: Path, tmp_path: Path, capsys):
    out = tmp_path / "coupon.html"
    assert main(["--db", str(shop_db), "report", COUPON, "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    data = report_data(out)
    assert data.kind == "session" and data.session.overview.session.session_id == COUPON
    linked = {e.trace_id for e in data.session.timeline.entries if e.trace_id and e.backend_ms is not None}
    assert linked and linked <= set(data.traces) and len(data.traces) == data.trace_count
    assert main(["--db", str(shop_db), "report", "--trace", CHECKOUT, "-o", str(tmp_path / "t.html")]) == 0
    trace_report = report_data(tmp_path / "t.html")
    assert trace_report.kind == "trace" and trace_report.main_trace == CHECKOUT and trace_report.session is None


def test_a_report_past_its_limits_keeps_the_failing_traces_and_counts_the_rest(
    shop_db: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(report_module, "REPORT_MAX_TRACES", 2)
    with SqliteStore(shop_db, readonly=True) as store:
        answer = report_module.session_report(store, COUPON, entry_limit=5_000, spans_per_trace=WATERFALL_MAX_SPANS)
    assert len(answer.traces) == 2 < answer.trace_count
    assert answer.traces[0].summary.trace_id == EXPECTED["server-error"]["error"]["trace_id"]
    monkeypatch.setattr(report_module, "REPORT_MAX_SPANS", 3)
    with SqliteStore(shop_db, readonly=True) as store:
        answer = report_module.session_report(store, COUPON, entry_limit=5_000, spans_per_trace=WATERFALL_MAX_SPANS)
    assert answer.traces and sum(t.summary.span_count for t in answer.traces) <= 3  # larger traces left out


def test_report_errors_say_what_to_do(shop_db: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    assert main(["--db", str(shop_db), "report", "no-such-session"]) == 2
    assert "no session `no-such-session`" in capsys.readouterr().err
    assert main(["--db", str(shop_db), "report"]) == 2
    assert "SESSION_ID or --trace" in capsys.readouterr().err
    assert main(["--db", str(tmp_path / "missing.db"), "report", COUPON]) == 2
    assert "no database" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing written on failure
    assert main(["--db", str(shop_db), "report", "--trace", CHECKOUT]) == 0
    assert [p.name for p in tmp_path.iterdir()] == [f"mcp-sessions-report-{CHECKOUT}.html"]


# The lists in fields.js and the answer model each one reads (render/models.py).
FIELD_LISTS = {
    "SPAN_FIELDS": "SpanNode",
    "TRACE_FIELDS": "TraceItem",
    "ENTRY_FIELDS": "TimelineEntry",
    "FINDING_FIELDS": "DiffFinding",
}


def test_every_field_the_views_name_is_a_field_of_the_answer_they_draw():
    """A view that names a field the answer does not carry draws nothing for it, silently (after-root
    time went undrawn so once): every name in fields.js's lists and span marks is a model field."""
    from mcp_sessions.render import models

    source = (STATIC / "fields.js").read_text()
    for name, model_name in FIELD_LISTS.items():
        body = re.search(rf"const {name} = \[(.*?)\n\];", source, re.S)
        assert body, f"fields.js has no list {name}"
        keys = re.findall(r'^\s*\["(\w+)"', body.group(1), re.M)
        assert keys, name
        model = getattr(models, model_name)
        assert [k for k in keys if k not in model.model_fields] == [], f"{name} names fields {model_name} lacks"
    marks = re.search(r"const SPAN_MARKS = \[(.*?)\n\];", source, re.S)
    assert marks
    used = set(re.findall(r"\bs\.(\w+)", marks.group(1)))
    assert used and used <= set(models.SpanNode.model_fields), used - set(models.SpanNode.model_fields)
