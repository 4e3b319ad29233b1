"""``payments test-template``: what a template reads from a sample, as an operator runs it."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import SECRET_ENV, cli, write_config

ROOT = Path(__file__).resolve().parents[2]
BANKS = ROOT / "config" / "templates" / "banks.toml"
SAMPLES = ROOT / "config" / "templates" / "samples"


def test_test_template_shows_what_the_shipped_templates_read() -> None:
    sample = SAMPLES / "ru-push-sbp.txt"
    result = cli("payments", "test-template", str(sample), "--templates", str(BANKS), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["matched"] == "ru-push-sbp"
    (reading,) = [a["reading"] for a in document["attempts"] if a["reading"]]
    assert reading == {
        "amount": "2500.00",
        "currency": "RUB",
        "payer": "Анна Ковалева",
        "reference": "C16012345678901",
    }
    text = cli("payments", "test-template", str(sample), "--templates", str(BANKS)).stdout
    assert "ru-push-sbp: reads" in text and "amount     2500.00" in text


def test_test_template_checks_the_sender_when_given(tmp_path: Path) -> None:
    sample = SAMPLES / "ru-sms-transfer.txt"
    args = ("payments", "test-template", str(sample), "--templates", str(BANKS))
    assert cli(*args, "--from", "900").returncode == 0
    spoofed = cli(*args, "--from", "+79991234567")
    assert spoofed.returncode == 1
    assert "ru-sms-transfer: no (sender '+79991234567' does not fit)" in spoofed.stdout


def test_test_template_exit_codes(tmp_path: Path) -> None:
    unreadable = tmp_path / "note.txt"
    unreadable.write_text("Your card statement is ready", encoding="utf-8")
    assert (
        cli("payments", "test-template", str(unreadable), "--templates", str(BANKS)).returncode == 1
    )
    missing = cli(
        "payments", "test-template", str(tmp_path / "nope.txt"), "--templates", str(BANKS)
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[[evidence.templates]]\nname = "x"\npattern = "(?P<amount>\\\\d+)"\n')
    broken = cli("payments", "test-template", str(unreadable), "--templates", str(bad))
    assert broken.returncode == 78
    assert f"{bad}: evidence.templates[0].pattern:" in broken.stderr


def test_check_config_never_shows_source_tokens_or_mailbox_passwords(tmp_path: Path) -> None:
    token, password = "src-TOKEN-81f2c0d9e4", "imap-PASSWORD-0c9d17"
    extra = f"""
[evidence]
listen = "127.0.0.1:0"

[[evidence.sources]]
name = "phone"
token = "{token}"

[[evidence.templates]]
name = "sms"
pattern = '(?P<amount>\\d+ RUB) от (?P<payer>\\w+)'

[[evidence.mailboxes]]
name = "receipts"
host = "imap.example.org"
user = "desk"
password = {{ env = "E2E_IMAP_PASSWORD" }}
"""
    config = write_config(
        tmp_path / "p.toml", db_url="sqlite:///x.db", base_url="http://127.0.0.1:1", extra=extra
    )
    shown = cli(
        "--config", str(config), "check-config", env={**SECRET_ENV, "E2E_IMAP_PASSWORD": password}
    )
    assert shown.returncode == 0, shown.stderr
    assert token not in shown.stdout + shown.stderr
    assert password not in shown.stdout + shown.stderr
    assert shown.stdout.count("***") >= 2
