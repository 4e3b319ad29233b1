"""A Hypothesis state machine over the whole desk: money leaves only when it should.

Buyers place, pay, cancel and appeal orders; the operator and the bank report
payments (some wrong); the exchange fails in the ways Bybit does; the daemon
ticks and restarts. After every step, on SQLite and on PostgreSQL:

- no release without matched evidence of the right amount, inside the limits;
- the exchange never refused a release for the order's status (the guard saw it first);
- at most one release and one greeting took effect per order;
- once the faults stop, every open order is greeted, every paid order with
  evidence has a recorded release decision, every event was handled and each
  piece of evidence paid at most one order.

"Restart" here is a clean stop and start; SIGKILL at each crash point is
tests/e2e/test_crash_safety.py.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from p2pilot.config import parse_config
from p2pilot.evidence.intake import EvidenceError, record_evidence
from p2pilot.rules.engine import RETRY_AFTER
from p2pilot.service import Daemon
from p2pilot.simulator.server import SimulatorServer
from p2pilot.simulator.state import WRONG_STATUS
from p2pilot.store.models import ActionRow, OrderEventRow, OrderRow, PaymentRow

from ..conftest import new_postgres_schema
from .simdesk import (
    FAST,
    all_orders,
    clear_faults,
    control,
    order_truth,
    request_log,
    running_simulator,
    try_control,
)

DatabaseFactory = Callable[[], tuple[str, Callable[[], None]]]
KEY, SECRET = "machine-key", "machine-secret-42"
FINISH = "/v5/p2p/order/finish"
SEND = "/v5/p2p/order/message/send"
MAX_AMOUNT, DAILY_LIMIT = Decimal("10000"), Decimal("12000")
# 10500 is over the per-order maximum; 9000 + 2500 + 500 reaches the daily limit exactly.
AMOUNTS = ("500.00", "2500.00", "9000.00", "10500.00")
BUYERS = {"anna_k": "ANNA K", "oleg_s": "OLEG S", "ivan_p": "IVAN P"}
# Faults that leave the account usable (912000014 disables it for good, by design).
FAULTS = (
    "rate_limit",
    "rate_limit_past",
    "timestamp",
    "server_error_code",
    "http_429",
    "http_500",
    "empty_body",
    "lost_response",
)
FAULT_PATHS = (
    FINISH,
    SEND,
    "/v5/p2p/order/info",
    "/v5/p2p/order/pending/simplifyList",
    "/v5/p2p/order/message/listpage",
)


def machine_config(db_url: str, sim_url: str) -> Any:
    return parse_config(
        {
            "database": {"url": db_url},
            "logging": {"format": "json", "level": "warning"},
            "accounts": [
                {
                    "name": "desk",
                    "api_key": KEY,
                    "api_secret": SECRET,
                    "base_url": sim_url,
                    **FAST,
                    "timeout": "2s",
                }
            ],
            "safety": {
                "auto_release": True,
                "release_max_amount": {"RUB": str(MAX_AMOUNT)},
                "release_daily_limit": {"RUB": str(DAILY_LIMIT)},
            },
            "rules": [
                {"name": "greet", "on": "order.created", "reply": "Hi, pay {order.amount}"},
                {
                    "name": "release",
                    "on": ["order.paid", "payment.received"],
                    "if": {"payment_confirmed": True},
                    "release": True,
                },
            ],
        }
    )


class Desk(RuleBasedStateMachine):
    """One simulated desk; ``sim`` and ``new_database`` are set by the test below."""

    sim: SimulatorServer
    new_database: DatabaseFactory

    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        control(self.sim, "reset")
        self.db_url, self._drop_database = self.new_database()
        self.config = machine_config(self.db_url, self.sim.url)
        # The daemon's clock: real time, moved ahead at the end so every backoff and
        # retry delay is over without the test sleeping.
        self.ahead = timedelta(0)
        self.first_day = datetime.now(UTC).date()
        self.daemon = self._start()
        self.references = 0

    def clock(self) -> datetime:
        return datetime.now(UTC) + self.ahead

    def _start(self) -> Daemon:
        daemon = Daemon(self.config, clock=self.clock)
        daemon.start()
        return daemon

    # -- the world ---------------------------------------------------------------

    @rule(target=orders, amount=st.sampled_from(AMOUNTS), buyer=st.sampled_from(sorted(BUYERS)))
    def buyer_takes_ad(self, amount: str, buyer: str) -> str:
        answer = control(
            self.sim,
            "orders",
            side="sell",
            amount=amount,
            price="81.00",
            counterparty=buyer,
            counterparty_real_name=BUYERS[buyer],
        )
        return str(answer["id"])

    @rule(order=orders, action=st.sampled_from(["pay", "pay", "pay", "cancel", "appeal"]))
    def buyer_acts(self, order: str, action: str) -> None:
        # The simulator refuses moves its status machine forbids; that is fine here.
        try_control(self.sim, f"orders/{order}/{action}")

    @rule(order=orders, exact=st.booleans(), named=st.booleans())
    def payment_reported(self, order: str, exact: bool, named: bool) -> None:
        """The operator (naming the order) or the bank hook (matching) reports fiat."""
        truth = order_truth(self.sim, order)
        amount = Decimal(truth["amount"]) + (0 if exact else Decimal("1.00"))
        self.references += 1
        now = datetime.now(UTC)
        # Refused when the order is not stored yet or the amount does not fit.
        with contextlib.suppress(EvidenceError):
            record_evidence(
                self.daemon.store,
                amount=amount,
                currency="RUB",
                payer_name=BUYERS[truth["targetNickName"]],
                reference=f"ref-{self.references}",
                received_at=now,
                source="machine",
                now=now,
                order_id=order if named else None,
            )
        self.daemon.dispatcher.drain()  # new evidence is acted on at once

    @rule(fault=st.sampled_from(FAULTS), path=st.sampled_from(FAULT_PATHS))
    def exchange_fails_once(self, fault: str, path: str) -> None:
        control(self.sim, "faults", fault=fault, paths=[path], count=1, reset_in_ms=50)

    @rule()
    def tick(self) -> None:
        self.daemon.run_once()

    @rule()
    def restart(self) -> None:
        self.daemon.close()
        self.daemon = self._start()

    # -- what must always hold -------------------------------------------------------

    @invariant()
    def releases_are_guarded_and_single(self) -> None:
        log = request_log(self.sim)
        finishes = [e for e in log if e["path"] == FINISH]
        assert not [e for e in finishes if e["ret_code"] == WRONG_STATUS], finishes
        took_effect = [e["body"]["orderId"] for e in finishes if e["ret_code"] == 0]
        assert len(took_effect) == len(set(took_effect)), took_effect
        evidence = self._evidence_by_order()
        released = Decimal(0)
        for order_id in took_effect:
            amount = Decimal(order_truth(self.sim, order_id)["amount"])
            assert evidence.get(order_id) == amount, (order_id, evidence)
            assert amount <= MAX_AMOUNT
            released += amount
        if self.clock().date() == self.first_day:  # the limit is per UTC day
            assert released <= DAILY_LIMIT
        greeted = [e["body"]["orderId"] for e in log if e["path"] == SEND and e["ret_code"] == 0]
        assert len(greeted) == len(set(greeted)), greeted

    def _evidence_by_order(self) -> dict[str, Decimal]:
        with self.daemon.store.transaction(read_only=True) as session:
            rows = session.execute(
                select(OrderRow.exchange_id, PaymentRow.amount).join(
                    PaymentRow, PaymentRow.order_id == OrderRow.id
                )
            )
            return {order_id: amount for order_id, amount in rows}

    def teardown(self) -> None:
        try:
            clear_faults(self.sim)
            # A tick reads at most eight new orders' details: give the backlog its ticks.
            for _ in range(8):
                self.ahead += timedelta(minutes=1) + RETRY_AFTER  # past any pause
                self.daemon.run_once()
            self.releases_are_guarded_and_single()
            self._each_event_and_payment_once()
            self._everything_decided()
        finally:
            self.daemon.close()
            self._drop_database()

    def _each_event_and_payment_once(self) -> None:
        with self.daemon.store.transaction(read_only=True) as session:
            unhandled = session.scalar(
                select(func.count())
                .select_from(OrderEventRow)
                .where(OrderEventRow.handled_at.is_(None))
            )
            per_order = session.execute(
                select(PaymentRow.order_id, func.count())
                .where(PaymentRow.order_id.is_not(None))
                .group_by(PaymentRow.order_id)
            ).all()
        assert unhandled == 0  # every event was handed to the rules
        assert all(count == 1 for _, count in per_order)  # evidence pays one order, once

    def _everything_decided(self) -> None:
        greeted = {
            e["body"]["orderId"]
            for e in request_log(self.sim)
            if e["path"] == SEND and e["ret_code"] == 0
        }
        evidence = self._evidence_by_order()
        with self.daemon.store.transaction(read_only=True) as session:
            decided = set(
                session.scalars(
                    select(OrderRow.exchange_id)
                    .join(ActionRow, ActionRow.order_id == OrderRow.id)
                    .where(ActionRow.kind == "release")
                )
            )
        for truth in all_orders(self.sim):
            order_id = truth["id"]
            # An order cancelled before the daemon ever saw it open is greeted by no one.
            if truth["status"] in (10, 20):
                assert order_id in greeted, f"open order {order_id} never greeted"
            if truth["status"] == 20 and order_id in evidence:
                assert order_id in decided, f"paid order {order_id} with evidence undecided"


@pytest.fixture
def new_database(request: pytest.FixtureRequest) -> DatabaseFactory:
    """A factory of empty databases on this test's backend, one per Hypothesis example."""
    if request.param == "postgresql":
        admin: Engine = request.getfixturevalue("postgres_admin")
        return lambda: new_postgres_schema(admin)
    workdir: Path = request.getfixturevalue("tmp_path")
    return lambda: (f"sqlite:///{workdir / uuid.uuid4().hex}.db", lambda: None)


@pytest.mark.parametrize(
    "new_database",
    [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
    indirect=True,
)
@pytest.mark.timeout(600)  # room for Hypothesis to shrink a failure
def test_money_leaves_only_when_it_should(
    new_database: DatabaseFactory,
) -> None:
    with running_simulator({KEY: SECRET}) as sim:
        Desk.sim = sim
        Desk.new_database = staticmethod(new_database)  # type: ignore[assignment]
        run_state_machine_as_test(
            Desk,
            settings=settings(
                max_examples=10,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
