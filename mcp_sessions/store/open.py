"""`open_store(dsn)`: the store a `--store` address names, chosen by its scheme.

    jaeger+http(s)://HOST:PORT[/PREFIX][?options]   a running Jaeger, cached locally (store/remote/)
    tempo+http(s)://HOST:PORT[/PREFIX][?options]    a running Tempo, likewise

An address of no known scheme is an InvalidArgumentError listing the ones there are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_sessions import urls
from mcp_sessions.errors import InvalidArgumentError

if TYPE_CHECKING:
    from mcp_sessions.redact import RedactionRules
    from mcp_sessions.store.protocol import SessionStore

REMOTE_SCHEMES = ("jaeger+http", "jaeger+https", "tempo+http", "tempo+https")


def open_store(dsn: str, *, redaction: RedactionRules | None = None) -> SessionStore:
    """The store `dsn` names, ready to answer (remote sources redact what they fetch under `redaction`).

    What it returns may also have `close()`, `describe()` (a line on what it holds, added to every answer)
    and `label` (what it answers from, for the command line)."""
    scheme = urls.split(dsn).scheme
    if scheme in REMOTE_SCHEMES:
        from mcp_sessions.redact import DEFAULT_RULES
        from mcp_sessions.store.remote import RemoteStore, parse_dsn

        return RemoteStore(parse_dsn(dsn), rules=redaction or DEFAULT_RULES)
    known = ", ".join(f"{s}://…" for s in REMOTE_SCHEMES)
    raise InvalidArgumentError(f"--store {dsn!r}: unknown scheme {scheme or '(none)'!r}; the stores are {known}")
