"""Whole numbers read from text that anyone may have written: never an exception.

`str.isdigit()` is true for characters `int()` refuses (superscripts, circled digits: `"²"`,
`"①"`), so `int(s) if s.isdigit()` raises on a recorded URL, stack line, header or DSN that
holds one. Every place that reads a number out of text asks here instead.
"""

from __future__ import annotations


def whole_number(text: str, *, signed: bool = False) -> int | None:
    """`text` (spaces around it allowed) as an int when it is ASCII digits, with a leading `-` when
    `signed`; None otherwise."""
    digits = text.strip()
    negative = signed and digits.startswith("-")
    if negative:
        digits = digits[1:]
    if not digits or not (digits.isascii() and digits.isdigit()):
        return None
    return -int(digits) if negative else int(digits)
