"""HAR: every public sample, the shop's own Playwright recordings, and the quirks one by one."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_sessions.errors import InputError, MalformedInputError
from mcp_sessions.formats import har
from mcp_sessions.model import Event

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples" / "har"
FIXTURES = ROOT / "fixtures"
EXPECTED = sorted((FIXTURES / "expected").glob("*.json"))

# Per public sample: network events (= entries), navigations (= pages), and one request
# checked field by field: (method, url, status, duration in ms).
PUBLIC = {
    "mitmproxy-chrome.har": (3, 1, ("GET", "https://mitmproxy.org/", 304, 14.666)),
    "mitmproxy-error_log.har": (2, 0, ("POST", "https://httpbin.org/get", 405, 3712.938)),
    "mitmproxy-firefox.har": (14, 1, ("GET", "https://mitmproxy.org/", 304, 23.0)),
    "mitmproxy-insomnia.har": (1, 0, ("GET", "http://mitm.it/", 200, 70.402)),
    "mitmproxy-postdata.har": (
        1,
        0,
        ("POST", "https://signal-metrics-collector-beta.s-onetag.com/metrics", 200, 169.796),
    ),
    "mitmproxy-with-bom.har": (
        1,
        0,
        ("POST", "https://signal-metrics-collector-beta.s-onetag.com/metrics", 200, 169.796),
    ),
    "pagexray-frontendredirect.har": (12, 3, ("GET", "http://127.0.0.1:8000/favicon.ico", 404, 1.0)),
    "pagexray-http2-chrome.har": (11, 1, ("GET", "https://run.sitespeed.io/", 200, 456.054)),
}


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"public HAR samples not found at {SAMPLES} (they live in ../shared/samples/har)")
    return SAMPLES


def load(path: Path) -> Any:
    # One sample starts with a UTF-8 BOM; the caller decodes, as read_path does.
    return json.loads(path.read_text(encoding="utf-8-sig"))


def parse(doc: Any) -> list[Event]:
    return list(har.parse(doc))


def of_kind(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]


def doc_with(*entries: dict[str, Any], pages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    log: dict[str, Any] = {"version": "1.2", "creator": {"name": "Test", "version": "1"}, "entries": list(entries)}
    if pages is not None:
        log["pages"] = pages
    return {"log": log}


def entry(url: str = "http://shop.test/api/cart", **extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "startedDateTime": "2024-05-01T10:00:00.000Z",
        "time": 12,
        "request": {"method": "GET", "url": url, "httpVersion": "HTTP/1.1", "headers": [], "cookies": []},
        "response": {"status": 200, "headers": [], "content": {"size": 2, "mimeType": "application/json"}},
        "timings": {"send": 1, "wait": 10, "receive": 1},
    }
    for key, value in extra.items():
        if key in ("request", "response"):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return raw


# --- public samples ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_sample(samples: Path, name: str) -> None:
    doc = load(samples / name)
    assert har.looks_like_har(doc)
    events = parse(doc)
    network_count, page_count, (method, url, status, ms) = PUBLIC[name]
    assert len(of_kind(events, "network")) == network_count == len(doc["log"]["entries"])
    assert len(of_kind(events, "navigation")) == page_count == len(doc["log"].get("pages") or [])
    assert [e.seq for e in events] == list(range(len(events)))
    times = [e.time_ns for e in events]
    assert None not in times and times == sorted(times)
    assert all(e.source == "har" and e.client_key for e in events)
    match = next(e for e in events if e.url == url and e.method == method and e.status == status)
    assert match.duration_ns == pytest.approx(ms * 1_000_000, abs=1_000)
    assert match.summary.startswith(f"{method} ")
    assert f"→ {status} (" in match.summary
    assert "://" not in match.summary  # path and query, not the host
    for event in events:
        # No response body survives except bounded JSON; no summary is unbounded.
        assert len(event.summary) <= har.SUMMARY_LIMIT
        assert len(event.detail.get("response_body", "")) <= har.TEXT_LIMIT
        assert not any(name.startswith(":") for name in event.detail.get("request_headers", {}))


def test_chrome_status_zero_with_error(samples: Path) -> None:
    events = parse(load(samples / "mitmproxy-chrome.har"))
    failed = next(e for e in events if e.url == "https://www.google.com/")
    assert failed.status is None
    assert failed.detail["error"] == "net::ERR_INTERNET_DISCONNECTED"
    assert failed.summary == "GET / → failed: net::ERR_INTERNET_DISCONNECTED (4 ms)"
    assert "error" not in next(e for e in events if e.status == 304).detail  # `_error: null` is no error


def test_mitmproxy_error_log(samples: Path) -> None:
    refused, post = of_kind(parse(load(samples / "mitmproxy-error_log.har")), "network")
    assert refused.status is None
    assert refused.detail["error"].startswith("Multiple exceptions: [Errno 60] Connect call failed")
    assert "failed: Multiple exceptions" in refused.summary
    assert post.detail["post_data"] == {
        "mime_type": "application/x-www-form-urlencoded",
        "text": "key1=value1&key2=value2",
        "params": {"key1": "value1", "key2": "value2"},
    }
    assert post.detail["timings"]["wait"] == pytest.approx(3039.459, abs=0.001)
    assert "response_body" not in post.detail  # text/html body dropped


def test_http2_pseudo_headers_dropped(samples: Path) -> None:
    raw = load(samples / "pagexray-http2-chrome.har")["log"]["entries"][0]["request"]["headers"]
    assert {h["name"] for h in raw} >= {":authority", ":method", ":path", ":scheme"}
    first = of_kind(parse(load(samples / "pagexray-http2-chrome.har")), "network")[0]
    assert first.detail["http_version"] == "h2"
    assert not any(name.startswith(":") for name in first.detail["request_headers"])
    assert first.detail["request_headers"]["accept-encoding"]
    assert first.detail["timings"]["dns"] == pytest.approx(47.392, abs=0.001)
    chrome = parse(load(samples / "mitmproxy-chrome.har"))
    assert chrome[0].detail["http_version"] == "http/2.0"
    assert set(chrome[0].detail["timings"]) == {"blocked", "send", "wait", "receive", "_blocked_queueing"}  # -1 gone


def test_navigation_urls_and_page_timings(samples: Path) -> None:
    (page,) = of_kind(parse(load(samples / "pagexray-http2-chrome.har")), "navigation")
    assert page.url == "https://run.sitespeed.io/"  # the title is a URL
    assert page.summary == "navigate to /"
    assert page.detail["page_timings"] == {"onContentLoad": pytest.approx(503.734), "onLoad": pytest.approx(708.738)}
    (firefox,) = of_kind(parse(load(samples / "mitmproxy-firefox.har")), "navigation")
    assert firefox.detail["title"] == "mitmproxy - an interactive HTTPS proxy"
    assert firefox.url == "https://mitmproxy.org/"  # the title is not: the page's first request


def test_redirect_flow_three_pages_with_404s(samples: Path) -> None:
    events = parse(load(samples / "pagexray-frontendredirect.har"))
    pages = of_kind(events, "navigation")
    assert [p.detail["page_id"] for p in pages] == ["Page 0", "Page 1", "Page 2"]
    assert all(p.url == "http://127.0.0.1:8000/redirect.html" for p in pages)
    assert all(p.summary == "navigate to /redirect.html" and "page_timings" not in p.detail for p in pages)
    missing = [e for e in events if e.status == 404]
    assert [e.detail["pageref"] for e in missing] == ["Page 0", "Page 1", "Page 2"]
    assert all(e.summary.startswith("GET /favicon.ico → 404 (") for e in missing)
    # Each page's navigation comes right before its own requests.
    assert [e.kind for e in events[:5]] == ["navigation", "network", "network", "network", "network"]


def test_postdata_kept_and_truncated(samples: Path) -> None:
    doc = load(samples / "mitmproxy-postdata.har")
    text = doc["log"]["entries"][0]["request"]["postData"]["text"]
    (event,) = parse(doc)
    assert event.detail["post_data"]["text"] == text and "text_chars" not in event.detail["post_data"]
    assert event.detail["request_body_size"] == 1310
    doc["log"]["entries"][0]["request"]["postData"]["text"] = text * 4
    (long,) = parse(doc)
    kept = long.detail["post_data"]["text"]
    note = f"…[cut from {len(text) * 4:,} chars]"
    assert kept.endswith(note) and len(kept) <= har.TEXT_LIMIT
    start = kept.removesuffix(note)
    assert (text * 4).startswith(start) and har.TEXT_LIMIT - len(note) - 20 < len(start)
    assert not start[-1].isalnum()  # the word cut at the limit is dropped whole (it may be half a secret)
    assert long.detail["post_data"]["text_chars"] == len(text) * 4


def test_bom_sample_reads_like_its_twin(samples: Path) -> None:
    assert (samples / "mitmproxy-with-bom.har").read_bytes().startswith(b"\xef\xbb\xbf")
    bom = parse(load(samples / "mitmproxy-with-bom.har"))
    plain = parse(load(samples / "mitmproxy-postdata.har"))
    assert [(e.summary, e.time_ns, e.detail) for e in bom] == [(e.summary, e.time_ns, e.detail) for e in plain]


def test_client_key_from_creator_and_page_or_host(samples: Path) -> None:
    assert {e.client_key for e in parse(load(samples / "mitmproxy-chrome.har"))} == {"WebInspector:page_1"}
    assert {e.client_key for e in parse(load(samples / "mitmproxy-insomnia.har"))} == {"Insomnia REST Client:mitm.it"}


# --- the shop's own recordings: real Chromium, traceparent and x-session-id ----------------


def har_sessions() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in EXPECTED:
        expected = json.loads(path.read_text())
        out += [(path.stem, s) for s in expected["sessions"] if s["recordings"].get("har")]
    return out


@pytest.mark.parametrize(("scenario", "session"), har_sessions(), ids=lambda v: v if isinstance(v, str) else "")
def test_shop_recording(scenario: str, session: dict[str, Any]) -> None:
    doc = load(FIXTURES / session["recordings"]["har"])
    events = parse(doc)
    assert len(of_kind(events, "network")) == len(doc["log"]["entries"])
    assert len(of_kind(events, "navigation")) == len(doc["log"]["pages"])
    # Page loads carry no session header; the file's one key reaches every event anyway.
    assert {e.session_key for e in events} == {session["session_id"]}
    found = {e.trace_id for e in events if e.trace_id}
    assert found == {t["trace_id"] for t in session["traces"] if t["in_har"]}
    assert all(e.span_id for e in events if e.trace_id)
    assert len({e.client_key for e in events}) == 1


def test_shop_server_error_request() -> None:
    expected = json.loads((FIXTURES / "expected" / "server-error.json").read_text())
    events = parse(load(FIXTURES / expected["sessions"][0]["recordings"]["har"]))
    coupon = next(e for e in events if e.url and e.url.endswith("/api/cart/coupon"))
    assert (coupon.method, coupon.status) == ("POST", 500)
    assert coupon.trace_id == expected["error"]["trace_id"]
    assert (
        coupon.span_id
        == next(t for t in expected["sessions"][0]["traces"] if t["trace_id"] == coupon.trace_id)[
            "remote_parent_span_id"
        ]
    )
    assert coupon.summary.startswith("POST /api/cart/coupon → 500 (")
    assert coupon.detail["post_data"]["text"] == '{"code":"SAVEBIG"}'
    assert coupon.detail["response_body"] == '{"error":"internal server error"}'  # JSON: kept
    assert coupon.detail["request_headers"]["x-session-id"] == expected["sessions"][0]["session_id"]
    page = next(e for e in events if e.detail.get("pageref") and e.detail.get("mime_type", "").startswith("text/html"))
    assert "response_body" not in page.detail  # HTML: dropped


# --- quirks, on small documents ------------------------------------------------------------


def test_websocket_summarised_not_listed() -> None:
    messages = [
        {"type": "send", "time": 1.0, "opcode": 1, "data": "hello " * 100},
        {"type": "receive", "time": 1.1, "opcode": 1, "data": "hi"},
        {"type": "send", "time": 1.2, "opcode": 1, "data": "bye"},
    ]
    socket = entry(
        "wss://shop.test/live?room=1",
        _resourceType="websocket",
        _webSocketMessages=messages,
        response={"status": 101},
    )
    events = parse(doc_with(entry(), socket))
    assert [e.kind for e in events] == ["network", "websocket"]
    ws = events[1]
    assert (ws.status, ws.detail["messages"], ws.detail["sent"], ws.detail["received"]) == (101, 3, 2, 1)
    note = "…[cut from 600 chars]"
    first = ws.detail["first"]
    assert first.endswith(note) and len(first) <= 200
    start = first.removesuffix(note)  # the word cut at the limit is dropped whole
    assert ("hello " * 100).startswith(start) and start.rstrip().endswith("hello") and len(start) > 170
    assert ws.summary == "websocket /live?room=1: 3 messages (2 sent, 1 received)"
    (bare,) = parse(doc_with(entry(_resourceType="websocket")))
    assert bare.kind == "websocket" and bare.detail["messages"] == 0


def test_har_1_1_numbers_as_strings_and_vendor_fields() -> None:
    raw = entry(
        "http://shop.test/api/items?page=2&sort=asc",
        startedDateTime="2024-05-01T12:00:00+0200",  # no fraction, offset without colon
        time="12.5",
        request={
            "method": "post",
            "headers": {"Traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "X-Custom": 1},
            "cookies": [{"name": "sid", "value": "abc"}, {"name": "theme", "value": "dark"}],
            "queryString": [],
            "bodySize": "-1",
        },
        response={"status": "201", "_transferSize": "300", "bodySize": -1, "content": {"size": -1}},
        timings={"send": "1", "wait": 10, "receive": -1, "comment": "n/a"},
        _initiator={"type": "script"},
        _priority="High",
    )
    doc = doc_with(raw)
    doc["log"]["version"] = "1.1"
    (event,) = parse(doc)
    assert event.time_ns == 1_714_557_600_000_000_000
    assert (event.method, event.status, event.duration_ns) == ("POST", 201, 12_500_000)
    assert event.trace_id == "0af7651916cd43dd8448eb211c80319c" and event.span_id == "b7ad6b7169203331"
    assert event.detail["request_headers"]["x-custom"] == "1"
    assert event.detail["request_cookies"] == {"sid": "abc", "theme": "dark"}
    assert event.detail["query"] == {"page": "2", "sort": "asc"}  # from the URL when queryString is empty
    assert event.detail["timings"] == {"send": 1.0, "wait": 10.0}
    assert event.detail["response_body_size"] == 300 and "request_body_size" not in event.detail
    assert event.summary == "POST /api/items?page=2&sort=asc → 201 (12 ms)"
    assert not any("initiator" in key or "priority" in key for key in event.detail)


def test_session_key_buffered_to_every_event_when_unique() -> None:
    page = {"id": "p1", "title": "Shop", "startedDateTime": "2024-05-01T09:59:59Z", "pageTimings": {"onLoad": 40}}
    first = entry("http://shop.test/", startedDateTime="2024-05-01T10:00:00Z", pageref="p1")
    later = entry(
        startedDateTime="2024-05-01T10:00:01Z",
        pageref="p1",
        request={"headers": [{"name": "baggage", "value": "session.id=s-1,user.id=u%2042"}]},
    )
    also = entry(
        startedDateTime="2024-05-01T10:00:02Z", request={"headers": [{"name": "x-session-id", "value": "s-1"}]}
    )
    events = parse(doc_with(later, first, also, pages=[page]))  # out of order on purpose
    assert [e.kind for e in events] == ["navigation", "network", "network", "network"]
    assert [e.url for e in events][:2] == ["http://shop.test/", "http://shop.test/"]
    assert {(e.session_key, e.user_id) for e in events} == {("s-1", "u 42")}
    assert {e.client_key for e in events} == {"Test:p1"}
    assert events[0].duration_ns == 40_000_000

    other = entry(
        startedDateTime="2024-05-01T10:00:03Z", request={"headers": [{"name": "X-Session-Id", "value": "s-2"}]}
    )
    mixed = parse(doc_with(first, later, other))
    assert [e.session_key for e in mixed] == [None, "s-1", "s-2"]  # two keys: nothing is guessed


def test_baggage_session_wins_over_header() -> None:
    headers = [{"name": "baggage", "value": "session.id=from-baggage"}, {"name": "x-session-id", "value": "hdr"}]
    (event,) = parse(doc_with(entry(request={"headers": headers})))
    assert event.session_key == "from-baggage"


def test_json_body_bounded_base64_decoded_others_dropped() -> None:
    body = json.dumps({"items": list(range(2_000))})
    big = entry(response={"content": {"mimeType": "application/json; charset=utf-8", "text": body}})
    encoded = entry(
        response={"content": {"mimeType": "application/problem+json", "encoding": "base64", "text": "eyJvayI6dHJ1ZX0="}}
    )
    image = entry(response={"content": {"mimeType": "image/png", "encoding": "base64", "text": "iVBORw0KGgo=" * 1000}})
    events = parse(doc_with(big, encoded, image))
    kept = events[0].detail["response_body"]
    assert len(kept) == har.TEXT_LIMIT and kept.endswith(f"…[cut from {len(body):,} chars]")  # the cut said
    assert body.startswith(kept.split("…[cut")[0])
    assert events[1].detail["response_body"] == '{"ok":true}'
    assert "response_body" not in events[2].detail
    assert "iVBOR" not in json.dumps([e.detail for e in events])


def test_status_zero_without_error_and_missing_optional_fields() -> None:
    bare = {
        "startedDateTime": "2024-05-01T10:00:00.5Z",
        "request": {"url": "http://x.test/a"},
        "response": {"status": 0},
    }
    (event,) = parse({"log": {"entries": [bare]}})
    assert event.status is None and event.duration_ns is None and event.method is None
    assert event.summary == "? /a → no response"
    assert event.client_key == "har:x.test"
    (nothing,) = parse({"log": {"entries": [{}]}})
    assert nothing.time_ns is None and nothing.summary == "? ? → no response"


def test_duplicate_headers_joined() -> None:
    headers = [{"name": "Set-Cookie", "value": "a=1"}, {"name": "set-cookie", "value": "b=2"}, {"value": "nameless"}]
    (event,) = parse(doc_with(entry(response={"headers": headers})))
    assert event.detail["response_headers"] == {"set-cookie": "a=1, b=2"}


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        (
            {"log": {"entries": [entry(), {**entry(), "request": "GET /"}]}},
            r"log\.entries\[1\]\.request: expected an object",
        ),
        ({"log": {"entries": {}}}, r"log\.entries: expected a list"),
        ({"log": {"entries": [], "pages": [1]}}, r"log\.pages\[0\]: expected an object"),
        ({"log": "x"}, r"log: expected an object"),
        ({"entries": []}, r"log: missing"),
        ([], r"document: expected an object"),
        (doc_with(entry(request={"headers": ["Accept: */*"]})), r"log\.entries\[0\]\.request\.headers\[0\]"),
        (doc_with(entry(startedDateTime="yesterday")), r"log\.entries\[0\]\.startedDateTime: expected an ISO 8601"),
        (
            doc_with(entry(startedDateTime="2024-02-30T00:00:00Z")),
            r"log\.entries\[0\]\.startedDateTime: .* not a valid",
        ),
        (doc_with(entry(response={"status": "OK"})), r"log\.entries\[0\]\.response\.status"),
        (doc_with(entry(time=[1])), r"log\.entries\[0\]\.time: expected a number"),
    ],
)
def test_structural_garbage_names_the_path(doc: Any, where: str) -> None:
    with pytest.raises(MalformedInputError, match=where):
        parse(doc)


def test_looks_like_har() -> None:
    assert har.looks_like_har({"log": {"entries": []}})
    assert har.looks_like_har({"log": {"version": "1.1", "entries": [], "pages": []}})
    for other in ({"log": {}}, {"log": {"entries": {}}}, {"entries": []}, [], None, {"resourceSpans": []}):
        assert not har.looks_like_har(other)


def test_input_unchanged(samples: Path) -> None:
    doc = load(samples / "mitmproxy-chrome.har")
    before = copy.deepcopy(doc)
    parse(doc)
    assert doc == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
fields = st.sampled_from(
    ["request", "response", "timings", "time", "startedDateTime", "pageref", "_webSocketMessages", "cache"]
)


@settings(max_examples=150, deadline=2_000, suppress_health_check=[HealthCheck.too_slow])
@given(
    field=fields, inner=st.sampled_from(["", "headers", "cookies", "status", "content", "postData"]), value=json_values
)
def test_fuzzed_entries_parse_or_fail_clearly(field: str, inner: str, value: Any) -> None:
    raw = entry(request={"postData": {"text": "x"}})
    if inner and isinstance(raw.get(field), dict):
        raw[field] = {**raw[field], inner: value}
    else:
        raw[field] = value
    try:
        events = parse(doc_with(raw, pages=[{"id": "p", "title": value if isinstance(value, str) else "t"}]))
    except InputError:
        return
    assert all(isinstance(e, Event) and len(e.summary) <= har.SUMMARY_LIMIT for e in events)
