"""The formats ingest reads are named from one registry: the CLI's help, ingest_recording, the errors.

Every name a parser reports is in the registry, every registered format is read by some
recording we have, and each text that lists the formats lists all of them.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp import Client

from mcp_sessions.cli import build_parser
from mcp_sessions.errors import UnknownFormatError, UnsupportedFormatError
from mcp_sessions.formats import read_path
from mcp_sessions.formats.registry import FORMATS, NAMES, readable
from mcp_sessions.server import create_server

ROOT = Path(__file__).resolve().parents[1]


def test_every_text_that_lists_the_formats_names_every_format(tmp_path: Path):
    ingest = build_parser()._subparsers._group_actions[0].choices["ingest"]  # type: ignore[union-attr]
    help_text = ingest.format_help().replace("\n", " ")
    server = create_server(tmp_path / "db.sqlite", ingest_roots=[tmp_path])

    async def described() -> str:
        async with Client(server) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            return tools["ingest_recording"].description or ""

    description = anyio.run(described).replace("\n", " ")
    for fmt in FORMATS:
        assert fmt.label in description, fmt
        assert " ".join(fmt.label.split()) in " ".join(help_text.split()), fmt
    for text in (help_text, description):
        assert "rrweb" in text and "HAR" in text


def test_an_unknown_document_names_the_documents_read(tmp_path: Path):
    path = tmp_path / "other.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(UnknownFormatError) as raised:
        read_path(path)
    assert readable("document", conjunction="or") in str(raised.value)
    assert "HAR" in str(raised.value) and "rrweb" in str(raised.value)


def test_a_browser_recording_as_a_json_line_is_told_to_be_saved_whole(tmp_path: Path):
    har = (ROOT / "fixtures" / "recordings-browser" / "shop" / "har" / "baseline.har").read_bytes()
    path = tmp_path / "lines.jsonl"
    line = b" ".join(har.split())
    path.write_bytes(b'{"resourceSpans": []}\n' + line + b"\n")
    with pytest.raises(UnsupportedFormatError) as raised, read_path(path) as parsed:
        list(parsed.records)
    assert "HAR file as JSON Lines (save it as one JSON document instead)" in str(raised.value)


RECORDINGS = sorted(
    p
    for folder in ("recordings", "recordings-browser")
    for p in (ROOT / "fixtures" / folder).rglob("*.*")
    if p.is_file()
)


def test_every_parser_reports_a_registered_name():
    seen = set()
    for path in RECORDINGS:
        with read_path(path) as parsed:
            assert parsed.format in NAMES, path
            seen.add(parsed.format)
    assert {"otlp-jsonl", "har", "rrweb"} <= seen
