"""``p2pilot init``: from a fresh install to a checked config, without opening an editor.

Asks where the config goes and which database, then per account the API key
and secret, each checked against the exchange at once (signature, P2P
advertiser permission, nickname, payment methods). Writes the secrets as
credential files (0600), a commented config with a safe rule set (greeting;
release in shadow mode), and loads it back exactly as ``check-config`` does
before it takes the config's place. ``--non-interactive`` does the same from
flags and the environment, for scripts.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from p2pilot.cli.app import fail, state
from p2pilot.config.starter import DEFAULT_GREETING, StarterAccount, StarterConfig

if TYPE_CHECKING:  # the key check's client (pybit) is imported only when `init` runs
    from rich.console import Console

    from p2pilot.exchange.keycheck import KeyCheck

BYBIT = "https://api.bybit.com"


def default_config_path() -> Path:
    """/etc/p2pilot/p2pilot.toml for root (the systemd unit's), ./p2pilot.toml otherwise."""
    return Path("/etc/p2pilot/p2pilot.toml") if os.geteuid() == 0 else Path("p2pilot.toml")


def default_database(config_path: Path) -> str:
    """SQLite: in the unit's StateDirectory for root, beside the config otherwise."""
    if os.geteuid() == 0 and config_path == Path("/etc/p2pilot/p2pilot.toml"):
        return "sqlite:////var/lib/p2pilot/p2pilot.db"
    return f"sqlite:///{config_path.resolve().parent / 'p2pilot.db'}"


def register(app: typer.Typer) -> None:
    """Attach ``init`` to the CLI."""

    app.command()(init)


def init(
    non_interactive: Annotated[
        bool, typer.Option("--non-interactive", help="Ask nothing: flags and environment.")
    ] = False,
    database: Annotated[
        str | None, typer.Option(help="Database URL (default: SQLite beside the config).")
    ] = None,
    account: Annotated[str | None, typer.Option(help="Account name (default: main).")] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="BYBIT_API_KEY", help="API key ($BYBIT_API_KEY).")
    ] = None,
    api_secret: Annotated[
        str | None,
        typer.Option(
            envvar="BYBIT_API_SECRET",
            show_envvar=True,
            help="API secret; prefer $BYBIT_API_SECRET (a flag shows in `ps`).",
        ),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="Exchange URL: the simulator, a proxy (default: Bybit).")
    ] = None,
    testnet: Annotated[bool, typer.Option(help="Bybit's testnet.")] = False,
    currency: Annotated[str | None, typer.Option(help="Fiat you trade in (RUB).")] = None,
    max_amount: Annotated[
        str | None, typer.Option(help="Largest single release, in that fiat (5000).")
    ] = None,
    daily_limit: Annotated[
        str | None, typer.Option(help="Most released per UTC day, in that fiat (50000).")
    ] = None,
    greeting: Annotated[bool, typer.Option(help="Greet buyers of sell orders.")] = True,
    release: Annotated[
        bool, typer.Option(help="Release on confirmed payment (shadow mode).")
    ] = True,
    force: Annotated[bool, typer.Option(help="Replace an existing config.")] = False,
) -> None:
    """Set up p2pilot: config, database, checked API keys, safe starting rules."""
    from p2pilot.render.console import make_console

    console = make_console()
    ask = Asker(console, interactive=not non_interactive)
    given = state.config_path
    path = Path(given) if given else default_config_path()
    if not non_interactive and not given:
        path = Path(ask.text("Config file", str(path)))
    if path.exists() and not force and not ask.confirm(f"{path} exists. Replace it?", False):
        fail(f"{path} exists; pass --force to replace it")
    url = database or ask.text("Database URL", default_database(path), flag="--database")
    _check_database(console, ask, url)
    accounts = _accounts(console, ask, account, api_key, api_secret, base_url, testnet)
    fiat = (currency or ask.text("Currency you trade in", "RUB")).strip().upper()
    largest = _amount(ask, max_amount, f"Largest single release, in {fiat}", "5000")
    per_day = _amount(ask, daily_limit, f"Most released per UTC day, in {fiat}", "50000")
    text = None
    if greeting and ask.confirm("Greet buyers when a sell order opens?", True):
        text = ask.text("Greeting", DEFAULT_GREETING)
    starter = StarterConfig(
        database_url=url,
        accounts=tuple(accounts),
        currency=fiat,
        max_amount=largest,
        daily_limit=per_day,
        greeting=text,
        release=release and ask.confirm("Release when payment is confirmed (shadow mode)?", True),
    )
    _write(console, path, starter)


class Asker:
    """Prompts when interactive; otherwise the defaults, and a clear exit where none exists."""

    def __init__(self, console: Console, *, interactive: bool) -> None:
        self.console = console
        self.interactive = interactive

    def text(
        self, question: str, default: str | None = None, *, flag: str = "", hide: bool = False
    ) -> str:
        if not self.interactive:
            if default is None:
                fail(f"--non-interactive needs {flag}", code=2)
            return default
        answer: str = typer.prompt(question, default=default, hide_input=hide)
        return answer.strip()

    def confirm(self, question: str, default: bool) -> bool:
        if not self.interactive:
            return default
        return bool(typer.confirm(question, default=default))


def _amount(ask: Asker, given: str | None, question: str, default: str) -> Decimal:
    while True:
        text = given if given is not None else ask.text(question, default)
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = Decimal(-1)
        if value.is_finite() and value > 0 and len(text) <= 20:
            return value
        if not ask.interactive or given is not None:
            fail(f"{text!r} is not a positive amount", code=2)
        ask.console.print(Text(f"  {text!r} is not a positive amount", style="red"))


def _check_database(console: Console, ask: Asker, url: str) -> None:
    """Connect and migrate now: a wrong URL or a missing directory shows here, not at start."""
    from p2pilot.store.engine import redact_url
    from p2pilot.store.migrate import upgrade

    try:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        upgrade(url)
    except Exception as exc:
        fail(f"database {redact_url(url)}: {type(exc).__name__}: {exc}".splitlines()[0])
    console.print(Text.assemble(("✓ ", "green"), f"database {redact_url(url)}: schema up to date"))


def _accounts(
    console: Console,
    ask: Asker,
    name: str | None,
    api_key: str | None,
    api_secret: str | None,
    base_url: str | None,
    testnet: bool,
) -> list[StarterAccount]:
    accounts: list[StarterAccount] = []
    while True:
        account = _one_account(
            console,
            ask,
            name or ask.text("Account name", "main" if not accounts else None),
            api_key,
            api_secret,
            base_url,
            testnet,
        )
        accounts.append(account)
        name = api_key = api_secret = None  # flags describe the first account only
        if not ask.confirm("Add another account?", False):
            return accounts


def _one_account(
    console: Console,
    ask: Asker,
    name: str,
    api_key: str | None,
    api_secret: str | None,
    base_url: str | None,
    testnet: bool,
) -> StarterAccount:
    from p2pilot.exchange.keycheck import check_keys

    url = base_url
    if url is None and not testnet and ask.interactive:
        answer = ask.text("Exchange URL (Enter: Bybit; or testnet)", BYBIT)
        testnet = answer == "testnet"
        url = None if answer in (BYBIT, "testnet") else answer
    while True:
        key = api_key or ask.text(f"API key of {name}", flag="--api-key")
        secret = api_secret or ask.text(f"API secret of {name}", flag="--api-secret", hide=True)
        with console.status("asking the exchange …"):
            check = check_keys(api_key=key, api_secret=secret, base_url=url, testnet=testnet)
        show_check(console, name, check)
        if check.ok:
            return StarterAccount(name, key, secret, base_url=url, testnet=testnet)
        if not ask.interactive or not ask.confirm("Enter the key and secret again?", True):
            fail(f"account {name}: {check.problem}")
        api_key = api_secret = None


def show_check(console: Console, name: str, check: KeyCheck) -> None:
    """What the exchange said, one line per question."""
    from p2pilot.render.console import outside

    def line(ok: bool, *parts: str | Text) -> None:
        mark = Text("✓ ", style="green") if ok else Text("✗ ", style="bold red")
        console.print(Text.assemble(mark, *parts))

    profile = check.profile
    if profile is None:
        line(False, f"{name}: ", outside(check.problem))
        return
    line(
        True,
        f"{name}: signature accepted, nickname ",
        outside(profile.nickname, "bold"),
        outside(f" (uid {profile.user_id}, KYC {profile.kyc_level or '?'})"),
    )
    if not check.advertiser:
        line(False, f"{name}: ", outside(check.problem))
        return
    line(True, f"{name}: P2P advertiser permission")
    methods = check.payment_methods
    if not methods:
        line(False, f"{name}: no payment methods yet (add them on Bybit before posting ads)")
    for method in methods:
        label = method.name or method.bank_name or f"type {method.payment_type}"
        line(
            True, f"{name}: payment method ", outside(label, "bold"), outside(f" (id {method.id})")
        )


def _write(console: Console, path: Path, starter: StarterConfig) -> None:
    """Credentials first, then the config, loaded back as check-config does, then moved in place."""
    from p2pilot.config import ConfigError
    from p2pilot.config.starter import write_credentials

    path.parent.mkdir(parents=True, exist_ok=True)
    files = write_credentials(path, starter.accounts)
    draft = path.with_name(f".{path.name}.init")
    try:
        _draft_that_loads(draft, starter)
    except ConfigError as err:
        draft.unlink(missing_ok=True)
        fail(f"the config init wrote does not load (a bug; please report it): {err}", code=78)
    draft.replace(path)
    console.print(
        Text.assemble(
            ("✓ ", "green"),
            f"wrote {path} (check-config: ok) and {len(files)} credential files in ",
            f"{files[0].parent} (mode 0600)" if files else "",
        )
    )
    where = f"--config {path} " if path != default_config_path() else ""
    console.print(
        Text("\nNext: one pass that stores your open orders, a look at them, then the daemon")
    )
    console.print(Text('(or the systemd unit, README "Run as a service"):'))
    for command in ("run --once", "orders list", "run"):
        # Copied as typed: never cut inside a path.
        console.print(Text(f"  p2pilot {where}{command}", style="bold"), soft_wrap=True)
    console.print(
        'Releases stay in shadow mode (release_mode = "shadow"): read `orders show` first.'
    )


def _draft_that_loads(draft: Path, starter: StarterConfig) -> None:
    """Write the config to ``draft`` and load it as check-config does; ConfigError if not."""
    from p2pilot.config import load_config
    from p2pilot.config.starter import render

    draft.write_text(render(starter), encoding="utf-8")
    load_config(draft)
