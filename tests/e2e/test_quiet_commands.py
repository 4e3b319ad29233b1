"""Read commands print their answer and warnings only; console log lines carry no empty fields."""

from __future__ import annotations

from pathlib import Path

from .conftest import SECRET_ENV, SimProcess, cli, write_config


def test_read_commands_print_nothing_but_their_answer(
    simulator: SimProcess, tmp_path: Path
) -> None:
    simulator.control("POST", "orders", side="sell", amount="100.00", price="81.00")
    db_url = f"sqlite:///{tmp_path / 'p2pilot.db'}"
    config = write_config(tmp_path / "p2pilot.toml", db_url=db_url, base_url=simulator.url)
    # The daemon's own level is info, on a console: the libraries' INFO chatter
    # (alembic's "Context impl SQLiteImpl.", the scheduler's "Running job") and
    # our own info lines belong to `run`, not to a read command's terminal.
    text = config.read_text(encoding="utf-8").replace('format = "json"', 'format = "console"')
    config.write_text(text, encoding="utf-8")

    ran = cli("--config", str(config), "run", "--once", env=SECRET_ENV)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run_lines = ran.stdout.splitlines()
    assert any("order.created" in line for line in run_lines)
    assert not [line for line in run_lines if "=None" in line or line.rstrip().endswith("=")]
    assert not [line for line in run_lines if "Context impl" in line or "Running job" in line]

    for args in (
        ("status",),
        ("orders", "list"),
        ("payments", "list"),
        ("rates",),
        ("db", "current"),
        ("status", "--json"),
        ("orders", "list", "--json"),
    ):
        result = cli("--config", str(config), *args, env=SECRET_ENV)
        assert result.returncode in (0, 1), (args, result.stderr)
        assert result.stderr == "", (args, result.stderr)
        assert result.stdout.strip(), args
