"""The command line, run as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mcp_sessions", *args],
        capture_output=True,
        input=stdin,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command run in this process (stdout is captured, so not a terminal): exit code, stdout, stderr."""
    from mcp_sessions.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_version_and_help():
    version = run("--version")
    assert version.returncode == 0 and version.stdout.decode().startswith("mcp-sessions ")
    for command in ("ingest", "serve", "sessions"):
        result = run(command, "--help")
        assert result.returncode == 0
        assert "--db" in result.stdout.decode()


def test_no_command_prints_help_and_fails():
    result = run()
    assert result.returncode == 2
    assert "COMMAND" in result.stderr.decode()


def test_ingest_samples_then_again_stores_nothing_new(samples: Path, db_path: Path):
    first = run("ingest", str(samples / "otlp"), "--db", str(db_path))
    assert first.returncode == 0, first.stderr
    out = first.stdout.decode()
    assert "7 inputs: 7 stored, 0 unchanged, 0 failed; 739 spans and 3 logs added" in out
    assert "highlight-traces.json (otlp-json): 512 spans" in out
    second = run("ingest", str(samples / "otlp"), "--db", str(db_path))
    assert second.returncode == 0
    assert "0 stored, 7 unchanged, 0 failed; 0 spans and 0 logs added" in second.stdout.decode()


def test_db_from_environment_variable(samples: Path, tmp_path: Path):
    db = tmp_path / "from-env.db"
    result = run("ingest", str(samples / "otlp" / "spec-example-trace.json"), env={"MCP_SESSIONS_DB": str(db)})
    assert result.returncode == 0
    assert db.exists()


def test_directory_of_good_and_bad_files(tmp_path: Path, db_path: Path, samples: Path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.json").write_bytes((samples / "otlp" / "spec-example-trace.json").read_bytes())
    (folder / "truncated.json").write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab')
    (folder / "notes.txt").write_text("just some notes")
    zipkin_v1 = [{"traceId": "a" * 16, "id": "b" * 16, "name": "get", "binaryAnnotations": []}]
    (folder / "old-zipkin.json").write_text(json.dumps(zipkin_v1))
    result = run("ingest", str(folder), "--db", str(db_path))
    assert result.returncode == 1
    errors = result.stderr.decode().splitlines()
    assert len(errors) == 3
    assert any("truncated.json" in e and "truncated" in e.split(":", 1)[1] for e in errors)
    assert any("notes.txt" in e and "not JSON" in e for e in errors)
    assert any("old-zipkin.json" in e and "Zipkin v1" in e for e in errors)
    assert "1 stored, 0 unchanged, 3 failed; 1 spans" in result.stdout.decode()


def test_missing_file_is_reported(db_path: Path):
    result = run("ingest", "/nonexistent/file.json", "--db", str(db_path))
    assert result.returncode == 1
    assert "/nonexistent/file.json: no such file" in result.stderr.decode()


def test_ingest_from_stdin(samples: Path, db_path: Path):
    body = (samples / "otlp" / "highlight-nextjs.json").read_bytes()
    result = run("ingest", "-", "--db", str(db_path), stdin=body)
    assert result.returncode == 0, result.stderr
    assert "stored     - (otlp-json): 8 spans" in result.stdout.decode()


def test_sessions_lists_for_humans(samples: Path, db_path: Path):
    run("ingest", str(samples / "otlp"), "--db", str(db_path))
    result = run("sessions", "--db", str(db_path))
    out = result.stdout.decode()
    assert result.returncode == 0
    assert "tUVyYXgmLPMuJBM5FdhaEcDIOfah" in out
    assert "shows 1 of 1 sessions" in out
    assert "27 traces carry no session key" in out


def test_newer_database_is_a_one_line_error(db_path: Path):
    import sqlite3

    run("sessions", "--db", str(db_path))
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    result = run("sessions", "--db", str(db_path))
    assert result.returncode == 2
    assert result.stderr.decode().count("\n") == 1
    assert "newer than this mcp-sessions" in result.stderr.decode()


@pytest.mark.parametrize("command", ["sessions", "ingest"])
def test_db_option_works_before_or_after_the_command(command, db_path: Path, samples: Path):
    sample = str(samples / "otlp" / "spec-example-trace.json")
    if command == "sessions":
        run("ingest", sample, "--db", str(db_path))  # `sessions` reads only: the file must exist
    result = run("--db", str(db_path), command, *([sample] if command == "ingest" else []))
    assert result.returncode == 0
    assert db_path.exists()


# ---- global options anywhere, settings from one config file ------------------------------------


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_are_accepted_before_or_after_the_command(where: str, samples: Path, tmp_path: Path):
    db = tmp_path / "from-config.db"
    config = tmp_path / "settings.toml"
    config.write_text(f'database = "{db}"\n')
    sample = str(samples / "otlp" / "spec-example-trace.json")
    options = ["-v", "--config", str(config)]
    argv = [*options, "ingest", sample] if where == "before" else ["ingest", sample, *options]
    result = run(*argv)
    assert result.returncode == 0, result.stderr
    assert db.exists()  # the config file named the database
    listed = run("sessions", *options) if where == "after" else run(*options, "sessions")
    assert listed.returncode == 0, listed.stderr


def test_precedence_flag_over_environment_over_config_file_over_default(tmp_path, monkeypatch, capsys):
    config = tmp_path / "mcp-sessions.toml"
    config.write_text('database = "file.db"\nsession_gap_minutes = 10\n[receiver]\nport = 4400\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("MCP_SESSIONS_CONFIG", str(config))
    monkeypatch.setenv("MCP_SESSIONS_RECEIVER_PORT", "4500")
    monkeypatch.setenv("MCP_SESSIONS_TOKEN", "t" * 20)
    code, out, _ = cli(capsys, "config", "--json", "--db", str(tmp_path / "flag.db"))
    assert code == 0
    doc = json.loads(out)
    settings = doc["settings"]
    assert doc["config_file"] == str(config)
    assert settings["database"] == {"value": str(tmp_path / "flag.db"), "source": "flag", "variable": "MCP_SESSIONS_DB"}
    assert settings["receiver.port"]["value"] == 4500
    assert settings["receiver.port"]["source"] == "$MCP_SESSIONS_RECEIVER_PORT"
    assert settings["receiver.host"] == {
        "value": "0.0.0.0",
        "source": f"config {config}",
        "variable": "MCP_SESSIONS_RECEIVER_HOST",
    }
    assert settings["session_gap_minutes"]["value"] == 10
    assert settings["receiver.max_connections"] == {
        "value": 256,
        "source": "default",
        "variable": "MCP_SESSIONS_RECEIVER_MAX_CONNECTIONS",
    }
    # the token is masked in both forms of output
    assert "t" * 20 not in out
    code, shown, _ = cli(capsys, "config")
    assert code == 0 and "t" * 20 not in shown
    assert "serve.token" in shown and "$MCP_SESSIONS_TOKEN" in shown and "****** (20 characters)" in shown


def test_relative_paths_in_the_config_file_are_taken_from_its_folder(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "mcp-sessions.toml").write_text('database = "data/s.db"\n[serve]\ningest_roots = ["rec", "/abs"]\n')
    monkeypatch.delenv("MCP_SESSIONS_DB", raising=False)
    _, out, _ = cli(capsys, "config", "--json", "--config", str(folder / "mcp-sessions.toml"))
    settings = json.loads(out)["settings"]
    assert settings["database"]["value"] == str(folder / "data" / "s.db")
    assert settings["serve.ingest_roots"]["value"] == [str(folder / "rec"), "/abs"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[receiver]\nprot = 1\n", "receiver.prot: unknown key; [receiver] takes host, port"),
        ("databse = 'x'\n", "databse: unknown key; use database, redaction_config, session_gap_minutes"),
        ("[receiver]\nport = '4318'\n", "receiver.port: must be an integer, not a string '4318'"),
        ("[receiver]\nport = 70000\n", "receiver.port: 70000 is not a port"),
        ("session_gap_minutes = 0\n", "session_gap_minutes: 0.0 must be above 0"),
        ("receiver = 3\n", "receiver: must be a table ([receiver])"),
        ("[receiver\n", "not valid TOML"),
    ],
)
def test_a_mistake_in_the_config_file_stops_every_command_naming_file_and_key(
    content: str, expected: str, tmp_path: Path, capsys
):
    config = tmp_path / "bad.toml"
    config.write_text(content)
    for argv in (["sessions"], ["ingest", str(tmp_path)], ["config"], ["demo"], ["show", "trace", "0" * 32]):
        code, _, err = cli(capsys, *argv, "--config", str(config), "--db", str(tmp_path / "never.db"))
        assert code == 2, argv
        assert err.count("\n") == 1 and str(config) in err and expected in err, (argv, err)
    assert not (tmp_path / "never.db").exists()


def test_bad_environment_value_and_missing_config_file_are_one_line_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MCP_SESSIONS_RECEIVER_PORT", "http")
    assert cli(capsys, "config")[::2] == (2, "mcp-sessions: $MCP_SESSIONS_RECEIVER_PORT: 'http' is not an integer\n")
    monkeypatch.delenv("MCP_SESSIONS_RECEIVER_PORT")
    monkeypatch.setenv("MCP_SESSIONS_CONFIG", str(tmp_path / "nope.toml"))
    code, _, err = cli(capsys, "sessions")
    assert code == 2 and "nope.toml ($MCP_SESSIONS_CONFIG) does not exist" in err


def test_the_default_config_file_in_the_data_directory_is_read(tmp_path, monkeypatch, capsys):
    data = tmp_path / "xdg" / "mcp-sessions"
    data.mkdir(parents=True)
    (data / "mcp-sessions.toml").write_text("[serve]\nport = 8123\n")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MCP_SESSIONS_DB", raising=False)
    monkeypatch.delenv("MCP_SESSIONS_CONFIG", raising=False)
    doc = json.loads(cli(capsys, "config", "--json")[1])
    assert doc["config_file"] == str(data / "mcp-sessions.toml")
    assert doc["settings"]["serve.port"]["value"] == 8123
    assert doc["settings"]["database"]["value"] == str(data / "sessions.db")


def _keyless_har(gap_minutes: float) -> dict:
    """Two page loads with no session key, `gap_minutes` apart."""

    def entry(at: str, path: str) -> dict:
        return {
            "startedDateTime": at,
            "time": 12,
            "request": {"method": "GET", "url": f"http://shop.test{path}", "httpVersion": "HTTP/1.1", "headers": []},
            "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [], "content": {}},
            "timings": {"send": 1, "wait": 10, "receive": 1},
        }

    minutes = int(gap_minutes)
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "test", "version": "1"},
            "entries": [entry("2026-01-05T10:00:00.000Z", "/a"), entry(f"2026-01-05T10:{minutes:02d}:00.000Z", "/b")],
        }
    }


@pytest.mark.parametrize(("how", "sessions"), [("default", 1), ("flag", 2), ("config", 2), ("environment", 2)])
def test_session_gap_setting_reaches_ingest(how: str, sessions: int, tmp_path, monkeypatch, capsys):
    har = tmp_path / "visits.har"
    har.write_text(json.dumps(_keyless_har(20)))  # 20 minutes apart: one session under the default 30
    db = tmp_path / "s.db"
    config = tmp_path / "c.toml"
    config.write_text("session_gap_minutes = 10\n")
    extra = {"flag": ["--session-gap-minutes", "10"], "config": ["--config", str(config)]}.get(how, [])
    if how == "environment":
        monkeypatch.setenv("MCP_SESSIONS_SESSION_GAP_MINUTES", "10")
    assert cli(capsys, "ingest", str(har), "--db", str(db), *extra)[0] == 0
    listed = json.loads(cli(capsys, "sessions", "--json", "--db", str(db))[1])
    assert listed["total"] == sessions


# ---- show, errors, slow: the tools' answers in the terminal ------------------------------------


def _demo_db(path: Path) -> Path:
    from mcp_sessions.demo import DEMO_DATA
    from mcp_sessions.ingest import ingest_paths
    from mcp_sessions.store import Store

    with Store(path) as store:
        results = list(ingest_paths(store, [str(DEMO_DATA)]))
    assert all(r.status == "stored" for r in results), [r.error for r in results]
    return path


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _demo_db(tmp_path_factory.mktemp("demo") / "demo.db")


async def _tool(db: Path, name: str, arguments: dict) -> tuple[str, dict]:
    from mcp import Client

    from mcp_sessions.server import create_server

    async with Client(create_server(db)) as client:
        result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content
    return result.content[0].text, result.structured_content


async def _questions(db: Path) -> list[tuple[list[str], str, dict]]:
    """(command line, tool, arguments) pairs that ask the same question, built from what the data holds."""
    _, listed = await _tool(db, "list_sessions", {"sort": "slowest"})
    _, traces = await _tool(db, "list_traces", {"sort": "largest", "limit": 1})
    trace_id = traces["traces"][0]["trace_id"]
    root_span = traces["traces"][0]["root_span_id"]
    out = [
        (["show", "trace", trace_id], "get_trace", {"trace_id": trace_id}),
        (["show", "trace", trace_id, "--max-spans", "5"], "get_trace", {"trace_id": trace_id, "max_spans": 5}),
        (["show", "span", trace_id, root_span], "get_span", {"trace_id": trace_id, "span_id": root_span}),
        (["errors"], "find_errors", {}),
        (["errors", "--source", "backend", "--limit", "3"], "find_errors", {"sources": ["backend"], "limit": 3}),
        (["slow"], "find_slow_spans", {}),
        (
            ["slow", "--group-by", "span", "--trace", trace_id],
            "find_slow_spans",
            {"group_by": "span", "trace_id": trace_id},
        ),
    ]
    if listed["sessions"]:
        session_id = listed["sessions"][0]["session_id"]
        out += [
            (["show", "session", session_id], "get_session", {"session_id": session_id}),
            (["errors", "--session", session_id], "find_errors", {"session_id": session_id}),
            (
                ["slow", "--session", session_id, "--budget-tokens", "800"],
                "find_slow_spans",
                {"session_id": session_id, "budget_tokens": 800},
            ),
        ]
    return out


@pytest.mark.anyio
@pytest.mark.parametrize("data", ["demo", "samples"])
async def test_show_errors_slow_print_the_tools_text_and_json(data: str, request: pytest.FixtureRequest, capsys):
    db = request.getfixturevalue("demo_db" if data == "demo" else "otlp_db")
    questions = await _questions(db)
    assert len(questions) >= 6
    for argv, tool, arguments in questions:
        text, structured = await _tool(db, tool, arguments)
        code, plain, err = cli(capsys, *argv, "--db", str(db))  # not a terminal: the text unchanged
        assert code == 0, (argv, err)
        assert plain == text + "\n", argv
        code, as_json, err = cli(capsys, *argv, "--json", "--db", str(db))
        assert code == 0, (argv, err)
        assert json.loads(as_json) == structured, argv
    # and one through the installed entry point, as a script pipes it
    piped = run(*questions[0][0], "--db", str(db))
    assert piped.returncode == 0 and piped.stdout.decode() == (await _tool(db, *questions[0][1:]))[0] + "\n"


@pytest.mark.anyio
async def test_sessions_json_is_the_list_sessions_structured_content(demo_db: Path, capsys):
    _, structured = await _tool(demo_db, "list_sessions", {"sort": "slowest", "has_errors": True, "limit": 5})
    code, out, _ = cli(
        capsys, "sessions", "--json", "--sort", "slowest", "--errors", "--limit", "5", "--db", str(demo_db)
    )
    assert code == 0
    assert json.loads(out) == structured and structured["sessions"]


def test_show_trace_json_pipes_into_json_tool(demo_db: Path):
    trace_id = json.loads(run("slow", "--json", "--db", str(demo_db)).stdout)["operations"][0]["worst_trace_id"]
    piped = subprocess.run(
        f"{sys.executable} -m mcp_sessions show trace {trace_id} --json --db {demo_db} | {sys.executable} -m json.tool",
        shell=True,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["trace"]["trace_id"] == trace_id


def test_show_unknown_ids_and_bad_arguments_are_one_line_errors(demo_db: Path, capsys):
    code, _, err = cli(capsys, "show", "trace", "ab" * 16, "--db", str(demo_db))
    assert code == 2 and err.count("\n") == 1 and err.startswith("mcp-sessions: ") and "ab" * 16 in err
    code, _, err = cli(capsys, "show", "session", "nope", "--db", str(demo_db))
    assert code == 2 and "nope" in err
    code, _, err = cli(capsys, "show", "trace", "ab" * 16, "--db", str(demo_db.parent / "none.db"))
    assert code == 2 and "none.db" in err
    # the tool's own bounds and choices: get_trace takes 5 to 300 spans; find_errors three sources
    for argv, flag in (
        (["show", "trace", "ab" * 16, "--max-spans", "2"], "--max-spans"),
        (["errors", "--source", "disk"], "--source"),
    ):
        with pytest.raises(SystemExit) as exited:
            cli(capsys, *argv, "--db", str(demo_db))
        assert exited.value.code == 2 and flag in capsys.readouterr().err


def test_show_on_a_terminal_is_styled_and_never_passes_control_characters(demo_db: Path):
    import pty

    session_id = json.loads(run("sessions", "--json", "--db", str(demo_db)).stdout)["sessions"][0]["session_id"]
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "mcp_sessions", "show", "session", session_id, "--db", str(demo_db)],
        stdout=follower,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"TERM": "xterm"},
    ) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 0
    os.close(leader)
    shown = b"".join(chunks).decode()
    assert "\x1b[1m" in shown and "\x1b[36m" in shown  # bold headings and labels, coloured ids
    assert session_id in shown and "**" not in shown


def test_terminal_style_makes_recorded_control_characters_visible():
    from mcp_sessions.terminal import BOLD, CYAN, RESET, style

    text = "# Trace `ab`\n**Name**: `evil\x1b]0;owned\x07`\n```\n**kept** `as is`\n```"
    styled = style(text)
    assert "\x1b]" not in styled and "\x07" not in styled
    assert "\\x1b]0;owned\\x07" in styled
    assert styled.splitlines()[0] == f"{BOLD}Trace `ab`{RESET}"
    assert f"{BOLD}Name{RESET}: {CYAN}evil" in styled
    assert "**kept** `as is`" in styled  # nothing styled inside a fenced block


# ---- shell completion ------------------------------------------------------------------------


def _complete(script: str, words: list[str]) -> list[str]:
    """What bash offers after `words` (the last one being completed), with the generated script sourced."""
    line = " ".join(shlex.quote(w) for w in words)
    program = (
        f"source {shlex.quote(script)}\n"
        f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}\n"
        "_mcp_sessions\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0 and not done.stderr, done.stderr
    return [w for w in done.stdout.splitlines() if w]


def test_bash_completion_from_the_parser(tmp_path: Path, capsys):
    code, generated, _ = cli(capsys, "completion", "bash")
    assert code == 0
    script = tmp_path / "mcp-sessions.bash"
    script.write_text(generated)
    (tmp_path / "recording.json").write_text("{}")
    assert _complete(str(script), ["mcp-sessions", "sh"]) == ["show"]
    assert set(_complete(str(script), ["mcp-sessions", ""])) >= {"ingest", "serve", "show", "errors", "slow", "config"}
    assert _complete(str(script), ["mcp-sessions", "-v", "show", ""]) == ["session", "trace", "span"]
    assert set(_complete(str(script), ["mcp-sessions", "sessions", "--sort", ""])) == {
        "recent",
        "oldest",
        "slowest",
        "errors",
        "largest",
    }
    # global options after the command, and option values skipped when finding the command
    assert "--db" in _complete(str(script), ["mcp-sessions", "show", "trace", "--"])
    assert "--max-spans" in _complete(str(script), ["mcp-sessions", "--db", "x.db", "show", "trace", "--m"])
    assert "--max-spans" not in _complete(str(script), ["mcp-sessions", "show", "session", "--m"])
    # paths where the parser takes paths
    where = str(tmp_path / "rec")
    assert _complete(str(script), ["mcp-sessions", "ingest", where]) == [str(tmp_path / "recording.json")]
    assert _complete(str(script), ["mcp-sessions", "sessions", "--db", where]) == [str(tmp_path / "recording.json")]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_name_every_command(shell: str, capsys, tmp_path: Path):
    from mcp_sessions.cli import COMMANDS

    code, script, _ = cli(capsys, "completion", shell)
    assert code == 0
    for name in COMMANDS:
        assert name in script, name
    if shell == "zsh":
        assert script.startswith("#compdef mcp-sessions\n") and "bashcompinit" in script
    else:
        assert "complete -c mcp-sessions -n __fish_use_subcommand -a show" in script
        assert "__fish_seen_subcommand_from show ; and not __fish_seen_subcommand_from session trace span" in script
    if shutil.which(shell) is None:
        return  # the text above is all a machine without this shell can check
    path = tmp_path / f"completion.{shell}"
    path.write_text(script)
    if shell == "zsh":  # as bashcompinit calls it: zsh's words, COMP_CWORD = CURRENT - 1
        program = (
            f"autoload -U compinit; compinit -u; source {path}; COMP_WORDS=(mcp-sessions show ''); COMP_CWORD=2; "
            "_mcp_sessions; print -l -- $COMPREPLY"
        )
    else:
        program = f"source {path}; complete -C 'mcp-sessions show '"
    done = subprocess.run([shell, "-c", program], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    offered = [line.split("\t")[0] for line in done.stdout.split("\n") if line]
    assert sorted(offered) == ["session", "span", "trace"]  # fish sorts them


def test_a_reader_that_leaves_early_ends_the_command_quietly(demo_db: Path):
    """`mcp-sessions errors | head -1`: the closed pipe is the reader's choice, never a traceback."""
    command = [sys.executable, "-m", "mcp_sessions", "--db", str(demo_db), "errors"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        assert child.stdout is not None and child.stderr is not None
        child.stdout.readline()
        child.stdout.close()  # as `head -1` does after its line
        errors = child.stderr.read().decode()
        assert child.wait(timeout=60) == 0, errors
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors
