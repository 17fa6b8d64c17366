"""Drafting a regression test from a recorded session: which requests, and what they carried.

A session's browser recording holds its requests twice where rrweb and a HAR both ran: the
rrweb copy (what the page's code sent: app headers, request body, timings) is the one shown,
the HAR copy of the same trace (the "twin") holds what rrweb leaves out: the response's
content type, headers and (the first 2,000 characters of) its JSON body. `collect_calls`
joins the two into one `RecordedCall` per request; a session with no browser recording
falls back to its backend traces (method, URL and status of each root server span).

Only the app's API calls are replayed: page loads, scripts, styles and images, requests
to other origins, websockets and requests whose body the recording cut are counted as
skipped, with the reason. The focus narrows the calls further:

    session  ──●──●────●──●───────✕──●──►        ● request   ✕ failed request
    window              [──────]                 from_ms … to_ms after the session start
    trace                  ●                     the one request that started a trace
    error            ●──●──●──✕                  the first failure and the 3 requests before it

`regression_api` turns the chosen calls into an httpx test, `regression_ui` the user's
actions around them into a Playwright test. Nothing here reads a database or writes a file.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from mcp_sessions import urls
from mcp_sessions.analysis.fingerprint import request_fingerprint
from mcp_sessions.drafting.api import ApiModule, draft_api_module
from mcp_sessions.drafting.model import (
    CallSet,
    Draft,
    DraftOptions,
    EnvVar,
    QueryFacts,
    RecordedCall,
    Style,
    parse_json_prefix,
)
from mcp_sessions.drafting.templates import docstring
from mcp_sessions.drafting.ui import UiModule, draft_ui_module
from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.model import CopyKey, Event, SessionSummary, TraceSummary, copy_key
from mcp_sessions.visible import code, literal

API_INITIATORS = frozenset({"fetch", "xmlhttprequest"})
_ASSET_TYPES = ("text/html", "text/css", "javascript", "image/", "font/", "audio/", "video/", "application/wasm")
_ASSET_SUFFIXES = (".js", ".mjs", ".css", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".woff", ".woff2", ".map")
# Headers the browser or the HTTP client sets, or that only link a request to its trace.
_DROPPED_HEADERS = frozenset(
    {"host", "connection", "content-length", "accept-encoding", "accept-language", "user-agent", "origin"}
    | {"referer", "cookie", "traceparent", "tracestate", "baggage", "sentry-trace", "b3", "pragma", "priority"}
    | {"cache-control", "if-none-match", "if-modified-since", "upgrade-insecure-requests", "dnt", "te"}
)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
ERROR_CONTEXT = 3  # requests kept before the failing one when focusing on an error
# A draft from backend traces guards latency unless told otherwise: generous, since the
# recorded times come from another run of another machine's load.
BACKEND_LATENCY_FACTOR = 5.0
MAX_SOURCE_CHARS = 120_000


def _media_type(value: object) -> str | None:
    text = str(value or "").split(";")[0].strip().lower()
    return text or None


def _origin(url: str) -> tuple[str, str, tuple[tuple[str, str], ...]] | None:
    parts = urls.split(url)
    if not parts.scheme or not parts.netloc:
        return None
    query = tuple(urls.query_items(parts.query))
    return f"{parts.scheme}://{parts.netloc}", parts.path or "/", query


def _mapping(value: Any) -> Mapping[str, Any]:
    """A recorded value that should be an object (headers, cookies, form data), or an empty one."""
    return value if isinstance(value, Mapping) else {}


def _request_body(detail: Mapping[str, Any]) -> tuple[Any, str]:
    post = _mapping(detail.get("post_data"))
    text = detail.get("request_body") or post.get("text")
    if not isinstance(text, str) or not text:
        return None, "none"
    if post.get("text_chars"):
        return None, "cut"
    try:
        return json.loads(text), "json"
    except ValueError:
        size = detail.get("request_body_size")
        if isinstance(size, int) and size > len(text.encode()):
            return None, "cut"
        return text, "text"


def _kind_of(event: Event, detail: Mapping[str, Any], response_type: str | None, path: str) -> str | None:
    """Why a request is not an API call to replay, or None when it is one."""
    initiator = detail.get("initiator")
    if event.source == "rrweb" and initiator is not None:
        return None if initiator in API_INITIATORS else "page and asset loads"
    if (event.method or "GET") != "GET":
        return None
    if response_type and response_type.startswith(_ASSET_TYPES):
        return "page and asset loads"
    if path.lower().endswith(_ASSET_SUFFIXES):
        return "page and asset loads"
    return None


def collect_calls(
    events: Sequence[Event],
    twins: Mapping[CopyKey, Event],
    traces: Sequence[TraceSummary],
    queries: Mapping[str, QueryFacts] | None = None,
) -> CallSet:
    """The session's API calls in recorded order: browser requests, or backend entry requests without them.

    `queries` holds the query facts of the session's traces (drafting.queries): each call takes its trace's.
    """
    skipped: Counter[str] = Counter()
    found: list[dict[str, Any]] = []
    for event in events:
        if event.kind == "websocket":
            skipped["websockets"] += 1
            continue
        if event.kind != "network":
            continue
        twin = twins.get(copy_key(event))
        detail = dict(twin.detail) if twin is not None else {}
        detail.update({k: v for k, v in event.detail.items() if v not in (None, "", {}, [])})
        if twin is not None and twin.detail.get("response_headers"):
            detail["response_headers"] = twin.detail["response_headers"]
        where = _origin(event.url or "")
        if where is None or not event.method:
            skipped["requests without URL or method"] += 1
            continue
        headers = _mapping(detail.get("response_headers"))
        response_type = _media_type(detail.get("mime_type") or headers.get("content-type"))
        reason = _kind_of(event, detail, response_type, where[1])
        if reason is None and event.status is None:
            reason = "requests without a recorded response"
        body, body_kind = _request_body(detail)
        if reason is None and body_kind == "cut":
            reason = "requests whose body the recording cut"
        if reason:
            skipped[reason] += 1
            continue
        response_text = detail.get("response_body") if isinstance(detail.get("response_body"), str) else None
        response = None
        if response_text and "json" in (response_type or ""):
            response = parse_json_prefix(response_text)[0]
        cookies = _mapping(detail.get("request_cookies"))
        sent = _mapping(detail.get("request_headers"))
        found.append(
            {
                "source": event.source,
                "time_ns": event.time_ns,
                "method": event.method.upper(),
                "origin": where[0],
                "path": where[1],
                "query": where[2],
                "headers": {str(k): str(v) for k, v in sent.items() if _replayed_header(str(k), str(v), body_kind)},
                "body": body,
                "body_kind": body_kind,
                "cookies": tuple(cookies),
                "status": event.status,
                "duration_ms": event.duration_ns / 1e6 if event.duration_ns is not None else None,
                "trace_id": event.trace_id,
                "response_type": response_type,
                "response": response,
                "response_text": response_text,
                "sets_cookie": "set-cookie" in headers,
            }
        )
    source = "browser"
    if not found and not any(e.kind == "network" for e in events):
        found, source = _from_traces(traces, skipped), "backend traces"
    origins = Counter(f["origin"] for f in found)
    origin = origins.most_common(1)[0][0] if origins else None
    calls: list[RecordedCall] = []
    for f in found:
        if f["origin"] != origin:
            skipped["requests to other services" if source == "backend traces" else "requests to other origins"] += 1
            continue
        facts = (queries or {}).get(f["trace_id"]) if f["trace_id"] else None
        calls.append(RecordedCall(order=len(calls), **f, queries=facts))
    return CallSet(tuple(calls), dict(skipped), origin, source)


def _replayed_header(name: str, value: str, body_kind: str) -> bool:
    if name in _DROPPED_HEADERS or name.startswith(("sec-", "x-b3-", ":")):
        return False
    if name == "accept" and value.strip() in ("*/*", ""):
        return False
    return not (name == "content-type" and body_kind == "json" and "json" in value)


def _trace_target(trace: TraceSummary) -> tuple[str, str, tuple[tuple[str, str], ...]] | None:
    """(service, path, query) of a trace's entry request: its URL, a bare path, else a route without parameters.

    A drafted test takes the app's address from the environment, so what tells the app's own
    entry requests from another service's is the service that served them, not the recorded host.
    """
    service = f"service {trace.root_service or '?'}"
    url = trace.http_url or ""
    where = _origin(url)
    if where is not None:
        return service, where[1], where[2]
    if url.startswith("/"):
        path, _, query = url.partition("?")
        return service, path, tuple(urls.query_items(query))
    route = trace.http_route or ""
    if route.startswith("/") and not any(ch in route for ch in "{}<>:*"):
        return service, route, ()
    return None


def _from_traces(traces: Sequence[TraceSummary], skipped: Counter[str]) -> list[dict[str, Any]]:
    found = []
    for trace in traces:
        if trace.root_kind != "server":
            skipped["backend traces not started by a request (no server span at the root)"] += 1
            continue
        where = _trace_target(trace)
        if not trace.http_method or where is None or not trace.http_status:
            facts = (("method", trace.http_method), ("URL or route", where), ("status", trace.http_status))
            skipped[f"backend requests without a recorded {' or '.join(n for n, v in facts if not v)}"] += 1
            continue
        if where[1].lower().endswith(_ASSET_SUFFIXES):
            skipped["page and asset loads"] += 1
            continue
        method = trace.http_method.upper()
        found.append(
            {
                "source": "trace",
                "time_ns": trace.start_ns,
                "method": method,
                "origin": where[0],
                "path": where[1],
                "query": where[2],
                "headers": {},
                "body": None,
                "body_kind": "unknown" if method in _BODY_METHODS else "none",
                "cookies": (),
                "status": trace.http_status,
                "duration_ms": trace.duration_ns / 1e6,
                "trace_id": trace.trace_id,
                "response_type": None,
                "response": None,
                "response_text": None,
                "sets_cookie": False,
            }
        )
    return found


# ---- focus ---------------------------------------------------------------------------------------


def select_calls(
    calls: Sequence[RecordedCall], options: DraftOptions, session: SessionSummary
) -> tuple[list[int], str]:
    """The orders of the calls the focus picks, and the focus in words; raises when it picks none."""
    chosen = list(range(len(calls)))
    words = f"all {len(calls)} API requests" if len(calls) != 1 else "the one API request"
    if options.trace_id:
        chosen = [c.order for c in calls if c.trace_id == options.trace_id]
        if not chosen:
            raise InvalidArgumentError(
                f"no recorded request of session {code(session.session_id)} started trace {code(options.trace_id)}; "
                f"request trace ids are on `get_timeline(session_id={literal(session.session_id)}, kinds=['network'])`"
            )
        words = f"the request that started trace {options.trace_id}"
    if options.from_ns is not None or options.to_ns is not None:
        low, high = options.from_ns or 0, options.to_ns if options.to_ns is not None else 2**63
        chosen = [i for i in chosen if (at := calls[i].time_ns) is not None and low <= at <= high]
        if not chosen:
            raise InvalidArgumentError(
                "no API request in that time window; widen from_ms/to_ms or see the requests' offsets with "
                f"`get_timeline(session_id={literal(session.session_id)}, kinds=['network'])`"
            )
        words = f"{len(chosen)} API requests in the window"
    if options.around_error:
        failed = [i for i in chosen if (calls[i].status or 0) >= 500] or [i for i in chosen if calls[i].failed]
        if not failed:
            raise InvalidArgumentError(
                f"no replayed request of session {code(session.session_id)} failed (status 4xx/5xx); "
                "drop around_error to draft the whole session"
            )
        at = chosen.index(failed[0])
        chosen = chosen[max(0, at - ERROR_CONTEXT) : at + 1]
        c = calls[failed[0]]
        words = f"the first failing request ({c.method} {c.path} → {c.status}) and up to {ERROR_CONTEXT} before it"
    return chosen, words


def user_actions(events: Sequence[Event]) -> int:
    """How many clicks and inputs a UI test could replay."""
    return sum(e.kind in ("click", "dblclick", "input") for e in events)


def check_style_input(calls: CallSet, events: Sequence[Event], style: Style, session_id: str) -> None:
    """Raise a clear error naming what is missing when the session holds nothing the chosen style replays.

    The other style is named only when it would draft something for this session.
    """
    actions = user_actions(events)
    if style == "ui" and not actions:
        kinds = Counter(e.kind for e in events)
        held = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no browser events"
        other = (
            f"; its {len(calls.calls)} API requests ({calls.source}) can be replayed with style='api'"
            if calls.calls
            else ""
        )
        raise InvalidArgumentError(
            f"session {code(session_id)} has no recorded clicks or typing to replay in a browser (it holds {held}): "
            f"a UI test needs an rrweb recording of the user's actions{other}"
        )
    if style == "api" and not calls.calls:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(calls.skipped.items()))
        held = f"left out: {reasons}" if reasons else "no recorded request and no backend trace started by one"
        other = f"; its {actions} clicks and inputs can be replayed with style='ui'" if actions else ""
        raise InvalidArgumentError(
            f"session {code(session_id)} has no API request to replay ({held}){other}; "
            f"see what it holds with `get_timeline(session_id={literal(session_id)})`"
        )


def _when(ns: int) -> str:
    try:
        return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "an unknown time"


def _file_name(style: Style, session_id: str) -> str:
    slug = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in session_id.lower()).strip("_")[:40]
    return f"test_{'replay' if style == 'api' else 'ui'}_{slug or 'session'}.py"


def draft_regression_test(
    session: SessionSummary,
    events: Sequence[Event],
    twins: Mapping[CopyKey, Event],
    traces: Sequence[TraceSummary],
    options: DraftOptions,
    queries: Mapping[str, QueryFacts] | None = None,
) -> Draft:
    """A runnable test module for `session`: its API requests (style "api") or user actions ("ui").

    `events` are the session's browser events (HAR copies of rrweb requests left out), `twins`
    those HAR copies by the request each repeats (`copy_key`), `traces` the session's traces (used
    when it has no browser recording), `queries` their query facts (drafting.queries). A draft from
    backend traces counts each request's queries and has a latency budget unless told otherwise.
    Raises InvalidArgumentError when the focus or the recording leaves nothing to test.
    """
    found = collect_calls(events, twins, traces, queries)
    check_style_input(found, events, options.style, session.session_id)
    from_traces = found.source == "backend traces"
    any_queries = any(c.queries is not None and c.queries.count for c in found.calls)
    options = replace(
        options,
        # a session whose traces ran no query at all has nothing to count (an app without database spans)
        count_queries=any_queries and (from_traces if options.count_queries is None else options.count_queries),
        latency_factor=options.latency_factor or (BACKEND_LATENCY_FACTOR if from_traces else None),
    )
    if found.calls or options.style == "api":
        chosen, focus = select_calls(found.calls, options, session)
    else:  # a UI test of a recording without API requests: every user action
        chosen, focus = [], f"all {user_actions(events)} clicks and inputs"
    who = f"user {session.user_id}" if session.user_id else "anonymous"
    skipped = sum(found.skipped.values())
    left_out = f"; {skipped} other requests left out ({', '.join(sorted(found.skipped))})" if skipped else ""
    errors = (
        "Recorded server errors are expected fixed: those steps fail while the server still answers 5xx."
        if options.recorded_errors == "expect_fixed"
        else "Recorded errors are asserted as recorded; draft with recorded_errors='expect_fixed' for a "
        "test that fails until a recorded server error is fixed."
    )
    reference = (
        f"the time session {options.baseline_session_id} took for the same request (else its own)"
        if options.baseline_ms
        else "its recorded time"
    )
    latency = (
        f"Latency guard: every request must answer within LATENCY_FACTOR = {options.latency_factor:g} times "
        f"{reference}, and within at least 100 ms."
        if options.latency_factor and options.style == "api"
        else ""
    )
    if options.style == "api":
        title = f"Replays session {session.session_id} ({who}, {_when(session.start_ns)}) over HTTP."
        what = (
            f'Drafted by mcp-sessions draft_regression_test(style="api") from {focus} of the session\'s '
            f"{found.source} recording, in recorded order{left_out}. Each step's comment names its request "
            "and trace. "
            + (
                "Asserted: the status of each root server span (traces record no bodies)."
                if from_traces
                else "Asserted: status, content type, the JSON body's shape and its stable values; ids the "
                "server hands out, tokens, timestamps and random-looking values by type only. Values that later "
                "requests send again are captured from the answers that handed them out."
            )
        )
    else:
        title = f"Replays the user actions of session {session.session_id} ({who}) in a browser."
        what = (
            f'Drafted by mcp-sessions draft_regression_test(style="ui") from the user actions around {focus} '
            "of the session's rrweb recording. Elements are found by role, label and text before CSS; typed "
            "values come from FIXTURES (recordings mask typed text) or, for secrets, environment variables. "
            "Each step checks the status of the API responses the page received after it."
        )

    counted = options.style == "api" and options.count_queries
    queries_text = (
        "Queries: each request's database queries are counted from the app's own spans, which the test "
        "receives over OTLP/HTTP on OTLP_PORT while it runs (every request starts its own trace with a "
        "traceparent header); it waits up to OTLP_WAIT_S for them. Each request may run at most "
        + (
            f"as many as session {options.baseline_session_id} ran for it (else its recorded count)"
            if options.baseline_queries
            else "its recorded count"
        )
        + "; the message names the N+1 loops the recording held. Run the app with OpenTelemetry exporting "
        "to it: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4318/v1/traces OTEL_BSP_SCHEDULE_DELAY=100 "
        "(protobuf needs the opentelemetry-proto package here; JSON needs nothing)."
        if counted
        else ""
    )

    def header(notes: Sequence[str], env: Sequence[EnvVar]) -> list[str]:
        return docstring(title, [p for p in (what, errors, queries_text, latency) if p], notes, env)

    if options.style == "api":
        module: ApiModule | UiModule = draft_api_module(found.calls, chosen, options, header)
    else:
        module = draft_ui_module(events, found.calls, chosen, options, header)
    if len(module.source) > MAX_SOURCE_CHARS:
        raise InvalidArgumentError(
            f"the drafted test is {len(module.source):,} characters ({len(module.steps)} steps), too long to read; "
            "narrow it with from_ms/to_ms, trace_id or around_error"
        )
    return Draft(
        style=options.style,
        filename=_file_name(options.style, session.session_id),
        source=module.source,
        focus=focus,
        steps=tuple(module.steps),
        total_calls=len(found.calls),
        skipped=dict(found.skipped),
        env=tuple(module.env),
        notes=tuple(module.notes),
        counts_queries=bool(counted),
    )


def baseline_durations(
    events: Sequence[Event], twins: Mapping[CopyKey, Event], traces: Sequence[TraceSummary]
) -> dict[str, float]:
    """A reference run's recorded times: the median duration (ms) of each `METHOD /path/{id}` it made."""
    durations: dict[str, list[float]] = {}
    for call in collect_calls(events, twins, traces).calls:
        if call.duration_ms is not None:
            durations.setdefault(request_fingerprint(call.method, call.path), []).append(call.duration_ms)
    return {key: statistics.median(values) for key, values in durations.items()}


def baseline_queries(
    events: Sequence[Event],
    twins: Mapping[CopyKey, Event],
    traces: Sequence[TraceSummary],
    queries: Mapping[str, QueryFacts],
) -> dict[str, int]:
    """A reference run's query counts: the most queries any of its `METHOD /path/{id}` requests ran."""
    counts: dict[str, int] = {}
    for call in collect_calls(events, twins, traces, queries).calls:
        if call.queries is not None:
            key = request_fingerprint(call.method, call.path)
            counts[key] = max(counts.get(key, 0), call.queries.count)
    return counts
