"""Recorded text with every non-printing character shown: the character half of the rendering rule.

Control characters (ESC, BEL, NUL), format characters (the bidi overrides such as U+202E, the
zero-width space and joiners, the byte-order mark), separators other than the space, surrogates
and unassigned code points are what `str.isprintable` refuses; each is written as its Python
escape (`\\x1b`, `\\u202e`), so the reader sees it and a terminal or a renderer never acts on it.
`render/markdown.py` builds the one-line, in-code, bounded rule on it; `drafting/code.py` uses it
for comments in drafted tests. `literal` and `code` put a recorded value in a message or a call
the model reads (error texts of answers/ and drafting/ too, which cannot use render/).
"""

from __future__ import annotations


def escape(c: str) -> str:
    """One character as its Python escape."""
    point = ord(c)
    if point < 0x100:
        return f"\\x{point:02x}"
    return f"\\u{point:04x}" if point < 0x10000 else f"\\U{point:08x}"


def visible(text: str) -> str:
    """`text` with every non-printing character as its escape (the module docstring)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else escape(c) for c in text)


def literal(value: object, limit: int = 300) -> str:
    """`value` as a Python literal safe inside inline code: `repr` shows every control and format
    character as an escape, a backtick is written `\\x60`, a string past `limit` is cut (`…`)."""
    if isinstance(value, str) and len(value) > limit:
        value = value[: limit - 1] + "…"
    return repr(value).replace("`", "\\x60")


def code(value: object, limit: int = 300) -> str:
    """A recorded value named in a message, inert: in inline code as it is when it is printable
    text without backticks, else as its `literal`."""
    if isinstance(value, str) and value and value.isprintable() and "`" not in value and len(value) <= limit:
        return f"`{value}`"
    return f"`{literal(value, limit)}`"
