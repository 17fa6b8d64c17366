"""A file's rows, built in this process or, for a large file, in a worker process beside the writer.

Reading, parsing, redacting and building rows (`FileRows`) is most of an ingest's time and
needs no database, so for a large file `rows_for` runs it in a spawned worker on another CPU
while this process writes each batch as it arrives and derives at the end:

    worker process                                  this process (one transaction)
    FileRows: read_path ──── format ──────────────► IngestWriter opened (BEGIN IMMEDIATE)
                        ◄─── ingest id ───────────  (already ingested: worker terminated)
    redact → RowBuilder ──── RowBatch ────────────► write(batch)
      builds batch n+1 ───── RowBatch ────────────► write(batch n)
                        ──── redaction counts ────► finish(redactions), COMMIT
    any exception ────────── its FileResult text ─► raised here → ROLLBACK

One worker reads the file in order, so stateful redaction (values masked by key are
masked again wherever they recur) sees the records in the same order as in-process, and
what is stored is identical. Batches travel pickled over a pipe: its blocking send keeps
the worker at most one batch ahead of the writer, so memory stays flat. The worker is
started with "spawn" (the MCP server runs threads, which fork is unsafe with) and is
always terminated (unless it finished) and joined when the block ends, whatever happened
here or there, so a failure leaves no process behind and the transaction rolls back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import pickle
import signal
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from mcp_sessions.errors import InvalidArgumentError, McpSessionsError
from mcp_sessions.formats import read_path
from mcp_sessions.redact import RedactionReport, RedactionRules, redact_records
from mcp_sessions.store.writer import RowBatch, RowBuilder

log = logging.getLogger(__name__)

WORKER_ENV_VAR = "MCP_SESSIONS_INGEST_WORKER"  # "always" or "never" overrides the size threshold
# Below this size the worker does not pay for itself. Measured on 2 CPUs: it takes 0.3 s to
# start (a fresh interpreter importing the parsers) and saves at best the writer's share of
# the reading phase less pickling, about 0.03 s per MB of OTLP JSON Lines, so it breaks even
# near 10 MB with a CPU to spare, and loses on a busy machine.
WORKER_MIN_BYTES = 16 << 20

_FORMAT, _BATCH, _DONE, _FAILED = "format", "batch", "done", "failed"


class WorkerFailed(McpSessionsError):
    """The ingest worker failed or died; the message is what the file's result says."""


def failure_text(exc: Exception) -> str:
    """The error a failed file's result shows for `exc`, the same in this process and in the worker."""
    if isinstance(exc, McpSessionsError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or exc}"
    return f"unexpected {type(exc).__name__} while reading; nothing stored (please report this file)"


def use_worker(size: int) -> bool:
    """Whether a file of `size` bytes is built in a worker: $MCP_SESSIONS_INGEST_WORKER, else its size."""
    choice = os.environ.get(WORKER_ENV_VAR, "")
    if choice in ("always", "never"):
        return choice == "always"
    if choice:
        raise InvalidArgumentError(f"${WORKER_ENV_VAR} is {choice!r}; set it to 'always', 'never' or nothing")
    return size >= WORKER_MIN_BYTES


def rows_for(path: Path, rules: RedactionRules) -> FileRows | WorkerRows:
    """The rows of `path` under `rules`, from a worker process for a large file (see the module docstring)."""
    return WorkerRows(path, rules) if use_worker(path.stat().st_size) else FileRows(path, rules)


class FileRows:
    """A file's rows built in this process: read_path → redact_records → RowBuilder (the worker runs this)."""

    def __init__(self, path: Path, rules: RedactionRules) -> None:
        self._parsed = read_path(path, rules)
        self._report = RedactionReport(rules)

    def __enter__(self) -> FileRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self._parsed.__exit__(*exc)

    def format(self) -> str:
        return self._parsed.format

    def batches(self, ingest_id: int) -> Iterator[RowBatch]:
        return RowBuilder(ingest_id).batches(redact_records(self._parsed.records, self._report))

    def redactions(self) -> dict[str, int]:
        """Values masked, by rule; complete once `batches` is exhausted."""
        return self._report.as_dict()


class WorkerRows:
    """The rows `FileRows` builds, built in a spawned worker process and received here batch by batch."""

    def __init__(self, path: Path, rules: RedactionRules) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, worker_end = context.Pipe()
        # A fresh copy of the rules: a long-lived one carries memo caches not worth pickling.
        self._process = context.Process(target=_work, args=(worker_end, path, dataclasses.replace(rules)))
        try:
            self._process.start()
        except BaseException:
            self._conn.close()
            raise
        finally:
            worker_end.close()  # the worker holds its own copy: when it dies, reading here ends (EOF)
        self._format: str | None = None
        self._redactions: dict[str, int] | None = None

    def __enter__(self) -> WorkerRows:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._redactions is None:  # stopped early, failed or interrupted: the worker may still be running
            self._process.terminate()
        self._process.join()
        self._conn.close()

    def format(self) -> str:
        """The format the worker recognised (waits for it)."""
        if self._format is None:
            _, self._format = self._receive()
        return self._format

    def batches(self, ingest_id: int) -> Iterator[RowBatch]:
        self.format()  # the worker sends it first, then waits for the ingest id its rows carry
        self._conn.send(ingest_id)
        while True:
            tag, payload = self._receive()
            if tag == _DONE:
                self._redactions = payload
                return
            yield payload

    def redactions(self) -> dict[str, int]:
        assert self._redactions is not None, "batches() not exhausted"
        return self._redactions

    def _receive(self) -> tuple[str, Any]:
        try:
            tag, payload = pickle.loads(self._conn.recv_bytes())
        except (EOFError, ConnectionError):
            self._process.join()
            raise WorkerFailed(
                f"the ingest worker process died ({_exit_reason(self._process.exitcode)}); nothing stored"
            ) from None
        if tag == _FAILED:
            text, worker_traceback = payload
            log.debug("the ingest worker failed:\n%s", worker_traceback)
            raise WorkerFailed(text)
        return tag, payload


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        return f"killed by {name}, perhaps for lack of memory" if name == "SIGKILL" else f"killed by {name}"
    return f"exit code {exitcode}"


def _work(conn: Connection, path: Path, rules: RedactionRules) -> None:
    """The worker process: `FileRows` of `path`, sent as the module docstring draws."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent stops us

    def send(tag: str, payload: object) -> None:
        conn.send_bytes(pickle.dumps((tag, payload), protocol=pickle.HIGHEST_PROTOCOL))

    try:
        with FileRows(path, rules) as rows:
            send(_FORMAT, rows.format())
            ingest_id = conn.recv()
            for batch in rows.batches(ingest_id):
                send(_BATCH, batch)
            send(_DONE, rows.redactions())
    except Exception as exc:
        with contextlib.suppress(OSError):  # the parent is gone: nobody is left to tell
            send(_FAILED, (failure_text(exc), traceback.format_exc()))
