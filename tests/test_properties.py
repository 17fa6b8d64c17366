"""Properties that hold on any recording, checked on a corpus nobody on this project made.

Every recording of the foreign corpus (tests/corpus: real OpenTelemetry SDKs, exporters and
auto-instrumentation, captured as they export) and every public sample (../shared/samples) is
ingested into a database of its own and questioned through the in-memory MCP client as an agent
would: list_sessions, list_traces, get_trace (whole, default, and cut to a small budget),
find_slow_spans, find_errors, get_session and get_timeline on whatever is found. What the tools
say, in text and structured content alike, is then checked against the recording's bytes as
tests/corpus/raw.py reads them (no parser of ours involved), and against the other tools.

A (recording, property) pair that fails because of a known product defect is marked
`xfail(strict=True)` in KNOWN_DEFECTS with the defect named: when the defect is fixed the test
passes, strict xfail turns that into a failure, and the mark must go.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mcp_sessions.ingest import FileResult, ingest_paths
from mcp_sessions.server import create_server
from mcp_sessions.store import Store

sys.path.insert(0, str(Path(__file__).parent / "corpus"))
import generate
import raw

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"
MAX_BUDGET = 6000
TRACES_PER_RECORDING = 60  # every trace of every recording here; a ceiling so a large sample stays quick
DETAILS_PER_RECORDING = 40  # get_span calls the other tools offered, made per recording

GENERATED = [g.name for g in generate.GENERATORS] + list(generate.DERIVED)
SAMPLE_FILES = (
    sorted(str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*") if p.is_file() and p.suffix != ".md")
    if SAMPLES.is_dir()
    else []
)
RECORDINGS = [f"corpus/{n}" for n in GENERATED] + [f"samples/{p}" for p in SAMPLE_FILES]


# --- what each recording holds, known before it is built (parametrisation needs it) -----------------


def _shape(rid: str) -> set[str]:
    """What a recording holds: spans, sessions (a session key or browser events), HAR entries."""
    if rid.startswith("corpus/"):
        return {"spans", "sessions"} if rid == "corpus/fastapi-httpx" else {"spans"}
    rec = raw.read(SAMPLES / rid.removeprefix("samples/"))
    shape = set()
    if rec.spans:
        shape.add("spans")
    if rec.entries:
        shape.add("entries")
    keys = ("session.id", "highlight.session_id")
    if rec.entries or rec.browser_events or any(k in s.attributes for s in rec.spans for k in keys):
        shape.add("sessions")
    return shape


SHAPES = {rid: _shape(rid) for rid in RECORDINGS}


# (recording, property) -> the product defect that makes it fail today; see the module docstring.
KNOWN_DEFECTS: dict[tuple[str, str], str] = {}


def cases(prop: str, needs: str | None = None) -> list[Any]:
    out = []
    for rid in RECORDINGS:
        if needs and needs not in SHAPES[rid]:
            continue
        reason = KNOWN_DEFECTS.get((rid, prop))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(rid, marks=marks, id=rid))
    return out


# --- gathering: one database and one client session per recording, cached for the test session -------


@dataclass
class Reply:
    text: str
    data: dict[str, Any]
    error: bool


@dataclass
class Observation:
    rid: str
    raw: raw.RawRecording
    ingest: list[FileResult]
    calls: list[tuple[str, dict[str, Any], Reply]] = field(default_factory=list)
    session_pages: list[Reply] = field(default_factory=list)
    trace_pages: list[Reply] = field(default_factory=list)
    traces: dict[str, dict[str, Any]] = field(default_factory=dict)  # list_traces items by id
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)  # list_sessions items by id
    trace_full: dict[str, Reply] = field(default_factory=dict)
    trace_cut: dict[tuple[str, int], Reply] = field(default_factory=dict)  # (trace id, max_spans)
    slow_ops: dict[str, Reply] = field(default_factory=dict)  # scope ("trace:…", "session:…", "all")
    slow_spans: dict[str, Reply] = field(default_factory=dict)
    errors: dict[str, Reply] = field(default_factory=dict)
    overview: dict[str, Reply] = field(default_factory=dict)
    timeline: dict[str, list[Reply]] = field(default_factory=dict)
    details: dict[str, Reply] = field(default_factory=dict)  # get_span, by the call a tool offered


async def _gather(obs: Observation, db: Path) -> None:
    async with Client(create_server(db)) as client:

        async def ask(tool: str, **args: Any) -> Reply:
            result = await client.call_tool(tool, args)
            reply = Reply(
                "\n".join(c.text for c in result.content if hasattr(c, "text")),
                result.structured_content or {},
                bool(result.is_error),
            )
            obs.calls.append((tool, args, reply))
            return reply

        async def pages(tool: str, **args: Any) -> list[Reply]:
            out, cursor = [], None
            for _ in range(50):
                reply = await ask(tool, **args, limit=100, **({"cursor": cursor} if cursor else {}))
                out.append(reply)
                cursor = reply.data.get("next_cursor")
                if reply.error or not cursor:
                    break
            return out

        obs.session_pages = await pages("list_sessions")
        obs.trace_pages = await pages("list_traces", sort="slowest")
        obs.sessions = {s["session_id"]: s for p in obs.session_pages for s in p.data.get("sessions", [])}
        obs.traces = {t["trace_id"]: t for p in obs.trace_pages for t in p.data.get("traces", [])}
        for tid in list(obs.traces)[:TRACES_PER_RECORDING]:
            obs.trace_full[tid] = await ask("get_trace", trace_id=tid, max_spans=300, budget_tokens=MAX_BUDGET)
            for max_spans in (5, 40):
                obs.trace_cut[(tid, max_spans)] = await ask("get_trace", trace_id=tid, max_spans=max_spans)
            scope = f"trace:{tid}"
            obs.slow_ops[scope] = await ask("find_slow_spans", trace_id=tid, limit=100, budget_tokens=MAX_BUDGET)
            obs.slow_spans[scope] = await ask(
                "find_slow_spans", trace_id=tid, group_by="span", limit=100, budget_tokens=MAX_BUDGET
            )
            obs.errors[scope] = await ask("find_errors", trace_id=tid, limit=100, budget_tokens=MAX_BUDGET)
        for sid in obs.sessions:
            obs.overview[sid] = await ask("get_session", session_id=sid, budget_tokens=MAX_BUDGET)
            timeline, cursor = [], None
            for _ in range(50):
                reply = await ask(
                    "get_timeline",
                    session_id=sid,
                    limit=200,
                    budget_tokens=MAX_BUDGET,
                    **({"cursor": cursor} if cursor else {}),
                )
                timeline.append(reply)
                cursor = reply.data.get("next_cursor")
                if reply.error or not cursor:
                    break
            obs.timeline[sid] = timeline
            scope = f"session:{sid}"
            obs.slow_ops[scope] = await ask("find_slow_spans", session_id=sid, limit=100, budget_tokens=MAX_BUDGET)
            obs.errors[scope] = await ask("find_errors", session_id=sid, limit=100, budget_tokens=MAX_BUDGET)
        obs.slow_ops["all"] = await ask("find_slow_spans", limit=100, budget_tokens=MAX_BUDGET)
        obs.errors["all"] = await ask("find_errors", limit=100, budget_tokens=MAX_BUDGET)
        offered = sorted({r.data["detail_call"] for _, _, r in obs.calls if r.data.get("detail_call")})
        for offer in offered[:DETAILS_PER_RECORDING]:
            tool, args = parse_call(offer)
            obs.details[offer] = await ask(tool, **args)


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str | None]]:
    """The generated corpus, built once per test session (a few seconds), never into the repo."""
    out = tmp_path_factory.mktemp("corpus")
    return out, generate.build(out)


@pytest.fixture(scope="session")
def observed(corpus_dir, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Observation]:
    return {}


@pytest.fixture
def obs(request: pytest.FixtureRequest, corpus_dir, observed, tmp_path_factory) -> Observation:
    rid: str = request.param
    if rid not in observed:
        if rid.startswith("corpus/"):
            out, status = corpus_dir
            name = rid.removeprefix("corpus/")
            if status[name] is not None:
                if status[name].startswith("not built: needs"):  # a failure under CI (tests/conftest.py)
                    pytest.skip(f"{rid}: {status[name]}")
                pytest.fail(f"{rid}: {status[name]}")
            path = out / name
        else:
            if not SAMPLES.is_dir():
                pytest.skip(f"public samples not found at {SAMPLES}")
            path = SAMPLES / rid.removeprefix("samples/")
        db = tmp_path_factory.mktemp("prop") / "sessions.db"
        with Store(db) as store:
            results = list(ingest_paths(store, [str(path)]))
        observation = Observation(rid, raw.read(path), results)
        anyio.run(_gather, observation, db)
        observed[rid] = observation
    return observed[rid]


# --- reading the text -------------------------------------------------------------------------------

_UNITS = {"µs": 1e3, "ms": 1e6, "s": 1e9, "min": 60e9, "h": 3600e9}
DURATION = re.compile(r"(\d+(?:\.\d+)?) (µs|ms|s)\b|(\d+) (min|h) (\d+) (s|min)\b")


def durations(text: str) -> list[tuple[float, float]]:
    """Every duration written in `text`, as (nanoseconds, how far off its rounding may be)."""
    out = []
    for m in DURATION.finditer(text):
        if m.group(1):
            value, unit = m.group(1), m.group(2)
            decimals = len(value.split(".")[1]) if "." in value else 0
            scale = _UNITS[unit]
            out.append((float(value) * scale, 0.5 * scale * 10**-decimals + 1))
        else:
            big, small = _UNITS[m.group(4)], _UNITS[m.group(6)]
            out.append((int(m.group(3)) * big + int(m.group(5)) * small, small))
    return out


def outside_quotes(line: str) -> str:
    """A line with its quoted recorded text removed: what is left is ours (durations, statuses)."""
    return re.sub(r"`[^`]*`", "`…`", line)


def parse_call(text: str) -> tuple[str, dict[str, Any]]:
    """`tool(a='x')` as an answer writes a next call → ("tool", {"a": "x"})."""
    node = ast.parse(text.strip().strip("`"), mode="eval").body
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name), text
    return node.func.id, {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}


def span_line(text: str, span_id: str) -> str | None:
    return next((ln for ln in text.splitlines() if ln.lstrip().startswith(f"- `{span_id}`")), None)


def close(ns: float, written: tuple[float, float]) -> bool:
    return abs(ns - written[0]) <= written[1]


def shown_of(text: str, pattern: str) -> tuple[int, int]:
    m = re.search(pattern, text)
    assert m, f"no {pattern!r} in:\n{text[:600]}"
    return int(m.group(1)), int(m.group(2))


def trace_extent(spans: list[raw.RawSpan]) -> tuple[int, int]:
    starts = [s.start_ns for s in spans]
    ends = [s.end_ns for s in spans if s.end_ns is not None] or starts
    return min(starts), max(max(ends), max(starts))


def raw_roots(spans: list[raw.RawSpan]) -> list[raw.RawSpan]:
    ids = {s.span_id for s in spans}
    return [s for s in spans if s.parent_id is None or s.parent_id not in ids]


def raw_by_id(spans: list[raw.RawSpan]) -> dict[str, list[raw.RawSpan]]:
    out: dict[str, list[raw.RawSpan]] = {}
    for s in spans:
        out.setdefault(s.span_id, []).append(s)
    return out


def match(node: dict[str, Any], candidates: list[raw.RawSpan]) -> raw.RawSpan:
    """The recorded span a shown one stands for (Zipkin's two RPC halves share an id: the kind tells)."""
    same = [c for c in candidates if c.name == node["name"] and c.kind == node["kind"]]
    return (same or [c for c in candidates if c.name == node["name"]] or candidates)[0]


NO_END = re.compile(
    r"no (recorded )?end|end (is )?(not recorded|unknown|missing)|unfinished|inferred|never ended", re.I
)


# --- the properties -----------------------------------------------------------------------------------


@pytest.mark.parametrize("obs", cases("answers"), indirect=True)
def test_every_recording_ingests_and_every_call_answers(obs: Observation) -> None:
    assert obs.ingest and all(r.status == "stored" for r in obs.ingest), [(r.source, r.error) for r in obs.ingest]
    failed = [(tool, args, reply.text[:300]) for tool, args, reply in obs.calls if reply.error]
    assert not failed, failed
    if "spans" in SHAPES[obs.rid]:
        assert obs.traces, "spans were recorded, but list_traces shows none"
    if "sessions" in SHAPES[obs.rid]:
        assert obs.sessions, "the recording names sessions (or is a browser recording), but list_sessions shows none"


@pytest.mark.parametrize("obs", cases("raw_times", "spans"), indirect=True)
def test_every_span_shows_its_raw_start_offset_and_duration(obs: Observation) -> None:
    """Offsets and durations are the recording's own: never clamped into the parent, never 0 for a
    span whose end was not recorded (that one says so), and its children keep their times."""
    traces = obs.raw.traces()
    problems = []
    for tid, reply in obs.trace_full.items():
        spans = traces[tid]
        t0 = trace_extent(spans)[0]
        by_id = raw_by_id(spans)
        lines = [ln for ln in reply.text.splitlines() if re.match(r"\s*- `[0-9a-f]{16}`", ln)]
        assert len(lines) == len(reply.data["spans"]), "text and structured content show different spans"
        for node, line in zip(reply.data["spans"], lines, strict=True):
            span = match(node, by_id[node["span_id"]])
            assert node["span_id"] in line, f"{node['span_id']} is in the structured content, not in the text"
            ours = outside_quotes(line)
            written = durations(ours)
            where = f"{tid}/{node['span_id']} {node['name']!r}"
            offset = span.start_ns - t0
            if abs(node["offset_ms"] * 1e6 - offset) > 1e3:
                problems.append(f"{where}: offset {node['offset_ms']} ms, recorded {offset / 1e6} ms")
            if not any(ours[m.start() - 1 : m.start()] == "+" and close(offset, w) for m, w in _marked(ours)):
                problems.append(f"{where}: the text does not show the offset +{offset / 1e6} ms: {line.strip()}")
            if span.duration_ns is None:
                if not NO_END.search(ours):
                    problems.append(f"{where}: no end was recorded, and the line does not say so: {line.strip()}")
                # the span's own figures, not its offset (`+0 µs` for a span at the trace's start)
                own = [w for m, w in _marked(ours) if ours[m.start() - 1 : m.start()] != "+"]
                if own and own[0][0] == 0:
                    problems.append(f"{where}: no end was recorded, and the line shows 0 µs: {line.strip()}")
                continue
            if abs(node["duration_ms"] * 1e6 - span.duration_ns) > 1e3:
                problems.append(f"{where}: duration {node['duration_ms']} ms, recorded {span.duration_ns / 1e6} ms")
            if not written or not close(span.duration_ns, written[0]):
                problems.append(
                    f"{where}: the text does not lead with the recorded {span.duration_ns / 1e6} ms: {line}"
                )
    assert not problems, "\n".join(problems[:20]) + f"\n({len(problems)} in all)"


def _marked(text: str) -> Iterator[tuple[re.Match[str], tuple[float, float]]]:
    for m in DURATION.finditer(text):
        yield m, durations(m.group(0))[0]


@pytest.mark.parametrize("obs", cases("self_time", "spans"), indirect=True)
def test_self_time_is_within_duration(obs: Observation) -> None:
    problems = []
    for tid, reply in obs.trace_full.items():
        for node in reply.data["spans"]:
            if not -0.001 <= node["self_ms"] <= node["duration_ms"] + 0.001:
                problems.append(
                    f"get_trace {tid}/{node['span_id']}: self {node['self_ms']} of {node['duration_ms']} ms"
                )
    for scope, reply in obs.slow_spans.items():
        for row in reply.data["spans"]:
            if not -0.001 <= row["self_ms"] <= row["duration_ms"] + 0.001:
                problems.append(
                    f"find_slow_spans {scope}/{row['span_id']}: self {row['self_ms']} of {row['duration_ms']}"
                )
            if not -0.001 <= row["critical_ms"] <= row["duration_ms"] + 0.001:
                problems.append(
                    f"find_slow_spans {scope}/{row['span_id']}: critical {row['critical_ms']} of {row['duration_ms']}"
                )
    for scope, reply in obs.slow_ops.items():
        for row in reply.data["operations"]:
            if not row["self_ms"] <= row["total_ms"] + 0.001 or not row["critical_ms"] <= row["total_ms"] + 0.001:
                problems.append(f"find_slow_spans {scope} {row['fingerprint']!r}: {row}")
    assert not problems, "\n".join(problems[:20]) + f"\n({len(problems)} in all)"


@pytest.mark.parametrize("obs", cases("critical_path", "spans"), indirect=True)
def test_critical_path_lies_within_the_trace_and_covers_its_longest_root(obs: Observation) -> None:
    traces = obs.raw.traces()
    problems = []
    for tid in obs.trace_full:
        reply = obs.slow_ops[f"trace:{tid}"]
        rows = reply.data["operations"]
        assert reply.data["shown"] == reply.data["total"], "raise the limit: every operation must be shown here"
        critical = sum(r["critical_ms"] for r in rows) * 1e6
        spans = traces[tid]
        first, last = trace_extent(spans)
        roots = [s.duration_ns for s in raw_roots(spans) if s.duration_ns is not None]
        slack = 1e3 * (len(rows) + 1)  # each row is rounded to the microsecond
        if critical > last - first + slack:
            problems.append(f"{tid}: critical path {critical / 1e6} ms, but the trace spans {(last - first) / 1e6} ms")
        if roots and critical + slack < max(roots):
            problems.append(f"{tid}: critical path {critical / 1e6} ms, shorter than its root's {max(roots) / 1e6} ms")
    assert not problems, "\n".join(problems[:20]) + f"\n({len(problems)} in all)"


@pytest.mark.parametrize("obs", cases("slow_rows_add_up"), indirect=True)
def test_slow_span_rows_add_up_to_their_header(obs: Observation) -> None:
    problems = []
    for scope, reply in obs.slow_ops.items():
        data, text = reply.data, reply.text
        rows = data["operations"]
        if (len(rows), data["total"]) != shown_of(text, r"Shows (\d+) of (\d+) operations") or len(rows) != data[
            "shown"
        ]:
            problems.append(f"{scope}: {len(rows)} rows, {data['shown']} shown, but the text says otherwise")
        critical = sum(r["critical_ms"] for r in rows) * 1e6
        header = re.search(r"\*\*Critical path in scope\*\*: ([^\n]+)", text)
        if rows and data["shown"] == data["total"] and critical > 0:
            if not header:
                problems.append(f"{scope}: no critical path total in the header")
            elif not any(abs(critical - w[0]) <= w[1] + 1e3 * len(rows) for w in durations(header.group(1))[:1]):
                problems.append(f"{scope}: rows add up to {critical / 1e6} ms, header says {header.group(1)}")
            total = critical or 1
            for r in rows:
                if r["share"] is not None and abs(r["share"] - r["critical_ms"] * 1e6 / total) > 0.002:
                    problems.append(
                        f"{scope} {r['fingerprint']!r}: share {r['share']}, "
                        f"rows give {r['critical_ms'] * 1e6 / total:.4f}"
                    )
            shares = sum(r["share"] or 0 for r in rows)
            if shares > 1.005:
                problems.append(f"{scope}: shares add up to {shares:.3f}")
    assert not problems, "\n".join(problems[:20]) + f"\n({len(problems)} in all)"


@pytest.mark.parametrize("obs", cases("budget_promise", "spans"), indirect=True)
def test_a_cut_trace_shows_what_it_says_it_kept_first(obs: Observation) -> None:
    """'kept first: root, slowest branch, errors': the roots, the branch that finished last (by the
    recorded times), and as many error spans as half the budget holds are all on the page."""
    traces = obs.raw.traces()
    problems = []
    for (tid, max_spans), reply in obs.trace_cut.items():
        shown = {n["span_id"] for n in reply.data["spans"]}
        spans = traces[tid]
        if reply.data["shown_spans"] >= reply.data["total_spans"]:
            continue
        if "kept first" not in reply.text:
            problems.append(f"{tid} max_spans={max_spans}: cut without saying what it kept")
            continue
        roots = raw_roots(spans)
        missing_roots = [s.span_id for s in roots if s.span_id not in shown]
        if missing_roots and len(roots) <= max_spans:
            problems.append(f"{tid} max_spans={max_spans}: roots {missing_roots} not shown")
        children: dict[str, list[raw.RawSpan]] = {}
        for s in spans:
            if s.parent_id:
                children.setdefault(s.parent_id, []).append(s)
        root = min(roots, key=lambda s: (s.start_ns, -(s.end_ns or s.start_ns)))
        branch, node = [], root
        while children.get(node.span_id) and len(branch) < max_spans // 2:
            node = max(children[node.span_id], key=lambda c: (c.end_ns or c.start_ns, (c.end_ns or 0) - c.start_ns))
            branch.append(node)
        if branch and branch[0].span_id not in shown:
            problems.append(
                f"{tid} max_spans={max_spans}: the branch that finished last starts at {branch[0].span_id} "
                f"{branch[0].name!r} (ends {(branch[0].end_ns or 0) - root.start_ns} ns after the root's start), "
                "not shown"
            )
        errors = [s for s in spans if s.error or s.exception]
        kept = [s for s in errors if s.span_id in shown]
        if errors and not kept:
            problems.append(f"{tid} max_spans={max_spans}: {len(errors)} error spans recorded, none shown")
    assert not problems, "\n".join(problems[:20]) + f"\n({len(problems)} in all)"


def _http(span: raw.RawSpan) -> tuple[str | None, int | None]:
    a = span.attributes
    method = a.get("http.request.method") or a.get("http.method")
    status = a.get("http.response.status_code") or a.get("http.status_code")
    return (str(method) if method else None), (int(status) if status not in (None, "") else None)


@pytest.mark.parametrize("obs", cases("trace_as_recorded", "spans"), indirect=True)
def test_a_trace_reads_as_recorded(obs: Observation) -> None:
    """list_traces: each trace's duration, span and error counts, root, method and status are the
    recording's own, in the text as in the structured content."""
    traces = obs.raw.traces()
    problems = []
    lines = "\n".join(p.text for p in obs.trace_pages).splitlines()
    for tid, item in obs.traces.items():
        spans = traces.get(tid)
        if spans is None:
            problems.append(f"list_traces shows {tid}, which the recording does not have")
            continue
        first, last = trace_extent(spans)
        if abs(item["duration_ms"] * 1e6 - (last - first)) > 1e3:
            problems.append(f"{tid}: duration {item['duration_ms']} ms, recorded {(last - first) / 1e6} ms")
        if item["span_count"] != len(spans):
            problems.append(f"{tid}: {item['span_count']} spans, recorded {len(spans)}")
        recorded_errors = sum(s.error for s in spans)
        if item["error_count"] != recorded_errors:
            problems.append(f"{tid}: {item['error_count']} errors, recorded {recorded_errors} spans with error status")
        roots = raw_roots(spans)
        if item["root_span_id"] not in {s.span_id for s in roots}:
            problems.append(f"{tid}: root {item['root_span_id']} is not a recorded root")
        root = next((s for s in roots if s.span_id == item["root_span_id"]), None)
        if root is not None:
            method, status = _http(root)
            if status is not None and item["http_status"] != status:
                problems.append(f"{tid}: HTTP {item['http_status']}, the root recorded {status}")
            if method and item["http_method"] != method:
                problems.append(f"{tid}: method {item['http_method']}, the root recorded {method}")
        line = next((ln for ln in lines if ln.startswith(f"- `{tid}`")), "")
        if not any(close(item["duration_ms"] * 1e6, w) for w in durations(outside_quotes(line))[:1]):
            problems.append(f"{tid}: list_traces text does not show {item['duration_ms']} ms: {line}")
        if item["http_status"] and f"→ {item['http_status']}" not in line:
            problems.append(f"{tid}: list_traces text does not show HTTP {item['http_status']}: {line}")
    assert not problems, "\n".join(problems[:20]) + f"\n({len(problems)} in all)"


@pytest.mark.parametrize("obs", cases("trace_tools_agree", "spans"), indirect=True)
def test_the_tools_agree_on_a_trace(obs: Observation) -> None:
    """list_traces, get_trace and find_slow_spans give one trace and its spans the same figures."""
    problems = []
    for tid, item in obs.traces.items():
        full = obs.trace_full.get(tid)
        if full is None:
            continue
        if full.data["trace"] != item:
            diff = {k: (v, full.data["trace"].get(k)) for k, v in item.items() if full.data["trace"].get(k) != v}
            problems.append(f"{tid}: list_traces and get_trace disagree: {diff}")
        if full.data["error_spans"] != item["error_count"]:
            problems.append(
                f"{tid}: get_trace counts {full.data['error_spans']} error spans, "
                f"list_traces {item['error_count']} errors"
            )
        head = re.search(r"\*\*Duration\*\*: ([^·\n]+)", full.text)
        if not head or not any(close(item["duration_ms"] * 1e6, w) for w in durations(head.group(1))[:1]):
            problems.append(f"{tid}: get_trace header does not show {item['duration_ms']} ms")
        ids = Counter(n["span_id"] for n in full.data["spans"])
        nodes = {n["span_id"]: n for n in full.data["spans"] if ids[n["span_id"]] == 1}
        for row in obs.slow_spans[f"trace:{tid}"].data["spans"]:
            node = nodes.get(row["span_id"])
            if node and (
                abs(node["duration_ms"] - row["duration_ms"]) > 0.002 or abs(node["self_ms"] - row["self_ms"]) > 0.002
            ):
                problems.append(
                    f"{tid}/{row['span_id']} {row['name']!r}: get_trace {node['duration_ms']} ms (self "
                    f"{node['self_ms']}), find_slow_spans {row['duration_ms']} ms (self {row['self_ms']})"
                )
    assert not problems, "\n".join(problems[:20]) + f"\n({len(problems)} in all)"


def _user_text(text: str, pattern: str) -> str | None:
    m = re.search(pattern, text)
    return m.group(1).strip() if m else None


@pytest.mark.parametrize("obs", cases("session_user", "sessions"), indirect=True)
def test_a_sessions_user_reads_the_same_in_every_tool(obs: Observation) -> None:
    problems = []
    listed = "\n".join(p.text for p in obs.session_pages)
    for sid in obs.sessions:
        line = next((ln for ln in listed.splitlines() if ln.startswith(f"- `{sid}`")), "")
        users = {
            "list_sessions": "anonymous" if " · anonymous · " in line else _user_text(line, r" · user (`[^`]*`)"),
            "get_session": _user_text(obs.overview[sid].text, r"\*\*User\*\*: ([^\n·]+)"),
            "get_timeline": _user_text(obs.timeline[sid][0].text, r"\*\*User\*\*: ([^\n·]+)"),
        }
        if len({u.replace("user ", "") if u else u for u in users.values()}) != 1:
            problems.append(f"{sid}: the user reads differently: {users}")
    assert not problems, "\n".join(problems[:20]) + f"\n({len(problems)} in all)"


@pytest.mark.parametrize("obs", cases("session_facts", "sessions"), indirect=True)
def test_a_session_reads_the_same_in_every_tool(obs: Observation) -> None:
    """A session's duration and counts, and each request's method, status and duration, read the
    same in list_sessions, get_session, get_timeline and list_traces, and as the HAR recorded them."""
    problems = []
    for sid, item in obs.sessions.items():
        overview, pages = obs.overview[sid], obs.timeline[sid]
        if overview.data["session"] != item:
            diff = {
                k: (v, overview.data["session"].get(k)) for k, v in item.items() if overview.data["session"].get(k) != v
            }
            problems.append(f"{sid}: list_sessions and get_session disagree: {diff}")
        if item["duration_ms"] < 0:
            problems.append(f"{sid}: lasted {item['duration_ms']} ms")
        for tool, text in (("get_session", overview.text), ("get_timeline", pages[0].text)):
            written = durations(text.split("\n\n")[0])
            if not any(close(item["duration_ms"] * 1e6, w) for w in written):
                problems.append(f"{sid}: {tool} does not show the session's {item['duration_ms']} ms")
        counts = overview.data["counts"]
        timeline_counts = pages[0].data["counts"]
        for kind in set(counts) & set(timeline_counts):
            if counts[kind] != timeline_counts[kind]:
                problems.append(f"{sid}: {kind} {counts[kind]} in get_session, {timeline_counts[kind]} in get_timeline")
        if counts.get("traces", item["trace_count"]) != item["trace_count"]:
            problems.append(
                f"{sid}: get_session counts {counts.get('traces')} traces, list_sessions {item['trace_count']}"
            )
        if counts.get("spans", item["span_count"]) != item["span_count"]:
            problems.append(
                f"{sid}: get_session counts {counts.get('spans')} spans, list_sessions {item['span_count']}"
            )
        entries = [e for p in pages for e in p.data["entries"]]
        requests = Counter(
            (e["method"], e["url"], e["status"], e["duration_ms"]) for e in entries if e["kind"] == "network"
        )
        for r in overview.data["slowest_requests"]:
            trace = obs.traces.get(r["trace_id"]) if r["trace_id"] else None
            if trace is not None and not any(
                e.get("trace_id") == r["trace_id"] for e in entries if e["kind"] == "network"
            ):
                # a backend request (a trace no recorded browser request started): list_traces' facts
                said = (trace["http_method"], trace["http_status"], trace["duration_ms"])
                if (r["method"], r["status"], r["duration_ms"]) != said:
                    problems.append(f"{sid}: get_session shows {r}, list_traces {said} for {r['trace_id']}")
            elif requests[(r["method"], r["url"], r["status"], r["duration_ms"])] == 0:
                problems.append(f"{sid}: get_session's slow request {r} is not on the timeline as such")
    if "entries" in SHAPES[obs.rid]:  # every HAR entry is one network event, with the HAR's own facts
        timeline = Counter(
            (e["method"], e["status"] or 0, round(e["duration_ms"] or 0))
            for pages in obs.timeline.values()
            for p in pages
            for e in p.data["entries"]
            if e["kind"] == "network"
        )
        recorded = Counter((e.method, e.status, round(e.time_ms)) for e in obs.raw.entries)
        if timeline != recorded:
            problems.append(
                f"network events {dict(timeline - recorded)} not recorded; "
                f"recorded {dict(recorded - timeline)} not shown"
            )
    assert not problems, "\n".join(problems[:20]) + f"\n({len(problems)} in all)"


@pytest.mark.parametrize("obs", cases("shows_n_of_m"), indirect=True)
def test_every_shows_n_of_m_is_right(obs: Observation) -> None:
    problems = []
    for pages, key, noun in ((obs.session_pages, "sessions", "sessions"), (obs.trace_pages, "traces", "traces")):
        ids = [i for p in pages for i in p.data[key]]
        total = pages[0].data["total"]
        for p in pages:
            said = shown_of(p.text, rf"\*\*Shown\*\*: (\d+) of (\d+) {noun}")
            if said != (len(p.data[key]), p.data["total"]) or p.data["shown"] != len(p.data[key]):
                problems.append(f"list_{key}: says {said}, holds {len(p.data[key])} of {p.data['total']}")
        if len(ids) != total or len({str(i) for i in ids}) != total:
            problems.append(
                f"list_{key}: total {total}, paging gave {len(ids)} ({len({str(i) for i in ids})} distinct)"
            )
    if "spans" in SHAPES[obs.rid] and len(obs.traces) != len(obs.raw.traces()):
        problems.append(f"list_traces: {len(obs.traces)} traces, the recording has {len(obs.raw.traces())}")
    traces = obs.raw.traces()
    for key, reply in [*((k, v) for k, v in obs.trace_full.items()), *obs.trace_cut.items()]:
        tid = key if isinstance(key, str) else key[0]
        said = shown_of(reply.text, r"\*\*Spans\*\*: shows (\d+) of (\d+)")
        lines = [ln for ln in reply.text.splitlines() if re.match(r"\s*- `[0-9a-f]{16}`", ln)]
        if said != (len(reply.data["spans"]), reply.data["total_spans"]) or len(lines) != said[0]:
            problems.append(
                f"get_trace {key}: says {said}, holds {len(reply.data['spans'])}, prints {len(lines)} span lines"
            )
        if reply.data["total_spans"] != len(traces.get(tid, [])):
            problems.append(
                f"get_trace {key}: of {reply.data['total_spans']}, the recording has {len(traces.get(tid, []))}"
            )
    for sid, pages in obs.timeline.items():
        seen = 0
        for p in pages:
            n = len(p.data["entries"])
            m = re.search(r"\*\*Shown\*\*: entries (\d+)–(\d+) of (\d+)", p.text)
            said = (
                (int(m.group(2)) - int(m.group(1)) + 1, int(m.group(3)))
                if m
                else shown_of(p.text, r"\*\*Shown\*\*: (\d+) of (\d+)")
            )
            if said != (n, p.data["total"]) or p.data["shown"] != n:
                problems.append(f"get_timeline {sid}: says {said}, holds {n} of {p.data['total']}")
            seen += n
        if seen != pages[0].data["total"]:
            problems.append(f"get_timeline {sid}: total {pages[0].data['total']}, paging gave {seen}")
    for scope, reply in obs.errors.items():
        data = reply.data
        if data["shown"] != len(data["errors"]) or sum(e["count"] for e in data["errors"]) > data["occurrences"]:
            problems.append(
                f"find_errors {scope}: shown {data['shown']}, {len(data['errors'])} groups, "
                f"{data['occurrences']} occurrences"
            )
        said = re.search(r"\*\*Failures\*\*: (\d+) .* in (\d+) groups?\b", reply.text)
        if data["total"] and (
            not said or (int(said.group(1)), int(said.group(2))) != (data["occurrences"], data["total"])
        ):
            problems.append(
                f"find_errors {scope}: the text says {said and said.group(0)}, "
                f"the data {data['occurrences']} in {data['total']}"
            )
        if data["total"] and (len(data["errors"]), data["total"]) != shown_of(
            reply.text, r"Shows (\d+) of (\d+) error groups"
        ):
            problems.append(
                f"find_errors {scope}: {len(data['errors'])} of {data['total']} groups, the text says otherwise"
            )
    assert not problems, "\n".join(problems[:20]) + f"\n({len(problems)} in all)"


@pytest.mark.parametrize("obs", cases("cut_lines"), indirect=True)
def test_a_line_cut_for_length_keeps_its_status_and_duration(obs: Observation) -> None:
    problems = []
    for tid, item in obs.traces.items():
        line = next((ln for p in obs.trace_pages for ln in p.text.splitlines() if ln.startswith(f"- `{tid}`")), "")
        ours = outside_quotes(line)
        if not durations(ours) or (item["http_status"] and f"→ {item['http_status']}" not in ours):
            problems.append(f"list_traces: {line}")
    for tid, reply in obs.trace_full.items():
        for node in reply.data["spans"]:
            ours = outside_quotes(span_line(reply.text, node["span_id"]) or "")
            if not durations(ours) or (node["http_status"] and f"HTTP {node['http_status']}" not in ours):
                problems.append(f"get_trace {tid}: {span_line(reply.text, node['span_id'])}")
    for sid, pages in obs.timeline.items():
        for p in pages:
            lines = [ln for ln in p.text.splitlines() if ln.startswith("- `")]
            if len(lines) != len(p.data["entries"]):
                problems.append(f"get_timeline {sid}: {len(p.data['entries'])} entries, {len(lines)} lines")
                continue
            for entry, line in zip(p.data["entries"], lines, strict=True):
                if entry["kind"] != "network":
                    continue
                status_ok = entry["status"] is None or re.search(rf"\b{entry['status']}\b", line)
                written = durations(line)
                duration_ok = entry["duration_ms"] is None or any(close(entry["duration_ms"] * 1e6, w) for w in written)
                if not (status_ok and duration_ok):
                    problems.append(f"get_timeline {sid}: {line} (status {entry['status']}, {entry['duration_ms']} ms)")
    assert not problems, "\n".join(problems[:20]) + f"\n({len(problems)} in all)"


@pytest.mark.parametrize("obs", cases("span_detail", "spans"), indirect=True)
def test_every_offered_span_detail_shows_the_recorded_span(obs: Observation) -> None:
    """Each get_span a tool offered answers within its budget with the recorded span: its name, start,
    and every attribute shown whole and unmasked as the recording's bytes hold it; what get_trace
    says a span called reads the same in get_span."""
    assert obs.details, "no tool offered get_span"
    raw_spans: dict[tuple[str, str], list[raw.RawSpan]] = {}
    for span in (s for spans in obs.raw.traces().values() for s in spans):
        raw_spans.setdefault((span.trace_id, span.span_id), []).append(span)
    targets = {(tid, n["span_id"]): n["target"] for tid, reply in obs.trace_full.items() for n in reply.data["spans"]}
    problems = []
    for offer, reply in obs.details.items():
        key = (reply.data["trace_id"], reply.data["span_id"])
        recorded = raw_spans.get(key, [])
        if reply.error or len(reply.text) > 2000 * 4 + 200 or not recorded:
            problems.append(f"{offer}: error {reply.error}, {len(reply.text)} chars, {len(recorded)} recorded")
            continue
        for record in reply.data["records"]:
            if record["name"] not in {r.name for r in recorded} or record["start_ns"] not in {
                r.start_ns for r in recorded
            }:
                problems.append(f"{offer}: {record['name']!r} at {record['start_ns']} is no recorded span")
            values = {k: v for r in recorded for k, v in r.attributes.items() if isinstance(v, str | int | float)}
            for item in record["attributes"]:
                value, was = item["value"], values.get(item["key"])
                if item["cut_from"] or value == "[REDACTED]" or was is None:
                    continue
                if value != was and str(value).lower() != str(was).lower():  # Jaeger: True, recorded 'true'
                    problems.append(f"{offer}: {item['key']} = {value!r}, recorded {was!r}")
        if key in targets and targets[key] != reply.data["records"][0]["target"]:
            problems.append(f"{offer}: get_trace says it called {targets[key]!r}, get_span says otherwise")
    assert not problems, "\n".join(problems[:20]) + f"\n({len(problems)} in all)"
