"""rrweb recordings: the browser's side of a session, as `Event`s a person can read.

Accepted shapes (unknown event types, sources and fields are ignored):

    [event, ...]                               rrweb's own export (`record({emit})` collected)
    {"events": [event, ...]}                   the same, wrapped (rrweb-player, many exporters)
    {"window_id", "data": [event, ...]}        one line of PostHog's JSON Lines export, with
                                               `$session_id`/`session_id` when it has one

An event is `{"type", "data", "timestamp"?}`. What each becomes:

    type 4 Meta {href}                      ──► navigation   `navigate to /checkout`
    type 2 FullSnapshot / 3.0 Mutation      ──► (the node map that names targets, `rrweb_dom`)
    type 3, source 2 MouseInteraction       ──► click (2), dblclick (4), focus (5); the rest skipped;
                                                a focus right before a click on it joins the click
    type 3, source 5 Input                  ──► input, value masked, one per run of keystrokes
    type 3, source 3 Scroll / 4 Resize      ──► scroll / resize, one per run (a scroll run per container)
    type 6 plugin */console@1 (3.11 Log)    ──► console      level, decoded payload, stack
    type 6 plugin */network@1               ──► network      one per request, trace context
    type 5 Custom {tag, payload}            ──► custom (PostHog's `$pageview`/`$url_changed`
                                                with an href: navigation)

Runs. Inputs arrive once per keystroke ("t", "te", "tes"...), scrolls and resizes dozens a
second. A run lasts until another user action (click, focus, navigation, input elsewhere);
console and network events in between do not end it, a scroll in another container or after a
pause of over a second does. The run's one event takes the place and time of its LAST member
(where the value was final), with `first_time_ns` and `count`:

    input #email:  t ─ te ─ [GET /api/check] ─ tes ─ test │ click "Sign up"
    events:                  GET /api/check ──────── type into input#email (count 4) ── click

Quirks handled:
- No `timestamp` (rrweb's own test fixtures): events keep their order, `time_ns` is None and
  `detail["times_unknown"]` says so. Timestamps are epoch milliseconds, sometimes fractional.
- Typed values are not kept: `detail["value"] = "[masked]"` with its `length` (and
  `isChecked`). The one exception is an input the redaction config allow-lists
  (`RedactionRules.keeps_input`: never a password or secret-named field); its final value is
  kept, bounded, and the redaction stage still runs its text rules over it. The decision is
  made here, where the keystrokes are read, so a masked value never leaves the parser.
  rrweb also reports the radio a click UNchecked (`userTriggered: false` in 2.x, absent
  before): those are dropped, as is anything marked `userTriggered: false`.
- A Meta event with the href already current and no page load (type 0/1) since is a periodic
  re-snapshot (`checkoutEveryNms`), not a navigation.
- Console payloads are JSON-encoded strings ('"hello"'); `assert` is an error.
- A request recorded from the resource timings alone (no headers or bodies asked for) has no
  method: a fetch or XHR then has `method` None, a beacon POST, anything else GET.
- Network `startTime`/`endTime` are milliseconds after the PAGE's time origin and the plugin
  emits a request only after it ended (batched, tens of ms late, the page's first requests all
  at once when recording starts: `recordInitialRequests`). A request starts at
  origin + startTime, where origin is estimated per page as the smallest (timestamp − endTime)
  of the requests in its report and every earlier report of the page, so a document load is
  placed before the scripts it loaded whatever order the report lists them in; without timings
  the event's own timestamp is used. A report is one rrweb event: however a live recording is
  cut into batches, its requests are placed alike.

      timeOrigin ├─ document ─┤├─ app.js ─┤              emitted ▼ (both at once)
                 0            endTime                            timestamp
- With `recordInitialRequests` the page load's timing entry is reported twice (in the initial
  batch, then by the observer once the load ends): one timing entry (page, URL, initiator,
  startTime, endTime, no method: the fetch wrapper's reports have one) makes one request. A
  navigation entry lasts until its `endTime` (responseEnd), as the HAR's document request
  does; its `duration` runs on to the load event's end.
- The recording lasts from its first to its last timestamped event of any type (snapshots,
  mutations, mouse moves included, though they make no event): the first and last events of
  a batch (of the file, read whole) carry `recording_start_ns` / `recording_end_ns` when the
  recording reaches beyond them.
- PostHog compresses big events (`cv` set): a string where an object or list should be is
  gzip data in latin-1 text, inflated (bounded) here.
- One session key in the whole recording (baggage `session.id`, else the `x-session-id`
  header, else PostHog's `$session_id`) is given to every event that has none. A PostHog line
  can only use keys seen so far: its state does not reach back to earlier lines.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from mcp_sessions.errors import MalformedInputError
from mcp_sessions.formats.coerce import expect_dict, expect_list
from mcp_sessions.formats.propagation import lower_headers, session_and_user, trace_context, url_path
from mcp_sessions.formats.rrweb_dom import Dom, Target
from mcp_sessions.model import Event, EventKind
from mcp_sessions.redact import DEFAULT_RULES, INPUT_MASK, RedactionRules, clip

BODY_LIMIT = 2_000
KEPT_INPUT_LIMIT = 200  # characters of an allow-listed typed value
CONSOLE_LIMIT = 300
SUMMARY_LIMIT = 200
TRACE_LINES = 10
_INFLATED_LIMIT = 64 * 1024 * 1024
_CLICKS: dict[int, tuple[EventKind, str]] = {
    2: ("click", "click"),
    4: ("dblclick", "double-click"),
    5: ("focus", "focus"),
}
_ERROR_LEVELS = frozenset({"error", "assert"})
_URL_TAGS = frozenset({"$pageview", "$url_changed"})
_KNOWN_TYPES = frozenset(range(7))
SCROLL_PAUSE_MS = 1_000  # scrolls further apart than this are separate runs
_MAX_MS = 10**14  # about the year 5100: a larger "time" is not one, and would not fit in int64 ns


@dataclass
class _Run:
    """A run of inputs on one node, or of scrolls, or of resizes, collapsing into one event."""

    kind: EventKind
    node: int | None
    target: Target | None
    first_ms: float | None
    slot: int
    count: int = 0
    last_ms: float | None = None
    last: dict[str, Any] = field(default_factory=dict)


@dataclass
class RrwebState:
    """What one recording carries from event to event, and from one PostHog line to the next."""

    dom: Dom = field(default_factory=Dom)
    seq: int = 0
    href: str | None = None
    loaded: bool = True  # a page load (type 0/1) since the last Meta event
    page: int = 0  # numbers the documents (each has its own performance.timeOrigin)
    origins: dict[int, float] = field(default_factory=dict)  # estimated timeOrigin per page, in epoch ms
    timed: set[tuple[int, str, str, float, float]] = field(default_factory=set)  # timing entries already read
    first_ms: float | None = None  # the recording's first and last timestamps, of any event type
    last_ms: float | None = None
    session_keys: set[str] = field(default_factory=set)
    rules: RedactionRules = DEFAULT_RULES  # decides which typed values (if any) are kept


def looks_like_rrweb(doc: Any) -> bool:
    """True for a list of rrweb events, or `{"events": [...]}` holding one."""
    events = doc.get("events") if isinstance(doc, dict) else doc
    return isinstance(events, list) and bool(events) and all(_is_event(e) for e in events[:5])


def looks_like_posthog_line(doc: Any) -> bool:
    """True for one line of a PostHog export: `{"window_id", "data": [rrweb events]}`."""
    if not isinstance(doc, dict) or not ("window_id" in doc or "$window_id" in doc):
        return False
    data = doc.get("data")
    return isinstance(data, list) and all(_is_event(e) for e in data[:5])


def _is_event(value: Any) -> bool:
    kind = value.get("type") if isinstance(value, dict) else None
    return isinstance(kind, int) and not isinstance(kind, bool) and 0 <= kind <= 8 and "data" in value


def parse(doc: Any, rules: RedactionRules = DEFAULT_RULES) -> Iterator[Event]:
    """Yield the events of an rrweb recording (a list, or `{"events": [...]}`), in recorded order."""
    events = expect_list(doc.get("events") if isinstance(doc, dict) else doc, "events")
    reader = _Reader(RrwebState(rules=rules), session_key=None, client_key=None)
    for i, raw in enumerate(events):
        reader.feed(raw, f"events[{i}]")
    yield from reader.finish()


def parse_posthog_line(doc: Any, line_number: int, state: RrwebState | None) -> Iterator[Event]:
    """Yield the events of one PostHog line; pass the same `state` for every line of a file."""
    line = expect_dict(doc, f"line {line_number}")
    window = line.get("window_id", line.get("$window_id"))
    session = line.get("$session_id", line.get("session_id"))
    reader = _Reader(state or RrwebState(), session_key=_text(session), client_key=_text(window))
    for i, raw in enumerate(expect_list(line.get("data"), f"line {line_number}: data")):
        reader.feed(raw, f"line {line_number}: data[{i}]")
    yield from reader.finish()


def parse_batch(events: Any, state: RrwebState, *, session_key: str, client_key: str | None) -> list[Event]:
    """The events of one live batch (the receiver's `/v1/rrweb`), read on from the `state` earlier batches left.

    A run of inputs or scrolls ends with its batch; everything else (the node map, the page,
    its time origin) carries over, so a click in batch 7 is named from batch 0's snapshot.
    """
    reader = _Reader(state, session_key=session_key, client_key=client_key)
    for i, raw in enumerate(expect_list(events, "events")):
        reader.feed(raw, f"events[{i}]")
    return reader.finish()


class _Reader:
    """Turns a batch of rrweb events into Events; the batch is buffered so runs can collapse."""

    def __init__(self, state: RrwebState, session_key: str | None, client_key: str | None) -> None:
        self.state, self.session_key, self.client_key = state, session_key, client_key
        self.slots: list[dict[str, Any] | _Run | None] = []
        self.runs: dict[str, _Run] = {}

    def feed(self, raw: Any, where: str) -> None:
        event = expect_dict(raw, where)
        kind, ms = _int(event.get("type")), _number(event.get("timestamp"))
        if kind not in _KNOWN_TYPES:
            return  # Asset (7), Annotation (8), and whatever comes next
        if ms is not None and -_MAX_MS < ms < _MAX_MS:
            state = self.state
            state.first_ms = ms if state.first_ms is None else min(state.first_ms, ms)
            state.last_ms = ms if state.last_ms is None else max(state.last_ms, ms)
        compressed = "cv" in event
        data = expect_dict(_inflate(event.get("data"), compressed, f"{where}.data"), f"{where}.data")
        where = f"{where}.data"
        if kind in (0, 1):
            self.state.loaded = True
            if kind == 0:
                self._new_page()
        elif kind == 2:
            self.state.dom.load(data.get("node"), f"{where}.node")
        elif kind == 4:
            self._navigation(_text(data.get("href")), ms, {"width": data.get("width"), "height": data.get("height")})
        elif kind == 3:
            self._incremental(data, ms, compressed, where)
        elif kind == 5:
            self._custom(data, ms)
        elif kind == 6:
            plugin = str(data.get("plugin") or "")
            if plugin.endswith("/console@1"):
                self._console(expect_dict(data.get("payload"), f"{where}.payload"), ms)
            elif plugin.endswith("/network@1"):
                payload = expect_dict(data.get("payload"), f"{where}.payload")
                requests = expect_list(payload.get("requests"), f"{where}.payload.requests")
                self._time_origin(requests, ms)
                for n, request in enumerate(requests):
                    self._request(request, ms, f"{where}.payload.requests[{n}]")

    def _incremental(self, data: dict[str, Any], ms: float | None, compressed: bool, where: str) -> None:
        source = _int(data.get("source"))
        if source == 0:
            inflated = {k: _inflate(data.get(k), compressed, f"{where}.{k}") for k in ("adds", "removes", "texts")}
            attributes = _inflate(data.get("attributes"), compressed, f"{where}.attributes")
            self.state.dom.mutate({**inflated, "attributes": attributes}, where)
        elif source == 2 and _int(data.get("type")) in _CLICKS:
            kind, verb = _CLICKS[_int(data.get("type")) or 0]
            node = _int(data.get("id"))
            self._end_runs()
            last = self.slots[-1] if self.slots else None
            if kind != "focus" and isinstance(last, dict) and last["kind"] == "focus" and last["node"] == node:
                self.slots.pop()  # mousedown → focus → mouseup → click: the focus is part of the click
            target = self.state.dom.describe(node)
            summary = f"{verb} {target.phrase}" if target else f"{verb} (element not in snapshot)"
            self._emit(kind, ms, summary, target=target.selector if target else None, detail=_facts(target), node=node)
        elif source == 5 and data.get("userTriggered") is not False:
            self._input(data, ms)
        elif source == 3:
            node = _int(data.get("id"))
            run = self.runs.get("scroll")
            paused = (
                run is not None and ms is not None and run.last_ms is not None and ms - run.last_ms > SCROLL_PAUSE_MS
            )
            if run is not None and (run.node != node or paused):
                del self.runs["scroll"]  # another container, or a new burst: a run of its own
            self._extend("scroll", node, ms, {"final_x": data.get("x"), "final_y": data.get("y"), "node": node})
        elif source == 4:
            self._extend("resize", None, ms, {"width": data.get("width"), "height": data.get("height")})
        elif source == 11:  # rrweb 1.x recorded the console as an incremental source
            self._console(data, ms)

    def _input(self, data: dict[str, Any], ms: float | None) -> None:
        node, checked, text = _int(data.get("id")), data.get("isChecked"), data.get("text")
        run = self.runs.get("input")
        same = run is not None and run.node == node
        target = run.target if run is not None and same else self.state.dom.describe(node)
        if target is not None and target.role == "radio" and checked is False:
            return  # rrweb's echo for the radio that the click unchecked
        if not same:
            self._end_runs()
        facts = {"length": len(text) if isinstance(text, str) else 0, "isChecked": checked, "value": INPUT_MASK}
        if isinstance(text, str) and target is not None and self.state.rules.keeps_input(target.input_facts()):
            facts["value"] = _clip(text, KEPT_INPUT_LIMIT)
        self._extend("input", node, ms, facts, target)

    def _extend(
        self, kind: EventKind, node: int | None, ms: float | None, facts: dict[str, Any], target: Target | None = None
    ) -> None:
        """Add one member to the run of `kind`, moving its event to this member's place."""
        run = self.runs.get(kind)
        if run is None:
            run = self.runs[kind] = _Run(kind=kind, node=node, target=target, first_ms=ms, slot=-1)
        else:
            self.slots[run.slot] = None
        run.slot, run.count, run.last_ms, run.last = len(self.slots), run.count + 1, ms, facts
        self.slots.append(run)

    def _end_runs(self) -> None:
        """A user action ends every run: the next keystroke or scroll starts a new event."""
        self.runs.clear()

    def _navigation(self, href: str | None, ms: float | None, detail: dict[str, Any], *, new_page: bool = True) -> None:
        if href is None or (href == self.state.href and not (new_page and self.state.loaded)):
            return
        self._end_runs()
        if new_page:
            self._new_page()
        self.state.href, self.state.loaded = href, False
        self._emit("navigation", ms, f"navigate to {url_path(href)}", url=href, detail=detail)

    def _new_page(self) -> None:
        """A new document: its requests' times count from its own performance.timeOrigin."""
        if self.state.page in self.state.origins:
            self.state.page += 1

    def _custom(self, data: dict[str, Any], ms: float | None) -> None:
        tag, payload = str(data.get("tag") or "custom"), data.get("payload")
        href = payload.get("href") if isinstance(payload, dict) else None
        if tag in _URL_TAGS and isinstance(href, str):
            self._navigation(href, ms, {"via": tag}, new_page=False)  # same document: origin stays
            return
        text = json.dumps(payload, ensure_ascii=False, default=str)
        summary = f"{tag}: {_clip(text, 120)}" if payload not in (None, "", {}, []) else tag
        self._emit(
            "custom",
            ms,
            summary,
            detail={
                "tag": tag,
                "payload": json.loads(text) if len(text) <= BODY_LIMIT else clip(text, BODY_LIMIT, self.state.rules),
            },  # a copy
        )

    def _console(self, payload: dict[str, Any], ms: float | None) -> None:
        level = str(payload.get("level") or "log")
        parts = payload.get("payload")
        parts = parts if isinstance(parts, list) else [] if parts is None else [parts]
        message = " ".join(_decode(p) for p in parts)
        # One line for the timeline; the message as logged (bounded) stays in detail when that differs.
        text = _clip(" ".join(line.strip() for line in message.splitlines()), CONSOLE_LIMIT) or f"console.{level}()"
        trace = payload.get("trace")
        stack = [clip(str(line), 300) for line in trace[:TRACE_LINES]] if isinstance(trace, list) else []
        kept = clip(message, BODY_LIMIT, self.state.rules) if message != text else None
        detail = {"console_level": level, "trace": stack, "message": kept}
        self._emit("console", ms, text, level="error" if level in _ERROR_LEVELS else level, detail=detail)

    def _request(self, raw: Any, ms: float | None, where: str) -> None:
        request = expect_dict(raw, where)
        initiator = _text(request.get("initiatorType"))
        method = (_text(request.get("method")) or _implied_method(initiator) or "").upper() or None
        url = _text(request.get("name")) or _text(request.get("url"))
        status, start, end = (
            _int(request.get("status")),
            _number(request.get("startTime")),
            _number(request.get("endTime")),
        )
        if start is not None and end is not None and url is not None and request.get("method") is None:
            entry = (self.state.page, url, str(initiator), start, end)
            if entry in self.state.timed:
                return  # the same timing entry again: the initial batch, then the observer
            self.state.timed = self.state.timed | {entry}  # a new set, as `origins`
        duration = _number(request.get("duration"))
        if start is not None and end is not None and (duration is None or initiator == "navigation"):
            duration = end - start  # a navigation entry's own duration runs on to the load event's end
        origin = self.state.origins.get(self.state.page)
        when = ms if ms is None or start is None or origin is None else min(ms, origin + start)
        headers = lower_headers(expect_dict(request.get("requestHeaders"), f"{where}.requestHeaders"))
        trace_id, span_id = trace_context(headers)
        session, user = session_and_user(headers)
        detail = {
            "initiator": initiator,
            "start_ms": start,
            "end_ms": end,
            "request_headers": headers,
            "response_headers": lower_headers(expect_dict(request.get("responseHeaders"), f"{where}.responseHeaders")),
        }
        for side in ("request", "response"):
            body = request.get(f"{side}Body")
            body = body if isinstance(body, str) or body is None else json.dumps(body, default=str)
            if body:
                detail[f"{side}_body_size"] = len(body.encode("utf-8", "replace"))
                detail[f"{side}_body"] = clip(body, BODY_LIMIT, self.state.rules)
        outcome = str(status) if status else "no status"
        took = "" if duration is None else " (<1 ms)" if 0 < duration < 1 else f" ({duration:.0f} ms)"
        self._emit(
            "network",
            when,
            f"{method or '?'} {url_path(url or '?')} → {outcome}{took}",
            url=url,
            method=method,
            status=status or None,
            duration_ns=_ns(duration) if duration is not None and duration >= 0 else None,
            trace_id=trace_id,
            span_id=span_id,
            session_key=session or headers.get("x-session-id") or None,
            user_id=user,
            detail=detail,
        )

    def _time_origin(self, requests: list[Any], ms: float | None) -> None:
        """The page's time origin, from every request this report holds and every earlier one.

        Each ended before it was reported, so it started at most (timestamp - endTime) after
        the origin; the smallest such bound is the estimate.
        """
        if ms is None:
            return
        bounds = [
            ms - end
            for request in requests
            if isinstance(request, dict) and (end := _number(request.get("endTime"))) is not None
        ]
        if bounds:  # a new mapping: a batch that fails puts the state's fields back as they were
            page, origins = self.state.page, self.state.origins
            self.state.origins = {**origins, page: min([*bounds, *([origins[page]] if page in origins else [])])}

    def _emit(self, kind: EventKind, ms: float | None, summary: str, **fields: Any) -> None:
        self.slots.append({"kind": kind, "ms": ms, "summary": summary, **fields})

    def finish(self) -> list[Event]:
        """The batch's events with seq numbers and, when exactly one is known, the session key."""
        events = [self._build(slot) for slot in self.slots if slot is not None]
        self.slots, self.runs = [], {}
        events = self._with_extent(events)
        keys = {e.session_key for e in events if e.session_key} | self.state.session_keys
        keys |= {self.session_key} if self.session_key else set()
        self.state.session_keys = keys
        fill = self.session_key or (next(iter(keys)) if len(keys) == 1 else None)
        return [e if e.session_key or not fill else replace(e, session_key=fill) for e in events]

    def _with_extent(self, events: list[Event]) -> list[Event]:
        """The batch's first and last events say where the recording begins and (so far) ends.

        A live recording arrives in batches: the earliest and latest of these marks, over all its
        batches, are where the whole recording begins and ends (a file is read as one batch). A
        batch that makes no event (mouse moves alone) has nowhere to put its marks.
        """
        timed = [i for i, e in enumerate(events) if e.time_ns is not None]
        first, last = _ns(self.state.first_ms), _ns(self.state.last_ms)
        if not timed or first is None or last is None:
            return events
        out = list(events)
        head = out[timed[0]]
        if head.time_ns is not None and first < head.time_ns:
            out[timed[0]] = replace(head, detail={**head.detail, "recording_start_ns": first})
        end = max((e.time_ns or 0) + (e.duration_ns or 0) for e in out if e.time_ns is not None)
        if last > end:
            tail = out[timed[-1]]
            out[timed[-1]] = replace(tail, detail={**tail.detail, "recording_end_ns": last})
        return out

    def _build(self, slot: dict[str, Any] | _Run) -> Event:
        if isinstance(slot, _Run):
            slot = self._run_fields(slot)
        slot.pop("node", None)
        ms, detail = slot.pop("ms"), {k: v for k, v in slot.pop("detail", {}).items() if v not in (None, "", [], {})}
        if ms is None:
            detail["times_unknown"] = True
        seq, self.state.seq = self.state.seq, self.state.seq + 1
        return Event(
            source="rrweb",
            seq=seq,
            time_ns=_ns(ms),
            summary=_clip(slot.pop("summary"), SUMMARY_LIMIT),
            client_key=self.client_key,
            detail=detail,
            **slot,
        )

    def _run_fields(self, run: _Run) -> dict[str, Any]:
        facts, count = dict(run.last), run.count
        times = f" ({count} events)" if count > 1 else ""
        detail: dict[str, Any] = {"count": count, "first_time_ns": _ns(run.first_ms) if count > 1 else None}
        target = run.target
        if run.kind == "input":
            verb = "type into"
            if target is not None and target.role == "checkbox":
                verb = "check" if facts.get("isChecked") else "uncheck"
            elif target is not None and target.role == "radio":
                verb = "choose"
            elif target is not None and target.detail.get("tag") == "select":
                verb = "select in"
            summary = f"{verb} {target.phrase if target else '(element not in snapshot)'}"
            detail |= {"value": facts["value"], "length": facts["length"], **_facts(target)}
            if isinstance(facts.get("isChecked"), bool) and target is not None and target.role in ("checkbox", "radio"):
                detail["isChecked"] = facts["isChecked"]
        elif run.kind == "scroll":
            node = facts.pop("node", None)
            target = None if self.state.dom.is_document(node) else self.state.dom.describe(node)
            summary = f"scroll {target.phrase if target else 'page'} to y={_num_text(facts['final_y'])}{times}"
            detail |= facts
        else:
            size = f"{_num_text(facts['width'])}×{_num_text(facts['height'])}"
            summary, detail = f"resize viewport to {size}{times}", detail | facts
        return {
            "kind": run.kind,
            "ms": run.last_ms,
            "summary": summary,
            "target": target.selector if target else None,
            "detail": detail,
        }


def _implied_method(initiator: str | None) -> str | None:
    """The method a resource timing implies: a beacon POSTs, a fetch or XHR could be anything, the rest GET."""
    if initiator == "beacon":
        return "POST"
    return None if initiator in ("fetch", "xmlhttprequest") else "GET"


def _facts(target: Target | None) -> dict[str, Any]:
    return dict(target.detail) if target is not None else {}


def _inflate(value: Any, compressed: bool, where: str) -> Any:
    """PostHog's compressed fields (`cv` set): gzip bytes carried as a latin-1 string."""
    if not compressed or not isinstance(value, str):
        return value
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        raw = inflater.decompress(value.encode("latin-1"), _INFLATED_LIMIT)
        if inflater.unconsumed_tail:
            raise MalformedInputError(f"{where}: compressed data inflates past {_INFLATED_LIMIT // 2**20} MiB")
        return json.loads(raw)
    except (UnicodeEncodeError, zlib.error, ValueError):
        raise MalformedInputError(f"{where}: expected an object or gzip-compressed JSON (PostHog `cv`)") from None


def _decode(part: Any) -> str:
    """One console argument: the plugin JSON-encodes each ('"hello"' → hello)."""
    if isinstance(part, str):
        try:
            part = json.loads(part)
        except ValueError:
            return part
    return part if isinstance(part, str) else json.dumps(part, ensure_ascii=False, default=str)


def _ns(ms: float | None) -> int | None:
    if ms is None or not -_MAX_MS < ms < _MAX_MS:
        return None
    return ms * 1_000_000 if isinstance(ms, int) else round(ms * 1_000_000)


def _number(value: Any) -> float | None:
    """A JSON number, or a numeric string; anything else (absent, junk) is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return (int(number) if number.is_integer() else number) if math.isfinite(number) else None
    return None


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _num_text(value: Any) -> str:
    number = _number(value)
    return "?" if number is None else f"{number:.0f}"


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _clip(text: str, limit: int) -> str:
    return clip(text, limit, ellipsis="…")
