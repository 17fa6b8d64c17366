"""An orders API in Flask + SQLAlchemy (sqlite), run under `opentelemetry-instrument` as a server.

Nothing of ours is in its tracing: the official auto-instrumentation (Flask, SQLAlchemy) makes
the spans and the OTLP/HTTP protobuf exporter sends them, as the environment says. Two builds:

    good        GET /api/orders loads every order's lines in one more query (selectinload)
    n_plus_one  GET /api/orders loads each order's lines with a query of its own (12 orders: 13 queries)

`--baggage-processor` adds the OpenTelemetry baggage span processor
(`opentelemetry-processor-baggage`), so a `session.id` the caller sends as W3C baggage lands on
every span, as the README's "Backend sessions" section shows.

Run: `opentelemetry-instrument python tests/flask_orders.py --port 8000 --db /tmp/o.db --build good`
"""

from __future__ import annotations

import argparse
from pathlib import Path

from flask import Flask, abort, jsonify, request
from sqlalchemy import ForeignKey, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, selectinload

BUILDS = ("good", "n_plus_one")


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer: Mapped[str] = mapped_column(String(40))
    lines: Mapped[list[Line]] = relationship(back_populates="order", lazy="raise")


class Line(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    sku: Mapped[str] = mapped_column(String(20))
    order: Mapped[Order] = relationship(back_populates="lines")


def make_app(db: Path, build: str) -> Flask:
    engine = create_engine(f"sqlite:///{db}")
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        for i in range(1, 13):
            s.add(Order(id=i, customer=f"customer-{i}"))
            s.add_all(Line(order_id=i, sku=f"SKU-{i}-{j}") for j in range(2))
        s.commit()
    app = Flask("flask_orders")

    def lines_of(s: Session, order: Order) -> list[str]:
        if build == "n_plus_one":  # one query per order
            return [line.sku for line in s.scalars(select(Line).where(Line.order_id == order.id))]
        return [line.sku for line in order.lines]

    def orders_query():  # type: ignore[no-untyped-def]
        query = select(Order).order_by(Order.id)
        return query if build == "n_plus_one" else query.options(selectinload(Order.lines))

    @app.get("/api/orders")
    def orders():  # type: ignore[no-untyped-def]
        limit = int(request.args.get("limit", "50"))
        with Session(engine) as s:
            found = s.scalars(orders_query().limit(limit)).all()
            return jsonify([{"id": o.id, "customer": o.customer, "lines": lines_of(s, o)} for o in found])

    @app.get("/api/orders/<int:order_id>")
    def order(order_id: int):  # type: ignore[no-untyped-def]
        with Session(engine) as s:
            found = s.scalars(orders_query().where(Order.id == order_id)).first()
            if found is None:
                abort(404)
            return jsonify({"id": found.id, "customer": found.customer, "lines": lines_of(s, found)})

    @app.get("/api/health")
    def health():  # type: ignore[no-untyped-def]
        return jsonify({"ok": True, "build": build})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--build", choices=BUILDS, default="good")
    parser.add_argument("--baggage-processor", action="store_true")
    args = parser.parse_args()
    if args.baggage_processor:
        from opentelemetry import trace
        from opentelemetry.processor.baggage import BaggageSpanProcessor

        trace.get_tracer_provider().add_span_processor(BaggageSpanProcessor(lambda key: key == "session.id"))
    make_app(args.db, args.build).run(host="127.0.0.1", port=args.port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
