"""An unparsed bank text, as the operator sees it in ``payments list`` and records it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from p2pilot.evidence.templates import Template
from p2pilot.evidence.texts import BankText, TextIntake
from p2pilot.store.engine import Store

from .conftest import SECRET_ENV, SimProcess, cli, write_config

SMS = Template.build("sms", r"Перевод (?P<amount>[\d ]+р) от (?P<payer>\w+ \w+)", sender="^900$")
ODD = "Поступление 2 500,00 RUB; плательщик: OLEG SMIRNOV; счёт *4821"


def test_an_unparsed_text_is_listed_and_recorded_by_the_operator(
    simulator: SimProcess, db_url: str, tmp_path: Path
) -> None:
    order_id = str(
        simulator.control(  # type: ignore[index]
            "POST",
            "orders",
            side="sell",
            amount="2500.00",
            price="81.00",
            counterparty_real_name="OLEG SMIRNOV",
        )["id"]
    )
    config = write_config(tmp_path / "p2pilot.toml", db_url=db_url, base_url=simulator.url)
    args = ("--config", str(config))
    assert cli(*args, "run", "--once", env=SECRET_ENV).returncode == 0
    store = Store(db_url)
    try:
        outcome = TextIntake(store, [SMS], clock=lambda: datetime.now(UTC)).take(
            BankText("notice", "phone", ODD, "900", datetime.now(UTC))
        )
    finally:
        store.dispose()
    assert outcome.status == "unparsed"

    listed = json.loads(cli(*args, "payments", "list", "--json", env=SECRET_ENV).stdout)
    (text,) = [d for d in listed if d.get("kind") == "unparsed"]
    assert text["id"] == outcome.notification_id and text["text"] == ODD
    human = cli(*args, "payments", "list", env={**SECRET_ENV, "COLUMNS": "200"}).stdout
    assert "UNPARSED" in human and f"payments record {text['id']}" in human

    recorded = cli(
        *args,
        "payments",
        "record",
        str(text["id"]),
        "--amount",
        "2500.00",
        "--payer",
        "OLEG SMIRNOV",
        "--order",
        order_id,
        "--json",
        env=SECRET_ENV,
    )
    assert recorded.returncode == 0, recorded.stderr
    assert json.loads(recorded.stdout)["order_id"] == order_id
    again = cli(
        *args,
        "payments",
        "record",
        str(text["id"]),
        "--amount",
        "2500",
        "--payer",
        "X",
        env=SECRET_ENV,
    )
    assert again.returncode == 1 and "is recorded, not unparsed" in again.stderr
    bad = cli(*args, "payments", "record", "999", "--amount", "abc", "--payer", "X", env=SECRET_ENV)
    assert bad.returncode == 2

    listed = json.loads(cli(*args, "payments", "list", "--json", env=SECRET_ENV).stdout)
    assert [d for d in listed if d.get("kind") == "unparsed"] == []
    (payment,) = listed
    assert payment["order_id"] == order_id and payment["currency"] == "RUB"
    assert payment["reference"] == f"text-{text['id']}"
