"""Recording formats: detection from content and one pure, streaming parser per format.

`registry` names them without loading any parser; `read_path` and `Parsed` load them on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_sessions.formats.detect import Parsed, read_path

__all__ = ["Parsed", "read_path"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mcp_sessions.formats import detect

        return getattr(detect, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
