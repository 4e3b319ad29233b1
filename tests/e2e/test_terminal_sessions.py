"""The read commands as an operator sees them: a pseudo-terminal 80 and 200 columns wide.

One desk is built against the simulator (a paid order confirmed and decided in
shadow mode, an open one whose buyer has a hostile nickname and chat), then
``status``, ``orders list``, ``orders show`` and ``payments list`` run under a
pty: nothing but the answer on screen, no line wider than the terminal, colour
on a terminal and none with ``NO_COLOR`` or through a pipe, outside text
escaped, the release decision readable as a guard table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import SECRET_ENV, SimProcess, cli, running_simulator, write_config
from .terminal import on_terminal

HOSTILE_NICK = "evil\x1b[2Jnick"
HOSTILE_CHAT = "paid\x1b]0;owned\x07 see\nINFO release.done order_id=999"
RULES = """
[safety]
release_max_amount = { RUB = "50000" }
release_daily_limit = { RUB = "500000" }
release_mode = "shadow"

[[rules]]
name = "greet-buyer"
on = "order.created"
if = { side = "sell" }
reply = "Hi {order.counterparty}, please pay {order.amount} {order.currency}."

[[rules]]
name = "release-when-paid"
on = ["order.paid", "payment.received"]
if = { payment_confirmed = true }
release = true
"""


@dataclass(frozen=True)
class Desk:
    config: Path
    paid: str
    hostile: str


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    tmp = tmp_path_factory.mktemp("desk")
    with running_simulator(log=tmp / "simulator.log") as sim:
        yield _build_desk(sim, tmp)


def _build_desk(sim: SimProcess, tmp: Path) -> Desk:
    paid = sim.control("POST", "orders", side="sell", amount="8145.00", price="81.45")
    hostile = sim.control(
        "POST", "orders", side="sell", amount="1200.00", price="81.45", counterparty=HOSTILE_NICK
    )
    paid_id, hostile_id = paid["id"], hostile["id"]  # type: ignore[index]
    sim.control("POST", f"orders/{paid_id}/pay")
    sim.control("POST", f"orders/{hostile_id}/messages", text=HOSTILE_CHAT)
    config = write_config(
        tmp / "p2pilot.toml",
        db_url=f"sqlite:///{tmp / 'p2pilot.db'}",
        base_url=sim.url,
        extra=RULES,
    )
    for args in (
        ("run", "--once"),
        ("orders", "confirm-payment", paid_id, "--payer", "Oleg Sidorov"),
        ("run", "--once"),
    ):
        done = cli("--config", str(config), *args, env=SECRET_ENV)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return Desk(config, paid_id, hostile_id)


def run(desk: Desk, *args: str, columns: int, colour: bool = True):  # type: ignore[no-untyped-def]
    return on_terminal(
        "--config", str(desk.config), *args, columns=columns, env=SECRET_ENV, colour=colour
    )


COMMANDS = (
    ("status",),
    ("orders", "list"),
    ("orders", "show", "PAID"),
    ("orders", "show", "HOSTILE"),
    ("payments", "list"),
    ("rates",),
    ("ads", "list"),
    ("account",),
)


def _args(desk: Desk, command: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(
        desk.paid if a == "PAID" else desk.hostile if a == "HOSTILE" else a for a in command
    )


@pytest.mark.parametrize("columns", [80, 200])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_read_command_fits_the_terminal_and_prints_only_its_answer(
    desk: Desk, command: tuple[str, ...], columns: int
) -> None:
    screen = run(desk, *_args(desk, command), columns=columns)
    assert screen.code in (0, 1)  # status is 1: the daemon is not running
    assert screen.lines, command
    assert screen.widest() <= columns, "\n".join(screen.lines)
    # Nothing but the answer: no log line, no library chatter, no Python repr.
    for line in screen.lines:
        assert "[info" not in line and "[warning" not in line and "alembic" not in line
        assert "None" not in line and "{'" not in line
        assert "+00:00" not in line  # times are written for people
    # Outside text is shown, never obeyed: no raw escape but our own colour codes.
    without_colour = screen.raw.replace("\x1b[", "")
    assert "\x1b" not in without_colour and "\x07" not in without_colour


def test_orders_show_reads_in_sections_at_80_columns(desk: Desk) -> None:
    screen = run(desk, "orders", "show", desk.paid, columns=80)
    text = screen.plain
    headings = ["Order", "Release decision", "Evidence", "Timeline", "Chat", "Actions"]
    positions = [
        next(i for i, line in enumerate(screen.lines) if line.startswith(h)) for h in headings
    ]
    assert positions == sorted(positions), text
    assert screen.lines[0].startswith(f"Order {desk.paid}") and "paid" in screen.lines[0]
    assert "8145.00 RUB" in text and " ago)" in text and "UTC (" in text
    # The release decision as a guard table: one row per stored guard, with its result.
    shown = cli("--config", str(desk.config), "orders", "show", desk.paid, "--json", env=SECRET_ENV)
    actions = json.loads(shown.stdout)["actions"]
    (release,) = [a for a in actions if a["kind"] == "release"]
    table_at = screen.lines.index(next(x for x in screen.lines if x.strip().startswith("GUARD")))
    header = screen.lines[table_at]
    assert "RESULT" in header
    rows = screen.lines[table_at + 1 : table_at + 1 + len(release["detail"]["guards"]) * 3]
    for guard in release["detail"]["guards"]:
        (row,) = [r for r in rows if r.strip().startswith(guard["guard"] + " ")]
        assert ("ok" if guard["ok"] else "NO") in row.split()
    assert "would release (shadow mode)" in text
    # Actions are one line each.
    actions_lines = [x for x in screen.lines[positions[5] + 1 :] if x.strip()]
    assert len(actions_lines) == len(actions)


def test_outside_text_is_escaped_on_screen(desk: Desk) -> None:
    for columns in (80, 200):
        shown = run(desk, "orders", "show", desk.hostile, columns=columns).plain
        assert "evil\\x1b[2Jnick" in shown
        assert "\\x1b]0;owned\\x07" in shown
        assert not any(line.lstrip().startswith("INFO release.done") for line in shown.splitlines())
        # The system speaks as the system (never "None:"), the buyer by name.
        chat = shown[shown.index("\nChat\n") : shown.index("\nActions\n")]
        assert "system" in chat and "The order has been created." in chat
        assert "evil\\x1b[2Jnick  paid" in chat
        listed = run(desk, "orders", "list", columns=columns).plain
        assert "evil\\x1b" in listed  # the nickname is shown escaped, maybe cut at 80 columns


def test_colour_on_a_terminal_only(desk: Desk) -> None:
    coloured = run(desk, "orders", "list", columns=200)
    assert "\x1b[" in coloured.raw  # status names are coloured
    plain = run(desk, "orders", "list", columns=200, colour=False)
    assert "\x1b[" not in plain.raw  # NO_COLOR
    # The same columns (their widths follow the ages, which may grow in between).
    assert plain.lines[0].split() == coloured.lines[0].split()
    assert len(plain.lines) == len(coloured.lines)
    piped = cli("--config", str(desk.config), "orders", "list", env=SECRET_ENV)
    assert "\x1b" not in piped.stdout
    assert piped.stdout.splitlines()[0].split()[:2] == ["ID", "STATUS"]


def test_layout_follows_the_width(desk: Desk) -> None:
    narrow = run(desk, "orders", "list", columns=80)
    wide = run(desk, "orders", "list", columns=200)
    # At 80 columns the counterparty gives way (the hostile nickname is long).
    assert narrow.lines[0].split()[:4] == ["ID", "STATUS", "SIDE", "AMOUNT"]
    assert narrow.lines[0].split()[4].startswith("COUNTERPAR")
    assert narrow.lines[0].split()[5] == "AGE"
    assert wide.lines[0].split()[:6] == [
        "ID",
        "STATUS",
        "SIDE",
        "AMOUNT",
        "COUNTERPARTY",
        "CREATED",
    ]
    row = next(line for line in wide.lines if line.startswith(desk.paid))
    assert "paid" in row and "8145.00 RUB" in row and " UTC (" in row and " ago)" in row
    status = run(desk, "status", columns=80)
    assert status.lines[0].startswith(("STALE", "healthy"))
    assert any(line.split()[:4] == ["STATE", "ACCOUNT", "JOB", "LAST"] for line in status.lines)
