"""The config loader: example files, every error kind as FILE: KEY: problem, secrets."""

from __future__ import annotations

import json
import os
import re
import warnings
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pilot.config import (
    DEFAULT_PATHS,
    Config,
    ConfigError,
    config_path_from,
    format_duration,
    load_config,
    parse_config,
    parse_duration,
)
from p2pilot.records import OrderStatus

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "config" / "demo.toml"
EXAMPLE = REPO / "config" / "p2pilot.example.toml"

KEY = "k-7f3a9c1e-SECRET-KEY"
SECRET = "s-5b2d8e4f-SECRET-VALUE"

ACCOUNT = """
[[accounts]]
name = "main"
api_key = "inline-key"
api_secret = "inline-secret"
"""


def write(tmp_path: Path, body: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def error_of(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BYBIT_API_KEY", "BYBIT_API_SECRET", "CREDENTIALS_DIRECTORY", "P2PILOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)


# -- the shipped examples ------------------------------------------------------------------


def test_demo_config_loads_without_any_environment() -> None:
    config = load_config(DEMO)
    assert config.source == DEMO
    assert config.database.url == "sqlite:///var/demo.db"
    assert config.logging.format == "console"
    (account,) = config.accounts
    assert account.base_url == "http://127.0.0.1:8765"
    assert account.api_key.get_secret_value() == "demo"
    assert account.api_secret.get_secret_value() == "demo"
    assert config.polling.orders == timedelta(seconds=1)
    assert config.polling.chat == timedelta(seconds=2)
    assert config.polling.sweep == timedelta(seconds=10)
    assert [(r.token, r.currency) for r in config.rates] == [("USDT", "RUB")]
    # The demo shows the whole loop, with the operator's approval in it.
    assert config.safety.release_mode == "approve" and config.safety.auto_release is None
    assert config.safety.release_max_amount["RUB"] > 0 < config.safety.release_daily_limit["RUB"]
    greet, release, answer = config.rules
    assert greet.on == ("order.created",) and greet.reply is not None
    assert release.on == ("order.paid", "payment.received") and release.release is True
    assert answer.on == ("chat.message",) and answer.if_.text_matches is not None
    assert answer.if_.text_matches.search("I have PAID") and not answer.if_.text_matches.search(
        "unpaid?"
    )
    assert config.secret_values() == [
        "demo",
        "demo-phone-token",
        "demo-session-secret-not-for-production-0123456789",
    ]
    # The simulated bank's SMS reach the daemon like a phone forwarder's.
    assert config.evidence.listen == "127.0.0.1:8766"
    assert [s.name for s in config.evidence.sources] == ["phone"]
    assert [t.name for t in config.evidence.templates] == ["ru-sms-transfer"]


def test_example_config_loads_with_bybit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYBIT_API_KEY", KEY)
    monkeypatch.setenv("BYBIT_API_SECRET", SECRET)
    config = load_config(EXAMPLE)
    (account,) = config.accounts
    assert account.base_url is None and account.testnet is False  # Bybit mainnet
    assert account.api_key.get_secret_value() == KEY
    assert account.api_secret.get_secret_value() == SECRET
    assert {"greet-buyer", "auto-release"} <= {r.name for r in config.rules}
    auto = next(r for r in config.rules if r.name == "auto-release")
    assert auto.if_.amount_max == Decimal("5000")
    assert auto.if_.counterparty_min_orders == 20
    assert auto.if_.payment_confirmed is True
    assert set(config.secret_values()) == {KEY, SECRET}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # check-config must print nothing but the document
        dumped = json.dumps(config.redacted())
    assert KEY not in dumped and SECRET not in dumped
    assert '"on": ["order.paid", "payment.received"]' in dumped


def test_example_config_documents_every_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The annotated example states each default; loading it equals the defaults."""
    monkeypatch.setenv("BYBIT_API_KEY", KEY)
    monkeypatch.setenv("BYBIT_API_SECRET", SECRET)
    config = load_config(EXAMPLE)
    defaults = parse_config({"accounts": [{"name": "main", "api_key": KEY, "api_secret": SECRET}]})
    assert config.database == defaults.database
    assert config.logging == defaults.logging
    assert config.polling == defaults.polling
    assert config.safety == defaults.safety
    assert config.accounts == defaults.accounts
    assert config.chat == defaults.chat


def test_example_config_fails_naming_the_unset_variable() -> None:
    err = error_of(EXAMPLE)
    assert str(err) == (
        f"{EXAMPLE}: accounts[0].api_key: environment variable BYBIT_API_KEY is not set"
    )
    assert [i.key for i in err.issues] == ["accounts[0].api_key", "accounts[0].api_secret"]


# -- defaults and values -------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ACCOUNT))
    assert config.database.url == "sqlite:///var/lib/p2pilot/p2pilot.db"
    assert config.database.auto_migrate is True
    assert (config.logging.level, config.logging.format) == ("info", "auto")
    account = config.accounts[0]
    assert (account.testnet, account.dry_run, account.enabled) == (False, False, True)
    assert account.timeout == timedelta(seconds=10)
    assert account.recv_window_ms == 5000
    polling = config.polling
    assert (polling.orders, polling.chat, polling.rates, polling.ads) == (
        timedelta(seconds=5),
        timedelta(seconds=5),
        timedelta(seconds=60),
        timedelta(minutes=2),
    )
    assert (polling.sweep, polling.jitter) == (timedelta(seconds=30), timedelta(0))
    assert (polling.misfire_grace, polling.shutdown_timeout) == (
        timedelta(seconds=30),
        timedelta(seconds=10),
    )
    assert config.safety.release_max_amount == {}
    assert config.safety.release_daily_limit == {}
    assert (config.safety.release_mode, config.safety.auto_release) == ("shadow", None)
    assert config.safety.approve_above is None and config.safety.two_person_above is None
    assert config.warnings() == []
    assert config.rates == [] and config.rules == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("5s", timedelta(seconds=5)),
        ("2m", timedelta(minutes=2)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("1.5s", timedelta(milliseconds=1500)),
        ("0s", timedelta(0)),
        (7, timedelta(seconds=7)),
    ],
)
def test_durations(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


def test_duration_formatting() -> None:
    assert format_duration(timedelta(milliseconds=500)) == "500ms"
    assert format_duration(timedelta(seconds=5)) == "5s"
    assert format_duration(timedelta(minutes=2)) == "2m"
    assert format_duration(timedelta(hours=1, minutes=30)) == "1h30m"
    assert format_duration(timedelta(0)) == "0s"


def test_money_is_exact_from_strings_and_ints(tmp_path: Path) -> None:
    body = ACCOUNT + (
        '[safety]\nrelease_max_amount = { RUB = "5000.10", usd = "50" }\n'
        "release_daily_limit = { RUB = 20000 }\n"
    )
    safety = load_config(write(tmp_path, body)).safety
    assert safety.release_max_amount == {"RUB": Decimal("5000.10"), "USD": Decimal("50")}
    assert str(safety.release_max_amount["RUB"]) == "5000.10"
    assert safety.release_daily_limit == {"RUB": Decimal(20000)}


def test_redacted_is_json_with_strings_for_durations_and_money(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P2P_DB_URL", f"postgresql://desk:{SECRET}@db.internal:5432/p2p")
    body = f"""
[database]
url = {{ env = "P2P_DB_URL" }}
[[accounts]]
name = "main"
api_key = "{KEY}"
api_secret = {{ env = "P2P_DB_URL" }}
[polling]
orders = "1500ms"
[safety]
release_max_amount = {{ RUB = "5000.50" }}
[[rules]]
name = "hook"
on = "order.paid"
if = {{ text_matches = "^paid", status = ["paid", 50], hours = "22:00-06:00" }}
webhook = "https://hooks.example/{SECRET}"
"""
    config = load_config(write(tmp_path, body))
    assert config.database.url.startswith("postgresql+psycopg://desk:")
    document = config.redacted()
    text = json.dumps(document)  # JSON-able
    assert KEY not in text and SECRET not in text
    assert document["database"]["url"] == "postgresql+psycopg://desk:***@db.internal:5432/p2p"
    assert document["accounts"][0]["api_key"] == "***"
    assert document["polling"]["orders"] == "1s500ms"
    assert document["safety"]["release_max_amount"] == {"RUB": "5000.50"}
    rule = document["rules"][0]
    assert rule["if"] == {"text_matches": "^paid", "status": [20, 50], "hours": "22:00-06:00"}
    assert rule["webhook"]["url"] == "***"
    assert SECRET in config.secret_values()


def test_rule_conditions_are_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P2P_NOTIFY", "tgram://other/chat")
    body = (
        ACCOUNT
        + """
[[rules]]
name = "r"
on = "chat.message"
reply = { text = "Got it, {counterparty.nickname}" }
mark_paid = "Bank Transfer"
notify = ["tgram://token/chat", { env = "P2P_NOTIFY" }]
command = { argv = ["/bin/true", "{order.id}"], timeout = "2s" }

[rules.if]
side = "SELL"
token = "usdt"
amount_min = "10"
amount_max = 500
status = "paid"
text_matches = "(?i)paid"
hours = "09:00-18:00"
account = "main"
counterparty_min_completion_rate = "97.5"
payment_method = "14"
"""
    )
    rule = load_config(write(tmp_path, body)).rules[0]
    cond = rule.if_
    assert (cond.side, cond.token) == ("sell", "USDT")
    assert (cond.amount_min, cond.amount_max) == (Decimal("10"), Decimal("500"))
    assert cond.status == frozenset({OrderStatus.PAID.value})
    assert cond.text_matches is not None and cond.text_matches.search("PAID now")
    assert cond.hours is not None and cond.hours.contains(time(12, 0))
    assert not cond.hours.contains(time(19, 0))
    assert cond.counterparty_min_completion_rate == Decimal("97.5")
    assert rule.actions == ("reply", "mark_paid", "notify", "command")
    assert rule.mark_paid is not None and rule.mark_paid.payment_method == "Bank Transfer"
    assert rule.notify is not None
    assert [u.get_secret_value() for u in rule.notify.urls] == [
        "tgram://token/chat",
        "tgram://other/chat",
    ]
    assert rule.command is not None and rule.command.timeout == timedelta(seconds=2)


def test_bare_postgresql_url_is_rewritten_to_psycopg(tmp_path: Path) -> None:
    body = '[database]\nurl = "postgresql://p2p@127.0.0.1:5432/test"\n' + ACCOUNT
    url = load_config(write(tmp_path, body)).database.url
    assert url == "postgresql+psycopg://p2p@127.0.0.1:5432/test"


def test_base_url_trailing_slash_is_dropped(tmp_path: Path) -> None:
    body = ACCOUNT + 'base_url = "http://127.0.0.1:8765/"\n'
    assert load_config(write(tmp_path, body)).accounts[0].base_url == "http://127.0.0.1:8765"


# -- errors: FILE: KEY: problem ---------------------------------------------------------------

NEEDS_ACTION = (
    "a rule needs at least one action"
    " (reply, release, mark_paid, reprice, webhook, notify, command)"
)
DB_HINT = "(use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)"
NAME_RULE = "must be made of letters, digits, '_', '.' or '-' (and not empty)"
NO_SHELL = 'write the command as an array (no shell), e.g. ["/usr/local/bin/hook", "-v"]'
RULE = '[[rules]]\nname = "r"\non = "order.paid"\n'
RATE = '[[rates]]\ntoken = "USDT"\ncurrency = "RUB"\n'


def rule(extra: str) -> str:
    return ACCOUNT + RULE + extra


def rate(extra: str) -> str:
    return ACCOUNT + RATE + extra


def section(name: str, extra: str) -> str:
    return ACCOUNT + f"[{name}]\n" + extra


ERRORS = [
    # (TOML body, key, problem) -- the message must be exactly FILE: KEY: problem
    (
        section("polling", 'orders = "5 parsecs"\n'),
        "polling.orders",
        "invalid duration '5 parsecs' (use e.g. 500ms, 5s, 2m, 1h)",
    ),
    (section("polling", 'order = "5s"\n'), "polling.order", "unknown key"),
    (section("bogus", "x = 1\n"), "bogus", "unknown key"),
    (ACCOUNT + "colour = 1\n", "accounts[0].colour", "unknown key"),
    (
        section("polling", 'orders = "100ms"\n'),
        "polling.orders",
        "must be at least 500ms (to stay inside Bybit's rate limits)",
    ),
    (
        section("polling", "chat = 2.5\n"),
        "polling.chat",
        'write durations as strings with a unit, e.g. "2.5s"',
    ),
    (
        section("polling", 'sweep = "1s"\norders = "2s"\n'),
        "polling.sweep",
        "must not be shorter than polling.orders",
    ),
    (
        section("safety", "release_max_amount = { RUB = 5000.0 }\n"),
        "safety.release_max_amount",
        'RUB: write amounts as strings, e.g. "5000" (a TOML float is not exact)',
    ),
    (
        section("safety", 'release_daily_limit = { RUB = "-1" }\n'),
        "safety.release_daily_limit",
        "RUB: cannot be negative",
    ),
    (
        section("safety", 'release_daily_limit = { RUB = "5,000" }\n'),
        "safety.release_daily_limit",
        "RUB: '5,000' is not a decimal number (write e.g. \"8145.00\")",
    ),
    (
        section("safety", 'release_daily_limit = { RUB = "1e999999999" }\n'),
        "safety.release_daily_limit",
        "RUB: number is too large (at most 18 digits)",
    ),
    (
        section("safety", 'release_daily_limit = { RUB = "sNaN" }\n'),
        "safety.release_daily_limit",
        "RUB: 'sNaN' is not a decimal number (write e.g. \"8145.00\")",
    ),
    (
        section("safety", 'release_daily_limit = { RUB = "0e-99999999" }\n'),
        "safety.release_daily_limit",
        "RUB: too many decimal places (at most 18)",
    ),
    (
        section("safety", "release_daily_limit = { RUB = 9223372036854775807 }\n"),
        "safety.release_daily_limit",
        "RUB: number is too large (at most 18 digits)",
    ),
    (
        section("evidence", 'listen = "127.0.0.1:8766"\nsecret = "x"\n'),
        "evidence.secret",
        "the hook secret must be at least 16 characters"
        ' (e.g. the output of "openssl rand -hex 32")',
    ),
    (
        section("safety", 'release_daily_limit = { "R U B" = "5000" }\n'),
        "safety.release_daily_limit",
        "invalid code 'R U B' (write e.g. USDT or RUB)",
    ),
    (
        # A bare amount (the pre-0.4 form) meant different money per currency.
        section("safety", 'release_daily_limit = "20000"\n'),
        "safety.release_daily_limit",
        'a limit names its currency: write release_daily_limit = { RUB = "20000" }'
        " (one entry per currency; a currency without one is never released"
        " automatically), got a string",
    ),
    (
        section("safety", "release_counterparty_daily_limit = 7000\n"),
        "safety.release_counterparty_daily_limit",
        'a limit names its currency: write release_counterparty_daily_limit = { RUB = "7000" }'
        " (one entry per currency; a currency without one is never released"
        " automatically), got an integer",
    ),
    (
        section("safety", 'auto_release = "yes"\n'),
        "safety.auto_release",
        "expected true or false, got a string",
    ),
    (
        section("safety", 'release_mode = "manual"\n'),
        "safety.release_mode",
        "must be one of 'shadow', 'approve', 'auto'",
    ),
    (
        section("safety", 'release_mode = "auto"\nauto_release = true\n'),
        "safety",
        "set release_mode only: auto_release is its old name"
        ' (auto_release = true is release_mode = "auto", false is "shadow")',
    ),
    (
        section("logging", 'level = "loud"\n'),
        "logging.level",
        "must be one of 'debug', 'info', 'warning', 'error'",
    ),
    (
        section("logging", 'format = "xml"\n'),
        "logging.format",
        "must be one of 'json', 'console', 'auto'",
    ),
    (
        section("database", 'url = "mysql://u@h/db"\n'),
        "database.url",
        f"unsupported database driver 'mysql' {DB_HINT}",
    ),
    ("", "accounts", "at least one [[accounts]] table is required"),
    (
        '[[accounts]]\nname = "a"\napi_secret = "x"\n',
        "accounts[0].api_key",
        "missing (this key is required)",
    ),
    (ACCOUNT.replace('"main"', '"has space"'), "accounts[0].name", NAME_RULE),
    (ACCOUNT + ACCOUNT, "accounts[1].name", "duplicate account name 'main' (also accounts[0])"),
    (
        ACCOUNT + 'base_url = "ftp://x"\n',
        "accounts[0].base_url",
        "must be an http:// or https:// URL with a host",
    ),
    (ACCOUNT + 'timeout = "1ms"\n', "accounts[0].timeout", "must be at least 500ms"),
    (
        ACCOUNT + '[[rates]]\ntoken = "USDT"\n',
        "rates[0].currency",
        "missing (this key is required)",
    ),
    (rate("depth = 0\n"), "rates[0].depth", "must be at least 1"),
    (
        rate("min_orders = 1.0\n"),
        "rates[0].min_orders",
        "expected an integer, got a float (write 1)",
    ),
    (rate('side = "both"\n'), "rates[0].side", "must be one of 'buy', 'sell'"),
    (rule(""), "rules[0]", NEEDS_ACTION),
    (rule("release = false\n"), "rules[0]", NEEDS_ACTION),
    (rule('release = true\nif = { colour = "red" }\n'), "rules[0].if.colour", "unknown key"),
    (
        rule('release = true\nif = { account = "other" }\n'),
        "rules[0].if.account",
        "no account named 'other'",
    ),
    (
        rule('release = true\nif = { amount_min = "10", amount_max = "5" }\n'),
        "rules[0].if",
        "amount_min is greater than amount_max",
    ),
    (
        rule('release = true\nif = { hours = "9-18" }\n'),
        "rules[0].if.hours",
        "invalid time window '9-18' (write e.g. \"09:00-18:00\")",
    ),
    (rule('command = "rm -rf /"\n'), "rules[0].command", NO_SHELL),
    (rule('reply = "Hi {order.nickname}"\n'), "rules[0].reply.text", None),
    (
        rule("release = true\n") + RULE + "release = true\n",
        "rules[1].name",
        "duplicate rule name 'r' (also rules[0])",
    ),
]


@pytest.mark.parametrize(("body", "key", "problem"), ERRORS)
def test_errors_name_file_key_and_problem(
    tmp_path: Path, body: str, key: str, problem: str | None
) -> None:
    path = write(tmp_path, body)
    err = error_of(path)
    assert (err.file, err.key) == (str(path), key)
    if problem is not None:
        assert err.problem == problem
        assert str(err) == f"{path}: {key}: {problem}"
    assert err.issues[0].key == key


def test_unknown_event_and_bad_regex_report_their_own_keys(tmp_path: Path) -> None:
    body = (
        ACCOUNT
        + '[[rules]]\nname = "ok"\non = "order.paid"\nrelease = true\n'
        + '[[rules]]\nname = "bad"\non = "order.paid"\nreply = "x"\nif = { text_matches = "(" }\n'
        + '[[rules]]\nname = "worse"\non = "order.teleported"\nrelease = true\n'
    )
    err = error_of(write(tmp_path, body))
    assert err.key == "rules[1].if.text_matches"
    assert err.problem.startswith("invalid regular expression: missing )")
    assert [i.key for i in err.issues] == ["rules[1].if.text_matches", "rules[2].on"]
    assert "unknown event 'order.teleported'" in err.issues[1].problem
    assert "order.paid" in err.issues[1].problem  # lists the known events


def test_first_error_is_stable_and_all_are_kept(tmp_path: Path) -> None:
    body = ACCOUNT + '[polling]\norders = "x"\nchat = "y"\nbogus = 1\n'
    path = write(tmp_path, body)
    first, second = error_of(path), error_of(path)
    assert str(first) == str(second)
    assert [i.key for i in first.issues] == ["polling.orders", "polling.chat", "polling.bogus"]


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '[database]\nurl = "sqlite:///x.db"\nthis is = = not toml\n')
    err = error_of(path)
    assert err.key == ""
    assert re.fullmatch(r"invalid TOML at line 3, column \d+: .+", err.problem), err.problem
    assert str(err).startswith(f"{path}: invalid TOML at line 3, column ")


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    err = error_of(path)
    assert err.file == str(path)
    assert str(err).startswith(f"{path}: config file not found")


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p.mkdir(), "cannot read config file: Is a directory"),
        (lambda p: p.write_bytes(b'a = "\xff"\n'), "not UTF-8 text (byte 5)"),
    ],
)
def test_unreadable_files(tmp_path: Path, make: Any, problem: str) -> None:
    path = tmp_path / "p.toml"
    make(path)
    assert str(error_of(path)) == f"{path}: {problem}"


def test_parse_config_rejects_a_non_table() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config([1, 2], source="x.toml")  # type: ignore[arg-type]
    assert str(caught.value) == "x.toml: expected a table, got an array"


# -- secrets ----------------------------------------------------------------------------


SHAPE = (
    'a secret is a string or one of { env = "NAME" }, { file = "/path" }, { credential = "name" }'
)


def account_with(secret_toml: str) -> str:
    return f'[[accounts]]\nname = "main"\napi_key = "k-inline"\napi_secret = {secret_toml}\n'


def test_secret_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P2P_TEST_SECRET", SECRET)
    config = load_config(write(tmp_path, account_with('{ env = "P2P_TEST_SECRET" }')))
    assert config.accounts[0].api_secret.get_secret_value() == SECRET
    assert SECRET not in repr(config) and SECRET not in str(config.accounts[0])


def test_secret_from_file_drops_the_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "bybit").write_text(SECRET + "\n", encoding="utf-8")
    absolute = account_with(f'{{ file = "{tmp_path / "secrets" / "bybit"}" }}')
    relative = account_with('{ file = "secrets/bybit" }')  # relative to the config file
    for body in (absolute, relative):
        config = load_config(write(tmp_path, body))
        assert config.accounts[0].api_secret.get_secret_value() == SECRET


def test_secret_from_systemd_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "bybit-secret").write_text(SECRET, encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    config = load_config(write(tmp_path, account_with('{ credential = "bybit-secret" }')))
    assert config.accounts[0].api_secret.get_secret_value() == SECRET


def test_plain_secret_string(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, account_with(f'"{SECRET}"')))
    assert config.accounts[0].api_secret.get_secret_value() == SECRET
    assert config.secret_values() == ["k-inline", SECRET]


@pytest.mark.parametrize(
    ("secret_toml", "problem"),
    [
        ('{ env = "P2P_UNSET_VAR" }', "environment variable P2P_UNSET_VAR is not set"),
        ('{ env = "P2P_EMPTY_VAR" }', "environment variable P2P_EMPTY_VAR is empty"),
        (
            '{ file = "/nonexistent/p2p-secret" }',
            "cannot read secret file /nonexistent/p2p-secret: No such file or directory",
        ),
        ('{ file = "empty" }', "secret file {dir}/empty is empty"),
        ('{ file = "fifo" }', "secret file {dir}/fifo is not a regular file"),
        (
            '{ credential = "bybit" }',
            "credential 'bybit': CREDENTIALS_DIRECTORY is not set "
            "(run under systemd with LoadCredential=, or use { file = ... })",
        ),
        (
            '{ credential = "../etc/passwd" }',
            "invalid credential name '../etc/passwd' (a LoadCredential= name, not a path)",
        ),
        ('{ vault = "x" }', f"unknown secret source 'vault'; {SHAPE}"),
        ('{ env = "A", file = "B" }', SHAPE),
        ("42", f"{SHAPE}, got an integer"),
        ('""', "a secret cannot be empty"),
    ],
)
def test_secret_errors_name_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret_toml: str, problem: str
) -> None:
    monkeypatch.setenv("P2P_EMPTY_VAR", "")
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    os.mkfifo(tmp_path / "fifo")  # must not block the loader
    path = write(tmp_path, account_with(secret_toml))
    err = error_of(path)
    assert err.key == "accounts[0].api_secret"
    assert err.problem == problem.replace("{dir}", str(tmp_path))


def test_missing_credential_file_names_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    err = error_of(write(tmp_path, account_with('{ credential = "nope" }')))
    assert err.problem == (
        f"cannot read credential 'nope' ({tmp_path / 'nope'}): No such file or directory"
    )


def test_secret_values_never_appear_in_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config whose secrets resolve but which is broken elsewhere, in many ways."""
    monkeypatch.setenv("P2P_TEST_SECRET", SECRET)
    (tmp_path / "key").write_text(KEY, encoding="utf-8")
    base = (
        f'[database]\nurl = "postgresql+psycopg://u:{SECRET}@h/db"\n'
        f'[[accounts]]\nname = "main"\napi_key = {{ file = "key" }}\n'
        f'api_secret = {{ env = "P2P_TEST_SECRET" }}\n'
    )
    broken = [
        base + "testnet = 1\n",
        base + f'api_id = "{KEY}"\n',
        base + f'base_url = "http://{KEY}:{SECRET}@h:99999"\n',
        base.replace("postgresql+psycopg", "mysql"),
        base.replace("postgresql+psycopg://", "postgresql+psycopg:/"),
        base + RULE + f'webhook = {{ url = "{SECRET}", x = 1 }}\n',
        base + f'[safety]\nrelease_max_amount = "{SECRET}"\n',
        base + f'[polling]\norders = "{KEY}"\n',
    ]
    for index, body in enumerate(broken):
        err = error_of(write(tmp_path, body, f"broken{index}.toml"))
        everything = str(err) + repr(err) + "".join(str(i) for i in err.issues)
        assert SECRET not in everything, body
        assert err.__cause__ is None
        assert err.__context__ is None or err.__suppress_context__


# -- config_path_from -------------------------------------------------------------------


def test_config_path_precedence(tmp_path: Path) -> None:
    system, local = tmp_path / "etc.toml", tmp_path / "local.toml"
    candidates = (system, local)
    env = {"P2PILOT_CONFIG": "/from/env.toml"}
    assert config_path_from("cli.toml", environ=env, candidates=candidates) == Path("cli.toml")
    assert config_path_from(None, environ=env, candidates=candidates) == Path("/from/env.toml")
    assert config_path_from(None, environ={}, candidates=candidates) == system  # neither exists
    local.write_text("", encoding="utf-8")
    assert config_path_from(None, environ={}, candidates=candidates) == local
    system.write_text("", encoding="utf-8")
    assert config_path_from(None, environ={}, candidates=candidates) == system


def test_config_path_defaults_are_documented_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P2PILOT_CONFIG", "/srv/p2pilot.toml")
    assert config_path_from(None) == Path("/srv/p2pilot.toml")
    assert config_path_from("") == Path("/srv/p2pilot.toml")
    expected = (Path("/etc/p2pilot/p2pilot.toml"), Path("p2pilot.toml"))
    assert expected == DEFAULT_PATHS


# -- fuzz: any input ends as a Config or a ConfigError ----------------------------------

KNOWN_KEYS = [
    "database", "url", "auto_migrate", "logging", "level", "format", "accounts", "name",
    "api_key", "api_secret", "base_url", "testnet", "dry_run", "timeout", "recv_window",
    "enabled", "polling", "orders", "chat", "rates", "ads", "sweep", "jitter", "misfire_grace",
    "shutdown_timeout", "token", "currency", "side", "amount", "payment_methods", "min_orders",
    "min_completion_rate", "depth", "threshold", "safety", "release_max_amount",
    "release_daily_limit", "auto_release", "rules", "on", "if", "reply", "release", "mark_paid",
    "webhook", "notify", "command", "text_matches", "status", "hours", "amount_min",
    "amount_max", "env", "file", "credential", "text", "urls", "argv", "payment_method",
]  # fmt: skip
SCALARS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["5s", "500ms", "1h30m", "sell", "buy", "order.paid", "(", "09:00-18:00",
                     "sqlite:///x.db", "postgresql://u:p@h/d", "http://127.0.0.1:1", "USDT"]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.booleans(),
    st.datetimes(),
    st.dates(),
    st.times(),
)  # fmt: skip
KEYS = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=6))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=25,
)
DOCUMENTS = st.dictionaries(KEYS, VALUES, max_size=8)


NOISE = [
    "x = 1.5",
    "[[rules]]",
    'name = "demo"',
    'on = "order.paid"',
    "[polling]",
    "a = [[[[1]]]]",
    'url = { env = "NOPE" }',
    "orders = 99999999999999999999",
    "if = { hours = 5 }",
    "release_max_amount = 1e3",
    'api_secret = { file = "/dev/zero" }',
]


def assert_clean(outcome: Config | ConfigError) -> None:
    if isinstance(outcome, ConfigError):
        assert not outcome.problem.startswith("internal error"), str(outcome)
        assert str(outcome).startswith("fuzz.toml")


@settings(max_examples=200, deadline=None)
@given(DOCUMENTS)
def test_fuzz_documents_end_as_config_or_config_error(document: dict[str, Any]) -> None:
    try:
        outcome: Config | ConfigError = parse_config(document, source="fuzz.toml")
    except ConfigError as err:
        outcome = err
    assert_clean(outcome)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["database", "logging", "polling", "safety"]),
        st.dictionaries(st.sampled_from(KNOWN_KEYS), VALUES, max_size=4),
        max_size=4,
    ),
    st.lists(st.dictionaries(st.sampled_from(KNOWN_KEYS), VALUES, max_size=6), max_size=3),
    st.lists(st.dictionaries(st.sampled_from(KNOWN_KEYS), VALUES, max_size=6), max_size=3),
)
def test_fuzz_near_valid_documents(
    sections: dict[str, Any], rules: list[dict[str, Any]], rates: list[dict[str, Any]]
) -> None:
    document: dict[str, Any] = {
        "accounts": [{"name": "a", "api_key": "k-fuzz", "api_secret": "s-fuzz"}],
        **sections,
        "rules": rules,
        "rates": rates,
    }
    try:
        outcome: Config | ConfigError = parse_config(document, source="fuzz.toml")
    except ConfigError as err:
        outcome = err
    assert_clean(outcome)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_fuzz_toml_text(tmp_path: Path, data: st.DataObject) -> None:
    """Random text, and the demo file with one line replaced by random TOML-ish text."""
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    alphabet = st.characters(codec="utf-8", exclude_categories=["Cs"])
    noise = data.draw(st.text(alphabet=alphabet, max_size=40) | st.sampled_from(NOISE))
    if data.draw(st.booleans()):
        text = noise
    else:
        index = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
        text = "\n".join([*lines[:index], noise, *lines[index + 1 :]])
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    try:
        outcome: Config | ConfigError = load_config(path)
    except ConfigError as err:
        outcome = err
    if isinstance(outcome, ConfigError):
        assert not outcome.problem.startswith("internal error"), str(outcome)
        assert outcome.file == str(path)


def test_alert_fields_are_known_to_templates() -> None:
    rule = {
        "name": "wake-me",
        "on": "daemon.alert",
        "notify": {"urls": ["json://127.0.0.1:9/"], "title": "p2pilot: {alert.reason}"},
    }
    config = parse_config(
        {"accounts": [{"name": "main", "api_key": KEY, "api_secret": SECRET}], "rules": [rule]}
    )
    assert config.rules[0].notify is not None


# Only the tests about the legacy key's loading and warning may configure it; every
# other test's desk is written as an operator writes one today.
LEGACY_KEY_TESTS = {"tests/unit/test_config.py", "tests/e2e/test_release_mode_config.py"}
# A TOML line (``auto_release = true``) or a dict's key; not ReleaseLimits(auto_release=...).
LEGACY_KEY = re.compile(r"""^\s*auto_release\s*=\s*(true|false)\b|["']auto_release["']\s*:""")


def test_only_the_legacy_keys_own_tests_configure_auto_release() -> None:
    found = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted((REPO / "tests").rglob("*.py"))
        if str(path.relative_to(REPO)) not in LEGACY_KEY_TESTS
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if LEGACY_KEY.search(line)
    ]
    assert found == [], 'write release_mode = "auto" (or "shadow") instead of auto_release'
