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
    _check_claude_mcp_add(shlex.split(claude_code))


def _check_claude_mcp_add(argv: list[str]) -> None:
    """Claude Code reads options only before the server's name; `--` then starts the command."""
    assert argv[:3] == ["claude", "mcp", "add"], argv
    dash = argv.index("--")
    before = argv[3:dash]
    valued = {"--transport", "-t", "--env", "-e", "--scope", "-s", "--header", "-H"}
    names: list[str] = []
    words = iter(before)
    for word in words:
        if word in valued:
            next(words, None)  # the option's value
        elif not word.startswith("-"):
            names.append(word)
    assert names == ["mcp-sessions"] and before[-1] == "mcp-sessions", argv
    assert "serve" in argv[dash + 1 :], argv


def test_every_setting_is_documented_and_the_example_config_is_valid(tmp_path: Path):
    from mcp_sessions.config import KEYS, read_config_file

    section = README.split("### Configuration", 1)[1].split("\n### ", 1)[0]
    for key in KEYS:
        row = next((line for line in section.splitlines() if line.startswith(f"| `{key.name}` |")), None)
        assert row is not None, f"{key.name} missing from the README's configuration table"
        assert f"`{key.variable}`" in row, key.name
    example = re.search(r"```toml\n(# mcp-sessions.toml\n.*?)\n```", section, flags=re.S)
    assert example, "the configuration section shows an example file"
    config = tmp_path / "mcp-sessions.toml"
    config.write_text(example.group(1))
    assert set(read_config_file(config)) == {k.name for k in KEYS}  # every key, each one valid


def test_demo_runs_on_the_shipped_recordings_and_ends_with_the_connect_lines(capsys, monkeypatch, tmp_path):
    from mcp_sessions.cli import main

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))  # no config file of this machine's user
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for tool in ("list_sessions", "get_session", "find_slow_spans", "get_trace", "find_errors", "get_timeline"):
        assert f">>> {tool}(" in out, tool
    assert "N+1 queries" in out and "ValueError" in out  # the planted N+1 and the server error are found
    assert "stored" not in out.splitlines()[0]  # quiet: one line for the ingest
    claude, cursor, vscode, vscode_file = out.rstrip("\n").splitlines()[-4:]
    _check_claude_mcp_add(shlex.split(claude.split(":", 1)[1]))
    server = json.loads(cursor.split(".cursor/mcp.json", 1)[1])["mcpServers"]["mcp-sessions"]
    assert server["args"][-1] == "serve"
    added = json.loads(shlex.split(vscode.split(":", 1)[1])[2])
    assert added["name"] == "mcp-sessions" and added["type"] == "stdio" and added["args"][-1] == "serve"
    assert json.loads(vscode_file.split(".vscode/mcp.json:", 1)[1].rstrip(")"))["servers"]["mcp-sessions"]
