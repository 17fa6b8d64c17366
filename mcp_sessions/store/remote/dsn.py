"""The `--store` address of a remote trace source, read into one settings record.

    jaeger+http://host:16686                  Jaeger's query service (api_v3; `api=v1` for /api/traces)
    jaeger+https://host/jaeger?api=v1         behind a proxy path, the classic JSON API
    tempo+http://host:3200                    Tempo's query frontend
    tempo+https://host?token_env=TEMPO_TOKEN  a bearer token read from that environment variable

Options (the query string; every one optional, an unknown one is an error):

    token_env=NAME    environment variable holding a bearer token (default MCP_SESSIONS_SOURCE_TOKEN, if set)
    timeout=SECONDS   per request (default 10)
    cache=PATH        the local SQLite cache (default: remote/<kind>-<hash of the URL>.db in the data directory)
    window=AGE        how far back list and ranking questions search when no `since` is given (default 1h)
    lookback=AGE      how far back a session id is searched for (default 7d)
    limit=N           traces one search fetches at most (default 50, at most 1000)
    ttl=AGE           how long a search or fetched trace is answered from the cache before asking again (default 60s)
    api=v3|v1         Jaeger only: api_v3 (default) or the classic /api/traces JSON
    session_key=KEY   Jaeger only: the attribute a session id is searched by (repeatable; default session.id)

The token never appears in the URL: credentials written as `user:pass@host` are refused.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mcp_sessions import urls
from mcp_sessions.config import default_data_dir
from mcp_sessions.errors import InvalidArgumentError
from mcp_sessions.numbers import whole_number

TOKEN_ENV_VAR = "MCP_SESSIONS_SOURCE_TOKEN"
SCHEMES = ("jaeger+http", "jaeger+https", "tempo+http", "tempo+https")
MAX_LIMIT = 1000
MAX_AGE_DAYS = 3650
_AGE = re.compile(r"\A(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\Z")
_AGE_NS = {"ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000}
_OPTIONS = ("token_env", "timeout", "cache", "window", "lookback", "limit", "ttl", "api", "session_key")

Kind = Literal["jaeger", "tempo"]


@dataclass(frozen=True)
class SourceConfig:
    """Where the source is, how to ask it, and where its answers are cached."""

    kind: Kind
    base_url: str  # scheme://host[:port][/prefix], no trailing slash, no query
    token: str | None = None
    token_env: str | None = None  # the variable it came from (named in errors; the token never is)
    timeout_s: float = 10.0
    cache_path: Path | None = None
    window_ns: int = _AGE_NS["h"]
    lookback_ns: int = 7 * _AGE_NS["d"]
    limit: int = 50
    ttl_ns: int = 60 * _AGE_NS["s"]
    api: Literal["v3", "v1"] = "v3"
    session_keys: tuple[str, ...] = ("session.id",)

    @property
    def label(self) -> str:
        return f"{'Jaeger' if self.kind == 'jaeger' else 'Tempo'} at {self.base_url}"


def is_remote(dsn: str) -> bool:
    return urls.split(dsn).scheme in SCHEMES


def parse_dsn(dsn: str, environ: Mapping[str, str] = os.environ) -> SourceConfig:
    """The settings `dsn` names; InvalidArgumentError saying what to write instead when it is wrong."""
    parts = urls.split(dsn)
    if parts.scheme not in SCHEMES:
        raise InvalidArgumentError(f"--store {dsn!r}: expected one of {', '.join(s + '://HOST:PORT' for s in SCHEMES)}")
    if not parts.host:
        raise InvalidArgumentError(f"--store {dsn!r}: no host; write e.g. jaeger+http://localhost:16686")
    if parts.userinfo:
        raise InvalidArgumentError(
            f"--store: credentials in the URL are refused; put the token in an environment variable and name it "
            f"with ?token_env=NAME (default ${TOKEN_ENV_VAR})"
        )
    if parts.raw_port and parts.port is None:
        raise InvalidArgumentError(f"--store: port {parts.raw_port!r} is not a port number")
    kind, transport = parts.scheme.split("+")
    base_url = f"{transport}://{parts.netloc}{parts.path.rstrip('/')}"
    options: dict[str, list[str]] = {}
    for key, value in urls.query_items(parts.query):
        if key not in _OPTIONS:
            raise InvalidArgumentError(f"--store: unknown option {key!r}; the options are {', '.join(_OPTIONS)}")
        options.setdefault(key, []).append(value)

    def one(key: str) -> str | None:
        values = options.get(key)
        return values[-1] if values else None

    token_env = one("token_env") or (TOKEN_ENV_VAR if environ.get(TOKEN_ENV_VAR) else None)
    token = environ.get(token_env) if token_env else None
    if one("token_env") and not token:
        raise InvalidArgumentError(f"--store: token_env={token_env} names an environment variable that is not set")
    api = one("api") or "v3"
    if api not in ("v3", "v1") or (api == "v1" and kind != "jaeger"):
        raise InvalidArgumentError("--store: api= is v3 or v1, and only for Jaeger")
    cache = one("cache")
    digest = hashlib.sha256(base_url.encode()).hexdigest()[:12]
    return SourceConfig(
        kind="jaeger" if kind == "jaeger" else "tempo",
        base_url=base_url,
        token=token or None,
        token_env=token_env if token else None,
        timeout_s=_number(one("timeout"), "timeout", 10.0),
        cache_path=Path(cache).expanduser() if cache else default_data_dir(environ) / "remote" / f"{kind}-{digest}.db",
        window_ns=_age(one("window"), "window", _AGE_NS["h"]),
        lookback_ns=_age(one("lookback"), "lookback", 7 * _AGE_NS["d"]),
        limit=_limit(one("limit")),
        ttl_ns=_age(one("ttl"), "ttl", 60 * _AGE_NS["s"], allow_zero=True),
        api="v1" if api == "v1" else "v3",
        session_keys=tuple(k for k in options.get("session_key", []) if k) or ("session.id",),
    )


def _number(text: str | None, name: str, default: float) -> float:
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 600:
        raise InvalidArgumentError(f"--store: {name}={text!r} must be a number of seconds from 0 to 600")
    return value


def _age(text: str | None, name: str, default: int, *, allow_zero: bool = False) -> int:
    if text is None:
        return default
    match = _AGE.match(text.strip())
    value = int(float(match.group(1)) * _AGE_NS[match.group(2) or "s"]) if match else -1
    if value < 0 or (value == 0 and not allow_zero) or value > MAX_AGE_DAYS * _AGE_NS["d"]:
        raise InvalidArgumentError(
            f"--store: {name}={text!r} must be an age like 30s, 15m, 2h or 7d ({MAX_AGE_DAYS} days at most)"
        )
    return value


def _limit(text: str | None) -> int:
    if text is None:
        return 50
    number = whole_number(text)
    if number is None or not 1 <= number <= MAX_LIMIT:
        raise InvalidArgumentError(f"--store: limit={text!r} must be a whole number from 1 to {MAX_LIMIT}")
    return number
