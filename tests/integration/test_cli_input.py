"""The CLI against hostile input: absurd numbers, terminal escapes from buyers, fuzzed args.

The CLI runs in this process (``run_cli``) against a real simulator and a real
SQLite desk; what is asserted is what reaches stdout and stderr.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pilot.cli import run_cli
from p2pilot.config import load_config
from p2pilot.service import Daemon
from p2pilot.simulator.server import SimulatorServer
from p2pilot.store.accounts import account_ids
from p2pilot.store.poll_state import record_failure

from .simdesk import control, running_simulator, write_desk_config

KEY, SECRET = "cli-key", "cli-secret-5e8a"
# What a buyer can put in a nickname or a chat message.
CLEAR_SCREEN = "\x1b[2J"
RETITLE = "\x1b]0;pwned\x07"
FORGED = "paid\nINFO release.done order_id=999"
C1_CSI = "\x9b31m"


@dataclass
class Output:
    code: int
    out: str
    err: str


def invoke(*args: str) -> Output:
    """Run the CLI in this process (stdin empty); its exit code and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    stdin = sys.stdin
    sys.stdin = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run_cli(list(args))
    finally:
        sys.stdin = stdin
    return Output(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with running_simulator({KEY: SECRET}) as server:
        yield server


@pytest.fixture(scope="module")
def desk(sim: SimulatorServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A config whose desk stored one order from a hostile buyer; (config file, order id)."""
    folder = tmp_path_factory.mktemp("desk")
    config = write_desk_config(
        folder / "p2pilot.toml",
        db_url=f"sqlite:///{folder / 'p2pilot.db'}",
        sim=sim,
        key=KEY,
        secret=SECRET,
    )
    order_id = control(
        sim,
        "orders",
        side="sell",
        amount="2500.00",
        price="81.00",
        counterparty=f"{CLEAR_SCREEN}{RETITLE}evil",
        counterparty_real_name=f"EVIL{C1_CSI}",
    )["id"]
    control(sim, f"orders/{order_id}/messages", text=f"{RETITLE}{FORGED}")
    daemon = Daemon(load_config(config))
    daemon.start()
    try:
        assert daemon.run_once() == 0
        with daemon.store.transaction() as session:
            # An exchange error text, as the status command shows it.
            account_id = account_ids(session)["desk"]
            record_failure(
                session, account_id, "ads", at=datetime.now(UTC), error=f"boom{CLEAR_SCREEN}"
            )
    finally:
        daemon.close()
    return config, order_id


def cli(desk: tuple[Path, str], *args: str) -> Output:
    return invoke("--config", str(desk[0]), *args)


def assert_one_line_usage_error(result: Output) -> None:
    assert result.code == 2, result
    assert result.out == ""
    assert result.err.startswith("p2pilot: ") and result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err


# An ad's required options but the price; each case below adds a bad number.
AD = ("--side", "sell", "--quantity", "1", "--min", "1", "--max", "2", "--payment", "1")


@pytest.mark.parametrize(
    "args",
    [
        ("orders", "confirm-payment", "ORDER", "--amount", "1e999999999"),
        ("orders", "confirm-payment", "ORDER", "--amount", "sNaN"),
        ("orders", "confirm-payment", "ORDER", "--amount", "-5"),
        ("orders", "confirm-payment", "ORDER", "--amount", "0e-99999999"),
        ("orders", "list", "--limit", "99999999999999999999"),
        ("orders", "list", "--limit", "-1"),
        ("orders", "list", "--limit", "0"),
        ("orders", "list", "--status", "99999999999999999999"),
        ("orders", "list", "--status", "²"),
        ("payments", "list", "--limit", "-5"),
        ("ads", "update", "1", "--price", "1e999999999"),
        ("ads", "update", "1", "--quantity", "NaN"),
        ("ads", "create", *AD, "--price", "sNaN"),
        ("ads", "create", *AD, "--price", "80", "--period", "99999999999999999999"),
        ("simulate", "--port", "99999999"),
        ("simulate", "--speed", "nan"),
        ("simulate", "--speed", "inf"),
        ("simulate", "--seed", "-1"),
        ("rates", "--history", "99999999999999999999h"),
        ("logs", "--since", "1e999999999s"),
        ("orders", "list", "--no-such-option"),
        ("no-such-command",),
    ],
)
def test_a_bad_argument_is_exit_2_and_one_line(
    desk: tuple[Path, str], args: tuple[str, ...]
) -> None:
    args = tuple(desk[1] if arg == "ORDER" else arg for arg in args)
    assert_one_line_usage_error(cli(desk, *args))


def assert_printable(text: str) -> None:
    """Nothing a terminal would obey: no ESC, BEL, C1 CSI; lines only where we put them."""
    for control_character in ("\x1b", "\x07", "\x9b"):
        assert control_character not in text, text
    assert "INFO release.done order_id=999" not in text.splitlines()


def test_orders_show_and_list_escape_the_buyer(desk: tuple[Path, str]) -> None:
    shown = cli(desk, "orders", "show", desk[1])
    assert shown.code == 0, shown
    assert "\\x1b[2J" in shown.out  # shown, not obeyed
    assert_printable(shown.out)
    listed = cli(desk, "orders", "list")
    assert listed.code == 0 and "\\x1b[2J" in listed.out
    assert_printable(listed.out)
    # --json stays exact: JSON escapes the characters itself.
    document = json.loads(cli(desk, "orders", "show", desk[1], "--json").out)
    assert document["counterparty"] == f"{CLEAR_SCREEN}{RETITLE}evil"


def test_payments_list_escapes_the_payer(desk: tuple[Path, str]) -> None:
    confirmed = cli(
        desk, "orders", "confirm-payment", desk[1], "--payer", f"{CLEAR_SCREEN}Oleg{C1_CSI}"
    )
    assert confirmed.code == 0, confirmed
    listed = cli(desk, "payments", "list")
    assert listed.code == 0 and "Oleg" in listed.out
    assert_printable(listed.out)


def test_status_escapes_the_exchange_error(desk: tuple[Path, str]) -> None:
    shown = cli(desk, "status")
    assert "boom" in shown.out
    assert_printable(shown.out)


def test_logs_cannot_forge_a_line(tmp_path: Path) -> None:
    record = tmp_path / "p2pilot.log"
    line = {
        "timestamp": "2026-11-30T10:00:00Z",
        "level": "info",
        "event": "chat.message",
        "account": "desk",
        "order_id": "1",
        "text": f"{RETITLE}{FORGED}",
        "exception": f"Traceback\nValueError: {CLEAR_SCREEN}\nINFO release.done order_id=999",
    }
    record.write_text(json.dumps(line) + "\n", encoding="utf-8")
    shown = invoke("logs", str(record))
    assert shown.code == 0, shown
    assert shown.out.splitlines()[0].count("chat.message") == 1
    assert_printable(shown.out)
    # The traceback keeps its lines, each indented under the line it belongs to.
    assert all(extra.startswith("    ") for extra in shown.out.splitlines()[1:])


# -- fuzz: the argument parser of every command that returns ----------------------------

COMMANDS = st.sampled_from(
    [
        ["orders", "list"],
        ["orders", "show"],
        ["orders", "confirm-payment"],
        ["payments", "list"],
        ["status"],
        ["rates"],
        ["logs"],
        ["check-config"],
        ["ads", "update"],
        ["ads", "create"],
        ["db", "current"],
    ]
)
OPTIONS = st.sampled_from(
    [
        "--limit",
        "--status",
        "--amount",
        "--account",
        "--json",
        "--since",
        "--until",
        "--level",
        "--event",
        "--order",
        "--history",
        "--price",
        "--quantity",
        "--min",
        "--max",
        "--period",
        "--payer",
        "--reference",
        "--unmatched",
        "--side",
        "--payment",
    ]
)
NUMBERS = st.from_regex(r"[+-]?[0-9]{0,22}(\.[0-9]{0,20})?([eE][+-]?[0-9]{1,10})?", fullmatch=True)
WORDS = st.sampled_from(
    [
        "sNaN",
        "NaN",
        "-Infinity",
        "1e999999999",
        "-1",
        "0",
        "99999999999999999999",
        "²³",
        "٣",
        "1_000",
        CLEAR_SCREEN,
        RETITLE,
        "1h",
        "2026-13-45",
        "sell",
        "paid",
        "desk",
    ]
)
ARGUMENTS = st.lists(OPTIONS | NUMBERS | WORDS | st.text(max_size=12), max_size=7)


@settings(
    max_examples=120,
    deadline=None,  # each example loads the config and opens the store, as the CLI does
    suppress_health_check=[HealthCheck.too_slow],
)
@given(command=COMMANDS, arguments=ARGUMENTS)
def test_fuzzed_arguments_never_end_in_a_traceback(
    desk: tuple[Path, str], command: list[str], arguments: list[str]
) -> None:
    result = cli(desk, *command, *arguments)  # an escaping exception fails the test
    assert result.code in (0, 1, 2), result
    assert "Traceback" not in result.out + result.err
    if result.code == 2:
        assert result.err.count("\n") == 1, result.err
    assert CLEAR_SCREEN not in result.err


def test_account_and_ads_list_escape_the_exchange(
    sim: SimulatorServer, desk: tuple[Path, str]
) -> None:
    merchant = sim.exchange.merchants[KEY]
    ad = next(a for a in sim.exchange.ads.values() if a.nickname == merchant.nickname)
    nickname, remark = merchant.nickname, ad.remark
    merchant.nickname, ad.remark = f"{CLEAR_SCREEN}desk", f"{RETITLE}SBP{C1_CSI}"
    try:
        account = cli(desk, "account")
        listed = cli(desk, "ads", "list")
    finally:
        merchant.nickname, ad.remark = nickname, remark
    assert account.code == 0 and "\\x1b[2Jdesk" in account.out, account
    assert listed.code == 0, listed  # the table may leave the remark out: never raw
    assert_printable(account.out + listed.out)
