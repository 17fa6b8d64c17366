"""The URL module: any string splits, nothing raises, and well-formed URLs split as urllib reads them.

urllib.parse is the oracle here (the one file besides mcp_sessions/urls.py allowed to import
it): where `urlsplit` succeeds on a well-formed URL, our parts agree with its parts.
"""

from __future__ import annotations

import time
import urllib.parse

from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_sessions import urls
from mcp_sessions.analysis.fingerprint import template_url

HOSTS = st.sampled_from(
    ["shop.example", "API.Example.COM", "127.0.0.1", "[::1]", "[2001:db8::7]", "[REDACTED]", "[REDACTED", "h", ""]
)
PORTS = st.sampled_from(["", ":80", ":443", ":8080", ":0", ":65535", ":65536", ":99999", ":abc", ":", ":-1", ": 1"])
SEGMENTS = st.text(st.characters(blacklist_characters="/?#", blacklist_categories=["Cs"]), max_size=12)
PATHS = st.lists(SEGMENTS, max_size=5).map(lambda s: "/" + "/".join(s) if s else "")
QUERIES = st.text(st.characters(blacklist_characters="#", blacklist_categories=["Cs"]), max_size=20)
SCHEMES = st.sampled_from(["http", "https", "HTTPS", "ws", "ftp", "data", "blob", "javascript", "file", "x-custom"])


@st.composite
def url_like(draw: st.DrawFn) -> str:
    """URL-shaped text: every part optional, hostile where recordings are (hosts, ports, data:)."""
    scheme = draw(st.one_of(st.just(""), SCHEMES.map(lambda s: s + ":")))
    authority = draw(st.one_of(st.just(""), st.tuples(HOSTS, PORTS).map(lambda hp: "//" + hp[0] + hp[1])))
    user = draw(st.sampled_from(["", "user@", "u:pw@", "@"])) if authority else ""
    if user:
        authority = "//" + user + authority[2:]
    query = draw(st.one_of(st.just(""), QUERIES.map(lambda q: "?" + q)))
    fragment = draw(st.one_of(st.just(""), st.text(max_size=8).map(lambda f: "#" + f)))
    return scheme + authority + draw(PATHS) + query + fragment


@given(st.one_of(st.text(), url_like(), st.binary().map(lambda b: b.decode("latin-1"))))
@settings(max_examples=600, deadline=None)
def test_any_string_splits_and_every_helper_answers(text: str) -> None:
    parts = urls.split(text)
    assert parts.port is None or 0 <= parts.port <= 65535
    assert isinstance(parts.host_port, str) and isinstance(parts.path_and_query, str)
    assert isinstance(parts.origin, str) and isinstance(parts.hostname, str)
    assert urls.path_of(text) == parts.path
    assert urls.host_port(text) == parts.host_port
    for key, value in urls.query_items(parts.query):
        assert isinstance(key, str) and isinstance(value, str)
    assert isinstance(urls.unquote(text), str)
    assert isinstance(template_url(text, keep_host=True), str)


@given(url_like())
@settings(max_examples=600, deadline=None)
def test_where_urlsplit_succeeds_the_parts_agree(text: str) -> None:
    try:
        theirs = urllib.parse.urlsplit(text)
    except ValueError:
        return  # e.g. "[REDACTED]" as a host: urllib refuses it, we answer (see the next test)
    ours = urls.split(text)
    if ours.scheme and not theirs.scheme:
        return
    assert ours.path == theirs.path
    assert ours.query == theirs.query
    assert ours.fragment == theirs.fragment
    if theirs.scheme:
        assert ours.scheme == theirs.scheme
    assert ours.netloc.rpartition("@")[2].lower() == theirs.netloc.rpartition("@")[2].lower()
    assert ours.userinfo == theirs.netloc.rpartition("@")[0]
    try:
        their_port = theirs.port
    except ValueError:
        their_port = None
    assert ours.port == their_port


def test_hostile_urls_have_answers() -> None:
    redacted = urls.split("http://[REDACTED]/api/products/12?x=1")
    assert (redacted.host, redacted.path, redacted.query) == ("[REDACTED]", "/api/products/12", "x=1")
    unclosed = urls.split("https://[REDACTED/api")
    assert (unclosed.host, unclosed.path) == ("[REDACTED", "/api")
    ipv6 = urls.split("http://user:pw@[::1]:8080/a?b#c")
    assert (ipv6.userinfo, ipv6.host, ipv6.hostname, ipv6.port, ipv6.host_port) == (
        "user:pw",
        "[::1]",
        "::1",
        8080,
        "[::1]:8080",
    )
    bad_port = urls.split("http://shop:99999/x")
    assert (bad_port.host, bad_port.port, bad_port.raw_port, bad_port.host_port) == ("shop", None, "99999", "shop")
    assert urls.split("http://shop:abc/x").port is None
    assert urls.split("HTTPS://Shop.Example:443/A").host_port == "shop.example"  # default port, host lowercased
    assert urls.split("http://shop.example:8443/").host_port == "shop.example:8443"
    no_scheme = urls.split("shop.internal:8443/api/orders")
    assert (no_scheme.scheme, no_scheme.host_port, no_scheme.path) == ("", "shop.internal:8443", "/api/orders")
    relative = urls.split("/api/orders?page=2#x")
    assert (relative.host, relative.path, relative.query, relative.fragment) == ("", "/api/orders", "page=2", "x")
    assert urls.split("  http://h/a\tb\n").path == "/ab"  # browsers drop tabs and newlines, so do we
    data = urls.split("data:image/png;base64,iVBORw0KGgo=")
    assert data.opaque and data.scheme == "data" and not data.host
    assert urls.split("tel:12345").scheme == "tel"
    assert urls.split("").path_and_query == "/"
    assert urls.query_items("a=1&b=&c&d=x+y&e=%E2%82%AC&f=%ZZ") == [
        ("a", "1"),
        ("b", ""),
        ("c", ""),
        ("d", "x y"),
        ("e", "€"),
        ("f", "%ZZ"),
    ]
    assert urls.unquote("%ff%41") == "\ufffdA"


def test_huge_strings_split_in_linear_time() -> None:
    payload = "A" * 5_000_000
    started = time.perf_counter()
    data = urls.split(f"data:text/plain;base64,{payload}")
    deep = urls.split("http://h/" + "a/" * 500_000 + "?" + "x=1&" * 200_000)
    colons = urls.split("http://[" + ":" * 1_000_000)
    elapsed = time.perf_counter() - started
    assert data.opaque and len(deep.query) == 800_000 and colons.host.startswith("[")
    assert template_url(f"data:text/plain;base64,{payload}") == "data:text/plain"
    assert elapsed < 2.0, elapsed
