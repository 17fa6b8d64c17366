"""What keeps the OTLP receiver answering under attack: connection cap, timeouts, a memory budget.

    accept ──► over the connection cap? ──► evict the connection that has waited longest
      │                                     without sending its request; none: 503, close
      ▼
    headers within header_timeout_s, else closed ─► body within body_timeout_s, else 408
      │
      ▼
    body bytes reserved from the reading budget as they arrive ──► inflated (gzip)
      │
      ▼
    estimated decoded size reserved from the decoding budget ──► decode ─► queue ─► commit ─► answer
    (both released once answered; a reservation that cannot be had within budget_wait_s is 503
     with Retry-After, so the exporter backs off instead of the process growing)

Both budgets count bytes, not requests: a decoded request takes several times its size
in memory (`DECODED_PER_BYTE`), and the reservation says so up front. A request alone may
exceed a budget (its own size is bounded by `max_body`), so the biggest allowed request is
always served. The reading budget is taken before the decoding budget and never the other
way round, so waiting cannot deadlock.

Slow-client defence: a connection that has not sent its request headers is cheap to drop
and is the first one evicted when the cap is reached, so slow or idle connections cannot
lock good exporters out; uvicorn's own keep-alive timeout closes idle ones.

Every refusal is counted and logged at most once per `LOG_INTERVAL_S` with the count since
the last line, never one line (or traceback) per event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("mcp_sessions.receiver")

MIB = 1024 * 1024
LOG_INTERVAL_S = 10.0
# Decoded records (and, for JSON, the parsed document on the way) per byte of request body.
DECODED_PER_BYTE = {"application/x-protobuf": 6, "application/json": 20}


@dataclass(frozen=True)
class ReceiverLimits:
    """Every bound the receiver enforces; the CLI sets them from its options."""

    max_body: int = 16 * MIB  # one request, before and after decompression
    max_inflight: int = 256 * MIB  # estimated memory of the requests being decoded, queued or written
    max_reading: int = 64 * MIB  # body bytes being received at once
    max_db_bytes: int | None = None  # storage quota: refuse new data once the database is this big
    max_connections: int = 256
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    budget_wait_s: float = 5.0  # how long a request waits for budget before 503
    decode_threads: int = 2
    max_rrweb_pages: int = 256  # rrweb page states kept between batches (receiver_rrweb)
    max_rrweb_nodes: int = 500_000  # DOM nodes of those page states together

    def __post_init__(self) -> None:
        if min(self.max_body, self.max_connections, self.max_inflight, self.max_reading, self.max_rrweb_pages) < 1:
            raise ValueError("receiver limits must be positive")


class Throttled:
    """Log one line per kind of event and interval, with how many happened since the last line."""

    def __init__(self, logger: logging.Logger, interval_s: float = LOG_INTERVAL_S) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._pending: dict[str, int] = {}
        self.counts: dict[str, int] = {}

    def event(self, kind: str, message: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self._pending[kind] = self._pending.get(kind, 0) + 1
        now = time.monotonic()
        if now - self._last.get(kind, -1e9) >= self.interval_s:
            n = self._pending.pop(kind)
            self._last[kind] = now
            self.logger.warning("%s (%d since the last report)", message, n)


class ThrottleFilter(logging.Filter):
    """A logging filter passing each distinct message at most once per interval (for uvicorn and asyncio)."""

    def __init__(self, interval_s: float = LOG_INTERVAL_S) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = f"{record.name}:{record.msg}"
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self.interval_s:
            return False
        self._last[key] = now
        if len(self._last) > 1000:
            self._last = {k: t for k, t in self._last.items() if now - t < self.interval_s}
        return True


class BudgetExceeded(Exception):
    """No budget became free within the wait: the caller answers 503 with Retry-After."""


class ByteBudget:
    """Bytes reserved by requests in flight, on the event loop (no locks); see the module docstring.

    Each request holds a ticket; the oldest ticket never waits, so the budget always makes
    progress (at most one request's bytes beyond the limit) and requests that each hold part
    of it cannot wait on one another for ever.
    """

    def __init__(self, limit: int, wait_s: float) -> None:
        self.limit = limit
        self.wait_s = wait_s
        self.used = 0
        self.peak = 0
        self._held: dict[int, int] = {}
        self._next = 0
        self._freed = asyncio.Event()

    def open(self) -> int:
        self._next += 1
        self._held[self._next] = 0
        return self._next

    async def reserve(self, ticket: int, n: int) -> None:
        """Add `n` bytes to `ticket`, waiting up to `wait_s` for room; raises BudgetExceeded."""
        deadline = time.monotonic() + self.wait_s
        while self.used + n > self.limit and ticket != next(iter(self._held)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BudgetExceeded
            self._freed.clear()
            try:
                await asyncio.wait_for(self._freed.wait(), remaining)
            except TimeoutError:
                raise BudgetExceeded from None
        self._held[ticket] += n
        self.used += n
        self.peak = max(self.peak, self.used)

    def close(self, ticket: int) -> None:
        self.used -= self._held.pop(ticket, 0)
        self._freed.set()


class ConnectionGuard:
    """The open connections of one receiver and the cap on them."""

    def __init__(self, limits: ReceiverLimits) -> None:
        self.limits = limits
        self.open: dict[GuardedH11Protocol, float] = {}  # connection → since when it waits for a request
        self.waiting: set[GuardedH11Protocol] = set()
        self.events = Throttled(log)

    def admit(self, conn: GuardedH11Protocol) -> bool:
        if len(self.open) >= self.limits.max_connections:
            idle = min(self.waiting, key=lambda c: self.open[c], default=None)
            if idle is None:
                self.events.event(
                    "refused", f"refused connections: {self.limits.max_connections} requests are in progress"
                )
                return False
            self.events.event("evicted", "closed idle connections to make room for new ones")
            idle.drop()
        self.open[conn] = time.monotonic()
        self.waiting.add(conn)
        return True

    def forget(self, conn: GuardedH11Protocol) -> None:
        self.open.pop(conn, None)
        self.waiting.discard(conn)


_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: 63\r\n\r\n"
    b'{"code": 14, "message": "too many connections; retry shortly"}\n'
)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the connection cap and header timeout of `guard` (set per server)."""

    guard: ClassVar[ConnectionGuard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if not self.guard.admit(self):
            self._refused = True
            transport.write(_REFUSED)
            transport.close()
            return
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._cancel_header_timer()
        self.guard.forget(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's headers arrived
            self._cancel_header_timer()
            self.guard.waiting.discard(self)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self in self.guard.open:
            self.guard.open[self] = time.monotonic()
            self.guard.waiting.add(self)
            self._arm_header_timer()

    def drop(self) -> None:
        """Close at once (an idle or slow connection making room, or past its header timeout)."""
        self._cancel_header_timer()
        self.guard.forget(self)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.guard.limits.header_timeout_s, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self in self.guard.waiting:
            self.guard.events.event(
                "header-timeout",
                f"closed connections that sent no request within {self.guard.limits.header_timeout_s:g} s",
            )
            self.drop()


def guarded_protocol(limits: ReceiverLimits) -> type[GuardedH11Protocol]:
    """A protocol class bound to a fresh guard: one per server, so two receivers never share a cap."""
    return type("ReceiverH11Protocol", (GuardedH11Protocol,), {"guard": ConnectionGuard(limits)})
