"""Liberal readers for the values real exporters disagree on.

Ids arrive as hex in either case or as base64 (protobuf JSON mapping); 64-bit ids are
left-padded to the OTLP width. Integers arrive as numbers or strings. Every failure
raises MalformedInputError naming the field, so the user knows what to fix.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from mcp_sessions.errors import MalformedInputError

TRACE_ID_HEX = 32
SPAN_ID_HEX = 16

_HEX = re.compile(r"\A[0-9a-fA-F]+\Z")


def normalize_id(value: Any, width: int, where: str, *, optional: bool = False) -> str | None:
    """A lowercase hex id of `width` characters, or None for an absent/all-zero optional id."""
    if value is None or value == "":
        if optional:
            return None
        raise MalformedInputError(f"{where}: missing id")
    if isinstance(value, int) and not isinstance(value, bool):
        text = format(value, "x")
    elif isinstance(value, str):
        text = value.strip()
        if not _HEX.match(text) or len(text) > width:
            text = _base64_to_hex(text, width, where)
    else:
        raise MalformedInputError(f"{where}: expected an id string, got {type(value).__name__}")
    text = text.lower()
    if len(text) > width:
        # 128-bit ids seen by a 64-bit system keep their low half (as Zipkin/Jaeger do).
        text = text[-width:]
    text = text.rjust(width, "0")
    if optional and set(text) == {"0"}:
        return None
    return text


def _base64_to_hex(text: str, width: int, where: str) -> str:
    try:
        raw = base64.b64decode(
            text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text else None, validate=True
        )
    except (binascii.Error, ValueError):
        raise MalformedInputError(f"{where}: {text[:40]!r} is neither hex nor base64") from None
    # A base64 id is the id's raw bytes: 16 or 8 for a trace id, 8 for a span id. Anything else is
    # a string that merely happens to be valid base64 ("xyz"), not an id.
    if len(raw) not in {width // 2, 8}:
        raise MalformedInputError(f"{where}: {text[:40]!r} is neither a hex id nor a base64 id of {width // 2} bytes")
    return raw.hex()


def to_int(value: Any, where: str, *, default: int | None = None) -> int | None:
    """An integer from a JSON number or a decimal string (OTLP int64 fields are strings)."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise MalformedInputError(f"{where}: expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return int(value)
        raise MalformedInputError(f"{where}: expected an integer, got {value!r}")
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                as_float = float(value)
            except ValueError:
                raise MalformedInputError(f"{where}: expected an integer, got {value[:40]!r}") from None
            if math.isfinite(as_float):
                return int(as_float)
            raise MalformedInputError(f"{where}: expected an integer, got {value[:40]!r}") from None
    raise MalformedInputError(f"{where}: expected an integer, got {type(value).__name__}")


def enum_value(
    value: Any, names: dict[str, str], numbers: dict[int, str], prefix: str, where: str, default: str
) -> str:
    """An enum given as a number (2), a full name (SPAN_KIND_SERVER) or a short one (server)."""
    if value is None or value == "":
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return numbers.get(value, default)
    if isinstance(value, str):
        key = value.strip().lower()
        if key.isdigit():
            return numbers.get(int(key), default)
        key = key.removeprefix(prefix)
        if key in names:
            return names[key]
        return default
    raise MalformedInputError(f"{where}: expected an enum name or number, got {type(value).__name__}")


def expect_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedInputError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def expect_dict(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedInputError(f"{where}: expected an object, got {type(value).__name__}")
    return value
