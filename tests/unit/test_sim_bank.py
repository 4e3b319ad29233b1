"""The simulated bank's SMS reads with the shipped template the demo config uses."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from p2pilot.config.intake import load_templates
from p2pilot.evidence.templates import read_text
from p2pilot.simulator.bank import SENDER, rubles, sms_text

ROOT = Path(__file__).resolve().parents[2]


def test_rubles_are_written_as_a_russian_bank_does() -> None:
    assert rubles(Decimal("8145.00")) == "8 145,00"
    assert rubles(Decimal("1000000.5")) == "1 000 000,50"
    assert rubles(Decimal("7")) == "7,00"


def test_the_demo_config_template_reads_the_simulated_sms() -> None:
    templates = [t.compiled() for t in load_templates(ROOT / "config" / "demo.toml")]
    text = sms_text(Decimal("8145.00"), "OLEG SIDOROV", Decimal("33445.40"))
    reading = read_text(templates, text, sender=SENDER)
    assert reading is not None
    assert (reading.amount, reading.currency, reading.payer) == (
        Decimal("8145.00"),
        "RUB",
        "Олег Сидоров",
    )
