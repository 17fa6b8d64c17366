"""Settings: the one `Settings` object every command reads, and the analysis' constants (link keys, budgets).

A setting comes from the first of: a command-line flag, an environment variable, the config file
(`mcp-sessions.toml` in the per-user data directory, or `--config PATH` / `$MCP_SESSIONS_CONFIG`),
the built-in default. `KEYS` declares each one (its type, default, variable and help); the README's
configuration table, `mcp-sessions config` and the flags' destinations all read it.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mcp_sessions.errors import InvalidArgumentError

DB_FILENAME = "sessions.db"
REDACTION_FILENAME = "redaction.toml"
CONFIG_FILENAME = "mcp-sessions.toml"

# Attribute keys (on a span, log record or resource) that name the user's session, in
# order of preference. Vendor spellings come from their SDKs' own attribute names.
SESSION_KEYS: tuple[str, ...] = (
    "session.id",
    "app.session.id",
    "highlight.session_id",
    "sentry.replay_id",
    "replay_id",
    "posthog.session_id",
    "session_id",
)

# Attribute keys that name the end user.
USER_KEYS: tuple[str, ...] = (
    "user.id",
    "enduser.id",
    "app.user.id",
    "highlight.user_id",
    "user_id",
)

# Browser events without a session key are cut into sessions per client after this much inactivity.
DEFAULT_SESSION_GAP_MINUTES = 30.0
DEFAULT_SESSION_GAP_NS = int(DEFAULT_SESSION_GAP_MINUTES * 60 * 1_000_000_000)

# Text budgets for what the model reads (about 4 characters per token).
DEFAULT_BUDGET_TOKENS = 2_000
MAX_BUDGET_TOKENS = 6_000
CHARS_PER_TOKEN = 4


def default_data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The per-user data directory, following each platform's convention."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "mcp-sessions"


# How alike (weighted Jaccard of route counts) an earlier session must be to serve as an
# automatic baseline: reruns of one flow score 1.0, the same flow with a few extra calls per
# page stays above this, a different flow (one item bought against ten) falls well below.
MIN_BASELINE_SIMILARITY = 0.6


# ---- the user's settings ---------------------------------------------------------------------

CONFIG_ENV_VAR = "MCP_SESSIONS_CONFIG"
DB_ENV_VAR = "MCP_SESSIONS_DB"
REDACTION_ENV_VAR = "MCP_SESSIONS_REDACTION"
TOKEN_ENV_VAR = "MCP_SESSIONS_TOKEN"


@dataclass(frozen=True)
class Kind:
    """How a setting's value is read: from TOML (already typed) and from text (a variable)."""

    name: str  # as messages and the README say it
    from_toml: Callable[[Any], Any]  # raises ValueError with the reason
    from_text: Callable[[str], Any]


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer, not {_kind_of(value)}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, not {_kind_of(value)}")
    return float(value)


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {_kind_of(value)}")
    return value


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"must be a list of non-empty strings, not {_kind_of(value)}")
    return tuple(value)


def _parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an integer") from None


def _parse_float(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


INTEGER = Kind("integer", _integer, _parse_int)
NUMBER = Kind("number", _number, _parse_float)
STRING = Kind("string", _string, str)
PATH = Kind("path", lambda v: Path(_string(v)), Path)
STRINGS = Kind("list of strings", _strings, _split)
PATHS = Kind("list of paths", lambda v: tuple(Path(p) for p in _strings(v)), lambda t: tuple(map(Path, _split(t))))


def _kind_of(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}.get(
        type(value), "a table" if isinstance(value, dict) else type(value).__name__
    ) + (f" {value!r}" if isinstance(value, str | int | float) and not isinstance(value, bool) else "")


def _port(value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"{value} is not a port; give 1 to 65535 (0: any free port)")


def _positive(value: float) -> None:
    if not value > 0:
        raise ValueError(f"{value} must be above 0")


@dataclass(frozen=True)
class Key:
    """One setting: its name in the config file (`table.key`), type, default, variable and help."""

    name: str
    kind: Kind
    default: Any
    help: str
    env: str = ""  # empty: MCP_SESSIONS_ + the name in capitals, dots as underscores
    check: Callable[[Any], None] | None = None
    secret: bool = False

    @property
    def variable(self) -> str:
        return self.env or "MCP_SESSIONS_" + self.name.replace(".", "_").upper()

    @property
    def attribute(self) -> str:
        """The Settings field (and the argparse destination of the flags that set it)."""
        return self.name.replace(".", "_")


KEYS: tuple[Key, ...] = (
    Key("database", PATH, None, "the SQLite database file (default: sessions.db in the data directory)", DB_ENV_VAR),
    Key(
        "redaction_config",
        PATH,
        None,
        "TOML file of extra redaction rules (default: redaction.toml in the data directory, if present)",
        REDACTION_ENV_VAR,
    ),
    Key(
        "session_gap_minutes",
        NUMBER,
        DEFAULT_SESSION_GAP_MINUTES,
        "browser events without a session key start a new session after this long without activity",
        check=_positive,
    ),
    Key("receiver.host", STRING, "127.0.0.1", "address the OTLP/HTTP receiver listens on (`collect`)"),
    Key("receiver.port", INTEGER, 4318, "port of the OTLP/HTTP receiver", check=_port),
    Key("receiver.max_body_mb", NUMBER, 16.0, "largest request, also after decompression", check=_positive),
    Key(
        "receiver.max_inflight_mb",
        NUMBER,
        256.0,
        "memory budget for requests being decoded and written; beyond it 503 + Retry-After",
        check=_positive,
    ),
    Key("receiver.max_db_mb", NUMBER, None, "storage quota: new data is refused (503) at this size", check=_positive),
    Key("receiver.max_connections", INTEGER, 256, "open connections at once", check=lambda n: _positive(n)),
    Key("receiver.cors_origins", STRINGS, (), "browser origins allowed to send to the receiver (CORS)"),
    Key("serve.host", STRING, "127.0.0.1", "address of `serve --http`"),
    Key("serve.port", INTEGER, 8000, "port of `serve --http`", check=_port),
    Key(
        "serve.token",
        STRING,
        None,
        "bearer token HTTP clients must send, 16 characters at least; required beyond loopback",
        TOKEN_ENV_VAR,
        secret=True,
    ),
    Key("serve.ingest_roots", PATHS, (), "folders `serve` lets the agent ingest from (offers ingest_recording)"),
)
KEYS_BY_NAME = {k.name: k for k in KEYS}


@dataclass(frozen=True)
class Settings:
    """The effective settings of one command; `sources` says where each came from."""

    database: Path
    redaction_config: Path | None
    session_gap_minutes: float
    receiver_host: str
    receiver_port: int
    receiver_max_body_mb: float
    receiver_max_inflight_mb: float
    receiver_max_db_mb: float | None
    receiver_max_connections: int
    receiver_cors_origins: tuple[str, ...]
    serve_host: str
    serve_port: int
    serve_token: str | None
    serve_ingest_roots: tuple[Path, ...]
    config_file: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def session_gap_ns(self) -> int:
        return int(self.session_gap_minutes * 60 * 1_000_000_000)

    def value(self, key: Key) -> Any:
        return getattr(self, key.attribute)

    def shown(self, key: Key) -> str:
        """The value as `mcp-sessions config` prints it: secrets masked, lists comma-separated."""
        value = self.value(key)
        if value is None:
            return "(none)"
        if key.secret:
            return f"****** ({len(value)} characters)"
        if isinstance(value, tuple):
            return ", ".join(map(str, value)) or "(none)"
        return str(value)


def find_config_file(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str] = os.environ) -> Path | None:
    """`--config` if given, else `$MCP_SESSIONS_CONFIG`, else mcp-sessions.toml in the data directory if present.

    A file named by the flag or the variable must exist; only the default location is optional.
    """
    named = explicit or environ.get(CONFIG_ENV_VAR)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            how = "--config" if explicit else f"${CONFIG_ENV_VAR}"
            raise InvalidArgumentError(f"config file {path} ({how}) does not exist; create it or fix the path")
        return path
    default = default_data_dir(environ) / CONFIG_FILENAME
    return default if default.is_file() else None


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's settings by key name, typed and checked; InvalidArgumentError names the file and the key."""
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise InvalidArgumentError(f"config file {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InvalidArgumentError(f"config file {path}: not UTF-8 text; save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgumentError(f"config file {path}: not valid TOML: {exc}; fix the syntax") from None
    tables = sorted({k.name.split(".")[0] for k in KEYS if "." in k.name})
    top = [k.name for k in KEYS if "." not in k.name]
    out: dict[str, Any] = {}

    def take(name: str, value: Any) -> None:
        key = KEYS_BY_NAME.get(name)
        if key is None:
            table, _, _ = name.rpartition(".")
            allowed = [k.name.rpartition(".")[2] for k in KEYS if k.name.rpartition(".")[0] == table]
            raise InvalidArgumentError(
                f"config file {path}: {name}: unknown key; "
                + (
                    f"[{table}] takes {', '.join(allowed)}"
                    if table
                    else f"use {', '.join(top)} or [{'], ['.join(tables)}]"
                )
                + " (see README 'Configuration')"
            )
        try:
            typed = key.kind.from_toml(value)
            if typed is not None and key.check is not None:
                key.check(typed)
        except ValueError as exc:
            raise InvalidArgumentError(f"config file {path}: {name}: {exc}") from None
        if isinstance(typed, Path):
            typed = _relative_to(typed, path.parent)
        elif isinstance(typed, tuple) and typed and isinstance(typed[0], Path):
            typed = tuple(_relative_to(p, path.parent) for p in typed)
        out[name] = typed

    for name, value in doc.items():
        if isinstance(value, dict) and name in tables:
            for sub, item in value.items():
                take(f"{name}.{sub}", item)
        elif name in tables:
            raise InvalidArgumentError(f"config file {path}: {name}: must be a table ([{name}]), not {_kind_of(value)}")
        else:
            take(name, value)
    return out


def _relative_to(path: Path, folder: Path) -> Path:
    """A relative path in the config file is taken from the file's folder, so the file reads the same from anywhere."""
    path = path.expanduser()
    return path if path.is_absolute() else folder / path


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    config: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Settings:
    """The effective settings: each key from its flag (by attribute name in `flags`), variable, config file, default.

    Every problem (a missing or broken config file, a bad variable) raises InvalidArgumentError
    before anything is opened.
    """
    flags = flags or {}
    config_file = find_config_file(config, environ)
    from_file = read_config_file(config_file) if config_file else {}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in KEYS:
        if key.attribute in flags and flags[key.attribute] is not None:
            value, source = flags[key.attribute], "flag"
            if isinstance(value, list):
                value = tuple(value)
            if isinstance(value, str) and key.kind is PATH:
                value = Path(value).expanduser()
        elif environ.get(key.variable):
            try:
                value = key.kind.from_text(environ[key.variable])
            except ValueError as exc:
                raise InvalidArgumentError(f"${key.variable}: {exc}") from None
            if isinstance(value, Path):
                value = value.expanduser()
            source = f"${key.variable}"
        elif key.name in from_file:
            value, source = from_file[key.name], f"config {config_file}"
        else:
            value, source = key.default, "default"
        if source != "default" and value is not None and key.check is not None:
            try:
                key.check(value)
            except ValueError as exc:
                raise InvalidArgumentError(f"{key.name} (from {source}): {exc}") from None
        values[key.attribute] = value
        sources[key.name] = source
    if values["database"] is None:
        values["database"] = default_data_dir(environ) / DB_FILENAME
    if values["redaction_config"] is None:
        default = default_data_dir(environ) / REDACTION_FILENAME
        if default.is_file():
            values["redaction_config"] = default
            sources["redaction_config"] = "default (found in the data directory)"
    known = {f.name for f in fields(Settings)}
    assert set(values) <= known, set(values) - known
    return Settings(**values, config_file=config_file, sources=sources)
