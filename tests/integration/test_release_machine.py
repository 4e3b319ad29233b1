"""A Hypothesis state machine over the whole desk: money leaves only when it should.

Buyers place, pay, cancel and appeal orders in three currencies (KZT has no limits);
money arrives from the buyer (named properly or adversarially) or from a third
party; the bank hook and a second source (a mailbox) report the same transfers; the
operator confirms payments by hand and blacklists a buyer; the desk runs in
``release_mode = "approve"`` with ``approve_above`` and ``two_person_above``, so
operators approve, hold, pause and resume (through the operator layer, as the CLI
and the console do); one buyer is blocked by
Bybit; the exchange fails in the ways Bybit does; the daemon ticks and restarts; on
PostgreSQL a second daemon competes for the account. After every step, on SQLite and
on PostgreSQL:

- no release without evidence bound to it, inside the limits of its own currency;
- the exchange never refused a release for the order's status (the guard saw it first);
- at most one release and one greeting took effect per order;
- no transfer pays two orders, however many sources reported it, and per payer and
  currency the fiat released never exceeds the fiat that arrived;
- nothing is released for a third party's money, to a blocked buyer, or to a buyer
  after they were blacklisted;
- a release above ``approve_above`` went out only after as many different
  operators approved it as its amount needs, none after a hold of its order,
  none while the account was paused;
- once the faults stop, every open order is greeted, every paid order with
  evidence has a recorded release decision, every event was handled and each
  piece of evidence paid at most one order.

"Restart" here is a clean stop and start; SIGKILL at each crash point is
tests/e2e/test_crash_safety.py.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
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

from p2pilot.config import parse_config
from p2pilot.evidence.intake import EvidenceError
from p2pilot.operator import Operator, OperatorCommands
from p2pilot.rules.blacklist import BlacklistError, add_entry
from p2pilot.rules.engine import RETRY_AFTER
from p2pilot.service import Daemon
from p2pilot.simulator.records import WRONG_STATUS
from p2pilot.simulator.server import SimulatorServer
from p2pilot.store.models import ActionRow, OrderEventRow, OrderRow, PaymentRow

from ..evidence import report_payment
from ..pgschemas import MigratedSchemas
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
MAX_AMOUNT = {"RUB": Decimal("10000"), "USD": Decimal("500")}
DAILY_LIMIT = {"RUB": Decimal("12000"), "USD": Decimal("600")}
# 10500 RUB and 550 USD are over the per-order maximum; 9000 + 2500 + 500 RUB reach the
# daily limit exactly; KZT has no limits at all, so nothing in KZT is ever released.
AMOUNTS = {
    "RUB": ("500.00", "2500.00", "9000.00", "10500.00"),
    "USD": ("100.00", "450.00", "550.00"),
    "KZT": ("50000",),
}


APPROVE_ABOVE = {"RUB": Decimal("2500"), "USD": Decimal("100")}
TWO_PERSON_ABOVE = {"RUB": Decimal("5000")}


def approvals_needed(amount: Decimal, currency: str) -> int:
    """The machine's own reading of approve_above and two_person_above (an oracle)."""
    if amount > TWO_PERSON_ABOVE.get(currency, amount):
        return 2
    return 1 if amount > APPROVE_ABOVE.get(currency, Decimal(0)) else 0


@dataclass(frozen=True)
class Buyer:
    kyc: str  # as Bybit shows it on the order
    full_name: str  # as their bank shows it
    blocked: str = "N"


BUYERS = {
    "anna_k": Buyer("ANNA K", "Anna Kovaleva"),
    "oleg_s": Buyer("OLEG S", "Oleg Smirnov"),
    "ivan_p": Buyer("IVAN P", "Ivan Petrov"),
    "boris_b": Buyer("BORIS B", "Boris Belov", blocked="Y"),
}
# How a payer's name can reach us: the buyer's own name, or a loose form of it that
# once matched (initials, masks, an extra word); "third" is someone else's money.
SPELLINGS = ("full", "full", "reversed", "initials", "masks", "extra_word", "third")
THIRD_PARTY = "Maria Popova"
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


@dataclass(frozen=True)
class Transfer:
    """Money that really arrived (the machine's ground truth)."""

    base: str  # every report of it carries a reference starting with this
    amount: Decimal
    currency: str
    payer: str  # the nickname of the buyer who paid, or "third"
    payer_name: str


def payer_name(buyer: str, spelling: str) -> str:
    full = BUYERS[buyer].full_name
    first, last = full.split()
    return {
        "full": full,
        "reversed": f"{last.upper()} {first.upper()}",
        "initials": f"{first[0]} {last[0]}",
        "masks": f"{first[0]}*** {last[0]}***",
        "extra_word": f"Bob {last} {first}",
        "third": THIRD_PARTY,
    }[spelling]


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
                # Up to 2500 RUB and 100 USD go out alone; 450 USD waits for an
                # operator, 9000 RUB for two.
                "release_mode": "approve",
                "approve_above": {k: str(v) for k, v in APPROVE_ABOVE.items()},
                "two_person_above": {k: str(v) for k, v in TWO_PERSON_ABOVE.items()},
                "release_max_amount": {k: str(v) for k, v in MAX_AMOUNT.items()},
                "release_daily_limit": {k: str(v) for k, v in DAILY_LIMIT.items()},
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
    transfers = Bundle("transfers")

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
        # PostgreSQL: a second daemon on the same database competes for the account.
        self.other = self._start() if self.db_url.startswith("postgresql") else None
        self.references = 0
        self.buyer_of: dict[str, str] = {}
        self.truth: dict[str, Transfer] = {}
        self.blacklisted_at: dict[str, int] = {}  # buyer -> request log seq when listed
        self.commands = OperatorCommands(self.daemon.store, self.config, clock=self.clock)
        self.approvers: dict[str, set[str]] = {}  # order -> who approved it (and counts)
        self.held_at: dict[str, int] = {}  # order -> request log seq when held
        self.paused: list[tuple[int, int | None]] = []  # (from, until) request log seqs

    def clock(self) -> datetime:
        return datetime.now(UTC) + self.ahead

    def _start(self) -> Daemon:
        daemon = Daemon(self.config, clock=self.clock)
        daemon.start()
        return daemon

    # -- the world ---------------------------------------------------------------

    @rule(
        target=orders,
        currency=st.sampled_from(sorted(AMOUNTS)),
        index=st.integers(0, 3),
        buyer=st.sampled_from(sorted(BUYERS)),
    )
    def buyer_takes_ad(self, currency: str, index: int, buyer: str) -> str:
        amounts = AMOUNTS[currency]
        return self._open_order(buyer, amounts[index % len(amounts)], currency)

    @rule(target=orders, order=orders)
    def buyer_orders_again(self, order: str) -> str:
        """A regular: the same buyer, amount and currency as an earlier order."""
        truth = order_truth(self.sim, order)
        return self._open_order(self.buyer_of[order], truth["amount"], truth["currencyId"])

    def _open_order(self, buyer: str, amount: str, currency: str) -> str:
        """The buyer takes the sell ad for ``amount``: the new order's id."""
        answer = control(
            self.sim,
            "orders",
            side="sell",
            amount=amount,
            price="81.00",
            currency=currency,
            counterparty=buyer,
            counterparty_real_name=BUYERS[buyer].kyc,
            counterparty_blocked=BUYERS[buyer].blocked,
        )
        order_id = str(answer["id"])
        self.buyer_of[order_id] = buyer
        return order_id

    @rule(target=orders, order=orders, named=st.booleans())
    def paid_money_reported_for_the_next_order(self, order: str, named: bool) -> str:
        """Issue 11's case 1 in one step: the operator confirms an order, and the bank
        reports the same money while the same buyer's next order of that amount is paid."""
        try_control(self.sim, f"orders/{order}/pay")
        self.daemon.run_once()  # stored and paid
        if order not in self._evidence_by_order():
            self.operator_confirms(order, named)
        self.daemon.run_once()  # released, if every guard holds
        again = self.buyer_orders_again(order)
        try_control(self.sim, f"orders/{again}/pay")
        self.daemon.run_once()
        bound = self._evidence_by_order().get(order)
        if bound is not None:
            self._report(self.truth[bound[0].rsplit("-", 1)[0]], "bank")
        return again

    @rule(order=orders, action=st.sampled_from(["pay", "pay", "pay", "cancel", "appeal"]))
    def buyer_acts(self, order: str, action: str) -> None:
        # The simulator refuses moves its status machine forbids; that is fine here.
        try_control(self.sim, f"orders/{order}/{action}")

    @rule(target=transfers, order=orders, exact=st.booleans(), spelling=st.sampled_from(SPELLINGS))
    def money_arrives(self, order: str, exact: bool, spelling: str) -> str:
        """Money for an order reaches the bank, which reports it (the hook matches it)."""
        truth = order_truth(self.sim, order)
        buyer = self.buyer_of[order]
        transfer = self._transfer(
            Decimal(truth["amount"]) + (0 if exact else Decimal("1.00")),
            truth["currencyId"],
            "third" if spelling == "third" else buyer,
            payer_name(buyer, spelling),
        )
        self._report(transfer, "bank")
        return transfer.base

    @rule(target=transfers, order=orders, named=st.booleans())
    def operator_confirms(self, order: str, named: bool) -> str:
        """The operator saw the buyer's money for this order and confirms it by hand."""
        truth = order_truth(self.sim, order)
        buyer = self.buyer_of[order]
        transfer = self._transfer(
            Decimal(truth["amount"]),
            truth["currencyId"],
            buyer,
            BUYERS[buyer].full_name if named else "",
        )
        self._report(transfer, "operator", order_id=order)
        return transfer.base

    @rule(transfer=transfers)
    def second_source_reports(self, transfer: str) -> None:
        """The same money again, from a mailbox: never a second payment."""
        self._report(self.truth[transfer], "mailbox")

    @rule(buyer=st.sampled_from(sorted(BUYERS)))
    def operator_blacklists(self, buyer: str) -> None:
        with contextlib.suppress(BlacklistError):
            add_entry(
                self.daemon.store, kind="nickname", value=buyer, reason="machine", now=self.clock()
            )
            log = request_log(self.sim)
            self.blacklisted_at[buyer] = log[-1]["seq"] if log else 0

    @rule(order=orders, who=st.sampled_from(["alice", "bob"]))
    def operator_approves(self, order: str, who: str) -> None:
        outcome = self.commands.approve(Operator(who, "console"), order)
        if outcome.ok and outcome.details.get("state") in ("approved", "approved_partly"):
            self.approvers.setdefault(order, set()).add(who)

    @rule(order=orders)
    def operator_holds(self, order: str) -> None:
        if self.commands.hold(Operator("carol", "cli"), order, "machine").ok:
            self.held_at.setdefault(order, self._seq())
            self.approvers.pop(order, None)  # a hold voids the approvals before it

    @rule()
    def operator_pauses_or_resumes(self) -> None:
        who = Operator("dave", "telegram")
        if self.paused and self.paused[-1][1] is None:
            assert self.commands.resume(who, "desk").message == "resumed"
            self.paused[-1] = (self.paused[-1][0], self._seq())
        else:
            assert self.commands.pause(who, "desk").message == "paused"
            self.paused.append((self._seq(), None))

    def _seq(self) -> int:
        log = request_log(self.sim)
        return int(log[-1]["seq"]) if log else 0

    @rule(fault=st.sampled_from(FAULTS), path=st.sampled_from(FAULT_PATHS))
    def exchange_fails_once(self, fault: str, path: str) -> None:
        control(self.sim, "faults", fault=fault, paths=[path], count=1, reset_in_ms=50)

    @rule()
    def tick(self) -> None:
        self.daemon.run_once()

    @rule()
    def other_daemon_ticks(self) -> None:
        if self.other is not None:
            self.other.run_once()

    @rule()
    def restart(self) -> None:
        self.daemon.close()  # gives up its leases: the other daemon may take over
        self.daemon = self._start()

    def _transfer(self, amount: Decimal, currency: str, payer: str, name: str) -> Transfer:
        self.references += 1
        transfer = Transfer(f"t{self.references}", amount, currency, payer, name)
        self.truth[transfer.base] = transfer
        return transfer

    def _report(self, transfer: Transfer, source: str, order_id: str | None = None) -> None:
        reference = f"{transfer.base}-{source}"
        # Refused when the order is not stored yet or already has evidence, or the
        # amount does not fit: nothing is stored then.
        with contextlib.suppress(EvidenceError):
            report_payment(
                self.daemon.store,
                transfer.amount,
                reference,
                payer=transfer.payer_name,
                source=source,
                currency=transfer.currency,
                order_id=order_id,
            )
        self.daemon.dispatcher.drain()  # new evidence is acted on at once

    # -- what must always hold -------------------------------------------------------

    @invariant()
    def releases_are_guarded_and_single(self) -> None:
        log = request_log(self.sim)
        finishes = [e for e in log if e["path"] == FINISH]
        assert not [e for e in finishes if e["ret_code"] == WRONG_STATUS], finishes
        took_effect = [e for e in finishes if e["ret_code"] == 0]
        released_ids = [e["body"]["orderId"] for e in took_effect]
        assert len(released_ids) == len(set(released_ids)), released_ids
        evidence = self._evidence_by_order()
        released: dict[str, Decimal] = {}
        paid_by: dict[str, str] = {}
        per_payer: dict[tuple[str, str], Decimal] = {}
        for entry in took_effect:
            order_id = entry["body"]["orderId"]
            truth = order_truth(self.sim, order_id)
            amount, currency = Decimal(truth["amount"]), truth["currencyId"]
            buyer = self.buyer_of[order_id]
            assert order_id in evidence, (order_id, evidence)
            reference, evidenced = evidence[order_id]
            assert evidenced == amount, (order_id, evidenced, amount)
            assert currency in MAX_AMOUNT and amount <= MAX_AMOUNT[currency]
            released[currency] = released.get(currency, Decimal(0)) + amount
            # The money behind it: the buyer's own, and paying no other order.
            transfer = self.truth[reference.rsplit("-", 1)[0]]
            assert transfer.payer == buyer, (order_id, transfer)
            assert transfer.base not in paid_by, (order_id, paid_by[transfer.base])
            paid_by[transfer.base] = order_id
            key = (buyer, currency)
            per_payer[key] = per_payer.get(key, Decimal(0)) + amount
            assert BUYERS[buyer].blocked == "N", order_id
            listed = self.blacklisted_at.get(buyer)
            assert listed is None or entry["seq"] <= listed, (order_id, buyer)
            self._operators_allowed(order_id, amount, currency, entry["seq"])
        for (buyer, currency), amount in per_payer.items():
            arrived = sum(
                (
                    t.amount
                    for t in self.truth.values()
                    if t.payer == buyer and t.currency == currency
                ),
                Decimal(0),
            )
            assert amount <= arrived, (buyer, currency, amount, arrived)
        if self.clock().date() == self.first_day:  # the limits are per UTC day
            for currency, total in released.items():
                assert total <= DAILY_LIMIT[currency], (currency, total)
        greeted = [e["body"]["orderId"] for e in log if e["path"] == SEND and e["ret_code"] == 0]
        assert len(greeted) == len(set(greeted)), greeted

    def _operators_allowed(self, order_id: str, amount: Decimal, currency: str, seq: int) -> None:
        needed = approvals_needed(amount, currency)
        assert len(self.approvers.get(order_id, ())) >= needed, (order_id, needed)
        held = self.held_at.get(order_id)
        assert held is None or seq <= held, (order_id, "released after a hold")
        for start, end in self.paused:
            assert not (start < seq and (end is None or seq < end)), (order_id, "while paused")

    def _evidence_by_order(self) -> dict[str, tuple[str, Decimal]]:
        with self.daemon.store.transaction(read_only=True) as session:
            rows = session.execute(
                select(OrderRow.exchange_id, PaymentRow.reference, PaymentRow.amount).join(
                    PaymentRow, PaymentRow.order_id == OrderRow.id
                )
            )
            return {order_id: (reference, amount) for order_id, reference, amount in rows}

    def teardown(self) -> None:
        try:
            clear_faults(self.sim)
            if self.other is not None:
                self.other.close()  # the first daemon takes the account back
                self.other = None
            # A tick reads at most eight new orders' details: give the backlog its ticks.
            for _ in range(8):
                self.ahead += timedelta(minutes=1) + RETRY_AFTER  # past any pause
                self.daemon.run_once()
            self.releases_are_guarded_and_single()
            self._each_event_and_payment_once()
            self._everything_decided()
        finally:
            if self.other is not None:
                self.other.close()
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


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def new_database(request: pytest.FixtureRequest) -> DatabaseFactory:
    """A factory of databases at head with no rows on this test's backend, one per
    Hypothesis example (what the daemon does on an empty one is not this test's)."""
    if request.param == "postgresql":
        schemas: MigratedSchemas = request.getfixturevalue("migrated_schemas")
        return schemas.take
    workdir: Path = request.getfixturevalue("tmp_path")
    template: Path = request.getfixturevalue("sqlite_template")

    def sqlite_copy() -> tuple[str, Callable[[], None]]:
        path = workdir / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}", lambda: None

    return sqlite_copy


@pytest.mark.slow
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


def test_the_machine_replays_the_issues_double_payout(new_database: DatabaseFactory) -> None:
    """The steps that once paid 4000 RUB for one 2000 RUB transfer, as a fixed example of
    the machine (Hypothesis may take long to stumble on them): one release, and the bank's
    second report of the money is held, not bound."""
    with running_simulator({KEY: SECRET}) as sim:
        Desk.sim = sim
        Desk.new_database = staticmethod(new_database)  # type: ignore[assignment]
        desk = Desk()
        try:
            first = desk.buyer_takes_ad("RUB", 1, "oleg_s")
            desk.tick()
            second = desk.paid_money_reported_for_the_next_order(first, named=True)
            desk.tick()
            desk.releases_are_guarded_and_single()
            released = [
                e["body"]["orderId"]
                for e in request_log(sim)
                if e["path"] == FINISH and e["ret_code"] == 0
            ]
            assert released == [first]
            with desk.daemon.store.transaction(read_only=True) as session:
                held = session.execute(
                    select(PaymentRow.reference, PaymentRow.hold_reason).where(
                        PaymentRow.order_id.is_(None)
                    )
                ).all()
            assert held == [("t1-bank", "possible duplicate")]
            assert second not in desk._evidence_by_order()
        finally:
            desk.teardown()


def test_the_machine_approves_a_two_person_release(new_database: DatabaseFactory) -> None:
    """The approvals as fixed steps of the machine (Hypothesis rarely pays 9000 RUB with
    fitting evidence in its budget): it waits through one approval, a pause and a resume,
    and goes out once after the second operator's."""
    with running_simulator({KEY: SECRET}) as sim:
        Desk.sim = sim
        Desk.new_database = staticmethod(new_database)  # type: ignore[assignment]
        desk = Desk()
        try:
            order = desk.buyer_takes_ad("RUB", 2, "anna_k")  # 9000 RUB: two operators
            desk.tick()
            desk.buyer_acts(order, "pay")
            desk.tick()
            desk.operator_confirms(order, named=True)
            desk.tick()
            desk.operator_approves(order, "alice")
            desk.operator_pauses_or_resumes()  # paused
            desk.operator_approves(order, "bob")  # refused while paused
            desk.tick()
            desk.operator_pauses_or_resumes()  # resumed
            desk.tick()
            assert desk.approvers[order] == {"alice"}
            assert [e for e in request_log(sim) if e["path"] == FINISH] == []
            desk.operator_approves(order, "bob")
            desk.tick()
            desk.releases_are_guarded_and_single()
            released = [e["body"]["orderId"] for e in request_log(sim) if e["path"] == FINISH]
            assert released == [order]
        finally:
            desk.teardown()
