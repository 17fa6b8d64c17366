"""gRPC unary and server-streaming calls through grpcio, traced by opentelemetry-instrumentation-grpc
on both sides (client and server interceptors), exported with the Zipkin v2 JSON exporter.

The service is registered with grpcio's generic handlers (raw bytes in and out), so no generated
stubs are needed. `Quotes/Get` answers at once, `Quotes/Watch` streams 12 updates over ~250 ms,
`Quotes/Get` for an unknown symbol aborts with NOT_FOUND. Run: `python grpc_stream.py BASE_URL`.
"""

from __future__ import annotations

import sys
import time
from concurrent import futures

import grpc
from _otel import provider, zipkin
from opentelemetry.instrumentation.grpc import client_interceptor, server_interceptor
from opentelemetry.instrumentation.grpc.grpcext import intercept_channel


def get(request: bytes, context: grpc.ServicerContext) -> bytes:
    if request == b"NOPE":
        context.abort(grpc.StatusCode.NOT_FOUND, "no such symbol: NOPE")
    time.sleep(0.004)
    return b"quote:" + request


def watch(request: bytes, context: grpc.ServicerContext):
    for tick in range(12):
        time.sleep(0.02)
        yield b"%s:%d" % (request, tick)


def main(base: str) -> None:
    server_tp = provider("quote-server", zipkin(base))
    client_tp = provider("quote-client", zipkin(base))
    handlers = grpc.method_handlers_generic_handler(
        "corpus.Quotes",
        {
            "Get": grpc.unary_unary_rpc_method_handler(get),
            "Watch": grpc.unary_stream_rpc_method_handler(watch),
        },
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2), interceptors=[server_interceptor(tracer_provider=server_tp)]
    )
    server.add_generic_rpc_handlers((handlers,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = intercept_channel(
        grpc.insecure_channel(f"127.0.0.1:{port}"), client_interceptor(tracer_provider=client_tp)
    )
    unary = channel.unary_unary("/corpus.Quotes/Get")
    stream = channel.unary_stream("/corpus.Quotes/Watch")
    assert unary(b"ACME") == b"quote:ACME"
    assert len(list(stream(b"ACME"))) == 12
    try:
        unary(b"NOPE")
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.NOT_FOUND
    else:
        raise AssertionError("NOPE should fail")
    channel.close()
    server.stop(None)
    client_tp.shutdown()
    server_tp.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
