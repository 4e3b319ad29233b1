"""The whole loop with processes: a buyer pays, the bank's SMS arrives, the order is released.

The simulator (``p2pilot simulate --notify-url --notify-token``) plays the exchange
and the merchant's bank: when the buyer pays, it posts the bank's SMS to the
daemon's ``/v1/notifications`` as a phone forwarder would. A real Dovecot holds the
receipt mailbox: the same money arriving there as well is not a second release.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests

from ..dovecot import PASSWORD, USER, Dovecot, dovecot
from .conftest import (
    QUICK_TICK,
    SECRET_ENV,
    DaemonProcess,
    SimProcess,
    cli,
    free_port,
    running_simulator,
    wait_for,
    write_config,
)

__all__ = ["dovecot"]  # the fixture
TOKEN = "phone-TOKEN-4f0e9a21c7"
FINISH = "/v5/p2p/order/finish"
ROOT = Path(__file__).resolve().parents[2]
SMS_TEMPLATE = (ROOT / "config" / "demo.toml").read_text("utf-8").split("[[evidence.templates]]")[1]
SMS_TEMPLATE = SMS_TEMPLATE.split("\n\n")[0]
RECEIPT_TEMPLATE = (ROOT / "config" / "templates" / "banks.toml").read_text("utf-8")
RECEIPT_TEMPLATE = RECEIPT_TEMPLATE.split('name = "ru-receipt-sbp"')[1].split("\n\n")[0]


@pytest.fixture
def bank_simulator(tmp_path: Path) -> Iterator[tuple[SimProcess, int]]:
    """The simulator, posting the bank's SMS to a daemon listening on the returned port."""
    listen = free_port()
    with running_simulator(
        log=tmp_path / "simulator.log",
        scenario="quiet",
        options=["--notify-url", f"http://127.0.0.1:{listen}/v1/notifications"],
        env={"P2PILOT_SIM_NOTIFY_TOKEN": TOKEN},
    ) as sim:
        yield sim, listen


def desk_config(tmp_path: Path, db_url: str, sim: SimProcess, listen: int, imap: Dovecot) -> Path:
    extra = f"""
[safety]
release_max_amount = {{ RUB = "10000" }}
release_daily_limit = {{ RUB = "100000" }}
release_mode = "auto"

[evidence]
listen = "127.0.0.1:{listen}"

[[evidence.sources]]
name = "phone"
token = "{TOKEN}"

[[evidence.templates]]
{SMS_TEMPLATE}

[[evidence.templates]]
name = "ru-receipt-sbp"{RECEIPT_TEMPLATE}

[[evidence.mailboxes]]
name = "receipts"
host = "127.0.0.1"
port = {imap.port}
security = "none"
user = "{USER}"
password = "{PASSWORD}"
templates = ["ru-receipt-sbp"]
poll = "5s"

[[rules]]
name = "auto-release"
on = ["order.paid", "payment.received"]
if = {{ payment_confirmed = true }}
release = true
"""
    return write_config(
        tmp_path / "p2pilot.toml", db_url=db_url, base_url=sim.url, extra=extra, tick=QUICK_TICK
    )


def finishes(sim: SimProcess, order_id: str) -> list[dict[str, object]]:
    log = sim.control("GET", "requests")
    return [
        e
        for e in log  # type: ignore[union-attr]
        if e["path"] == FINISH and e["ret_code"] == 0 and e["body"].get("orderId") == order_id  # type: ignore[index,union-attr]
    ]


def receipt(amount: str, payer: str, reference: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Bank <receipts@bank.example>"
    message["To"] = "desk@example.org"
    message["Subject"] = "Квитанция о переводе"
    message.set_content(
        f"Квитанция о переводе по СБП\nСумма перевода {amount} RUB\n"
        f"Отправитель {payer}\nНомер операции в СБП {reference}\n"
    )
    return bytes(message)


@pytest.mark.timeout(300)  # a daemon, a simulator, Dovecot and CLI processes, under load
def test_the_bank_sms_releases_once_and_the_mailed_receipt_is_not_a_second_release(
    bank_simulator: tuple[SimProcess, int], dovecot: Dovecot, db_url: str, tmp_path: Path
) -> None:
    sim, listen = bank_simulator
    buyer = {"counterparty": "oleg_s", "counterparty_real_name": "OLEG SMIRNOV"}
    paid = str(
        sim.control("POST", "orders", side="sell", amount="2500.00", price="81.00", **buyer)["id"]
    )  # type: ignore[index]
    config = desk_config(tmp_path, db_url, sim, listen, dovecot)
    args = ("--config", str(config))
    daemon = DaemonProcess(config, tmp_path / "daemon.log")
    try:
        wait_for(lambda: _listening(listen), timeout=30)
        # The buyer pays; the bank's SMS (payer in Cyrillic) reaches the daemon.
        sim.control("POST", f"orders/{paid}/pay", notify=True)
        wait_for(lambda: finishes(sim, paid), timeout=30)

        # The same buyer opens a second order of the same amount and clicks "paid"
        # without paying. The receipt of the first payment arrives by mail too: it is
        # the same transfer, and must not pay the second order.
        unpaid = str(
            sim.control("POST", "orders", side="sell", amount="2500.00", price="81.00", **buyer)[
                "id"
            ]
        )  # type: ignore[index]
        wait_for(lambda: _stored(args, unpaid), timeout=30)
        sim.control("POST", f"orders/{unpaid}/pay")
        dovecot.deliver(receipt("2 500,00", "OLEG SMIRNOV", "B6334140700000001"))
        wait_for(lambda: all(b"\\Seen" in f for f in dovecot.messages().values()), timeout=30)
        listed = wait_for(lambda: _payments(args) if len(_payments(args)) >= 1 else None)
    finally:
        daemon.stop(timeout=30)
    output = daemon.log_path.read_text(encoding="utf-8")
    assert len(finishes(sim, paid)) == 1
    assert finishes(sim, unpaid) == [], output[-3000:]
    (payment,) = [p for p in listed if p.get("kind") != "unparsed"]  # one transfer, one piece
    assert payment["order_id"] == paid and payment["amount"] == "2500.00"
    assert payment["payer_name"] == "OLEG SMIRNOV" and payment["source"] == "notice:phone"
    assert TOKEN not in output and PASSWORD not in output  # secrets never logged


def _listening(port: int) -> bool:
    try:
        response = requests.post(f"http://127.0.0.1:{port}/v1/notifications", timeout=1)
    except requests.RequestException:
        return False
    return response.status_code == 401


def _stored(args: tuple[str, ...], order_id: str) -> bool:
    listed = cli(*args, "orders", "list", "--json", env=SECRET_ENV)
    return listed.returncode == 0 and order_id in {o["id"] for o in json.loads(listed.stdout)}


def _payments(args: tuple[str, ...]) -> list[dict[str, object]]:
    listed = cli(*args, "payments", "list", "--json", env=SECRET_ENV)
    return json.loads(listed.stdout) if listed.returncode == 0 else []  # type: ignore[no-any-return]
