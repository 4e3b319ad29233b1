"""Server time of the console with a long history: 100,000 orders with chat and evidence.

Fills a fresh store by bulk inserts (two accounts, 100,000 orders of which a few
dozen are open, three chat messages and one event per order, evidence for
every order paid and one unmatched piece per 100 orders), then asks the console app in-process
(Starlette's TestClient, logged in) for the desk page, an order page and the
orders API, N times each, and prints p50/p95. Beside each figure is its ratio to a
floor measured in the same run: the raw SQL the page cannot do without (the open
orders for the desk, the order with its chat for the order page, the newest 100
orders for the API), run alone on the same connection pool. Prints figures;
asserts nothing.

    .venv/bin/python bench/console.py [--db sqlite|postgresql] [--orders 100000] [-n 200]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, make_url, select, text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from p2pilot.config import parse_config  # noqa: E402
from p2pilot.console.app import create_app  # noqa: E402
from p2pilot.console.auth import hash_password  # noqa: E402
from p2pilot.store.engine import Store  # noqa: E402
from p2pilot.store.migrate import upgrade  # noqa: E402
from p2pilot.store.models import (  # noqa: E402
    AccountRow,
    ChatMessageRow,
    OrderEventRow,
    OrderRow,
    PaymentRow,
)

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "bench-password-1"
OPEN_EVERY = 2000  # one order in 2,000 is still open: 50 of 100,000
BATCH = 5000
UNMATCHED_EVERY = 100  # one piece of evidence in 100 paid no order (a stranger's transfer)


def database(kind: str) -> tuple[str, Callable[[], None]]:
    """A fresh database URL and the function that removes it."""
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="p2pilot-console-bench-"))
        return f"sqlite:///{folder / 'console.db'}", lambda: None
    schema = f"p2pilot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES).update_query_dict({"options": f"-csearch_path={schema}"})

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


def _order(index: int, account_id: int, start: datetime) -> dict[str, Any]:
    created = start + timedelta(seconds=30 * index)
    status = 20 if index % OPEN_EVERY == 0 else (50 if index % 7 else 40)
    return {
        "id": index + 1,
        "account_id": account_id,
        "exchange_id": str(1_900_000_000_000_000_000 + index),
        "side": 1,
        "status": status,
        "token": "USDT",
        "currency": "RUB",
        "amount": Decimal(1000 + index % 9000) + Decimal("0.50"),
        "price": Decimal("81.45"),
        "quantity": None,
        "counterparty_nickname": f"buyer_{index % 5000}",
        "counterparty_user_id": str(61_000_000 + index % 5000),
        "created_at": created,
        "paid_at": created + timedelta(minutes=2) if status != 40 else None,
        "first_seen_at": created,
        "updated_at": created + timedelta(minutes=5),
        "has_detail": True,
        "raw": {},
    }


def _chat(order: dict[str, Any], number: int) -> dict[str, Any]:
    texts = ("Hi, please pay {a} RUB. Thank you!", "paid", "Thanks! Released.")
    ours = number != 1
    return {
        "account_id": order["account_id"],
        "order_id": order["exchange_id"],
        "message_id": f"{order['exchange_id']}-{number}",
        "sender_user_id": "52700411" if ours else order["counterparty_user_id"],
        "sender_nickname": "DeskRUB" if ours else order["counterparty_nickname"],
        "text": texts[number].format(a=order["amount"]),
        "content_type": "str",
        "msg_type": 1,
        "role": "user",
        "msg_uuid": None,
        "api": "order",
        "created_at": order["created_at"] + timedelta(seconds=10 * number),
        "raw": {},
    }


def _payment(order: dict[str, Any] | None, index: int, start: datetime) -> dict[str, Any]:
    received = order["paid_at"] if order else start + timedelta(seconds=30 * index + 7)
    return {
        "account_id": None,
        "amount": order["amount"] if order else Decimal("777.00"),
        "currency": "RUB",
        "payer_name": f"BUYER {index % 5000}",
        "reference": f"ref-{index}",
        "received_at": received,
        "source": "bench",
        "order_id": order["id"] if order else None,
        "matched_at": received if order else None,
        "note": None,
        "created_at": received,
    }


def _paid_by(order: dict[str, Any], index: int) -> dict[str, Any] | None:
    """The order this piece of evidence pays: completed ones, and half the paid ones."""
    if index % UNMATCHED_EVERY == 0 or order["status"] == 40:
        return None
    if order["status"] == 20 and index % (2 * OPEN_EVERY) == 0:
        return None  # paid, its evidence still to come
    return order


def fill(store: Store, count: int) -> float:
    """Insert ``count`` orders with chat, events and evidence; seconds taken."""
    began = time.perf_counter()
    start = datetime.now(UTC) - timedelta(seconds=30 * count)
    with store.transaction() as session:
        session.execute(
            insert(AccountRow),
            [
                {"id": 1, "name": "desk-a", "created_at": start},
                {"id": 2, "name": "desk-b", "created_at": start},
            ],
        )
    for first in range(0, count, BATCH):
        orders = [_order(i, 1 + i % 2, start) for i in range(first, min(first + BATCH, count))]
        with store.transaction() as session:
            session.execute(insert(OrderRow), orders)
            session.execute(insert(ChatMessageRow), [_chat(o, n) for o in orders for n in range(3)])
            session.execute(
                insert(OrderEventRow),
                [
                    {
                        "account_id": o["account_id"],
                        "order_id": o["id"],
                        "type": "order.created",
                        "payload": {"status": 10},
                        "created_at": o["created_at"],
                        "handled_at": o["created_at"],
                    }
                    for o in orders
                ],
            )
            evidence = [
                _payment(_paid_by(o, i), i, start)
                for i, o in zip(range(first, first + len(orders)), orders, strict=True)
                if _paid_by(o, i) is not None or i % UNMATCHED_EVERY == 0
            ]
            session.execute(insert(PaymentRow), evidence)
    if store.dialect == "sqlite":
        with store.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    else:
        with store.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    return time.perf_counter() - began


def timed(call: Callable[[], Any], repeat: int) -> list[float]:
    """Milliseconds of each of ``repeat`` calls, after two warm-up calls."""
    for _ in range(2):
        call()
    found = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        found.append((time.perf_counter() - began) * 1000)
    return found


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("-n", type=int, default=200)
    args = parser.parse_args()
    from starlette.testclient import TestClient

    url, drop = database(args.db)
    store = Store(url)
    try:
        upgrade(store)
        seconds = fill(store, args.orders)
        print(f"{args.db}: {args.orders:,} orders with chat and evidence stored in {seconds:.1f} s")
        config = parse_config(
            {
                "database": {"url": url},
                "accounts": [
                    {"name": name, "api_key": "k", "api_secret": "s"}
                    for name in ("desk-a", "desk-b")
                ],
                "console": {
                    "session_secret": "bench-session-secret-0123456789abcdef",
                    "users": [{"name": "bench", "password_hash": hash_password(PASSWORD)}],
                },
            }
        )
        app = create_app(config, store)
        with TestClient(app, base_url="http://bench", follow_redirects=False) as client:
            _log_in(client)
            # The newest open order: the page an operator opens from the desk.
            newest_open = (args.orders - 1) // OPEN_EVERY * OPEN_EVERY
            some_order = str(1_900_000_000_000_000_000 + newest_open)
            cases = _cases(client, store, some_order)
            print(f"{'request':<28}{'p50 ms':>9}{'p95 ms':>9}{'floor p95':>11}{'ratio':>8}")
            for name, (call, floor) in cases.items():
                served = timed(call, args.n)
                base = timed(floor, args.n)
                print(
                    f"{name:<28}{p(served, 50):>9.1f}{p(served, 95):>9.1f}"
                    f"{p(base, 95):>11.2f}{p(served, 95) / p(base, 95):>7.1f}x"
                )
        machine = platform.processor() or platform.machine()
        print(f"machine: {platform.node()} {machine}, Python {platform.python_version()}")
    finally:
        store.dispose()
        drop()


def _log_in(client: Any) -> None:
    import re

    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    answer = client.post(
        "/login", data={"name": "bench", "password": PASSWORD, "csrf": token.group(1)}
    )
    assert answer.status_code == 303, answer.text


def _cases(
    client: Any, store: Store, order_id: str
) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    from p2pilot.console.views import OPEN_STATUSES
    from p2pilot.store.chat import order_chat

    def ok(path: str) -> Callable[[], Any]:
        def call() -> Any:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            return response

        return call

    def open_orders() -> Any:
        with store.transaction(read_only=True) as session:
            return session.execute(
                select(OrderRow.id).where(
                    OrderRow.account_id.in_([1, 2]), OrderRow.status.in_(OPEN_STATUSES)
                )
            ).all()

    def one_order() -> Any:
        with store.transaction(read_only=True) as session:
            row = session.scalars(
                select(OrderRow).where(OrderRow.exchange_id == order_id).limit(1)
            ).one()
            return order_chat(session, row.account_id, row.exchange_id)

    def newest() -> Any:
        with store.transaction(read_only=True) as session:
            return session.execute(
                select(OrderRow).order_by(OrderRow.created_at.desc(), OrderRow.id.desc()).limit(100)
            ).all()

    return {
        "desk page /": (ok("/"), open_orders),
        "order page /orders/ID": (ok(f"/orders/{order_id}"), one_order),
        "orders API (100 newest)": (ok("/api/v1/orders"), newest),
    }


if __name__ == "__main__":
    main()
