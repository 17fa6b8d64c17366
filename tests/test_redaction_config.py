"""The redaction config: parsed strictly, honoured in every channel, found by flag / env var / data dir."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from mcp import Client
from starlette.testclient import TestClient

from mcp_sessions import receiver
from mcp_sessions.cli import main
from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.formats import rrweb
from mcp_sessions.ingest import ingest_file
from mcp_sessions.redact import (
    DEFAULT_RULES,
    MASK,
    RedactionReport,
    load_rules,
    redact_attributes,
    redact_text,
    rules_from_config,
)
from mcp_sessions.server import create_server
from mcp_sessions.store import Store

CONFIG = """\
[keys]
mask = ["SSN", "x-tenant-key"]
mask_containing = ["passcode"]
keep = ["token_count", "x-debug-token"]

[[patterns]]
name = "employee_id"
regex = 'EMP-\\d{6}'

[[patterns]]
name = "ticket"
regex = 'tkt_[a-z]{8}'
ignore_case = true

[inputs]
keep = ["search", "quantity", "confirm", "api_token", "Card number"]
"""

# One planted value per channel, each caught only by the configured pattern.
PLANTED = {
    "span_attribute": "EMP-100001",
    "header": "EMP-100002",
    "json_body": "EMP-100003",
    "console": "EMP-100004",
}
TYPED = {
    "search": "blue-widgets-kept",  # type=search: allow-listed, kept
    "quantity": "77-kept",  # name=quantity: allow-listed, kept
    "password": "PW-planted-secret",  # type=password, its name listed anyway: masked
    "api_token": "typed-api-token-value",  # listed, but the name looks like a credential: masked
    "card": "typed-card-holder-x",  # listed by its label "Card number": masked (card words)
    "note": "unlisted-note-value",  # not listed: masked
}


def write_config(tmp_path: Path, text: str = CONFIG, name: str = "redaction.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def db_bytes(db: Path) -> bytes:
    with Store(db) as store:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def _kv(key: str, value: str) -> dict:
    return {"key": key, "value": {"stringValue": value}}


def otlp_export() -> dict:
    span = {
        "traceId": "ef" * 16,
        "spanId": "12" * 8,
        "name": "POST /orders",
        "kind": 2,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000200000000",
        "attributes": [
            _kv("session.id", "sess-config-1"),
            _kv("app.note", f"approved by {PLANTED['span_attribute']}"),
            _kv("app.user.ssn", "123-45-6789"),  # a configured key name (dotted: last segment)
            _kv("app.door_passcode", "open-sesame-42"),  # a configured substring
            _kv("llm.token_count", "kept-count-731"),  # looks sensitive ("token"), kept by name
            _kv("http.request.header.x-debug-token", "Bearer abcdefghijklmnop1234"),  # kept key, bearer value
            _kv("http.request.header.x-tenant-key", "tenant-key-value-9"),
        ],
    }
    resource = {"attributes": [_kv("service.name", "shop")]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}


def _element(node_id: int, tag: str, attributes: dict, children: list | None = None) -> dict:
    return {"type": 2, "tagName": tag, "attributes": attributes, "childNodes": children or [], "id": node_id}


def _text(node_id: int, text: str) -> dict:
    return {"type": 3, "textContent": text, "id": node_id}


def rrweb_recording() -> list[dict]:
    body = _element(
        3,
        "body",
        {},
        [
            _element(10, "input", {"type": "search", "id": "site-search"}),
            _element(11, "input", {"type": "number", "name": "quantity"}),
            _element(12, "input", {"type": "password", "name": "confirm"}),
            _element(13, "input", {"type": "text", "name": "api_token"}),
            _element(20, "label", {"for": "holder"}, [_text(21, "Card number")]),
            _element(14, "input", {"type": "text", "id": "holder"}),
            _element(15, "input", {"type": "text", "name": "note"}),
        ],
    )
    snapshot = {"type": 0, "childNodes": [_element(2, "html", {}, [body])], "id": 1}
    t = 1_700_000_000_000
    events: list[dict] = [
        {"type": 4, "data": {"href": "https://shop.test/cart", "width": 1280, "height": 800}, "timestamp": t},
        {"type": 2, "data": {"node": snapshot, "initialOffset": {"left": 0, "top": 0}}, "timestamp": t + 1},
    ]
    inputs = [(10, "search"), (11, "quantity"), (12, "password"), (13, "api_token"), (14, "card"), (15, "note")]
    for i, (node, key) in enumerate(inputs):
        events.append(
            {
                "type": 3,
                "data": {"source": 5, "id": node, "text": TYPED[key], "isChecked": False},
                "timestamp": t + 10 + i,
            }
        )
    console = {"level": "error", "payload": [json.dumps(f"order rejected for {PLANTED['console']}")], "trace": []}
    events.append({"type": 6, "data": {"plugin": "rrweb/console@1", "payload": console}, "timestamp": t + 40})
    request = {
        "name": "https://shop.test/api/orders",
        "method": "POST",
        "status": 201,
        "startTime": 100,
        "endTime": 130,
        "initiatorType": "fetch",
        "requestHeaders": {"x-employee": PLANTED["header"], "content-type": "application/json"},
        "requestBody": json.dumps({"approver": PLANTED["json_body"], "token_count": "kept-json-555"}),
        "responseHeaders": {},
    }
    events.append(
        {"type": 6, "data": {"plugin": "rrweb/network@1", "payload": {"requests": [request]}}, "timestamp": t + 200}
    )
    return events


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    folder.mkdir()
    (folder / "backend.json").write_text(json.dumps(otlp_export()))
    (folder / "browser.json").write_text(json.dumps(rrweb_recording()))
    return folder


# ---- parsing and validation -------------------------------------------------------------------


def test_a_full_config_parses_into_rules(tmp_path: Path):
    rules = load_rules(write_config(tmp_path))
    assert rules.mask_keys == {"ssn", "x-tenant-key"}
    assert rules.mask_containing == ("passcode",)
    assert rules.keep_keys == {"token_count", "x-debug-token"}
    assert [(p.name, p.regex, p.ignore_case) for p in rules.patterns] == [
        ("employee_id", r"EMP-\d{6}", False),
        ("ticket", "tkt_[a-z]{8}", True),
    ]
    assert rules.keep_inputs == {"search", "quantity", "confirm", "api_token", "card number"}
    assert rules.source == tmp_path / "redaction.toml"


def test_an_empty_config_is_the_built_in_behaviour(tmp_path: Path):
    rules = load_rules(write_config(tmp_path, "# nothing added\n"))
    assert rules.key_rule is DEFAULT_RULES.key_rule  # the memoised built-in verdict, untouched
    assert rules.patterns_re is None and rules.query_re is None and rules.json_re is None
    assert not rules.keeps_input({"name": "search", "input_type": "search"})


@pytest.mark.parametrize(
    ("text", "key", "advice"),
    [
        ("colour = 1\n", "colour", "unknown key; use keys, inputs, patterns"),
        ("keys = 3\n", "keys", "must be a table"),
        ("[keys]\nmasks = []\n", "keys.masks", "unknown key; [keys] takes keep, mask, mask_containing"),
        ('[keys]\nmask = "ssn"\n', "keys.mask", "must be a list of strings"),
        ("[keys]\nmask = [1]\n", "keys.mask[0]", "must be a non-empty string"),
        ('[keys]\nkeep = ["ok", " "]\n', "keys.keep[1]", "must be a non-empty string"),
        ('[keys]\nmask_containing = ["id"]\n', "keys.mask_containing[0]", "at least 3 characters"),
        ('[inputs]\nallow = ["q"]\n', "inputs.allow", "unknown key; [inputs] takes keep"),
        ('patterns = "x"\n', "patterns", "must be [[patterns]] tables"),
        ("patterns = [1]\n", "patterns[0]", "must be a table with name and regex"),
        ('[[patterns]]\nname = "a"\nregex = "b"\nflags = "i"\n', "patterns[0].flags", "unknown key"),
        ('[[patterns]]\nregex = "b"\n', "patterns[0].name", "lowercase rule name"),
        ('[[patterns]]\nname = "Bad Name"\nregex = "b"\n', "patterns[0].name", "lowercase rule name"),
        ('[[patterns]]\nname = "jwt"\nregex = "b"\n', "patterns[0].name", "already a rule name"),
        (
            '[[patterns]]\nname = "a"\nregex = "x"\n[[patterns]]\nname = "a"\nregex = "y"\n',
            "patterns[1].name",
            "already a rule name",
        ),
        ('[[patterns]]\nname = "a"\n', "patterns[0].regex", "must be a non-empty string"),
        ('[[patterns]]\nname = "a"\nregex = "(unclosed"\n', "patterns[0].regex", "not a valid regular expression"),
        ('[[patterns]]\nname = "a"\nregex = "(?i)abc"\n', "patterns[0].regex", "set ignore_case = true"),
        ('[[patterns]]\nname = "a"\nregex = "x*"\n', "patterns[0].regex", "matches empty text"),
        ("[[patterns]]\nname = \"a\"\nregex = '(a)\\1'\n", "patterns[0].regex", "numbered backreferences"),
        ('[[patterns]]\nname = "a"\nregex = "b"\nignore_case = "yes"\n', "patterns[0].ignore_case", "true or false"),
        (
            '[[patterns]]\nname = "a"\nregex = "(?P<g>x)"\n[[patterns]]\nname = "b"\nregex = "(?P<g>y)"\n',
            "patterns",
            "do not combine",
        ),
    ],
)
def test_every_mistake_is_one_line_naming_file_key_and_fix(tmp_path: Path, text: str, key: str, advice: str):
    path = write_config(tmp_path, text)
    with pytest.raises(InvalidArgumentError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"redaction config {path}: {key}: "), message
    assert advice in message


def test_unreadable_configs_say_so(tmp_path: Path):
    with pytest.raises(InvalidArgumentError, match=r"does not exist; create it or point --redaction-config"):
        load_rules(tmp_path / "missing.toml")
    with pytest.raises(InvalidArgumentError, match=r"not valid TOML: .*line 2.*; fix the syntax"):
        load_rules(write_config(tmp_path, "[keys]\nmask = = 1\n"))
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"# caf\xe9\n")
    with pytest.raises(InvalidArgumentError, match="not UTF-8 text"):
        load_rules(bad)


# ---- the rules at work --------------------------------------------------------------------------


def test_configured_keys_and_keep_keys_in_attributes_and_text():
    rules = rules_from_config(tomllib.loads(CONFIG))
    report = RedactionReport(rules)
    out = redact_attributes(
        {
            "app.user.ssn": "123-45-6789",
            "llm.token_count": "731",
            "http.request.header.x-debug-token": "Bearer abcdefghijklmnop1234",
            "auth_token": "still-masked-by-default",
        },
        report,
    )
    assert out["app.user.ssn"] == MASK and out["auth_token"] == MASK
    assert out["llm.token_count"] == "731"
    assert out["http.request.header.x-debug-token"] == f"Bearer {MASK}"  # kept key, credential value masked
    text = redact_text(
        'GET /a?ssn=1&token_count=9&token=abc {"door_passcode": 1234, "token_count": "5", "password": "x"}', report
    )
    assert text == (
        f'GET /a?ssn={MASK}&token_count=9&token={MASK} {{"door_passcode": "{MASK}", "token_count": "5", '
        f'"password": "{MASK}"}}'
    )
    assert report.as_dict() == {
        "bearer": 1,
        "configured_key": 3,
        "json_field": 1,
        "query_param": 1,
        "sensitive_key": 1,
    }


def test_patterns_are_counted_under_their_own_names():
    rules = rules_from_config(tomllib.loads(CONFIG))
    report = RedactionReport(rules)
    assert redact_text("EMP-123456 and TKT_ABCDEFGH and EMP-654321", report) == f"{MASK} and {MASK} and {MASK}"
    assert report.as_dict() == {"employee_id": 2, "ticket": 1}


def test_input_allow_list_never_keeps_a_password_or_secret_named_field():
    rules = rules_from_config({"inputs": {"keep": ["search", "confirm", "one-time-code", "pin", "login"]}})
    assert rules.keeps_input({"input_type": "search", "id": "q"})
    assert rules.keeps_input({"autocomplete": "section-a search"})
    assert not rules.keeps_input({"input_type": "password", "name": "confirm"})
    assert not rules.keeps_input({"input_type": "text", "name": "confirm", "label": "Confirm password"})
    assert not rules.keeps_input({"input_type": "text", "autocomplete": "one-time-code"})
    assert not rules.keeps_input({"input_type": "text", "name": "pin"})
    assert not rules.keeps_input({"input_type": "text", "name": "login", "autocomplete": "cc-number"})
    # [keys] keep does not reach inputs: a config cannot unmask a password field by keeping its name.
    both = rules_from_config({"keys": {"keep": ["password"]}, "inputs": {"keep": ["password"]}})
    assert not both.keeps_input({"input_type": "text", "name": "password"})


def test_the_rrweb_parser_keeps_only_allow_listed_typed_values():
    rules = rules_from_config(tomllib.loads(CONFIG))
    values = {e.target: e.detail["value"] for e in rrweb.parse(rrweb_recording(), rules) if e.kind == "input"}
    assert values == {
        "#site-search": TYPED["search"],
        'input[name="quantity"]': TYPED["quantity"],
        'input[name="confirm"]': "[masked]",
        'input[name="api_token"]': "[masked]",
        "#holder": "[masked]",
        'input[name="note"]': "[masked]",
    }
    default = [e.detail["value"] for e in rrweb.parse(rrweb_recording()) if e.kind == "input"]
    assert default == ["[masked]"] * 6


def test_every_channel_is_masked_in_the_database_bytes(tmp_path: Path, recordings: Path):
    rules = load_rules(write_config(tmp_path))
    db = tmp_path / "config.db"
    with Store(db) as store:
        results = [ingest_file(store, p, rules=rules) for p in sorted(recordings.iterdir())]
    assert [r.status for r in results] == ["stored", "stored"], [r.error for r in results]
    raw = db_bytes(db)
    for channel, value in PLANTED.items():
        assert value.encode() not in raw, f"{channel} value stored unmasked"
    for leaked in ("123-45-6789", "open-sesame-42", "abcdefghijklmnop1234", "tenant-key-value-9"):
        assert leaked.encode() not in raw
    for key in ("password", "api_token", "card", "note"):
        assert TYPED[key].encode() not in raw, f"typed {key} stored"
    for kept in (TYPED["search"], TYPED["quantity"], "kept-count-731", "kept-json-555"):
        assert kept.encode() in raw, f"{kept} should have been kept"
    backend, browser = (r.redactions for r in results)
    assert backend["employee_id"] == 1 and backend["configured_key"] == 3 and backend["bearer"] == 1
    assert browser["employee_id"] == 3 and browser["input_value"] == 4
    assert all(isinstance(n, int) for r in results for n in r.redactions.values())


def test_the_receiver_redacts_under_its_rules(tmp_path: Path):
    rules = load_rules(write_config(tmp_path))
    db = tmp_path / "receiver.db"
    with Store(db) as store, TestClient(receiver.create_app(store, rules=rules)) as client:
        response = client.post(
            "/v1/traces", content=json.dumps(otlp_export()), headers={"content-type": "application/json"}
        )
        assert response.status_code == 200
        assert client.app.state.writer.stats.redactions["employee_id"] == 1
    raw = db_bytes(db)
    assert PLANTED["span_attribute"].encode() not in raw and b"kept-count-731" in raw


@pytest.mark.anyio
async def test_the_ingest_tool_redacts_under_the_server_rules(tmp_path: Path, recordings: Path):
    rules = load_rules(write_config(tmp_path))
    db = tmp_path / "tool.db"
    async with Client(create_server(db, ingest_roots=[recordings], redaction=rules)) as client:
        answer = await client.call_tool("ingest_recording", {"path": "."})
    assert not answer.is_error
    assert "employee_id 4" in answer.content[0].text
    raw = db_bytes(db)
    assert not [v for v in PLANTED.values() if v.encode() in raw]
    assert TYPED["search"].encode() in raw


# ---- finding the config from the command line ---------------------------------------------------


def test_cli_flag_is_honoured(tmp_path: Path, recordings: Path, capsys: pytest.CaptureFixture[str]):
    config, db = write_config(tmp_path), tmp_path / "flag.db"
    assert main(["ingest", str(recordings), "--db", str(db), "--redaction-config", str(config)]) == 0
    captured = capsys.readouterr()
    assert f"redaction rules from {config}" in captured.err
    assert "employee_id 3" in captured.out and "employee_id 1" in captured.out
    assert PLANTED["console"].encode() not in db_bytes(db)


def test_env_var_is_honoured_and_the_flag_wins(
    tmp_path: Path, recordings: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    config = write_config(tmp_path)
    monkeypatch.setenv("MCP_SESSIONS_REDACTION", str(config))
    assert main(["ingest", str(recordings), "--db", str(tmp_path / "env.db")]) == 0
    assert "employee_id" in capsys.readouterr().out
    assert PLANTED["console"].encode() not in db_bytes(tmp_path / "env.db")
    other = write_config(tmp_path, "", name="empty.toml")
    assert main(["ingest", str(recordings), "--db", str(tmp_path / "flag.db"), "--redaction-config", str(other)]) == 0
    out = capsys.readouterr()
    assert f"redaction rules from {other}" in out.err and "employee_id" not in out.out
    assert PLANTED["console"].encode() in db_bytes(tmp_path / "flag.db")  # built-in rules only: not masked


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG_DATA_HOME names the data directory on Linux")
def test_redaction_toml_in_the_data_directory_is_found(
    tmp_path: Path, recordings: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.delenv("MCP_SESSIONS_REDACTION", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "data" / "mcp-sessions").mkdir(parents=True)
    config = write_config(tmp_path / "data" / "mcp-sessions")
    assert main(["ingest", str(recordings / "backend.json"), "--db", str(tmp_path / "dir.db")]) == 0
    captured = capsys.readouterr()
    assert f"redaction rules from {config}" in captured.err and "employee_id 1" in captured.out


def _run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mcp_sessions", *args],
        capture_output=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_a_bad_config_exits_with_the_message_and_leaves_the_database_unchanged(tmp_path: Path, recordings: Path):
    db = tmp_path / "kept.db"
    assert _run_cli("ingest", str(recordings / "backend.json"), "--db", str(db)).returncode == 0
    before = hashlib.sha256(db_bytes(db)).hexdigest()
    bad = write_config(tmp_path, '[[patterns]]\nname = "a"\nregex = "(unclosed"\n', name="bad.toml")
    for args, env in [
        (["ingest", str(recordings / "browser.json"), "--db", str(db), "--redaction-config", str(bad)], None),
        (["ingest", str(recordings / "browser.json"), "--db", str(db)], {"MCP_SESSIONS_REDACTION": str(bad)}),
        (["collect", "--port", "0", "--db", str(db), "--redaction-config", str(bad)], None),
        (["serve", "--allow-ingest", str(recordings), "--db", str(db), "--redaction-config", str(bad)], None),
    ]:
        result = _run_cli(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.decode().strip().splitlines() == [
            f"mcp-sessions: redaction config {bad}: patterns[0].regex: not a valid regular expression "
            "(missing ), unterminated subpattern at position 0); fix the expression"
        ]
    assert hashlib.sha256(db_bytes(db)).hexdigest() == before
    fresh = tmp_path / "never-created.db"
    assert _run_cli("ingest", str(recordings), "--db", str(fresh), "--redaction-config", str(bad)).returncode == 2
    assert not fresh.exists()


def test_the_readme_example_config_is_valid_and_does_what_it_says(tmp_path: Path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Redaction rules", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    rules = load_rules(write_config(tmp_path, example))
    report = RedactionReport(rules)
    out = redact_attributes(
        {"app.user.ssn": "1", "llm.token_count": "2", "note": "by EMP-123456 on db1.CORP.example"}, report
    )
    assert out == {"app.user.ssn": MASK, "llm.token_count": "2", "note": f"by {MASK} on {MASK}"}
    assert report.as_dict() == {"configured_key": 1, "employee_id": 1, "internal_host": 1}
    assert rules.keeps_input({"input_type": "search"}) and not rules.keeps_input({"input_type": "password"})
