"""One way to say a text was cut, wherever it is cut: its start, then `…[cut from N chars]`.

Stored values (the writer's bound), parsed bodies (after the redaction rules read them,
`redact.clip`) and structured content (`render.models`) all cut through `cut_text`, so a
reader sees the same mark and the original length whatever cut it.
"""

from __future__ import annotations


def cut_note(length: int) -> str:
    """The mark that ends a text cut from `length` characters."""
    return f"…[cut from {length:,} chars]"


def cut_text(text: str, limit: int, length: int | None = None) -> str:
    """`text`, or its start and the cut mark within `limit` characters; `length` is the original's when
    `text` is already a part of it."""
    length = len(text) if length is None else length
    if len(text) <= limit and length == len(text):
        return text
    note = cut_note(length)
    return text[: max(0, limit - len(note))] + note
