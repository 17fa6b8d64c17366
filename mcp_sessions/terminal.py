"""Terminal output: the tools' markdown as a person reads it, styled only when stdout is a terminal.

Piped or redirected output is the tools' text unchanged, so scripts and tests see exactly what
the agent sees. On a terminal, with ANSI codes only (no dependency):

    # Trace `5b8e…`          ->  bold heading, the `#` dropped
    **Duration**: 1.2 s       ->  bold label, the `**` dropped
    `GET /api/cart`           ->  cyan, the backticks dropped
    ```recorded ...```        ->  fenced lines dim, fences kept, nothing styled inside

Recorded text can hold control characters (an escape sequence that clears the screen or retitles
the window) and bidi or zero-width characters; they are shown as escapes on a terminal, never sent to it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TextIO

from mcp_sessions.visible import visible

BOLD, DIM, CYAN, RESET = "\x1b[1m", "\x1b[2m", "\x1b[36m", "\x1b[0m"

_STRONG = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`\n]+)`")


def wants_style(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Style for a terminal, unless NO_COLOR is set (https://no-color.org) or the terminal is dumb."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and "NO_COLOR" not in environ and environ.get("TERM") != "dumb"


def _visible(text: str) -> str:
    """Every control, bidi and zero-width character as an escape (mcp_sessions.visible), tabs kept."""
    return "\t".join(visible(part) for part in text.split("\t"))


def style(markdown: str) -> str:
    """The markdown with ANSI bold, dim and colour for a terminal; control characters made visible."""
    out: list[str] = []
    fenced = False
    for raw in markdown.split("\n"):
        line = _visible(raw)
        if line.startswith("```"):
            fenced = not fenced
            out.append(f"{DIM}{line}{RESET}")
        elif fenced:
            out.append(f"{DIM}{line}{RESET}")
        elif line.startswith("#"):
            out.append(f"{BOLD}{line.lstrip('#').strip()}{RESET}")
        else:
            line = _CODE.sub(lambda m: f"{CYAN}{m.group(1)}{RESET}", line)
            out.append(_STRONG.sub(lambda m: f"{BOLD}{m.group(1)}{RESET}", line))
    return "\n".join(out)
