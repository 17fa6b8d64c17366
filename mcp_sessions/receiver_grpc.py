"""OTLP/gRPC on :4317: the default transport of several SDKs and of the Collector (`collect --grpc`).

    TraceService/Export, LogsService/Export        (MetricsService/Export: counted, not stored)
      │  grpcio: HTTP/2, gzip or deflate inflated, at most max_body bytes once inflated
      ▼
    receiver.Intake: memory budget ─► decode + redact (worker thread) ─► the one writer ─► COMMIT
      │
      ▼
    Export*ServiceResponse (partial_success when records were rejected alone), or a status

The same path as OTLP/HTTP: the same decoder (a span with bad ids or times is rejected alone
and named in `partial_success`), redaction, writer and commit-then-answer; the HTTP and gRPC
receivers of one `collect` share the writer and the budgets. Service and method names and the
message types come from opentelemetry-proto's generated code; the generated
`add_*Servicer_to_server` is not used because it decodes the request itself, on the event loop
the HTTP receiver shares, and answers bytes that are not the message with INTERNAL, which the
OTLP specification does not allow for bad data. Here the handler takes the bytes and the
decoder runs on a worker thread.

Status codes (OTLP/gRPC):

    OK                    stored (with partial_success for records rejected alone)
    INVALID_ARGUMENT      not an export request, or every record in it rejected: never retried
    RESOURCE_EXHAUSTED    over the message size (gRPC's own check, before decoding): not retried
    UNAVAILABLE + retry   the database is busy, the disk or the storage quota is full, the memory
                          budget for requests in flight is used up, or the receiver is stopping
    INTERNAL              the database cannot be written

The retry delay travels twice: as google.rpc.RetryInfo inside the google.rpc.Status in
`grpc-status-details-bin` (what the Go and Java exporters read) and alone in
`google.rpc.retryinfo-bin` (what the Python exporter reads). Both are encoded by hand, as the
HTTP receiver encodes its Status bodies, so no googleapis package is needed.

RPCs in progress at once are bounded (`concurrent_rpcs`): gRPC holds each message whole in
memory before the handler runs, so the bound times `max_body` bounds what waiting requests
take; beyond it gRPC answers RESOURCE_EXHAUSTED at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcp_sessions.errors import InputError
from mcp_sessions.receiver import (
    PROTOBUF,
    ByteBudget,
    Intake,
    RequestRejected,
    Signal,
    success_body,
    varint,
)

if TYPE_CHECKING:
    import grpc

GRACE_S = 10.0
MIN_CONCURRENT_RPCS = 8
_RETRY_INFO_TYPE = b"type.googleapis.com/google.rpc.RetryInfo"


def available() -> bool:
    """Whether grpcio is installed (the optional `[grpc]` extra)."""
    try:
        import grpc  # noqa: F401
    except ImportError:
        return False
    return True


def concurrent_rpcs(intake: Intake) -> int:
    """RPCs allowed in progress at once; see the module docstring."""
    limits = intake.limits
    by_memory = (limits.max_reading + limits.max_inflight) // limits.max_body
    return max(MIN_CONCURRENT_RPCS, min(limits.max_connections, by_memory))


def retry_info(seconds: int) -> bytes:
    """google.rpc.RetryInfo { google.protobuf.Duration retry_delay = 1 { int64 seconds = 1; } }."""
    duration = b"\x08" + varint(seconds)
    return b"\x0a" + varint(len(duration)) + duration


def status_details(code: int, message: str, retry_after: int | None) -> bytes:
    """google.rpc.Status { code = 1; message = 2; repeated Any details = 3 } with RetryInfo when given."""
    text = message.encode()
    out = b"\x08" + varint(code) + b"\x12" + varint(len(text)) + text
    if retry_after is not None:
        value = retry_info(retry_after)
        any_ = b"\x0a" + varint(len(_RETRY_INFO_TYPE)) + _RETRY_INFO_TYPE + b"\x12" + varint(len(value)) + value
        out += b"\x1a" + varint(len(any_)) + any_
    return out


def _service_names() -> dict[Signal, str]:
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    return {
        "traces": trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name,
        "logs": logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name,
        "metrics": metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"].full_name,
    }


def _handlers(intake: Intake) -> list[Any]:
    import grpc

    codes = {code.value[0]: code for code in grpc.StatusCode}

    def export_method(signal: Signal) -> grpc.RpcMethodHandler:
        async def export(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
            async def read(budget: ByteBudget, ticket: int) -> bytes:
                await budget.reserve(ticket, len(raw))
                return raw

            try:
                outcome = await intake.otlp(signal, PROTOBUF, read, "identity", "grpc")
            except RequestRejected as exc:
                metadata: list[tuple[str, bytes]] = [
                    ("grpc-status-details-bin", status_details(exc.code, str(exc), exc.retry_after))
                ]
                if exc.retry_after is not None:
                    metadata.append(("google.rpc.retryinfo-bin", retry_info(exc.retry_after)))
                await context.abort(codes.get(exc.code, grpc.StatusCode.INTERNAL), str(exc), tuple(metadata))
                raise  # abort() raises; this is never reached
            return success_body(signal, PROTOBUF, outcome.rejected, outcome.reason)

        # No request_deserializer and no response_serializer: bytes in, bytes out (see the module docstring).
        return grpc.unary_unary_rpc_method_handler(export)

    return [
        grpc.method_handlers_generic_handler(service, {"Export": export_method(signal)})
        for signal, service in _service_names().items()
    ]


async def start_grpc(intake: Intake, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    """A started OTLP/gRPC server on host:port (0 picks a free port) feeding `intake`, and its port."""
    if not available():
        raise InputError("OTLP/gRPC needs grpcio: pip install 'mcp-sessions[grpc]'")
    import grpc

    limits = intake.limits
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", limits.max_body),
            ("grpc.max_send_message_length", 1 << 20),
            ("grpc.so_reuseport", 0),  # a port another receiver holds is an error, not shared
        ],
        maximum_concurrent_rpcs=concurrent_rpcs(intake),
    )
    server.add_generic_rpc_handlers(_handlers(intake))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise InputError(f"cannot listen on {address} for OTLP/gRPC; pick another --grpc HOST:PORT")
    await server.start()
    return server, bound


async def stop_grpc(server: grpc.aio.Server) -> None:
    """Stop accepting; RPCs in progress get GRACE_S to be committed and answered."""
    await server.stop(GRACE_S)
