"""Python source for drafted tests, written the way `ruff format` would write it.

The drafted files must pass `ruff format --check` as they are, whatever line length the
project uses (88 by default, 120 here). Two rules make that hold:

- a statement is written on one line when it fits in 88 columns;
- otherwise its outermost bracket is exploded, one item per line, each item followed by a
  comma. That "magic trailing comma" tells the formatter to keep the items one per line at
  any line length, and each item is written by the same two rules one level deeper.

A recorded string too long for any line stays whole; past 120 columns (this project's
limit) its line carries `# noqa: E501`, which the formatter leaves in place.

    r = client.post("/api/login", json=login)            fits: one line
    r = client.post(                                     does not: exploded
        "/api/cart/items",
        json={"product_id": 12, "quantity": 1},          each item fits again
    )

Values are plain Python data (dict, list, str, int, float, bool, None, Ellipsis), plus
`Expr` (source written as it is: a variable, an f-string) and `Call` (a call whose
arguments are values). Strings take double quotes unless they hold more double than
single quotes, as the formatter decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcp_sessions.visible import visible

WIDTH = 88
LINT_WIDTH = 120  # the line length `ruff check` holds this project to (E501)
NOQA_LONG = "# noqa: E501"
INDENT = "    "


@dataclass(frozen=True)
class Expr:
    """Python source used as it is."""

    code: str


@dataclass(frozen=True)
class Call:
    """`func(*args, **kwargs)` with values for arguments; kwargs keep their order."""

    func: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = field(default_factory=tuple)


def py_str(text: str) -> str:
    """A string literal in the formatter's preferred quotes, with escapes it leaves alone."""
    quote = "'" if text.count('"') > text.count("'") else '"'
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == quote:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif not ch.isprintable():
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return quote + "".join(out) + quote


def inline(value: Any) -> str:
    """`value` as source on one line."""
    if isinstance(value, Expr):
        return value.code
    if isinstance(value, Call):
        parts = [inline(a) for a in value.args] + [f"{k}={inline(v)}" for k, v in value.kwargs]
        return f"{value.func}({', '.join(parts)})"
    if value is None or isinstance(value, bool):
        return repr(value)
    if value is ...:
        return "..."
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value).replace("e+", "e")
    if isinstance(value, str):
        return py_str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{inline(k)}: {inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(inline(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as source")


def _parts(value: Any) -> tuple[str, list[tuple[str, Any]], str] | None:
    """How to explode `value`: opener, (prefix, item) pairs, closer; None when it cannot be."""
    if isinstance(value, Call) and (value.args or value.kwargs):
        items = [("", a) for a in value.args] + [(f"{k}=", v) for k, v in value.kwargs]
        return f"{value.func}(", items, ")"
    if isinstance(value, dict) and value:
        return "{", [(f"{inline(k)}: ", v) for k, v in value.items()], "}"
    if isinstance(value, list | tuple) and value:
        return "[", [("", v) for v in value], "]"
    return None


def lines(value: Any, level: int, head: str = "", tail: str = "") -> list[str]:
    """`head + value + tail` as source lines at indentation `level`."""
    pad = INDENT * level
    one = f"{pad}{head}{inline(value)}{tail}"
    parts = _parts(value)
    if len(one) <= WIDTH:
        return [one]
    if parts is None:  # a long recorded string: nothing to split, so the line stays long
        return [f"{one}  {NOQA_LONG}" if len(one) > LINT_WIDTH else one]
    opener, items, closer = parts
    out = [f"{pad}{head}{opener}"]
    for prefix, item in items:
        out.extend(lines(item, level + 1, prefix, ","))
    out.append(f"{pad}{closer}{tail}")
    return out


def one_line(text: str) -> str:
    """Recorded text fit for a comment: one line, every non-printing character shown as its escape."""
    return visible(" ".join(text.split()))


def comment(text: str, level: int) -> str:
    """A `# comment` line cut to the width; recorded text in it is kept to one line."""
    pad = INDENT * level
    body = one_line(text)
    room = WIDTH - len(pad) - 2
    if len(body) > room:
        body = body[: room - 1] + "…"
    return f"{pad}# {body}"


def module_text(source_lines: list[str]) -> str:
    """The lines joined, with two blank lines before every top-level definition, as the formatter wants."""
    result: list[str] = []
    for line in source_lines:
        if line.startswith(("def ", "class ", "@")) and not (result and result[-1].startswith("@")):
            while result and result[-1] == "":
                result.pop()
            result += ["", ""]
        result.append(line)
    while result and result[-1] == "":
        result.pop()
    return "\n".join(result) + "\n"


def docstring_text(text: str) -> str:
    """Text safe inside a triple-quoted docstring: one line, no backslashes, no closing quotes, every
    non-printing character shown (as `<U+202E>`: an escape would be read by Python)."""
    line = " ".join(text.split()).replace("\\", "/")
    cleaned = "".join(ch if ch.isprintable() else f"<U+{ord(ch):04X}>" for ch in line)
    return cleaned.replace('"""', "'''").rstrip('"')


def identifier(name: str, taken: set[str]) -> str:
    """A fresh snake_case variable name built from `name` (recorded keys: `api_token`, `orderId`)."""
    chars, prev = [], ""
    for ch in name:
        if ch.isupper() and prev.islower():
            chars.append("_")
        chars.append(ch.lower() if ch.isascii() and (ch.isalnum() or ch == "_") else "_")
        prev = ch
    base = "_".join(p for p in "".join(chars).split("_") if p) or "value"
    if base[0].isdigit() or base in _RESERVED:
        base = f"v_{base}"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


_RESERVED = frozenset(
    {"and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else", "except"}
    | {"finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass"}
    | {"raise", "return", "try", "while", "with", "yield", "none", "true", "false"}
    # names the drafted modules use themselves
    | {"r", "body", "client", "page", "responses", "mark", "run_id", "headers", "os", "httpx", "pytest", "uuid"}
    | {"check", "check_fixed", "matches", "secret", "within", "call", "re", "time", "playwright", "browser"}
)
