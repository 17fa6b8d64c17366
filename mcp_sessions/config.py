"""Settings with their defaults: where the database and the redaction config live, output budgets, link keys."""

from __future__ import annotations

import os
import sys
from pathlib import Path

DB_ENV_VAR = "MCP_SESSIONS_DB"
DB_FILENAME = "sessions.db"
REDACTION_ENV_VAR = "MCP_SESSIONS_REDACTION"
REDACTION_FILENAME = "redaction.toml"

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

# Request headers whose value is the session id, read on browser requests and, on backend
# spans, from the recorded `http.request.header.<name>` attributes (instrumentations record
# them when told to capture the header); and the W3C baggage entries that name the session,
# read from a recorded `baggage` header. Being join keys, these headers are not masked at
# ingest. Each list is replaced by its environment variable: comma-separated names.
SESSION_HEADERS_ENV_VAR = "MCP_SESSIONS_SESSION_HEADERS"
SESSION_BAGGAGE_ENV_VAR = "MCP_SESSIONS_SESSION_BAGGAGE_KEYS"


def name_list(value: str | None, default: tuple[str, ...], *, lower: bool) -> tuple[str, ...]:
    """The names a comma-separated setting lists (header names lowercased), or `default` when it lists none."""
    names = [part.strip() for part in (value or "").split(",") if part.strip()]
    return tuple(dict.fromkeys(n.lower() if lower else n for n in names)) or default


SESSION_HEADERS: tuple[str, ...] = name_list(os.environ.get(SESSION_HEADERS_ENV_VAR), ("x-session-id",), lower=True)
SESSION_BAGGAGE_KEYS: tuple[str, ...] = name_list(os.environ.get(SESSION_BAGGAGE_ENV_VAR), SESSION_KEYS, lower=False)

# Attribute keys that name the end user.
USER_KEYS: tuple[str, ...] = (
    "user.id",
    "enduser.id",
    "app.user.id",
    "highlight.user_id",
    "user_id",
)

# Text budgets for what the model reads (about 4 characters per token).
DEFAULT_BUDGET_TOKENS = 2_000
MAX_BUDGET_TOKENS = 6_000
CHARS_PER_TOKEN = 4


def default_data_dir() -> Path:
    """The per-user data directory, following each platform's convention."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "mcp-sessions"


def resolve_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--db` if given, else `$MCP_SESSIONS_DB`, else the per-user data directory."""
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(DB_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    return default_data_dir() / DB_FILENAME


def resolve_redaction_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The redaction config to use: `--redaction-config` if given, else `$MCP_SESSIONS_REDACTION`,
    else `redaction.toml` in the per-user data directory when it exists, else None (built-in rules).

    A path named by the flag or the variable must exist (the loader says so if it does not); only
    the default location is optional.
    """
    if explicit:
        return Path(explicit).expanduser()
    from_env = os.environ.get(REDACTION_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    default = default_data_dir() / REDACTION_FILENAME
    return default if default.is_file() else None


# How alike (weighted Jaccard of route counts) an earlier session must be to serve as an
# automatic baseline: reruns of one flow score 1.0, the same flow with a few extra calls per
# page stays above this, a different flow (one item bought against ten) falls well below.
MIN_BASELINE_SIMILARITY = 0.6
