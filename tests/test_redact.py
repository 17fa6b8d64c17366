"""Secrets never reach storage: planted in every span/log channel, searched for in the file's bytes."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from mcp import Client

from mcp_sessions import urls
from mcp_sessions.ingest import ingest_file
from mcp_sessions.redact import MASK, KnownValues, RedactionReport, clip, is_sensitive_key, redact_text
from mcp_sessions.server import create_server
from mcp_sessions.store import Store

SECRETS = {
    "bearer": "sk_live_bearer_51HxQ2eZvKYlo2C",
    "cookie": "sessioncookie_9f8e7d6c5b4a",
    "query": "querytoken_ABCDEF123456",
    "json_body": "bodysecret_zyxwvu987",
    "password_attr": "hunter2-correct-horse",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJlLXZhbHVl",
    "api_key_header": "apikey_0011223344556677",
    "card": "4111 1111 1111 1111",
    "log_token": "logtoken_QWERTY098765",
}


def _kv(key: str, value: str) -> dict:
    return {"key": key, "value": {"stringValue": value}}


def planted_export() -> dict:
    span = {
        "traceId": "ab" * 16,
        "spanId": "cd" * 8,
        "name": "POST /login",
        "kind": 2,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000500000000",
        "attributes": [
            _kv("session.id", "sess-redact-1"),
            _kv("http.request.header.authorization", f"Bearer {SECRETS['bearer']}"),
            _kv("http.request.header.cookie", f"sid={SECRETS['cookie']}"),
            _kv("url.full", f"https://shop.test/login?next=/cart&token={SECRETS['query']}"),
            _kv("http.request.body", json.dumps({"user": "ann", "password": SECRETS["json_body"]})),
            _kv("app.user.password", SECRETS["password_attr"]),
            _kv("http.request.header.x-api-key", SECRETS["api_key_header"]),
        ],
        "events": [
            {
                "name": "exception",
                "timeUnixNano": "1700000000400000000",
                "attributes": [
                    _kv("exception.message", f"invalid token {SECRETS['jwt']} for card {SECRETS['card']}"),
                ],
            }
        ],
        "status": {"code": 2, "message": "login failed"},
    }
    log = {
        "timeUnixNano": "1700000000450000000",
        "body": {"stringValue": f"retry with {SECRETS['log_token']}"},
        "attributes": [_kv("auth_token", SECRETS["log_token"])],
        "traceId": "ab" * 16,
        "spanId": "cd" * 8,
    }
    resource = {"attributes": [_kv("service.name", "shop")]}
    return {
        "resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}],
        "resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": [log]}]}],
    }


@pytest.fixture
def planted_db(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    source = tmp_path / "planted.json"
    source.write_text(json.dumps(planted_export()))
    db = tmp_path / "planted.db"
    with Store(db) as store:
        result = ingest_file(store, source)
    assert result.status == "stored", result.error
    return db, result.redactions


def test_no_planted_secret_survives_in_the_database_bytes(planted_db):
    db, _ = planted_db
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    for channel, secret in SECRETS.items():
        needle = secret.split()[0] if channel == "card" else secret
        assert needle.encode() not in raw, f"{channel} secret found in the database file"
    assert b"4111111111111111" not in raw
    assert b"sess-redact-1" in raw  # the session key is an id we join on, not a secret


def test_ingest_reports_counts_per_rule_never_values(planted_db):
    _, redactions = planted_db
    assert redactions["sensitive_key"] >= 4
    assert redactions["query_param"] >= 1
    assert redactions["json_field"] >= 1
    assert redactions["jwt"] >= 1
    assert redactions["card_number"] >= 1
    assert all(isinstance(n, int) for n in redactions.values())


@pytest.mark.anyio
async def test_no_planted_secret_in_any_tool_output(planted_db):
    db, _ = planted_db
    async with Client(create_server(db)) as client:
        outputs = [
            await client.call_tool("list_sessions", {}),
            await client.call_tool("list_traces", {"session_id": "sess-redact-1"}),
            await client.call_tool("get_trace", {"trace_id": "ab" * 16}),
        ]
    text = "\n".join(c.text for r in outputs for c in r.content) + json.dumps([r.structured_content for r in outputs])
    assert "POST /login" in text
    for secret in SECRETS.values():
        assert secret not in text


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("http.request.header.authorization", "sensitive_key"),
        ("http.response.header.set-cookie", "sensitive_key"),
        ("db.password", "sensitive_key"),
        ("x-api-key", "sensitive_key"),
        ("client_secret", "sensitive_key"),
        ("http.request.header.x-sid", "sensitive_header"),
        ("http.response.header.x-session-id", "sensitive_header"),
        ("http.request.header.x-csrf-token", "sensitive_key"),
    ],
)
def test_sensitive_keys(key, rule):
    assert is_sensitive_key(key) == rule


@pytest.mark.parametrize(
    "key",
    [
        "session.id",
        "http.request.header.x-session-id",  # config.SESSION_HEADERS: read as the session key
        "http.request.header.x_session_id",
        "highlight.session_id",
        "gen_ai.usage.input_tokens",
        "http.method",
        "user.id",
        "db.statement",
    ],
)
def test_ordinary_keys_are_kept(key):
    assert is_sensitive_key(key) is None


def test_free_text_keeps_what_is_not_secret():
    report = RedactionReport()
    text = "GET /products?page=2&sort=price took 1681426544750135000 ns; order 4111-1111-1111-1112"
    assert redact_text(text, report) == text  # not a Luhn-valid card, no sensitive parameter
    assert report.total() == 0


@pytest.mark.parametrize("order", [0, 1])
def test_a_known_value_that_contains_another_is_masked_whole_whatever_the_set_order(order):
    token = "sk_live_51JVdktPVT0JrwQ9zX"
    part = token[:16]  # also remembered on its own, e.g. a prefix seen under another key
    report = RedactionReport()
    for value in [part, token] if order else [token, part]:
        report.remember(value)
    masked = redact_text(f"retrying with {token} now", report)
    assert token[16:] not in masked and part not in masked, masked


# ---- names in any spelling, decoded values, shapes, known values -------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "accessToken",
        "clientSecret",
        "app.sessionToken",
        "http.request.header.X-CSRFToken",
        "new_password",
        "AccountKey",
    ],
)
def test_names_are_judged_by_their_words_in_any_spelling(key):
    assert is_sensitive_key(key) == "sensitive_key"


@pytest.mark.parametrize(
    "text",
    [
        "SELECT user_id FROM auth_sessions WHERE token = ?",
        "UPDATE users SET password_hash=? WHERE id=?",
        "GET /api/products?page=2&sort=price",
        "used 731 of 4096 tokens; the session token expired",
        '{"input_tokens": 731, "session_id": "s-1", "keyboard": "qwerty"}',
        "https://cdn.shop.test/img/logo@2x.png and mailto:ann@shop.test",
        "commit 3f9a8b7c2d1e4f5a6b7c8d9e0f1a2b3c4d5e6f7a",
        "/password/reset/confirmation",
        "exit code=1 after 3 retries; key=value pairs follow",
    ],
)
def test_ordinary_text_is_left_alone(text):
    report = RedactionReport()
    assert redact_text(text, report) == text
    assert report.total() == 0


def test_a_masked_url_still_parses_with_its_host():
    masked = redact_text("https://deploy:pw-99311@git.shop.test:8443/shop.git?x=1", RedactionReport())
    parts = urls.split(masked)
    assert "pw-99311" not in masked
    assert (parts.host, parts.port, parts.path, parts.userinfo) == ("git.shop.test", 8443, "/shop.git", MASK)


def test_known_values_are_whole_tokens_and_cookie_words_are_not_remembered():
    report = RedactionReport()
    report.known.remember("checkout", cookie=True)  # a cookie holding a word, not a secret
    report.known.remember("ck8M3n6B9v2C5x8Z1l4K7j", cookie=True)
    assert redact_text("/checkout/payment", report) == "/checkout/payment"
    assert redact_text("/s/ck8M3n6B9v2C5x8Z1l4K7j/cart", report) == f"/s/{MASK}/cart"
    assert redact_text("xck8M3n6B9v2C5x8Z1l4K7jy", report) == "xck8M3n6B9v2C5x8Z1l4K7jy"  # another token


def test_a_basic_credential_and_a_percent_encoded_value_are_known_decoded():
    report = RedactionReport()
    report.remember("Basic " + base64.b64encode(b"ann:BasicPw-9864-uu").decode())
    report.remember("tok/with+chars==")
    assert redact_text("login as ann with BasicPw-9864-uu", report) == f"login as ann with {MASK}"
    assert "tok%2Fwith" not in redact_text("GET /cb?state=tok%2Fwith%2Bchars%3D%3D", report)


def test_known_values_are_bounded_and_the_oldest_forgotten():
    known = KnownValues(limit=50)
    for i in range(500):
        known.remember(f"secret-value-{i:04d}")
    assert len(known) == 50
    assert "secret-value-0000" not in known and "secret-value-0499" in known
    report = RedactionReport(known=known)
    assert redact_text("old secret-value-0000 new secret-value-0499", report) == f"old secret-value-0000 new {MASK}"


def test_a_cut_never_keeps_half_a_secret():
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVlLTc3"
    text = "x" * 90 + " " + token + " tail"
    cut = clip(text, 100)
    assert len(cut) <= 100 and token[:6] not in cut
    text = "y" * 95 + " known-secret-7731 " + "tail" * 10
    cut = clip(text, 130)  # a value known later: the cut word goes whole, and the cut is said
    assert "known" not in cut and cut == "y" * 95 + " " + f"…[cut from {len(text):,} chars]"
    assert clip(text, 100, ellipsis="…") == "y" * 95 + " …"  # a one-line summary ends in an ellipsis
