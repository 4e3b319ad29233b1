"""Never pay out for money that did not arrive: issue 11's six cases, end to end.

The daemon runs as a process against the simulator, the bank hook posts signed
evidence over HTTP, the operator uses the CLI. Each case releases nothing it
should not, ``orders show`` says which guard or reason held the order, and held
evidence is listed by ``payments list --unmatched``; the legitimate flows still
release exactly once.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from p2pilot.signing import signature_headers
from p2pilot.store import orders as stored_orders
from p2pilot.store.engine import Store

from ..evidence import report_payment
from .conftest import (
    QUICK_TICK,
    SECRET_ENV,
    DaemonProcess,
    SimProcess,
    cli,
    free_port,
    wait_for,
    write_config,
)
from .conftest import released as released_orders

HOOK_SECRET = "hook-secret-e2e-11"
RULES = """
[evidence]
listen = "127.0.0.1:{port}"
secret = "{secret}"

[safety]
release_max_amount = {{ RUB = "50000" }}
release_daily_limit = {{ RUB = "500000" }}
release_mode = "auto"
{safety}

[[rules]]
name = "auto-release"
on = ["order.paid", "payment.received"]
if = {{ payment_confirmed = true }}
release = true
"""


class Desk(DaemonProcess):
    """The daemon as a process, its bank hook, and the operator's CLI."""

    def __init__(self, sim: SimProcess, db_url: str, tmp_path: Path, *, safety: str = "") -> None:
        self.sim = sim
        self.port = free_port()
        extra = RULES.format(port=self.port, secret=HOOK_SECRET, safety=safety)
        self.config = write_config(
            tmp_path / "p2pilot.toml", db_url=db_url, base_url=sim.url, extra=extra, tick=QUICK_TICK
        )
        super().__init__(self.config, tmp_path / "daemon.log")
        self.store = Store(db_url)  # reads only: to wait without a CLI process per poll
        self.canaries: set[str] = set()
        self.canary_amount = 100
        try:
            # Generous: a daemon starting on a machine busy with the parallel phase.
            wait_for(self._hook_up, timeout=90, interval=0.2)
        except BaseException:
            self.stop()  # the fixture never gets it back: do not leave the daemon running
            raise

    def _hook_up(self) -> bool:
        try:
            requests.get(f"http://127.0.0.1:{self.port}/", timeout=0.5)
        except requests.RequestException:
            assert self.process.poll() is None, "the daemon exited"
            return False
        return True

    def stop(self, timeout: float = 15) -> None:
        self.store.dispose()
        super().stop(timeout)

    # -- the outside world ---------------------------------------------------------

    def order(self, amount: str, buyer: str, kyc: str, **extra: str) -> str:
        answer = self.sim.control(
            "POST",
            "orders",
            side="sell",
            amount=amount,
            price="81.00",
            counterparty=buyer,
            counterparty_real_name=kyc,
            **extra,
        )
        order_id = str(answer["id"])  # type: ignore[index]
        wait_for(lambda: self.peek(order_id) is not None, timeout=20, interval=0.1)
        return order_id

    def pay(self, order_id: str) -> None:
        self.sim.control("POST", f"orders/{order_id}/pay")
        # Paid, or already released: with evidence bound first, the release may come
        # within the tick that saw the payment.
        wait_for(
            lambda: (self.peek(order_id) or {}).get("status") in (20, 50), timeout=20, interval=0.1
        )

    def peek(self, order_id: str) -> dict[str, Any] | None:
        """The stored order as ``orders show --json`` has it, read in this process."""
        with self.store.transaction(read_only=True) as session:
            view = stored_orders.get_order(session, order_id)
        return view.to_json() if view is not None else None

    def bank(self, amount: str, payer: str, reference: str, currency: str = "RUB") -> Any:
        body = json.dumps(
            {
                "amount": amount,
                "currency": currency,
                "payer_name": payer,
                "reference": reference,
                "received_at": datetime.now(UTC).isoformat(),
            }
        ).encode()
        headers = {"Content-Type": "application/json", **signature_headers(HOOK_SECRET, body)}
        answer = requests.post(
            f"http://127.0.0.1:{self.port}/v1/payments", data=body, headers=headers, timeout=10
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    # -- the operator ----------------------------------------------------------------

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return cli("--config", str(self.config), *args, env=SECRET_ENV)

    def show(self, order_id: str) -> dict[str, Any] | None:
        shown = self.run("orders", "show", order_id, "--json")
        return json.loads(shown.stdout) if shown.returncode == 0 else None

    def unmatched(self) -> list[dict[str, Any]]:
        listed = self.run("payments", "list", "--unmatched", "--json")
        assert listed.returncode == 0, listed.stderr
        return list(json.loads(listed.stdout))

    def decided(self, order_id: str) -> list[dict[str, Any]]:
        """The order's settled release decisions, waiting until there is at least one."""

        def settled() -> list[dict[str, Any]]:
            actions = (self.peek(order_id) or {}).get("actions", [])
            return [
                a
                for a in actions
                if a["kind"] == "release" and a["state"] in ("succeeded", "skipped", "failed")
            ]

        wait_for(settled, timeout=30, interval=0.1)
        shown = self.show(order_id)  # what the operator sees
        assert shown is not None
        return [a for a in shown["actions"] if a["kind"] == "release"]

    def released(self) -> list[str]:
        """Orders whose release took effect, the canaries left out."""
        return [o for o in released_orders(self.sim) if o not in self.canaries]

    def settle(self) -> None:
        """Wait until every event so far was handled: a canary order paid after them is released.

        Events are handled strictly in order, so once the canary's release went out,
        whatever the daemon was going to do about the earlier ones is done.
        """
        self.canary_amount += 1
        canary = self.order(f"{self.canary_amount}.00", "canary_c", "CANARY C")
        self.canaries.add(canary)
        self.pay(canary)
        amount = f"{self.canary_amount}.00"
        # The operator's confirmation, without a CLI process.
        report_payment(self.store, amount, f"canary-{canary}", order_id=canary)
        wait_for(lambda: canary in self._all_released(), timeout=40, interval=0.1)

    def _all_released(self) -> set[str]:
        return set(released_orders(self.sim))


@pytest.fixture
def desk(
    simulator: SimProcess,
    migrated_db_url: str,
    tmp_path: Path,
) -> Iterator[Desk]:
    with Desk(simulator, migrated_db_url, tmp_path) as running:
        yield running


pytestmark = pytest.mark.timeout(300)  # a daemon, a simulator and CLI processes


def held_by(decisions: list[dict[str, Any]], guard: str) -> str:
    """The detail of ``guard`` in a refused decision's table (fails if it held nothing)."""
    for decision in decisions:
        for row in decision["detail"].get("guards", []):
            if row["guard"] == guard and not row["ok"]:
                return str(row["detail"])
    raise AssertionError(f"no decision held by {guard}: {decisions}")


def test_one_transfer_reported_twice_pays_one_order(desk: Desk) -> None:
    """Case 1: the operator confirms X; the bank's report of the same money must not pay Y."""
    x = desk.order("2000.00", "oleg_s", "OLEG S")
    y = desk.order("2000.00", "oleg_s", "OLEG S")
    desk.pay(x)
    desk.pay(y)
    confirmed = desk.run(
        "orders", "confirm-payment", x, "--amount", "2000.00", "--payer", "Oleg Smirnov"
    )
    assert confirmed.returncode == 0, confirmed.stderr
    wait_for(lambda: desk.released() == [x], timeout=30, interval=0.1)

    answer = desk.bank("2000.00", "Oleg Smirnov", "sbp-777")
    assert answer["order_id"] is None and "possible duplicate" in answer["reason"]
    (held,) = desk.unmatched()
    assert held["reference"] == "sbp-777" and held["hold_reason"] == "possible duplicate"
    assert x in held["note"]
    shown = desk.show(y)
    assert shown is not None and shown["evidence"] is None
    assert [(h["reference"], h["hold_reason"]) for h in shown["held_evidence"]] == [
        ("sbp-777", "possible duplicate")
    ]
    desk.settle()
    assert desk.released() == [x]
    assert [a for a in desk.show(y)["actions"] if a["kind"] == "release"] == []  # type: ignore[index]


def test_a_confirmation_of_money_the_bank_bound_elsewhere_is_held(desk: Desk) -> None:
    """Case 1, the other way round: the bank paid Y; the operator's confirmation of X waits."""
    y = desk.order("2200.00", "ivan_p", "IVAN P")
    desk.pay(y)
    assert desk.bank("2200.00", "Ivan Petrov", "sbp-y")["order_id"] == y
    wait_for(lambda: desk.released() == [y], timeout=30, interval=0.1)
    x = desk.order("2200.00", "ivan_p", "IVAN P")
    desk.pay(x)
    confirmed = desk.run(
        "orders", "confirm-payment", x, "--amount", "2200", "--payer", "Ivan Petrov"
    )
    assert confirmed.returncode == 1 and confirmed.stdout == ""
    assert f"{x}: payment held, not recorded for order {x}: possible duplicate" in (
        confirmed.stderr
    )
    assert f"already paid order {y}" in confirmed.stderr
    (held,) = desk.unmatched()
    assert held["hold_reason"] == "possible duplicate" and y in held["note"]
    assert f"p2pilot payments attach {held['id']} {x}" in confirmed.stderr
    shown = desk.show(x)
    assert shown is not None and shown["evidence"] is None
    assert [h["reference"] for h in shown["held_evidence"]] == [f"manual-{x}"]
    desk.settle()
    assert desk.released() == [y]
    # The operator's word that it is a second transfer releases X.
    assert desk.run("payments", "attach", str(held["id"]), x).returncode == 0
    wait_for(lambda: desk.released() == [y, x], timeout=30, interval=0.1)


def test_ambiguous_bank_evidence_is_adopted_by_the_confirmation_not_doubled(desk: Desk) -> None:
    """Case 1, reversed: the confirmation of P1 takes the floating evidence; Q gets nothing."""
    p1 = desk.order("3000.00", "anna_k", "ANNA K")
    q = desk.order("3000.00", "anna_k", "ANNA K")
    answer = desk.bank("3000.00", "Anna Kovaleva", "sbp-888")
    assert answer["order_id"] is None and answer["reason"].startswith("ambiguous")
    (held,) = desk.unmatched()
    assert held["hold_reason"] == "ambiguous"

    desk.pay(p1)
    confirmed = desk.run("orders", "confirm-payment", p1, "--json")
    assert confirmed.returncode == 0, confirmed.stderr
    document = json.loads(confirmed.stdout)
    assert document["adopted"] is True and document["payment_id"] == held["id"]
    wait_for(lambda: desk.released() == [p1], timeout=30, interval=0.1)
    listed = json.loads(desk.run("payments", "list", "--json").stdout)
    assert [(p["reference"], p["order_id"]) for p in listed] == [("sbp-888", p1)]

    desk.pay(q)  # the buyer clicks "paid" without paying
    desk.settle()
    assert desk.released() == [p1]
    assert desk.unmatched() == []


def test_a_refused_confirmation_stores_nothing(desk: Desk) -> None:
    """Case 2: a confirmation that cannot bind leaves no evidence behind for the next order."""
    first = desk.order("1500.00", "ivan_p", "IVAN P")
    desk.pay(first)
    wrong = desk.run("orders", "confirm-payment", first, "--amount", "150.00")
    assert wrong.returncode == 1 and "does not fit order" in wrong.stderr
    assert json.loads(desk.run("payments", "list", "--json").stdout) == []

    right = desk.run("orders", "confirm-payment", first, "--reference", "bank-1")
    assert right.returncode == 0, right.stderr
    wait_for(lambda: desk.released() == [first], timeout=30, interval=0.1)
    twice = desk.run("orders", "confirm-payment", first, "--reference", "bank-2")
    assert twice.returncode == 1 and "already has payment evidence bank-1" in twice.stderr
    listed = json.loads(desk.run("payments", "list", "--json").stdout)
    assert [p["reference"] for p in listed] == ["bank-1"]  # bank-2 was never stored

    # The next order of the same amount is not paid by anything left over.
    second = desk.order("1500.00", "ivan_p", "IVAN P")
    desk.pay(second)
    desk.settle()
    assert desk.released() == [first]


def test_limits_name_their_currency(
    simulator: SimProcess,
    migrated_db_url: str,
    tmp_path: Path,
) -> None:
    """Case 3: 16000 RUB, 15000 USD and 15000 KZT against RUB-only limits: only RUB leaves."""
    bare = write_config(
        tmp_path / "bare.toml",
        db_url=migrated_db_url,
        base_url=simulator.url,
        extra='[safety]\nrelease_daily_limit = "20000"\n',
    )
    refused = cli("--config", str(bare), "check-config", env=SECRET_ENV)
    assert refused.returncode == 78
    assert 'release_daily_limit = { RUB = "20000" }' in refused.stderr

    desk = Desk(simulator, migrated_db_url, tmp_path, safety="")
    try:
        orders = {
            currency: desk.order(amount, "oleg_s", "OLEG S", currency=currency)
            for currency, amount in (("RUB", "16000.00"), ("USD", "15000.00"), ("KZT", "15000"))
        }
        for order_id in orders.values():
            desk.pay(order_id)
            assert desk.run("orders", "confirm-payment", order_id).returncode == 0
        wait_for(lambda: desk.released() == [orders["RUB"]], timeout=30, interval=0.1)
        for currency in ("USD", "KZT"):
            detail = held_by(desk.decided(orders[currency]), "max_amount")
            assert detail == f"no release_max_amount for {currency}: never released automatically"
        assert desk.released() == [orders["RUB"]]
    finally:
        desk.stop()


def test_loose_payer_names_pay_nothing(desk: Desk) -> None:
    """Case 4: each of these scored 1.00 and released; now none binds."""
    cases = {
        "4101.00": ("* *", "ANNA KOVALEVA"),
        "4102.00": ("A K", "ANNA KOVALEVA"),
        "4103.00": ("M G", "MARIA DEL CARMEN GARCIA LOPEZ"),
        "4104.00": ("Bob Kovaleva Anna", "ANNA KOVALEVA"),
    }
    orders = {}
    for index, (amount, (payer, kyc)) in enumerate(cases.items()):
        orders[amount] = desk.order(amount, f"buyer_{index}", kyc)
        desk.pay(orders[amount])
        assert desk.bank(amount, payer, f"sbp-name-{index}")["order_id"] is None
    held = desk.unmatched()
    assert sorted((h["amount"], h["hold_reason"]) for h in held) == [
        (amount, "name mismatch") for amount in cases
    ]
    for amount, order_id in orders.items():
        shown = desk.show(order_id)
        assert shown is not None and shown["evidence"] is None
        assert [(h["amount"], h["hold_reason"]) for h in shown["held_evidence"]] == [
            (amount, "name mismatch")
        ]
    desk.settle()
    assert desk.released() == []


def test_blocked_blacklisted_and_third_party_buyers_are_never_released(desk: Desk) -> None:
    """Case 5: Bybit's blocked flag, the desk's blacklist, a payer who is not the buyer."""
    blocked = desk.order("1000.00", "banned_b", "BORIS B", counterparty_blocked="Y")
    listed = desk.order("1100.00", "shady_s", "SERGEI S")
    third = desk.order("1200.00", "oleg_s", "OLEG S")
    added = desk.run("blacklist", "add", "--nickname", "shady_s", "--reason", "chargeback")
    assert added.returncode == 0, added.stderr
    entries = json.loads(desk.run("blacklist", "list", "--json").stdout)
    assert [(e["kind"], e["value"], e["reason"]) for e in entries] == [
        ("nickname", "shady_s", "chargeback")
    ]

    for order_id in (blocked, listed):
        desk.pay(order_id)
        assert desk.run("orders", "confirm-payment", order_id).returncode == 0
    assert "'Y'" in held_by(desk.decided(blocked), "counterparty_not_blocked")
    assert "chargeback" in held_by(desk.decided(listed), "not_blacklisted")

    # Someone else's money for Oleg's order: held, and attached by hand it still holds.
    desk.pay(third)
    answer = desk.bank("1200.00", "Ivan Petrov", "sbp-third")
    assert answer["order_id"] is None
    (held,) = desk.unmatched()
    assert held["hold_reason"] == "name mismatch"
    attached = desk.run("payments", "attach", str(held["id"]), third)
    assert attached.returncode == 0, attached.stderr
    detail = held_by(
        [d for d in desk.decided(third) if d["detail"].get("guards")], "payer_is_buyer"
    )
    assert "third-party" in detail
    assert desk.released() == []

    # Off the list again: effective at once, no reload.
    (entry,) = entries
    assert desk.run("blacklist", "remove", str(entry["id"])).returncode == 0
    assert json.loads(desk.run("blacklist", "list", "--json").stdout) == []


def test_the_legitimate_flows_release_once_whichever_comes_first(desk: Desk) -> None:
    """One order, one transfer, either order of arrival; and the operator's confirmation."""
    early = desk.order("2500.00", "anna_k", "ANNA K")
    assert desk.bank("2500.00", "Anna Kovaleva", "sbp-early")["order_id"] == early
    desk.pay(early)
    late = desk.order("2600.00", "oleg_s", "OLEG S")
    desk.pay(late)
    assert desk.bank("2600.00", "Smirnov Oleg", "sbp-late")["order_id"] == late
    by_hand = desk.order("2700.00", "ivan_p", "IVAN P")
    desk.pay(by_hand)
    assert desk.run("orders", "confirm-payment", by_hand).returncode == 0
    wait_for(
        lambda: sorted(desk.released()) == sorted([early, late, by_hand]),
        timeout=40,
        interval=0.3,
    )
    assert desk.unmatched() == []
    for order_id in (early, late, by_hand):
        succeeded = [d for d in desk.decided(order_id) if d["state"] == "succeeded"]
        assert len(succeeded) == 1
