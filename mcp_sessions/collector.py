"""`collect`: the OTLP/HTTP receiver and, with `--grpc`, the OTLP/gRPC one, run together on one writer.

collect ─► Intake (one writer thread, the budgets, the page states)
             ├─ uvicorn: OTLP/HTTP + rrweb batches (receiver.create_app)
             └─ grpc.aio: OTLP/gRPC (receiver_grpc), when settings.grpc is set
SIGINT/SIGTERM ─► both stop accepting ─► gRPC calls in progress get their grace ─► the writer
                  drains its queue ─► return (nothing acknowledged is lost)
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
import uvicorn

from mcp_sessions import receiver_grpc
from mcp_sessions.intake_log import BatchReport
from mcp_sessions.receiver import DEFAULT_HOST, DEFAULT_PORT, Intake, create_app, log, uvicorn_server
from mcp_sessions.receiver_limits import ReceiverLimits
from mcp_sessions.redact import DEFAULT_RULES, RedactionRules
from mcp_sessions.store import Store


@dataclass(frozen=True)
class CollectSettings:
    """How `collect` (and `serve --collect`) receive: one object, whether read from options or a config file."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    limits: ReceiverLimits = field(default_factory=ReceiverLimits)
    cors_origins: tuple[str, ...] = ()  # browser origins allowed to post (receiver_cors), normalized
    grpc: tuple[str, int] | None = None  # where OTLP/gRPC listens too (receiver_grpc); None: it does not


async def serve_receiver(
    store: Store,
    sock: socket.socket,
    *,
    settings: CollectSettings | None = None,
    limits: ReceiverLimits | None = None,
    rules: RedactionRules = DEFAULT_RULES,
    on_batch: Callable[[BatchReport], None] | None = None,
    on_listening: Callable[[dict[str, str]], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run until signalled (or `stop` is set); on the way out every queued request is written first.

    With `settings.grpc` an OTLP/gRPC server shares the writer; `on_listening` receives the
    address of each way in once all of them listen.
    """
    settings = settings or CollectSettings(limits=limits or ReceiverLimits())
    intake = Intake(store, limits=settings.limits, rules=rules, on_batch=on_batch)
    server = uvicorn_server(create_app(store, cors_origins=settings.cors_origins, intake=intake), drain=True)
    intake.start()
    grpc_server = None
    try:
        listening = {"http": f"http://{_host_text(sock)}:{sock.getsockname()[1]}"}
        if settings.grpc is not None:
            grpc_server, grpc_port = await receiver_grpc.start_grpc(intake, *settings.grpc)
            listening["grpc"] = f"{settings.grpc[0]}:{grpc_port}"
        if on_listening is not None:
            on_listening(listening)
        try:
            async with anyio.create_task_group() as tasks:
                if stop is not None:
                    tasks.start_soon(_exit_when_set, stop, server)
                await server.serve(sockets=[sock])
                tasks.cancel_scope.cancel()
        finally:
            if not server.started:
                log.warning("receiver did not start")
            if grpc_server is not None:
                await receiver_grpc.stop_grpc(grpc_server)
    finally:
        await anyio.to_thread.run_sync(intake.stop)


def _host_text(sock: socket.socket) -> str:
    host = sock.getsockname()[0]
    return f"[{host}]" if ":" in host else host


async def _exit_when_set(stop: threading.Event, server: uvicorn.Server) -> None:
    while not stop.is_set():
        await anyio.sleep(0.05)
    server.should_exit = True
