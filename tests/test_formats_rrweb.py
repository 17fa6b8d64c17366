"""rrweb recordings: the public samples, the shop's real recordings, PostHog lines, the quirks."""

from __future__ import annotations

import copy
import gzip
import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from mcp_sessions.errors import MalformedInputError
from mcp_sessions.formats import rrweb
from mcp_sessions.model import Event

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples" / "rrweb"
FIXTURES = ROOT / "fixtures"
RECORDINGS = FIXTURES / "recordings-browser" / "shop" / "rrweb"
EXPECTED = FIXTURES / "expected"
MS = 1_000_000

# What each public sample yields, by kind (none of them has timestamps).
SAMPLE_KINDS = {
    "rrweb-console-plugin-record.json": {"navigation": 1, "console": 19},
    "rrweb-console-plugin-recursive.json": {"navigation": 1, "console": 1},
    "rrweb-integration-clicks.json": {"navigation": 1, "click": 3},  # the focus joined the click on the link
    "rrweb-integration-form-interactions.json": {"navigation": 1, "focus": 2, "click": 2, "input": 5},
    "rrweb-integration-node-mutations.json": {"navigation": 1, "focus": 1, "input": 2},
}


def sample(name: str) -> Any:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"public rrweb sample not found at {path} (the samples live in ../shared/samples beside the repo)")
    return json.loads(path.read_text())


def recording(name: str) -> Any:
    path = RECORDINGS / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"shop recording {path} is missing; run fixtures/regenerate.sh")
    return json.loads(path.read_text())


def expected(scenario: str) -> dict[str, Any]:
    return json.loads((EXPECTED / f"{scenario}.json").read_text())


def events_of(doc: Any) -> list[Event]:
    return list(rrweb.parse(doc))


def by_kind(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]


def everything(event: Event) -> str:
    """Every field of an event as text, to search for values that must not be there."""
    return json.dumps(asdict(event), default=str, ensure_ascii=False)


# ---- public samples --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLE_KINDS))
def test_every_public_sample_parses_in_order_with_times_unknown(name: str) -> None:
    doc = sample(name)
    assert rrweb.looks_like_rrweb(doc)
    events = events_of(doc)
    assert Counter(e.kind for e in events) == SAMPLE_KINDS[name]
    assert [e.seq for e in events] == list(range(len(events)))
    assert all(e.source == "rrweb" and e.time_ns is None and e.detail["times_unknown"] for e in events)
    assert not any("node " in e.summary for e in events)


def test_a_click_names_its_target_from_the_snapshot() -> None:
    clicks = by_kind(events_of(sample("rrweb-integration-clicks.json")), "click")
    # <span id="not-a-link">not link</span>, then <a href="about:blank#clicked">link</a>
    assert [c.summary for c in clicks] == ["click span#not-a-link", "click span#not-a-link", 'click link "link"']
    assert clicks[0].target == "#not-a-link"
    assert clicks[0].detail["text"] == "not link"
    assert clicks[2].target == 'a:has-text("link")'
    assert clicks[2].detail == {"tag": "a", "role": "link", "text": "link", "times_unknown": True}


def test_focus_and_inputs_are_masked_and_collapsed() -> None:
    events = events_of(sample("rrweb-integration-form-interactions.json"))
    assert [e.summary for e in events[1:]] == [
        "focus input",
        "type into input",  # 't', 'te', 'tes', 'test': one event
        'click radio[name="toggle"]',  # the focus that came with the click joined it
        'choose radio[name="toggle"]',  # and rrweb's 'off' echo for the other radio is gone
        "click checkbox",
        "check checkbox",
        "focus textarea",
        "type into textarea",
        "select in select",
    ]
    typed = by_kind(events, "input")
    assert [(e.detail["count"], e.detail["length"]) for e in typed] == [(4, 4), (1, 2), (1, 2), (13, 13), (1, 1)]
    assert all(e.detail["value"] == "[masked]" for e in typed)
    assert typed[2].detail["isChecked"] is True
    for event in events:
        assert "test" not in everything(event).replace("input_type", "")


def test_mutations_name_nodes_added_after_the_snapshot() -> None:
    doc = sample("rrweb-integration-node-mutations.json")
    # The sample's one big mutation removes select2's dropdown (36) and adds it again, plus a mask
    # (70, not in the snapshot) and a result option "B" (68). Click them, then remove the mask.
    doc += [
        {"type": 3, "data": {"source": 2, "type": 2, "id": 70}},
        {"type": 3, "data": {"source": 2, "type": 2, "id": 69}},  # the text node inside the option
        {"type": 3, "data": {"source": 0, "adds": [], "removes": [{"parentId": 18, "id": 70}]}},
        {"type": 3, "data": {"source": 2, "type": 2, "id": 70}},
    ]
    events = events_of(doc)
    assert [e.summary for e in by_kind(events, "click")] == [
        "click div#select2-drop-mask",
        'click option "B"',
        "click (element not in snapshot)",
    ]
    # The input on the re-added search box resolves to its new incarnation (role combobox, by id).
    assert by_kind(events, "focus")[0].summary == "focus combobox#s2id_autogen1_search"
    assert by_kind(events, "input")[1].detail["label"] == "A"  # aria-labelledby → select2-chosen-1


def test_console_levels_payloads_and_traces() -> None:
    events = by_kind(events_of(sample("rrweb-console-plugin-record.json")), "console")
    first = events[0]
    assert (first.summary, first.level, first.detail["console_level"]) == ("should log assert", "error", "assert")
    assert first.detail["trace"] == ["__puppeteer_evaluation_script__:3:15"]
    levels = {e.detail["console_level"]: e for e in events}
    assert levels["warn"].summary == "warn" and levels["warn"].level == "warn"
    assert levels["group"].summary == "console.group()"
    multiline = next(e for e in events if e.summary.startswith("TypeError"))
    assert (
        multiline.summary
        == "TypeError: a message at __puppeteer_evaluation_script__:20:19 End of stack for Error object"
    )
    assert multiline.detail["message"].splitlines()[0] == "TypeError: a message"
    assert events[-1].summary == "from iframe"  # logged inside an iframe added by a mutation

    recursive = by_kind(events_of(sample("rrweb-console-plugin-recursive.json")), "console")
    assert [e.summary for e in recursive] == ["Proxied object: [object Object]"]


# ---- the shop's real recordings (rrweb 2.2.2 with the console and network plugins) --------------


def shop_sessions() -> list[tuple[str, dict[str, Any]]]:
    sessions = []
    for path in sorted(EXPECTED.glob("*.json")):
        for session in json.loads(path.read_text())["sessions"]:
            if session["recordings"].get("rrweb"):
                sessions.append((Path(session["recordings"]["rrweb"]).stem, session))
    return sessions


@pytest.mark.parametrize(("name", "session"), shop_sessions(), ids=[name for name, _ in shop_sessions()])
def test_shop_recordings_link_every_request_to_its_trace(name: str, session: dict[str, Any]) -> None:
    doc = recording(name)
    events = events_of(doc)
    assert [e.seq for e in events] == list(range(len(events)))
    network = by_kind(events, "network")
    assert {e.trace_id for e in network} == {t["trace_id"] for t in session["traces"] if t["in_rrweb"]}
    assert {e.session_key for e in events} == {session["session_id"]}  # page loads before any request too
    first_meta = next(raw for raw in doc if raw["type"] == 4)
    assert events[0].kind == "navigation" and events[0].time_ns == first_meta["timestamp"] * 1_000_000
    assert not any(e.detail.get("times_unknown") for e in events)
    for event in network:
        assert event.summary.startswith(f"{event.method} /") and " → " in event.summary
        assert event.duration_ns is not None and event.duration_ns >= 0


def test_server_error_has_the_failing_request_and_console_errors() -> None:
    scenario = expected("server-error")
    events = events_of(recording("server-error"))
    coupon = next(e for e in by_kind(events, "network") if e.status == 500)
    assert coupon.summary.startswith("POST /api/cart/coupon → 500 (")
    assert (coupon.method, coupon.trace_id) == ("POST", scenario["error"]["trace_id"])
    assert (
        coupon.span_id
        == next(t for t in scenario["sessions"][0]["traces"] if t["http_status"] == 500)["remote_parent_span_id"]
    )
    assert coupon.url is not None and coupon.url.endswith("/api/cart/coupon")
    assert coupon.detail["request_headers"]["x-session-id"] == scenario["sessions"][0]["session_id"]
    assert coupon.detail["request_body"] == '{"code":"SAVEBIG"}'

    errors = [e for e in by_kind(events, "console") if e.level == "error"]
    assert [e.summary for e in errors] == [json.loads(text) for text in scenario["error"]["console_errors"]]
    assert errors[0].detail["trace"][0].startswith("shopFetch (")

    # What the user did, as a person would tell it.
    story = [e.summary for e in events if e.kind in ("click", "input", "navigation")]
    assert story == [
        "navigate to /",
        "navigate to /product/12",
        'click button "Add to cart"',
        'click link "Cart"',
        "navigate to /cart",
        'type into input "Coupon"',
        'click button "Apply"',
    ]


def test_the_request_start_is_estimated_from_the_page_time_origin() -> None:
    doc = recording("server-error")
    coupon_raw = next(
        raw
        for raw in doc
        if raw["type"] == 6 and "/api/cart/coupon" in json.dumps(raw["data"]["payload"].get("requests"))
    )
    coupon = next(e for e in events_of(doc) if e.kind == "network" and e.status == 500)
    request = coupon_raw["data"]["payload"]["requests"][0]
    emitted_ns = coupon_raw["timestamp"] * 1_000_000
    assert coupon.time_ns is not None
    # Started before the plugin emitted it, by at least the request's own duration.
    assert coupon.time_ns <= emitted_ns - (request["endTime"] - request["startTime"]) * 1_000_000
    assert coupon.detail["start_ms"] == request["startTime"] and coupon.detail["end_ms"] == request["endTime"]


def test_no_typed_secret_survives_in_input_events() -> None:
    planted = [s["value"] for s in expected("secrets")["secrets"]]
    events = events_of(recording("secrets"))
    typed = by_kind(events, "input")
    assert [e.summary for e in typed] == [
        'type into input "User"',
        'type into input "Password"',
        'type into input "Card number"',
        'type into input "Expiry"',
    ]
    assert typed[1].detail["length"] == len("Erin-PLANTED-pw-3141") and typed[1].detail["input_type"] == "password"
    for event in typed + by_kind(events, "click") + by_kind(events, "focus"):
        text = everything(event)
        assert not [value for value in planted if value in text], event.summary
        assert "PLANTED" not in text and "4242" not in text


def test_parse_leaves_its_input_unchanged() -> None:
    doc = recording("secrets")
    before = copy.deepcopy(doc)
    events_of(doc)
    assert doc == before


# ---- runs: scroll and resize summarised ------------------------------------------------------


def _incremental(ts: int, **data: Any) -> dict[str, Any]:
    return {"type": 3, "data": data, "timestamp": ts}


def test_scrolls_and_resizes_collapse_into_runs() -> None:
    doc = recording("server-error")
    cart_meta = next(i for i, raw in enumerate(doc) if raw["type"] == 4 and raw["data"]["href"].endswith("/cart"))
    start = doc[cart_meta + 2]["timestamp"]  # just after the cart page's full snapshot
    network = copy.deepcopy(next(raw for raw in doc if raw["type"] == 6 and raw["data"]["plugin"] == "rrweb/network@1"))
    network["timestamp"] = start + 25
    burst = [_incremental(start + i * 10, source=3, id=1, x=0, y=i * 100) for i in range(1, 6)]
    burst.insert(2, network)  # a request in the middle does not end the run
    burst += [_incremental(start + 60 + i, source=4, width=800 - i, height=600) for i in range(3)]
    burst += [_incremental(start + 70, source=2, type=2, id=47)]  # a click ends it
    burst += [_incremental(start + 80 + i, source=3, id=1, x=0, y=50) for i in range(2)]
    burst += [
        _incremental(start + 90 + i, source=1, positions=[{"x": 1, "y": 2, "id": 1, "timeOffset": 0}])
        for i in range(40)
    ]
    events = events_of(doc[: cart_meta + 3] + burst)
    # The runs sit where their last member was: after the request, before the click.
    assert [e.kind for e in events[-6:]] == ["navigation", "network", "scroll", "resize", "click", "scroll"]
    scrolls, resizes = by_kind(events, "scroll"), by_kind(events, "resize")
    assert [(e.detail["count"], e.detail["final_y"]) for e in scrolls] == [(5, 500), (2, 50)]
    assert scrolls[0].summary == "scroll page to y=500 (5 events)"
    assert scrolls[0].time_ns == (start + 50) * 1_000_000  # the last scroll's time
    assert scrolls[0].detail["first_time_ns"] == (start + 10) * 1_000_000
    assert [(e.summary, e.detail["count"]) for e in resizes] == [("resize viewport to 798×600 (3 events)", 3)]
    assert by_kind(events, "click")[-1].summary == 'click button "Apply"'
    assert [e.seq for e in events] == list(range(len(events)))


# ---- PostHog's JSON Lines envelope -------------------------------------------------------------


def posthog_lines(doc: list[dict[str, Any]], size: int, session: str | None) -> list[str]:
    lines = []
    for i in range(0, len(doc), size):
        line: dict[str, Any] = {"window_id": "0192-window", "data": doc[i : i + size]}
        if session:
            line["$session_id"] = session
        lines.append(json.dumps(line))
    return lines


def test_posthog_lines_share_the_node_map_across_lines() -> None:
    doc = recording("secrets")
    whole = events_of(doc)
    lines = posthog_lines(doc, size=9, session="ph-session-1")
    assert all(rrweb.looks_like_posthog_line(json.loads(line)) for line in lines)
    assert not rrweb.looks_like_rrweb(json.loads(lines[0]))

    state = rrweb.RrwebState()
    events = [e for n, line in enumerate(lines, 1) for e in rrweb.parse_posthog_line(json.loads(line), n, state)]
    assert [e.seq for e in events] == list(range(len(events)))
    assert {e.client_key for e in events} == {"0192-window"}
    clicks = [e.summary for e in by_kind(events, "click")]
    assert clicks == [e.summary for e in by_kind(whole, "click")]
    assert not any("not in snapshot" in c for c in clicks)
    # The line's $session_id is the default; a request's own x-session-id stays on that request.
    assert {e.session_key for e in events if e.kind != "network"} == {"ph-session-1"}
    assert {e.session_key for e in by_kind(events, "network")} == {"sess_6ccdb0325d5e4631"}
    # Runs cannot span lines: the password's keystrokes may split, but the total is the same.
    lengths = [e.detail["count"] for e in by_kind(events, "input") if e.target == "#password"]
    assert sum(lengths) == 20 and len(lengths) >= 2

    # Without a shared state, a click on a later line cannot be named.
    alone = [e for n, line in enumerate(lines, 1) for e in rrweb.parse_posthog_line(json.loads(line), n, None)]
    assert any(e.summary == "click (element not in snapshot)" for e in alone)


def test_posthog_compressed_events_are_inflated() -> None:
    doc = copy.deepcopy(recording("server-error"))
    for raw in doc:
        if raw["type"] == 2:
            raw["data"] = gzip.compress(json.dumps(raw["data"]).encode()).decode("latin-1")
            raw["cv"] = "2024-10"
        elif raw["type"] == 3 and raw["data"]["source"] == 0:
            for key in ("adds", "removes", "texts", "attributes"):
                raw["data"][key] = gzip.compress(json.dumps(raw["data"][key]).encode()).decode("latin-1")
            raw["cv"] = "2024-10"
    line = {"$window_id": "w", "session_id": "s", "data": doc}
    events = list(rrweb.parse_posthog_line(line, 1, None))
    assert [e.summary for e in by_kind(events, "click")] == [
        'click button "Add to cart"',
        'click link "Cart"',
        'click button "Apply"',
    ]
    broken = next(i for i, raw in enumerate(doc) if raw["type"] == 2)
    doc[broken]["data"] = "not gzip"
    with pytest.raises(MalformedInputError, match=rf"line 7: data\[{broken}\]\.data: expected an object or gzip"):
        list(rrweb.parse_posthog_line(line, 7, None))


# ---- other event types and quirks ---------------------------------------------------------------


def test_custom_events_and_url_changes() -> None:
    doc = [
        {"type": 4, "data": {"href": "https://shop.test/", "width": 800, "height": 600}, "timestamp": 1000},
        {"type": 5, "data": {"tag": "checkout-step", "payload": {"step": 2}}, "timestamp": 1001},
        {"type": 5, "data": {"tag": "$pageview", "payload": {"href": "https://shop.test/"}}, "timestamp": 1002},
        {
            "type": 5,
            "data": {"tag": "$url_changed", "payload": {"href": "https://shop.test/cart?x=1"}},
            "timestamp": 1003,
        },
        # a periodic re-snapshot (checkout) repeats the Meta event: not a navigation
        {"type": 4, "data": {"href": "https://shop.test/cart?x=1", "width": 800, "height": 600}, "timestamp": 1004},
        {"type": 0, "data": {}, "timestamp": 1005},  # a reload is
        {"type": 4, "data": {"href": "https://shop.test/cart?x=1", "width": 800, "height": 600}, "timestamp": 1006},
        {"type": 7, "data": {"url": "https://cdn/x.css"}, "timestamp": 1007},  # unknown to us: ignored
        {"type": 3, "data": {"source": 99}, "timestamp": 1008},
    ]
    events = events_of(doc)
    assert [(e.kind, e.summary) for e in events] == [
        ("navigation", "navigate to /"),
        ("custom", 'checkout-step: {"step": 2}'),
        ("navigation", "navigate to /cart?x=1"),
        ("navigation", "navigate to /cart?x=1"),
    ]
    assert events[1].detail["payload"] == {"step": 2}
    assert events[2].url == "https://shop.test/cart?x=1" and events[2].time_ns == 1_003_000_000


def test_network_session_from_baggage_and_bodies_bounded() -> None:
    request = {
        "name": "https://api.test/v1/pay?debug=1",
        "method": "post",
        "status": 0,
        "requestHeaders": {
            "Baggage": "session.id=abc,user.id=u-7",
            "B3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1",
        },
        "requestBody": "x" * 5000,
    }
    events = events_of([{"type": 6, "data": {"plugin": "rrweb/network@1", "payload": {"requests": [request]}}}])
    (event,) = events
    assert event.summary == "POST /v1/pay?debug=1 → no status"
    assert (event.session_key, event.user_id, event.status, event.time_ns) == ("abc", "u-7", None, None)
    assert (event.trace_id, event.span_id) == ("80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1")
    assert len(event.detail["request_body"]) == rrweb.BODY_LIMIT and event.detail["request_body_size"] == 5000


def test_detection() -> None:
    assert rrweb.looks_like_rrweb({"events": [{"type": 4, "data": {"href": "x"}}]})
    assert not rrweb.looks_like_rrweb([])
    assert not rrweb.looks_like_rrweb({"events": []})
    assert not rrweb.looks_like_rrweb([{"traceID": "1", "spans": []}])
    assert not rrweb.looks_like_rrweb({"log": {"entries": []}})
    assert not rrweb.looks_like_rrweb([{"type": "span", "data": {}}])
    assert not rrweb.looks_like_posthog_line({"data": [{"type": 4, "data": {}}]})
    assert rrweb.looks_like_posthog_line({"window_id": "w", "data": []})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"events": {"type": 4}}, r"events: expected a list"),
        ([{"type": 4, "data": {}}, "junk"], r"events\[1\]: expected an object"),
        ([{"type": 3, "data": []}], r"events\[0\]\.data: expected an object"),
        (
            [
                {"type": 2, "data": {"node": {"id": 1, "type": 0, "childNodes": []}}},
                {"type": 3, "data": {"source": 0, "adds": [{"parentId": 1, "node": {"id": 2}}, 7]}},
            ],
            r"events\[1\]\.data\.adds\[1\]: expected an object",
        ),
        (
            [{"type": 2, "data": {"node": {"id": 1, "childNodes": [{"id": 2, "childNodes": "x"}]}}}],
            r"node\.childNodes\[0\]\.childNodes: expected a list",
        ),
        (
            [{"type": 6, "data": {"plugin": "rrweb/network@1", "payload": {"requests": [[]]}}}],
            r"payload\.requests\[0\]: expected an object",
        ),
    ],
)
def test_malformed_input_names_the_path(doc: Any, message: str) -> None:
    with pytest.raises(MalformedInputError, match=message):
        events_of(doc)


def test_deep_trees_do_not_hit_the_recursion_limit() -> None:
    node: dict[str, Any] = {
        "id": 5000,
        "type": 2,
        "tagName": "button",
        "attributes": {},
        "childNodes": [{"id": 5001, "type": 3, "textContent": "Deep"}],
    }
    for i in range(4999, 1, -1):
        node = {"id": i, "type": 2, "tagName": "div", "attributes": {}, "childNodes": [node]}
    doc = [
        {"type": 2, "data": {"node": {"id": 1, "type": 0, "childNodes": [node]}}},
        _incremental(1, source=2, type=2, id=5001),
    ]
    assert [e.summary for e in events_of(doc)] == ['click button "Deep"']


# ---- the network plugin's timings, scroll containers, the recording's extent -------------------


def _network(ts: int, *requests: dict[str, Any]) -> dict[str, Any]:
    return {"type": 6, "data": {"plugin": "rrweb/network@1", "payload": {"requests": list(requests)}}, "timestamp": ts}


def _timing(name: str, initiator: str, start: float, end: float) -> dict[str, Any]:
    return {"name": name, "initiatorType": initiator, "startTime": start, "endTime": end, "duration": end - start}


def _page(ts: int) -> list[dict[str, Any]]:
    snapshot = {"node": {"type": 0, "id": 1, "childNodes": []}, "initialOffset": {"left": 0, "top": 0}}
    return [
        {"type": 4, "data": {"href": "http://a/index.html", "width": 800, "height": 600}, "timestamp": ts},
        {"type": 2, "data": snapshot, "timestamp": ts + 1},
    ]


def test_a_page_load_is_placed_before_the_scripts_it_loaded_and_read_once() -> None:
    """recordInitialRequests reports the document first, then its scripts, all at one timestamp; the
    observer reports the document's timing entry again when the load ends."""
    origin = 1_760_000_000_000
    document = {**_timing("http://a/index.html", "navigation", 0, 90), "duration": 400}  # runs to loadEventEnd
    initial = _network(origin + 300, document, _timing("http://a/app.js", "script", 100, 250))
    again = _network(origin + 420, document)
    fetched = _network(origin + 1100, {**_timing("http://a/api/x", "fetch", 950, 990)})
    events = events_of([*_page(origin + 290), initial, again, fetched])
    network = [(e.url, e.time_ns, e.method, e.duration_ns) for e in events if e.kind == "network"]
    assert network == [  # the time origin from the whole page: (300 - 250) for all of them
        ("http://a/index.html", (origin + 50) * MS, "GET", 90 * MS),
        ("http://a/app.js", (origin + 150) * MS, "GET", 150 * MS),
        ("http://a/api/x", (origin + 1000) * MS, None, 40 * MS),  # a fetch's method is unknown from its timings
    ]


def test_a_scroll_run_is_one_container_and_one_burst() -> None:
    start = 1_760_000_000_000
    doc = [
        *_page(start),
        *(_incremental(start + 10 + i * 10, source=3, id=7, x=0, y=i * 50) for i in range(3)),  # a list
        *(_incremental(start + 50 + i * 10, source=3, id=1, x=0, y=i * 100) for i in range(2)),  # the page
        _incremental(start + 3000, source=3, id=1, x=0, y=400),  # the page again, after a pause
    ]
    scrolls = by_kind(events_of(doc), "scroll")
    assert [(e.detail["count"], e.detail["final_y"], e.time_ns) for e in scrolls] == [
        (3, 100, (start + 30) * MS),
        (2, 100, (start + 60) * MS),
        (1, 400, (start + 3000) * MS),
    ]


def test_the_recording_reaches_from_its_first_to_its_last_event_of_any_type() -> None:
    start = 1_760_000_000_000
    moves = [_incremental(start + 5000 + i, source=1, positions=[{"x": 1, "y": 2, "id": 1, "timeOffset": 0}])
             for i in range(3)]  # fmt: skip
    doc = [
        {"type": 0, "data": {}, "timestamp": start - 200},
        *_page(start),
        _incremental(start + 100, source=2, type=2, id=1),
        *moves,
    ]
    events = events_of(doc)
    assert events[0].detail["recording_start_ns"] == (start - 200) * MS
    assert events[-1].detail["recording_end_ns"] == (start + 5002) * MS
