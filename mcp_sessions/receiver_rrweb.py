"""Live rrweb batches: a page's recording arriving in pieces over HTTP, stitched into one session.

    POST /v1/rrweb    Content-Type application/json, or text/plain (what navigator.sendBeacon sends);
                      Content-Encoding gzip or none; X-Session-Id may carry the session instead
    {"session_id": "s-…", "page_id": "p-…", "seq": 0, "user_id": "u-42"?, "events": [rrweb events]}

    page p-1:  batch 0 (Meta, FullSnapshot, clicks) ─► page state ─► events ─► commit ─► 200
               batch 1 (mutations, clicks, input)   ─► same state ─► events ─► commit ─► 200
    page p-2:  batch 0 (a new document)             ─► new state  ─► ...          (same session)

`page_id` names one page load (one `record()` run), `seq` the batch within it, from 0. The
page state (`rrweb.RrwebState`: the node map that names what a click landed on, the current
page, its time origin) is kept per (session, page) between batches, so a click in batch 7 is
named from batch 0's snapshot. Batches of one page are read one at a time, in arrival order;
each event's `seq` is `batch seq × SEQ_STRIDE + its place`, so the timeline keeps the
recorded order even when two batches arrive swapped (only their node names can suffer).

Acknowledged means committed, as for spans. A batch is an ingest of its own, keyed by its
session, page, seq and content: a resend (the snippet retries what got no answer) is answered
200 with `duplicate` and stores nothing twice, also after a restart. When a batch fails (400,
503), the page state goes back to where it was before it, apart from the node map: applying a
snapshot or mutation again is harmless (an id added again moves).

Bounds. The body limits of every request apply (size, also decompressed; body timeout; the
memory budgets; the storage quota), the events are read by the same parser, under the same
redaction rules, as an rrweb file, and the page states held at once are bounded in number
(`max_rrweb_pages`) and in nodes (`max_rrweb_nodes`): the least recently used page is dropped
first, and a page whose own map is over the node bound loses its map (its clicks are named
again from its next full snapshot). A dropped page's next batch starts a fresh state.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson

from mcp_sessions.errors import InputError, MalformedInputError
from mcp_sessions.formats import rrweb
from mcp_sessions.formats.coerce import checked_records
from mcp_sessions.formats.rrweb_dom import Dom
from mcp_sessions.model import Event
from mcp_sessions.redact import RedactionReport, RedactionRules, redact_records

SEQ_STRIDE = 1 << 20  # events of one batch, at most
MAX_BATCH_SEQ = 1 << 40
MAX_ID_CHARS = 128
_COMMITTED_KEPT = 4096  # batches remembered per page to answer a resend without parsing it


class BatchRejected(Exception):
    """A batch that is malformed as a whole (400); nothing of it is stored."""


@dataclass(frozen=True)
class Envelope:
    """The fields of one batch request, checked."""

    session_id: str
    page_id: str
    seq: int
    user_id: str | None
    events: list[Any]

    @property
    def key(self) -> tuple[str, str]:
        return (self.session_id, self.page_id)

    def content_hash(self, body_hash: str) -> str:
        """The ingest key: the same batch resent hashes alike, another batch never does."""
        parts = ("rrweb-batch", self.session_id, self.page_id, str(self.seq), body_hash)
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()

    @property
    def source(self) -> str:
        return f"rrweb batch {self.seq} of page {self.page_id} (session {self.session_id})"


def _identifier(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BatchRejected(f"`{name}` must be a non-empty string")
    if len(value) > MAX_ID_CHARS or not value.isprintable():
        raise BatchRejected(f"`{name}` must be at most {MAX_ID_CHARS} printable characters")
    return value


def parse_envelope(body: bytes, header_session: str | None) -> Envelope:
    """The batch in `body`; BatchRejected naming the field when it is not one."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BatchRejected(f"invalid JSON at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(doc, dict):
        raise BatchRejected('the body must be a JSON object {"session_id", "page_id", "seq", "events"}')
    session = doc.get("session_id", header_session)
    if header_session is not None and session != header_session:
        raise BatchRejected("`session_id` and the X-Session-Id header differ; send one session per batch")
    seq = doc.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < MAX_BATCH_SEQ:
        raise BatchRejected("`seq` must be the batch number within the page: an integer from 0")
    events = doc.get("events")
    if not isinstance(events, list):
        raise BatchRejected("`events` must be a list of rrweb events")
    if len(events) >= SEQ_STRIDE:
        raise BatchRejected(f"a batch holds at most {SEQ_STRIDE - 1} events; send smaller batches")
    user = doc.get("user_id")
    return Envelope(
        session_id=_identifier(session, "session_id"),
        page_id=_identifier(doc.get("page_id"), "page_id"),
        seq=seq,
        user_id=_identifier(user, "user_id") if user is not None else None,
        events=events,
    )


@dataclass
class PageState:
    """What one page's batches share: the parser's state, one batch at a time, the batches stored."""

    state: rrweb.RrwebState
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # content hashes of the batches stored, oldest first: a batch number alone is not enough, a
    # sender may count again from 0 after a reload under the same page id
    committed: dict[str, None] = field(default_factory=dict)

    def remember(self, content_hash: str) -> None:
        self.committed[content_hash] = None
        while len(self.committed) > _COMMITTED_KEPT:
            del self.committed[next(iter(self.committed))]

    def checkpoint(self) -> rrweb.RrwebState:
        """A copy of the state's own fields (the node map shared), to `restore` when a batch fails."""
        return copy.copy(self.state)

    def restore(self, saved: rrweb.RrwebState) -> None:
        for f in dataclasses.fields(self.state):
            if f.name != "dom":
                setattr(self.state, f.name, getattr(saved, f.name))


class PageStates:
    """The page states held at once, least recently used first; see the module docstring for the bounds."""

    def __init__(self, max_pages: int, max_nodes: int) -> None:
        self.max_pages = max_pages
        self.max_nodes = max_nodes
        self._pages: OrderedDict[tuple[str, str], PageState] = OrderedDict()
        self.dropped = 0  # pages dropped to stay within the bounds

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: tuple[str, str], rules: RedactionRules) -> PageState:
        page = self._pages.get(key)
        if page is None:
            page = self._pages[key] = PageState(rrweb.RrwebState(rules=rules))
        self._pages.move_to_end(key)
        return page

    def nodes(self) -> int:
        return sum(len(p.state.dom) for p in self._pages.values())

    def trim(self, keep: tuple[str, str]) -> None:
        """Drop least recently used pages (never `keep`) until the bounds hold; then `keep`'s map if still over."""
        total = self.nodes()
        for key in list(self._pages):
            if len(self._pages) <= self.max_pages and total <= self.max_nodes:
                return
            if key != keep:
                total -= len(self._pages.pop(key).state.dom)
                self.dropped += 1
        if total > self.max_nodes and keep in self._pages:
            self._pages[keep].state.dom = Dom()
            self.dropped += 1


def parse_events(envelope: Envelope, page: PageState, report: RedactionReport) -> list[Event]:
    """The batch's events, read on from the page's state and redacted; BatchRejected for a malformed event."""
    state = page.state
    state.seq = envelope.seq * SEQ_STRIDE  # the batch's place, whatever arrived before it
    try:
        events = rrweb.parse_batch(envelope.events, state, session_key=envelope.session_id, client_key=envelope.page_id)
        if envelope.user_id is not None:
            events = [e if e.user_id else dataclasses.replace(e, user_id=envelope.user_id) for e in events]
        return [r for r in redact_records(checked_records(events), report) if isinstance(r, Event)]
    except (MalformedInputError, InputError) as exc:
        raise BatchRejected(str(exc)) from None
