"""``p2pilot init`` driven the way an operator drives it: prompts on a pseudo-terminal.

Against the simulator: a wrong secret is refused at once and asked again, the
right one shows the account's nickname and payment methods; the secrets land
in 0600 files and never in the config or on the screen; the written config
passes ``check-config`` and runs. ``--non-interactive`` does the same from
flags and the environment, and writes nothing when the key cannot be used.
"""

from __future__ import annotations

import io
import json
import re
import stat
import sys
from pathlib import Path

import pexpect

from .conftest import API_KEY, API_SECRET, SimProcess, cli
from .terminal import SGR, on_terminal, terminal_env

NO_ENV = {"BYBIT_API_KEY": "", "BYBIT_API_SECRET": ""}
CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _prompt(child: pexpect.spawn, question: str, answer: str) -> None:
    child.expect_exact(question)
    child.sendline(answer)


def test_interactive_init_checks_the_keys_and_writes_a_config_that_runs(
    simulator: SimProcess, tmp_path: Path
) -> None:
    order = simulator.control("POST", "orders", side="sell", amount="8145.00", price="81.45")
    config = tmp_path / "etc" / "p2pilot.toml"
    # No colour here, so prompts and answers read as plain text (colour: the next test).
    env = terminal_env(colour=False)
    env.pop("BYBIT_API_KEY", None)
    env.pop("BYBIT_API_SECRET", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "p2pilot", "--config", str(config), "init"],
        dimensions=(60, 80),
        env=env,
        encoding="utf-8",
        timeout=60,
    )
    child.logfile_read = io.StringIO()
    _prompt(child, "Database URL", "")
    # These lines name a path, so where they wrap depends on the length of tmp_path.
    child.expect(r"schema\s+up\s+to\s+date")
    _prompt(child, "Account name", "desk")
    _prompt(child, "Exchange URL", simulator.url)
    _prompt(child, "API key of desk", API_KEY)
    _prompt(child, "API secret of desk", API_SECRET + "-wrong")
    child.expect_exact("✗ desk:")
    child.expect_exact("10004")
    _prompt(child, "Enter the key and secret again?", "y")
    _prompt(child, "API key of desk", API_KEY)
    _prompt(child, "API secret of desk", API_SECRET)
    child.expect_exact("signature accepted, nickname DeskRUB")
    child.expect_exact("P2P advertiser permission")
    child.expect_exact("payment method SBP")
    _prompt(child, "Add another account?", "n")
    _prompt(child, "Currency you trade in", "")
    _prompt(child, "Largest single release, in RUB", "lots")
    child.expect_exact("not a positive amount")
    _prompt(child, "Largest single release, in RUB", "20000")
    _prompt(child, "Most released per UTC day, in RUB", "")
    _prompt(child, "Greet buyers when a sell order opens?", "")
    _prompt(child, "Greeting", "")
    _prompt(child, "Release when payment is confirmed (shadow mode)?", "")
    child.expect(r"check-config:\s+ok")
    child.expect(pexpect.EOF)
    screen = child.logfile_read.getvalue()
    child.close()
    assert child.exitstatus == 0
    # As the terminal shows it: no control sequences, a line redrawn after "\r" (the
    # spinner) is its last drawing.
    shown = CSI.sub("", screen).replace("\r\n", "\n")
    lines = [line.rsplit("\r", 1)[-1] for line in shown.splitlines()]
    # What init prints fits 80 columns; a prompt line is as long as its default (a path)
    # and a command to copy is never cut (the terminal wraps it).
    printed = [line for line in lines if "]: " not in line and "  p2pilot " not in line]
    assert any(line == f"  p2pilot --config {config} run --once" for line in lines)
    assert max(len(line.rstrip()) for line in printed) <= 80, printed

    # The secrets: in their own files, owner-only, never in the config or on screen.
    text = config.read_text(encoding="utf-8")
    assert API_SECRET not in text and API_KEY not in text
    assert 'api_secret = { file = "credentials/desk.secret" }' in text
    credentials = config.parent / "credentials"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o700
    for name, value in (("desk.key", API_KEY), ("desk.secret", API_SECRET)):
        path = credentials / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text(encoding="utf-8") == value
    assert API_SECRET not in screen
    # A commented config with the safe rules, that check-config accepts as it is.
    assert text.count("\n#") > 10 and 'release_mode = "shadow"' in text
    checked = cli("--config", str(config), "check-config", env=NO_ENV)
    assert checked.returncode == 0, checked.stderr
    assert "deprecated" not in checked.stderr  # a fresh config uses release_mode
    resolved = json.loads(checked.stdout)
    assert resolved["safety"]["release_mode"] == "shadow"
    assert [r["name"] for r in resolved["rules"]] == ["greet-buyer", "release-when-paid"]
    assert resolved["accounts"][0]["base_url"] == simulator.url
    assert API_SECRET not in checked.stdout + checked.stderr

    # And it runs: one pass stores the open order and greets its buyer.
    ran = cli("--config", str(config), "run", "--once", env=NO_ENV)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    listed = cli("--config", str(config), "orders", "list", "--json", env=NO_ENV)
    assert [row["id"] for row in json.loads(listed.stdout)] == [order["id"]]  # type: ignore[index]
    assert any('"event": "reply.sent"' in line for line in ran.stdout.splitlines())


def test_non_interactive_init_for_scripts_at_200_columns(
    simulator: SimProcess, tmp_path: Path
) -> None:
    config = tmp_path / "p2pilot.toml"
    env = {"BYBIT_API_KEY": API_KEY, "BYBIT_API_SECRET": API_SECRET}
    args = ("--config", str(config), "init", "--non-interactive", "--base-url", simulator.url)
    screen = on_terminal(*args, "--account", "ops", "--currency", "usd", columns=200, env=env)
    assert screen.code == 0, screen.plain
    assert screen.widest() <= 200
    assert "nickname DeskRUB" in screen.plain and API_SECRET not in screen.raw
    assert "\x1b[" in screen.raw  # the check marks are coloured on a terminal
    text = config.read_text(encoding="utf-8")
    assert 'release_max_amount = { USD = "5000" }' in text, text
    checked = cli("--config", str(config), "check-config", env=NO_ENV)
    assert checked.returncode == 0, checked.stderr

    # An existing config is kept unless --force says otherwise.
    again = cli(*args, env=env)
    assert again.returncode == 1 and "exists" in again.stderr
    assert SGR.search(again.stdout + again.stderr) is None  # no colour through a pipe


def test_init_refuses_a_key_without_p2p_advertiser_permission(
    simulator: SimProcess, tmp_path: Path
) -> None:
    simulator.control("POST", "faults", fault="permission", api_key=API_KEY)
    config = tmp_path / "p2pilot.toml"
    env = {"BYBIT_API_KEY": API_KEY, "BYBIT_API_SECRET": API_SECRET}
    args = ("--config", str(config), "init", "--non-interactive", "--base-url", simulator.url)
    refused = cli(*args, env=env)
    assert refused.returncode == 1
    assert "P2P advertiser permission" in refused.stderr and "912000014" in refused.stderr
    assert not config.exists()
    assert API_SECRET not in refused.stdout + refused.stderr

    simulator.control("DELETE", "faults")
    wrong = cli(*args, env={**env, "BYBIT_API_SECRET": "not-the-secret"})
    assert wrong.returncode == 1 and "10004" in wrong.stderr
    assert not config.exists() and "not-the-secret" not in wrong.stdout + wrong.stderr

    missing = cli(*args, env={"BYBIT_API_KEY": "", "BYBIT_API_SECRET": ""})
    assert missing.returncode == 2 and "--api-key" in missing.stderr
