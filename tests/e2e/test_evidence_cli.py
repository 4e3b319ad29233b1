"""``orders confirm-payment`` and ``payments list`` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import SECRET_ENV, SimProcess, cli, write_config


def test_confirm_payment_checks_the_amount_and_payments_list_shows_it(
    simulator: SimProcess, db_url: str, tmp_path: Path
) -> None:
    order_id = str(
        simulator.control("POST", "orders", side="sell", amount="8145.00", price="81.45")["id"]  # type: ignore[index]
    )
    config = write_config(tmp_path / "p2pilot.toml", db_url=db_url, base_url=simulator.url)
    args = ("--config", str(config))
    assert cli(*args, "run", "--once", env=SECRET_ENV).returncode == 0

    # The operator typed the wrong figure: refused, and nothing is kept that a
    # release guard could later trust.
    wrong = cli(*args, "orders", "confirm-payment", order_id, "--amount", "814.50", env=SECRET_ENV)
    assert wrong.returncode == 1
    assert "814.50 RUB does not fit order" in wrong.stderr and "8145.00" in wrong.stderr
    listed = cli(*args, "payments", "list", "--json", env=SECRET_ENV)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []

    right = cli(
        *args,
        "orders",
        "confirm-payment",
        order_id,
        "--reference",
        "bank-1",
        "--json",
        env=SECRET_ENV,
    )
    assert right.returncode == 0, right.stderr
    assert json.loads(right.stdout)["matched"] is True
    again = cli(
        *args, "orders", "confirm-payment", order_id, "--reference", "bank-1", env=SECRET_ENV
    )
    assert again.returncode == 1  # a reference is used once

    (payment,) = json.loads(cli(*args, "payments", "list", "--json", env=SECRET_ENV).stdout)
    assert payment["order_id"] == order_id
    assert payment["amount"] == "8145.00" and payment["reference"] == "bank-1"
    text = cli(*args, "payments", "list", env=SECRET_ENV).stdout
    (row,) = [line for line in text.splitlines() if "bank-1" in line]
    # The id (for `payments attach`), the amount, then what it paid.
    assert row.split()[:4] == [str(payment["id"]), "8145.00", "RUB", order_id]
