"""Bank message templates: amounts as banks write them, payers, senders, and config errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2pilot.config import ConfigError, load_config, parse_config
from p2pilot.config.intake import load_templates
from p2pilot.evidence.amounts import AmountError, currency_of, parse_amount
from p2pilot.evidence.templates import Template, TemplateError, attempts, read_text

ROOT = Path(__file__).resolve().parents[2]
BANKS = ROOT / "config" / "templates" / "banks.toml"
SAMPLES = ROOT / "config" / "templates" / "samples"


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("8 145,00 ₽", "8145.00"),
        ("8\u00a0145,00 руб.", "8145.00"),  # no-break space between thousands
        ("8\u202f145 р.", "8145"),  # narrow no-break space
        ("+2 500 RUB", "2500"),
        ("$1,234.50", "1234.50"),
        ("1.234.567,89 EUR", "1234567.89"),
        ("1'234.50 CHF", "1234.50"),
        ("15 000 ₸", "15000"),
        ("USD 100", "100"),
        ("0,5", "0.5"),
        ("1,234,567", "1234567"),
    ],
)
def test_amounts_as_banks_write_them(text: str, amount: str) -> None:
    value = parse_amount(text)
    assert isinstance(value, Decimal) and value == Decimal(amount)
    assert str(value) == amount  # exact digits, never a float on the way


@pytest.mark.parametrize("text", ["1,234", "1.234 RUB"])
def test_an_amount_readable_two_ways_is_refused(text: str) -> None:
    with pytest.raises(AmountError, match="ambiguous"):
        parse_amount(text)


def test_the_template_settles_the_decimal_separator() -> None:
    assert parse_amount("1,234", decimal_separator=",") == Decimal("1.234")
    assert parse_amount("1,234", decimal_separator=".") == Decimal("1234")


@pytest.mark.parametrize("text", ["", "RUB", "-500 RUB", "0,00 ₽", "12 and 14", "1,2,3"])
def test_no_amount_or_not_money_received(text: str) -> None:
    with pytest.raises(AmountError):
        parse_amount(text)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("8 145,00 ₽", "RUB"),
        ("500 руб.", "RUB"),
        ("100р", "RUB"),
        ("$5", "USD"),
        ("15 000 ₸", "KZT"),
        ("300 тг", "KZT"),
        ("50 грн", "UAH"),
        ("70 KGS", "KGS"),
        ("12", None),
        ("5 USD 5 RUB", None),  # two currencies: not one amount
    ],
)
def test_currency_signs_words_and_codes(text: str, code: str | None) -> None:
    assert currency_of(text) == code


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999"), places=2))
def test_any_amount_written_the_russian_way_reads_back_exactly(value: Decimal) -> None:
    whole, _, cents = f"{value:.2f}".partition(".")
    grouped = f"{int(whole):,}".replace(",", "\u00a0")
    assert parse_amount(f"{grouped},{cents} ₽") == value


SMS = Template.build(
    "sms",
    r"Перевод (?P<amount>[\d\s]+(?:,\d\d)?\s?(?:р|₽))\.? от (?P<payer>[^\d\n]+?)\.?\s+Баланс",
    sender="^900$",
)


def test_a_template_reads_amount_currency_and_a_cyrillic_payer() -> None:
    reading = read_text(
        [SMS], "Перевод 8 145,50 ₽ от Олег Иванович С. Баланс: 1 000 ₽", sender="900"
    )
    assert reading is not None
    assert (reading.amount, reading.currency, reading.payer, reading.reference) == (
        Decimal("8145.50"),
        "RUB",
        "Олег Иванович С",
        None,
    )


def test_a_look_alike_text_from_another_sender_is_not_read() -> None:
    text = "Перевод 8 145,50 ₽ от Олег Иванович С. Баланс: 1 000 ₽"
    assert read_text([SMS], text, sender="+79990001122") is None
    assert read_text([SMS], text, sender=None) is None  # a sender pattern needs a sender
    (attempt,) = attempts([SMS], text, sender="+79990001122")
    assert attempt.problem == "sender '+79990001122' does not fit"


def test_currency_from_the_template_when_the_text_names_none() -> None:
    plain = Template.build("plain", r"got (?P<amount>[\d.]+) from (?P<payer>\w+ \w+)")
    assert read_text([plain], "got 10.50 from Ann Lee") is None  # no currency: not evidence
    with_default = Template.build(
        "plain", r"got (?P<amount>[\d.]+) from (?P<payer>\w+ \w+)", currency="USD"
    )
    reading = read_text([with_default], "got 10.50 from Ann Lee")
    assert reading is not None and reading.currency == "USD"


def test_a_payer_without_letters_is_not_a_payer() -> None:
    template = Template.build("t", r"(?P<amount>\d+ RUB) от (?P<payer>\S+)")
    (attempt,) = attempts([template], "500 RUB от ***")
    assert attempt.reading is None and attempt.problem == "payer has no name in it"


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (r"(?P<amount>\d+) (", "not a valid regular expression"),
        (r"(?P<amount>\d+)", "needs the named group(s) (?P<payer>...)"),
        (r"(?<amount>\d+) (?<payer>\w+)", "write named groups as (?P<amount>...)"),
        (r"(?P<amount>\d+) (?P<payer>\w+) (?P<memo>\w+)", "unknown named group(s) memo"),
    ],
)
def test_unusable_patterns_are_refused(pattern: str, problem: str) -> None:
    with pytest.raises(TemplateError) as caught:
        Template.build("t", pattern)
    assert problem in str(caught.value)


# -- config ---------------------------------------------------------------------------------

BASE = """
[[accounts]]
name = "desk"
api_key = "k"
api_secret = "s"
"""


def load(tmp_path: Path, body: str) -> ConfigError:
    path = tmp_path / "p.toml"
    path.write_text(BASE + body, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value


def test_a_bad_pattern_is_a_config_error_naming_file_and_key(tmp_path: Path) -> None:
    err = load(tmp_path, "[[evidence.templates]]\nname = \"t\"\npattern = '(?P<amount>\\d+)'\n")
    assert err.key == "evidence.templates[0].pattern"
    assert "(?P<payer>...)" in err.problem and str(tmp_path / "p.toml") in str(err)
    err = load(tmp_path, '[[evidence.templates]]\nname = "t"\nfrom = "("\npattern = "x"\n')
    assert err.key == "evidence.templates[0].from"


def test_mailboxes_must_name_known_templates_and_sources_unique_tokens(tmp_path: Path) -> None:
    body = """
[evidence]
listen = "127.0.0.1:0"
[[evidence.templates]]
name = "sms"
pattern = '(?P<amount>\\d+ RUB) (?P<payer>\\w+)'
[[evidence.sources]]
name = "phone"
token = "tok-0123456789abcdef"
[[evidence.sources]]
name = "tablet"
token = "tok-0123456789abcdef"
[[evidence.mailboxes]]
name = "receipts"
host = "imap.example.org"
user = "desk"
password = "pw"
templates = ["receipt"]
"""
    err = load(tmp_path, body)
    problems = {issue.key: issue.problem for issue in err.issues}
    assert problems["evidence.sources[1].token"] == "same token as evidence.sources[0]"
    assert "tok-0123456789abcdef" not in str(err.issues)  # a token is never quoted back
    assert problems["evidence.mailboxes[0].templates[0]"] == (
        "no [[evidence.templates]] named 'receipt'"
    )


def test_a_clear_text_mailbox_must_be_on_loopback(tmp_path: Path) -> None:
    body = """
[[evidence.templates]]
name = "r"
pattern = '(?P<amount>\\d+ RUB) (?P<payer>\\w+)'
[[evidence.mailboxes]]
name = "receipts"
host = "imap.example.org"
security = "none"
user = "desk"
password = "pw"
"""
    err = load(tmp_path, body)
    assert err.key == "evidence.mailboxes[0]" and "loopback only" in err.problem


def test_sources_alone_open_the_listener_without_an_hmac_secret() -> None:
    config = parse_config(
        {
            "accounts": [{"name": "desk", "api_key": "k", "api_secret": "s"}],
            "evidence": {
                "listen": "127.0.0.1:0",
                "sources": [{"name": "phone", "token": "t0ken-abcdef-0123456"}],
                "templates": [{"name": "t", "pattern": r"(?P<amount>\d+ RUB) (?P<payer>\w+)"}],
            },
        }
    )
    assert config.evidence.sources[0].token.get_secret_value() == "t0ken-abcdef-0123456"
    assert "t0ken-abcdef-0123456" not in str(config.redacted())
    assert config.redacted()["evidence"]["templates"][0]["from"] is None


# -- the shipped examples --------------------------------------------------------------------


def test_every_shipped_template_reads_its_sample_and_no_other() -> None:
    templates = [t.compiled() for t in load_templates(BANKS)]
    assert len(templates) >= 4
    for template in templates:
        sample = (SAMPLES / f"{template.name}.txt").read_text(encoding="utf-8")
        readers = [a.template for a in attempts(templates, sample, check_sender=False) if a.reading]
        assert readers == [template.name], sample


def test_shipped_samples_read_as_documented() -> None:
    templates = [t.compiled() for t in load_templates(BANKS)]
    sms = (SAMPLES / "ru-sms-transfer.txt").read_text(encoding="utf-8")
    reading = read_text(templates, sms, sender="900")
    assert reading is not None
    assert (reading.amount, reading.currency, reading.payer) == (
        Decimal("8145"),
        "RUB",
        "Олег Иванович С",
    )
    receipt = (SAMPLES / "ru-receipt-sbp.txt").read_text(encoding="utf-8")
    reading = read_text(templates, receipt, sender="receipts@bank.example")
    assert reading is not None
    assert (reading.amount, reading.reference) == (Decimal("8145.00"), "B6334140712345678")
