"""A progress bar for long `ingest` runs, drawn on a terminal only.

    [########------------] 12/40 files · 1.2 of 3.4 GB · 0:42 · traces-2024-05.jsonl

The bar goes to stderr when stderr is a terminal, never when it is piped or redirected, so
logs, scripts and CI see only the result lines. It appears once a run has lasted
`SHOW_AFTER_S` (a quick run draws nothing), moves as each file is done (files and bytes), and
is redrawn every `TICK_S` meanwhile so a long file still shows the time passing. A result line
(`write`) clears the bar, is printed, and the bar is drawn again under it: the two never share
a line, even when stdout and stderr are the same terminal.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TextIO

SHOW_AFTER_S = 1.0
TICK_S = 0.5
_CLEAR = "\r\x1b[K"


def is_terminal(stream: TextIO) -> bool:
    """A terminal that can redraw a line (not a pipe, a file, or TERM=dumb)."""
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


class Progress:
    """Files and bytes done out of a known total; see the module docstring."""

    def __init__(
        self,
        total_files: int,
        total_bytes: int,
        stream: TextIO,
        *,
        enabled: bool | None = None,
        show_after_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        ticking: bool = True,
    ) -> None:
        self.total_files, self.total_bytes = total_files, total_bytes
        self.files = self.bytes = 0
        self.label = ""
        self.stream = stream
        self.enabled = is_terminal(stream) if enabled is None else enabled
        self.show_after_s = SHOW_AFTER_S if show_after_s is None else show_after_s
        self.clock = clock
        self.started = clock()
        self.drawn = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True) if self.enabled and ticking else None
        if self._ticker is not None:
            self._ticker.start()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def working_on(self, label: str) -> None:
        with self._lock:
            self.label = label
            self._draw()

    def done(self, nbytes: int) -> None:
        """One more file done, of `nbytes`."""
        with self._lock:
            self.files += 1
            self.bytes += nbytes
            self._draw()

    def write(self, line: str, out: TextIO) -> None:
        """Print `line` to `out` with the bar out of its way."""
        with self._lock:
            if self.drawn:
                self.stream.write(_CLEAR)
                self.stream.flush()
            out.write(line + "\n")
            out.flush()
            if self.drawn:
                self._draw(force=True)

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(2)
        with self._lock:
            if self.drawn:
                self.stream.write(_CLEAR)
                self.stream.flush()
                self.drawn = False
            self.enabled = False

    def line(self, columns: int = 80) -> str:
        """The bar as text, fitted to `columns`."""
        share = self.bytes / self.total_bytes if self.total_bytes else self.files / max(self.total_files, 1)
        width = 20
        filled = min(width, int(share * width))
        elapsed = int(self.clock() - self.started)
        parts = [
            f"[{'#' * filled}{'-' * (width - filled)}] {self.files}/{self.total_files} files",
            *([f"{_size(self.bytes)} of {_size(self.total_bytes)}"] if self.total_bytes else []),
            f"{elapsed // 60}:{elapsed % 60:02d}",
        ]
        text = " · ".join(parts)
        room = columns - 1 - len(text) - 3
        if self.label and room > 8:
            label = self.label if len(self.label) <= room else "…" + self.label[-(room - 1) :]
            text += f" · {label}"
        return text[: columns - 1]

    def _draw(self, force: bool = False) -> None:
        if not self.enabled or (not force and self.clock() - self.started < self.show_after_s):
            return
        self.stream.write(_CLEAR + self.line(self._columns()))
        self.stream.flush()
        self.drawn = True

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or 80
        except (AttributeError, OSError, ValueError):  # not a real terminal (tests draw on a StringIO)
            return 80

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            with self._lock:
                self._draw()
