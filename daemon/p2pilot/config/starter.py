"""The commented starter config ``p2pilot init`` writes, and the credential files beside it.

Secrets never enter the config: each account's key and secret go to files of
their own (mode 0600, in a 0700 directory) that the config points at with
``{ file = ... }``. The rules are a safe start: a greeting, and a release that
decides and logs but never sends (shadow mode) until the operator has read its
guard tables for a while.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

CREDENTIALS_DIR = "credentials"
DEFAULT_GREETING = "Hi {order.counterparty}, please pay {order.amount} {order.currency}. Thank you!"


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes with ``ensure_ascii`` are a subset of TOML's)."""
    return json.dumps(value, ensure_ascii=True)


@dataclass(frozen=True, slots=True)
class StarterAccount:
    """One account as ``init`` checked it; the secret values never reach the config text."""

    name: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    base_url: str | None = None
    testnet: bool = False

    @property
    def key_file(self) -> str:
        return f"{CREDENTIALS_DIR}/{self.name}.key"

    @property
    def secret_file(self) -> str:
        return f"{CREDENTIALS_DIR}/{self.name}.secret"


@dataclass(frozen=True, slots=True)
class StarterConfig:
    """What the operator chose."""

    database_url: str
    accounts: tuple[StarterAccount, ...]
    currency: str = "RUB"
    max_amount: Decimal = Decimal("5000")
    daily_limit: Decimal = Decimal("50000")
    greeting: str | None = DEFAULT_GREETING
    release: bool = True
    min_orders: int = 10


def write_credentials(config_path: Path, accounts: tuple[StarterAccount, ...]) -> list[Path]:
    """Each key and secret in a file of its own, readable by the owner only."""
    directory = config_path.parent / CREDENTIALS_DIR
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    written: list[Path] = []
    for account in accounts:
        for relative, value in (
            (account.key_file, account.api_key),
            (account.secret_file, account.api_secret),
        ):
            path = config_path.parent / relative
            _write_private(path, value)
            written.append(path)
    return written


def _write_private(path: Path, value: str) -> None:
    # Created 0600 from the start (no window in which the file is readable by others),
    # and fixed to 0600 if it existed with looser bits.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, value.encode("utf-8"))
    finally:
        os.close(fd)


def render(starter: StarterConfig) -> str:
    """The config file's text: every choice explained where it is made."""
    parts = [_HEADER, _database(starter), _LOGGING]
    parts += [_account(account) for account in starter.accounts]
    parts += [_safety(starter), *_rules(starter)]
    return "\n".join(parts)


_HEADER = """\
# p2pilot configuration, written by `p2pilot init`.
#
# Check it:         p2pilot --config THIS_FILE check-config
# Every key, its default and why you would change it: config/p2pilot.example.toml
# in the source, and the README ("Configuration", "Rules and actions").
#
# Secrets are not in this file: each account's key and secret are files in
# credentials/ beside it (mode 0600), pointed at with { file = ... }. Under
# systemd prefer LoadCredential= and { credential = "name" } (README, "Run as a
# service").
"""

_LOGGING = """\
[logging]
# debug | info | warning | error
level = "info"
# auto: readable lines on a terminal, JSON lines (for journald, jq, `p2pilot logs`) otherwise
format = "auto"
"""


def _database(starter: StarterConfig) -> str:
    return f"""\
[database]
# SQLite (one file) or PostgreSQL ("postgresql+psycopg://USER@HOST/DB").
url = {toml_string(starter.database_url)}
# Apply schema migrations when the daemon starts.
auto_migrate = true
"""


def _account(account: StarterAccount) -> str:
    lines = [
        "[[accounts]]",
        "# Shown in logs and stored with every order; renaming it makes a new account.",
        f"name = {toml_string(account.name)}",
        f"api_key = {{ file = {toml_string(account.key_file)} }}",
        f"api_secret = {{ file = {toml_string(account.secret_file)} }}",
    ]
    if account.base_url:
        lines.append("# Not Bybit's mainnet: the simulator, a testnet or a proxy.")
        lines.append(f"base_url = {toml_string(account.base_url)}")
    if account.testnet:
        lines.append("testnet = true")
    lines.append("# true: poll and decide, but log instead of acting.")
    lines.append("dry_run = false")
    return "\n".join(lines) + "\n"


def _safety(starter: StarterConfig) -> str:
    currency = starter.currency
    largest, per_day = toml_string(str(starter.max_amount)), toml_string(str(starter.daily_limit))
    limits = f"""\
# Hard limits no rule can exceed, per currency: an order in a currency not listed
# here is never released automatically.
release_max_amount = {{ {currency} = {largest} }}
release_daily_limit = {{ {currency} = {per_day} }}
"""
    return f"""\
[safety]
{limits}\
# "shadow": every release is decided and logged (release.would_release, and the
# guard table in `p2pilot orders show ID`), and nothing is sent. Read those for a
# few days, then set "approve" (every guard holds, then you approve each release:
# `p2pilot orders approve ID`) or "auto". Optional, per currency:
# approve_above = {{ {currency} = "20000" }}     # automatic at or below, approval above
# two_person_above = {{ {currency} = "200000" }} # two different operators above
release_mode = "shadow"
"""


def _rules(starter: StarterConfig) -> list[str]:
    rules: list[str] = []
    if starter.greeting:
        rules.append(
            f"""\
[[rules]]
# Greet the buyer as soon as a sell order opens.
name = "greet-buyer"
on = "order.created"
if = {{ side = "sell" }}
reply = {toml_string(starter.greeting)}
"""
        )
    if starter.release:
        rules.append(
            f"""\
[[rules]]
# Release once the money is confirmed (your bank hook, or
# `p2pilot orders confirm-payment ID`), whichever comes second: the buyer's
# "paid" click or the evidence. Every [safety] guard is checked right before.
name = "release-when-paid"
on = ["order.paid", "payment.received"]
if = {{ side = "sell", payment_confirmed = true, counterparty_min_orders = {starter.min_orders} }}
release = true
"""
        )
    return rules
