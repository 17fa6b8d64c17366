"""The docs stay honest: every tool and command documented, every tool fully described."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from mcp import Client

from mcp_sessions.cli import build_parser
from mcp_sessions.server import create_server
from mcp_sessions.store import Store

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DESCRIPTION_LIMIT = 1_000


@pytest.fixture
async def tools(tmp_path: Path):
    Store(tmp_path / "docs.db").close()  # the read-only server serves an existing database only
    async with Client(create_server(tmp_path / "docs.db")) as client:
        return (await client.list_tools()).tools


@pytest.mark.anyio
async def test_every_tool_is_described_annotated_and_in_the_readme(tools):
    assert tools
    for tool in tools:
        assert tool.description and 80 <= len(tool.description) <= DESCRIPTION_LIMIT, tool.name
        assert "Example:" in tool.description and f"{tool.name}(" in tool.description, tool.name
        assert tool.title, tool.name
        a = tool.annotations
        assert a is not None and None not in (a.read_only_hint, a.idempotent_hint, a.open_world_hint), tool.name
        assert f"`{tool.name}`" in README, f"{tool.name} missing from README"
        for name, prop in tool.input_schema["properties"].items():
            assert prop.get("description") or name == "sort", f"{tool.name}.{name} has no description"


def test_every_cli_command_is_in_the_readme():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name in commands:
        assert f"mcp-sessions {name}" in README, name


def test_readme_starts_with_the_two_newcomer_commands_and_ci_runs_the_test_one():
    blocks = re.findall(r"```sh\n(.*?)\n```", README, flags=re.S)
    assert blocks[0] == "python -m pip install -e . && mcp-sessions demo"
    install, test_command = blocks[1].split(" && ")
    assert install == "python -m pip install -e '.[test]'"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    # CI may set environment variables before the command (MCP_SESSIONS_NO_SKIP=1 ...)
    assert any(line.split()[-len(test_command.split()) :] == test_command.split() for line in ci)
    assert "python -m mypy mcp_sessions" in ci


def test_client_configs_are_valid():
    example = json.loads((ROOT / "claude_desktop_config.example.json").read_text())
    server = example["mcpServers"]["mcp-sessions"]
    assert server["command"] == "mcp-sessions" and server["args"][0] == "serve"
    for block in re.findall(r"```json\n(.*?)\n```", README, flags=re.S):
        config = json.loads(block)
        entry = (config.get("mcpServers") or config.get("servers"))["mcp-sessions"]
        assert entry["command"] == "mcp-sessions" and entry["args"][0] == "serve"
    claude_code = next(line for line in README.splitlines() if line.startswith("claude mcp add"))
    argv = shlex.split(claude_code)
    assert argv[argv.index("--") + 1 :] == ["mcp-sessions", "serve"]


def test_demo_runs_on_the_bundled_recordings(capsys):
    from mcp_sessions.cli import main

    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for tool in ("list_sessions", "get_session", "find_slow_spans", "get_trace", "find_errors", "get_timeline"):
        assert f">>> {tool}(" in out, tool
    assert "N+1 queries" in out and "ValueError" in out  # the planted N+1 and the server error are found
