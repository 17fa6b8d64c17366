"""A producer and a consumer service joined by a queue, traced with the SDK and the messaging
semantic conventions; the trace context travels in the message headers (W3C propagator).

`checkout` answers its HTTP request once it has published; `billing` picks the messages up
later, one by one (each `process` span a child of the message's producer span, as the Kafka
and RabbitMQ instrumentations do) and then once as a batch (`receive`, a new trace whose
links name every producer span). The last message fails in the consumer. Exported with the
OTLP/HTTP protobuf exporter. Run: `python messaging.py BASE_URL`.
"""

from __future__ import annotations

import queue
import sys
import threading
import time

from _otel import otlp_proto, provider
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

TOPIC = "orders.created"


def produce(tracer: trace.Tracer, out: queue.Queue, order: int) -> None:
    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "POST")
        root.set_attribute("http.route", "/checkout")
        root.set_attribute("http.response.status_code", 201)
        with tracer.start_as_current_span("INSERT orders", kind=SpanKind.CLIENT) as db:
            db.set_attribute("db.system.name", "sqlite")
            db.set_attribute("db.query.text", "INSERT INTO orders (id, total) VALUES (?, ?)")
            time.sleep(0.003)
        with tracer.start_as_current_span(f"publish {TOPIC}", kind=SpanKind.PRODUCER) as span:
            span.set_attribute("messaging.system", "kafka")
            span.set_attribute("messaging.operation.type", "send")
            span.set_attribute("messaging.destination.name", TOPIC)
            span.set_attribute("messaging.kafka.message.key", str(order))
            headers: dict[str, str] = {}
            inject(headers)
            out.put((order, headers))
            time.sleep(0.002)


def consume(tracer: trace.Tracer, inbox: queue.Queue, count: int) -> None:
    messages = [inbox.get() for _ in range(count)]
    time.sleep(0.03)  # the consumer lags behind: every producer has answered by now
    for order, headers in messages:
        with tracer.start_as_current_span(f"process {TOPIC}", context=extract(headers), kind=SpanKind.CONSUMER) as span:
            span.set_attribute("messaging.system", "kafka")
            span.set_attribute("messaging.operation.type", "process")
            span.set_attribute("messaging.destination.name", TOPIC)
            span.set_attribute("messaging.consumer.group.name", "billing")
            with tracer.start_as_current_span("charge card", kind=SpanKind.CLIENT) as charge:
                charge.set_attribute("http.request.method", "POST")
                charge.set_attribute("url.full", "https://payments.example/v1/charges")
                time.sleep(0.01)
                if order == count:
                    charge.set_attribute("http.response.status_code", 402)
                    charge.set_status(Status(StatusCode.ERROR))
                    span.record_exception(ValueError(f"card declined for order {order}"))
                    span.set_status(Status(StatusCode.ERROR, f"card declined for order {order}"))
                else:
                    charge.set_attribute("http.response.status_code", 200)
    links = [Link(trace.get_current_span(extract(h)).get_span_context()) for _, h in messages]
    with tracer.start_as_current_span(f"receive {TOPIC}", kind=SpanKind.CONSUMER, links=links) as batch:
        batch.set_attribute("messaging.system", "kafka")
        batch.set_attribute("messaging.operation.type", "receive")
        batch.set_attribute("messaging.destination.name", TOPIC)
        batch.set_attribute("messaging.batch.message_count", len(messages))
        with tracer.start_as_current_span("UPDATE ledger", kind=SpanKind.CLIENT) as db:
            db.set_attribute("db.system.name", "postgresql")
            db.set_attribute("db.query.text", "UPDATE ledger SET settled = true WHERE order_id = ANY($1)")
            time.sleep(0.005)


def main(base: str) -> None:
    producer_tp = provider("checkout", otlp_proto(base))
    consumer_tp = provider("billing", otlp_proto(base))
    channel: queue.Queue = queue.Queue()
    count = 3
    consumer = threading.Thread(target=consume, args=(consumer_tp.get_tracer("corpus.billing"), channel, count))
    consumer.start()
    for order in range(1, count + 1):
        produce(producer_tp.get_tracer("corpus.checkout"), channel, order)
    consumer.join()
    producer_tp.shutdown()
    consumer_tp.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
