"""Long-lived spans: streams that last as long as their peer keeps them open, not because they are slow.

A gRPC server or client stream, a server-sent-events response, a websocket, a message
receive that waits on a queue: each can run for seconds or minutes while doing little, and
ranked by duration it looks like the slowest work there is. Such a span is recognised from
what its instrumentation records, and shown apart ("stream"): after all the work in a ranking,
never with a share of the critical path, and never in the "after the root answered" ranking.

    RPC stream      `rpc.system` set and more than two `message` events (one per message sent
                    or received: a unary call records one each way); or, where the
                    instrumentation records no messages (Python's grpc), a method named as
                    streams are (`Watch…`, `Subscribe…`, `Listen…`, `Tail…`, `…Stream…`)
    SSE             a response (or the request's Accept) of `text/event-stream`
    websocket       an `Upgrade: websocket` request, a 101 answer, a ws:// or wss:// URL, a
                    `websocket` protocol or span name
    message wait    a messaging receive (`messaging.operation(.type)` receive) of a second or more

Pure: reads a span's kind, attributes, events and duration, never changes them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from mcp_sessions.model import Span, SpanEvent

# RPC methods named as streams are: Watch, WatchOrders, SubscribeQuotes, ListenEvents, TailLogs, GetStream.
_STREAM_METHOD = re.compile(r"^(Watch|Subscribe|Listen|Tail|Follow)(?![a-z])|Stream(?![a-z])")
# A messaging receive at least this long is a wait on the queue, not work.
RECEIVE_WAIT_NS = 1_000_000_000

_CONTENT_TYPES = ("http.response.header.content-type", "http.response.header.content_type")
_ACCEPT = ("http.request.header.accept",)
_UPGRADE = ("http.request.header.upgrade", "http.response.header.upgrade")
_URLS = ("url.full", "http.url", "url.scheme", "http.scheme")
_STATUS = ("http.response.status_code", "http.status_code")


def is_stream(span: Span) -> bool:
    return stream_kind(span.name, span.attributes, span.events, span.duration_ns) is not None


def stream_kind(name: str, attributes: Mapping[str, Any], events: Sequence[SpanEvent], duration_ns: int) -> str | None:
    """What kind of long-lived span this is (`rpc stream`, `sse`, `websocket`, `message wait`), or None."""
    if attributes.get("rpc.system") and (
        sum(1 for e in events if e.name == "message") > 2
        or _STREAM_METHOD.search(str(attributes.get("rpc.method") or name.rsplit("/", 1)[-1]))
    ):
        return "rpc stream"
    if any("text/event-stream" in _text(attributes.get(k)) for k in (*_CONTENT_TYPES, *_ACCEPT)):
        return "sse"
    if (
        any("websocket" in _text(attributes.get(k)) for k in _UPGRADE)
        or any(_text(attributes.get(k)).startswith(("ws://", "wss://")) for k in _URLS[:2])
        or any(_text(attributes.get(k)) in ("ws", "wss") for k in _URLS[2:])
        or _text(attributes.get("network.protocol.name")) == "websocket"
        or any(str(attributes.get(k)) == "101" for k in _STATUS)
        or "websocket" in name.lower()
    ):
        return "websocket"
    operation = _text(attributes.get("messaging.operation.type") or attributes.get("messaging.operation"))
    if operation == "receive" and duration_ns >= RECEIVE_WAIT_NS:
        return "message wait"
    return None


def _text(value: Any) -> str:
    """An attribute as lower-case text; a header recorded as a list reads as its values joined."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value).lower()
    return str(value).lower()
