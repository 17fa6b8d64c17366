"""Numbers read from recorded or typed text never raise: `str.isdigit()` accepts `"²"`, `int()` refuses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcp_sessions.analysis.patterns.payloads import requested_limit
from mcp_sessions.analysis.stacks import parse_stack
from mcp_sessions.formats.rrweb_dom import _int as rrweb_node_id
from mcp_sessions.ingest import ingest_paths
from mcp_sessions.numbers import whole_number
from mcp_sessions.store import Store

# digits int() refuses or that are not ASCII, then shapes int() would read but a recording means otherwise
UNICODE_DIGITS = ("²", "①", "٣", "1²", "١٢")
HOSTILE_DIGITS = (*UNICODE_DIGITS, "--5", " ", "", "+3", "1_000", "0x10")


@pytest.mark.parametrize(
    ("text", "signed", "expected"),
    [("42", False, 42), (" 7 ", False, 7), ("-5", True, -5), ("-5", False, None), ("0", False, 0)]
    + [(t, s, None) for t in HOSTILE_DIGITS for s in (False, True)],
)
def test_whole_number_reads_ascii_digits_only(text: str, signed: bool, expected: int | None):
    assert whole_number(text, signed=signed) == expected


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
def test_recorded_text_with_unicode_digits_reads_as_no_number(digits: str):
    assert requested_limit(f"https://shop.test/api/items?limit={digits}") is None
    assert rrweb_node_id(digits) is None
    stack = parse_stack(f"TypeError: x\n    at render (https://shop.test/app.js:{digits})\n    at f (a.js:{digits}:3)")
    frames = [frame for block in stack.blocks for _, frame in block]
    assert [f.line for f in frames] == [None, 3]  # never the hostile text read as a line number


def test_a_har_with_superscript_digits_ingests(tmp_path: Path):
    """A recording whose URLs, status text and header values hold `²` is stored, not refused by a crash."""
    entry = {
        "startedDateTime": "2025-10-09T08:53:20.100Z",
        "time": 20,
        "request": {
            "method": "GET",
            "url": "https://shop.test/api/items/²?limit=²&page=①",
            "headers": [{"name": "Content-Length", "value": "²"}],
        },
        "response": {
            "status": 200,
            "headers": [{"name": "Content-Length", "value": "²"}],
            "content": {"size": 2, "mimeType": "application/json", "text": "[]"},
        },
        "timings": {"wait": 15, "receive": 4},
    }
    path = tmp_path / "digits.har"
    path.write_text(json.dumps({"log": {"creator": {"name": "test"}, "entries": [entry]}}))
    with Store(tmp_path / "db.sqlite") as store:
        (result,) = list(ingest_paths(store, [str(path)]))
        assert result.status == "stored", result.error
