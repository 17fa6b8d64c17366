"""Async fan-out whose children outlive the root, exported by the Zipkin v2 JSON exporter.

A server span answers after 15 ms while the work it started (three worker spans, each with
its own database calls) goes on for up to 50 ms after it; the last worker started is the one
that finishes last, and fails. Run:
`python zipkin_fanout.py http://127.0.0.1:PORT/prefix`.
"""

from __future__ import annotations

import sys
import threading
import time

from _otel import provider, zipkin
from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode


def worker(tracer: trace.Tracer, parent: context.Context, index: int) -> None:
    with tracer.start_as_current_span(f"notify-{index}", context=parent, kind=SpanKind.INTERNAL) as span:
        span.set_attribute("code.function.name", f"notify.worker_{index}")
        for _ in range(2):
            with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as db:
                db.set_attribute("db.system.name", "postgresql")
                db.set_attribute("db.query.text", "SELECT * FROM subscribers WHERE topic = $1")
                time.sleep(0.01 + 0.01 * index)
        if index == 2:
            with tracer.start_as_current_span("POST", kind=SpanKind.CLIENT) as call:
                call.set_attribute("http.request.method", "POST")
                call.set_attribute("url.full", "http://mailer.internal:8025/send")
                call.set_attribute("server.address", "mailer.internal")
                call.set_attribute("server.port", 8025)
                call.set_attribute("http.response.status_code", 503)
                call.set_status(Status(StatusCode.ERROR))
                time.sleep(0.005)
            span.record_exception(RuntimeError("mailer unavailable (503)"))
            span.set_status(Status(StatusCode.ERROR, "mailer unavailable (503)"))


def main(base: str) -> None:
    tp = provider("notify-api", zipkin(base))
    tracer = tp.get_tracer("corpus.zipkin_fanout")
    for order in (1, 2):
        threads = []
        with tracer.start_as_current_span(f"POST /orders/{order}/notify", kind=SpanKind.SERVER) as root:
            root.set_attribute("http.request.method", "POST")
            root.set_attribute("http.route", "/orders/{id}/notify")
            root.set_attribute("url.path", f"/orders/{order}/notify")
            root.set_attribute("http.response.status_code", 202)
            ctx = context.get_current()
            for index in range(3):
                thread = threading.Thread(target=worker, args=(tracer, ctx, index))
                thread.start()
                threads.append(thread)
                time.sleep(0.002)  # starts 2 ms apart: which worker began first is never a tie
            time.sleep(0.015)  # answers 202 while the workers go on
        for thread in threads:
            thread.join()
    tp.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
