"""A Flask + SQLAlchemy (sqlite) shop, run under `opentelemetry-instrument` with no code of ours in
the tracing: the official auto-instrumentation makes every span and the OTLP/HTTP protobuf
exporter sends them. `/orders` loads each order's lines one query at a time (an N+1 loop);
`/orders/<id>/refund` fails with a 500. No session ids anywhere.

Run: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=... opentelemetry-instrument python flask_shop.py`
(the generator sets the environment; see tests/corpus/generate.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Flask, abort, jsonify
from sqlalchemy import ForeignKey, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer: Mapped[str] = mapped_column(String(40))


class Line(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    sku: Mapped[str] = mapped_column(String(20))


def make_app(db: Path) -> Flask:
    engine = create_engine(f"sqlite:///{db}")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        for i in range(1, 13):
            s.add(Order(id=i, customer=f"customer-{i}"))
            s.add_all(Line(order_id=i, sku=f"SKU-{i}-{j}") for j in range(2))
        s.commit()
    app = Flask("flask_shop")

    @app.get("/orders")
    def orders():
        with Session(engine) as s:
            out = []
            for order in s.scalars(select(Order)):
                lines = s.scalars(select(Line).where(Line.order_id == order.id)).all()  # N+1
                out.append({"id": order.id, "lines": [line.sku for line in lines]})
        return jsonify(out)

    @app.get("/orders/<int:order_id>")
    def order(order_id: int):
        with Session(engine) as s:
            found = s.get(Order, order_id)
            if found is None:
                abort(404)
            return jsonify({"id": found.id, "customer": found.customer})

    @app.post("/orders/<int:order_id>/refund")
    def refund(order_id: int):
        with Session(engine) as s:
            s.get(Order, order_id)
        raise RuntimeError(f"refund provider rejected order {order_id}: card expired")

    return app


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp) / "shop.db")
        client = app.test_client()
        assert client.get("/orders").status_code == 200
        assert client.get("/orders/3").status_code == 200
        assert client.get("/orders/99").status_code == 404
        assert client.post("/orders/5/refund").status_code == 500


if __name__ == "__main__":
    main()
