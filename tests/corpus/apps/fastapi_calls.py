"""A FastAPI app (the ASGI instrumentation, via FastAPIInstrumentor) whose handlers call other
services with an instrumented httpx client: one that answers, and two that are not there (a
second host and another port), so the outbound client spans fail with connection errors.
A request hook copies the caller's `x-session-id` header onto the server span as `session.id`.
Exported with the OTLP/HTTP protobuf exporter. Run: `python fastapi_calls.py BASE_URL`.
"""

from __future__ import annotations

import socket
import sys

import anyio
import httpx
from _otel import otlp_proto, provider
from fastapi import FastAPI, HTTPException
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor


def closed_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def make_app(base: str, tp) -> FastAPI:
    app = FastAPI()
    downstream = base.rsplit("/", 1)[0] + "/downstream"  # the capture server answers GETs
    recs = f"http://127.0.0.2:{closed_port('127.0.0.2')}/recs"
    stock = f"http://localhost:{closed_port('127.0.0.1')}/stock"
    client = httpx.AsyncClient(timeout=2)
    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=tp)

    @app.get("/api/products/{product_id}")
    async def product(product_id: str):
        reply = await client.get(f"{downstream}/catalog/{product_id}")
        return {"id": product_id, "catalog": reply.status_code}

    @app.get("/api/recommendations")
    async def recommendations():
        try:
            await client.get(recs, params={"limit": 4})
        except httpx.ConnectError:
            return {"items": [], "degraded": True}
        return {"items": []}

    @app.post("/api/checkout")
    async def checkout():
        await client.get(f"{downstream}/cart")
        try:
            await client.get(stock)
        except httpx.ConnectError as exc:
            raise HTTPException(status_code=502, detail="stock service unreachable") from exc
        return {"ok": True}

    def hook(span, scope) -> None:
        if span and span.is_recording():
            for name, value in scope.get("headers", []):
                if name == b"x-session-id":
                    span.set_attribute("session.id", value.decode())

    FastAPIInstrumentor.instrument_app(app, tracer_provider=tp, server_request_hook=hook)
    return app


async def drive(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as user:
        for session, path in [
            ("sess-fastapi-alice", "/api/products/1YMWWN1N4O"),
            ("sess-fastapi-alice", "/api/products/66VCHSJNUP"),
            ("sess-fastapi-alice", "/api/recommendations"),
            ("sess-fastapi-bob", "/api/products/OLJCESPC7Z"),
            ("sess-fastapi-bob", "/api/recommendations"),
        ]:
            (await user.get(path, headers={"x-session-id": session})).raise_for_status()
        reply = await user.post("/api/checkout", headers={"x-session-id": "sess-fastapi-bob"})
        assert reply.status_code == 502, reply.status_code


def main(base: str) -> None:
    tp = provider("storefront-api", otlp_proto(base))
    anyio.run(drive, make_app(base, tp))
    tp.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
