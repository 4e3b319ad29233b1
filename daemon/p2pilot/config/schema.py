"""The config's sections as typed, frozen models (the TOML contract in the design).

Every model forbids unknown keys and is strict about TOML types (``"5"`` is not a
number, ``5.0`` is not money). Defaults are the values the design documents.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import URL, make_url

from p2pilot.config.console import ConsoleConfig
from p2pilot.config.intake import MailboxConfig, SourceConfig, TemplateConfig
from p2pilot.config.rules import RuleConfig
from p2pilot.config.secrets import Secret, remember_secret, resolve_secret
from p2pilot.config.telegram import TelegramConfig
from p2pilot.config.values import (
    Code,
    CurrencyLimits,
    Duration,
    HttpUrl,
    Money,
    Name,
    NonEmptyStr,
    Percent,
    PositiveDecimal,
    PositiveMoney,
    at_least,
    invalid,
    one_of,
    parse_listen,
    toml_type,
)
from p2pilot.evidence.matching import MatchPolicy

STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)

DEFAULT_DATABASE_URL = "sqlite:///var/lib/p2pilot/p2pilot.db"
DATABASE_HINT = "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
SQLITE_DRIVERS = ("sqlite", "sqlite+pysqlite")
POSTGRES_DRIVER = "postgresql+psycopg"
MIN_HOOK_SECRET = 16


def parse_database_url(value: object, info: ValidationInfo) -> str:
    """A SQLite or psycopg 3 PostgreSQL URL; may come from a secret source (it has a password)."""
    if isinstance(value, dict):
        value = resolve_secret(value, info).get_secret_value()
    if not isinstance(value, str):
        invalid(f"expected a database URL string, got {toml_type(value)}")
    try:
        url = make_url(value)
    except Exception:
        # The URL is not repeated: it may hold a password.
        invalid(f"not a database URL ({DATABASE_HINT})")
    if url.password:
        remember_secret(str(url.password), info)
    driver = url.drivername
    if driver == "postgresql":
        # psycopg 3 is the driver we ship; SQLAlchemy's bare default would be psycopg2.
        return POSTGRES_DRIVER + value[len("postgresql") :]
    if driver not in (*SQLITE_DRIVERS, POSTGRES_DRIVER):
        invalid(f"unsupported database driver {driver!r} ({DATABASE_HINT})")
    return value


def masked_url(url: str) -> str:
    """``url`` with its password shown as ``***``."""
    try:
        parsed: URL = make_url(url)
    except Exception:
        return "***"
    return parsed.render_as_string(hide_password=True) if parsed.password else url


def url_password(url: str) -> str | None:
    try:
        return make_url(url).password
    except Exception:
        return None


class DatabaseConfig(BaseModel):
    """``[database]``."""

    model_config = STRICT

    url: Annotated[str, PlainValidator(parse_database_url)] = DEFAULT_DATABASE_URL
    auto_migrate: bool = True
    # PostgreSQL only: how long an account stays with a daemon that stopped renewing.
    lease: Annotated[Duration, at_least("2s")] = timedelta(seconds=15)

    @field_serializer("url", when_used="json")
    def _mask(self, url: str) -> str:
        return masked_url(url)


class LoggingConfig(BaseModel):
    """``[logging]``: ``format = "auto"`` is console on a terminal, JSON lines otherwise."""

    model_config = STRICT

    level: Annotated[
        Literal["debug", "info", "warning", "error"],
        PlainValidator(one_of("debug", "info", "warning", "error")),
    ] = "info"
    format: Annotated[
        Literal["json", "console", "auto"], PlainValidator(one_of("json", "console", "auto"))
    ] = "auto"


class AccountConfig(BaseModel):
    """One ``[[accounts]]`` entry: a Bybit API key pair and how to reach the exchange."""

    model_config = STRICT

    name: Name
    api_key: Secret
    api_secret: Secret
    base_url: HttpUrl | None = None  # overrides testnet; the simulator is http://127.0.0.1:PORT
    testnet: bool = False
    dry_run: bool = False
    timeout: Annotated[Duration, at_least("500ms")] = timedelta(seconds=10)
    recv_window: Annotated[Duration, at_least("1s")] = timedelta(seconds=5)
    enabled: bool = True
    # This account's request budget, shared by every job. Bybit allows 10 reads and
    # 5 writes a second per UID; the defaults leave headroom.
    reads_per_second: Annotated[int, Field(ge=1)] = 8
    writes_per_second: Annotated[int, Field(ge=1)] = 4

    @model_validator(mode="after")
    def _inside_bybit_limits(self) -> AccountConfig:
        loopback = self.base_url is not None and urlsplit(self.base_url).hostname in LOOPBACK
        if not loopback and (self.reads_per_second > 10 or self.writes_per_second > 5):
            # Only a simulator on this machine may be driven harder than Bybit allows.
            raise ValueError(
                "reads_per_second above 10 or writes_per_second above 5 exceed Bybit's"
                " per-UID limits (10006 follows)"
            )
        return self

    @property
    def recv_window_ms(self) -> int:
        """``recv_window`` as pybit wants it."""
        return int(self.recv_window.total_seconds() * 1000)


API_FLOOR = "to stay inside Bybit's rate limits"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class PollingConfig(BaseModel):
    """``[polling]``: how often each job runs, and the scheduler's slack."""

    model_config = STRICT

    orders: Annotated[Duration, at_least("500ms", API_FLOOR)] = timedelta(seconds=5)
    # While no order is pending: poll this slowly instead (unset: as fast as `orders`).
    orders_idle: Annotated[Duration, at_least("500ms", API_FLOOR)] | None = None
    chat: Annotated[Duration, at_least("500ms", API_FLOOR)] = timedelta(seconds=5)
    rates: Annotated[Duration, at_least("5s", API_FLOOR)] = timedelta(seconds=60)
    ads: Annotated[Duration, at_least("5s", API_FLOOR)] = timedelta(minutes=2)
    sweep: Annotated[Duration, at_least("1s", API_FLOOR)] = timedelta(seconds=30)
    jitter: Duration = timedelta(0)
    misfire_grace: Annotated[Duration, at_least("1s")] = timedelta(seconds=30)
    shutdown_timeout: Duration = timedelta(seconds=10)


class ChatConfig(BaseModel):
    """``[chat]``: which of Bybit's two chat APIs to use, and how long to follow a chat."""

    model_config = STRICT

    # "auto": per-order chat until Bybit answers 912200387, then session chat for good.
    api: Annotated[
        Literal["auto", "order", "session"], PlainValidator(one_of("auto", "order", "session"))
    ] = "auto"
    # Buyers still write after an order completes or is cancelled ("sent", "thanks").
    linger: Duration = timedelta(minutes=10)


class RateConfig(BaseModel):
    """One ``[[rates]]`` entry: a market to watch, and how to read its price."""

    model_config = STRICT

    token: Code
    currency: Code
    side: Annotated[Literal["buy", "sell"], PlainValidator(one_of("buy", "sell"))] = "sell"
    amount: PositiveMoney | None = None
    payment_methods: list[NonEmptyStr] = Field(default_factory=list)
    min_orders: Annotated[int, Field(ge=0)] = 0
    min_completion_rate: Percent = Decimal("0")
    depth: Annotated[int, Field(ge=1, le=100)] = 5
    threshold: PositiveDecimal = Decimal("0.5")  # percent move that emits rate.changed


class SafetyConfig(BaseModel):
    """``[safety]``: hard limits no rule can exceed, per currency (from 0.4).

    A currency missing from ``release_max_amount`` or ``release_daily_limit`` (or
    set to "0") is never released automatically.
    """

    model_config = STRICT

    release_max_amount: CurrencyLimits = Field(default_factory=dict)
    release_daily_limit: CurrencyLimits = Field(default_factory=dict)
    # Per counterparty and account per UTC day; unset: only release_daily_limit applies.
    release_counterparty_daily_limit: CurrencyLimits | None = None
    # shadow: decide and log, never send; approve: every guard holds, then an operator
    # approves; auto: release.
    release_mode: Annotated[
        Literal["shadow", "approve", "auto"], PlainValidator(one_of("shadow", "approve", "auto"))
    ] = "shadow"
    approve_above: CurrencyLimits | None = None  # automatic at or below, approval above
    two_person_above: CurrencyLimits | None = None  # two different operators above
    # The old name (0.4): true loads as release_mode = "auto", false as "shadow",
    # with a warning; kept so that check-config shows what was written.
    auto_release: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_auto_release(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "auto_release" not in data:
            return data
        if "release_mode" in data:
            raise ValueError(
                "set release_mode only: auto_release is its old name"
                ' (auto_release = true is release_mode = "auto", false is "shadow")'
            )
        legacy = data["auto_release"]
        if not isinstance(legacy, bool):
            return data  # the field's own check names the wrong type
        return {**data, "release_mode": "auto" if legacy else "shadow"}

    @property
    def mode(self) -> str:
        """``shadow``, ``approve`` or ``auto``."""
        return self.release_mode

    def warnings(self) -> list[str]:
        """What the operator should change, though it still loads."""
        if self.auto_release is None:
            return []
        return [f"[safety] auto_release is deprecated: write release_mode = {self.mode!r} instead"]


class EvidenceConfig(BaseModel):
    """``[evidence]``: where bank hooks post payments, and how strictly they must match."""

    model_config = STRICT

    # Loopback by default: put a TLS proxy in front if the bank hook is remote.
    listen: Annotated[str, PlainValidator(parse_listen)] | None = None  # see exposure_warning
    secret: Secret | None = None  # HMAC key the poster signs with; required with listen
    amount_tolerance: Money = Decimal("0")  # absolute, in the order's fiat
    amount_tolerance_percent: Percent = Decimal("0")
    name_threshold: Annotated[float, Field(ge=0, le=1)] = 0.8  # 1.0: names must be equal
    # Bank texts without signed JSON: forwarder apps, bank message templates, mailboxes.
    sources: list[SourceConfig] = Field(default_factory=list)
    templates: list[TemplateConfig] = Field(default_factory=list)
    mailboxes: list[MailboxConfig] = Field(default_factory=list)
    # Reports of the same amount, payer and currency this close together are one
    # transfer told twice (the SMS and the push of one payment, a forwarder's retry).
    same_transfer_window: Annotated[Duration, at_least("0s")] = timedelta(minutes=10)
    # A sell order paid this long with no evidence: order.paid_unconfirmed (once).
    remind_after: Annotated[Duration, at_least("30s")] = timedelta(minutes=5)

    @property
    def match_policy(self) -> MatchPolicy:
        """The settings that say how strictly evidence must fit an order."""
        return MatchPolicy(
            name_threshold=self.name_threshold,
            tolerance=self.amount_tolerance,
            tolerance_percent=self.amount_tolerance_percent,
        )

    @field_validator("secret")
    @classmethod
    def _secret_long_enough(cls, value: Secret | None) -> Secret | None:
        # Anyone who can reach the listener can try keys: a short one is guessed.
        if value is not None and len(value.get_secret_value()) < MIN_HOOK_SECRET:
            invalid(
                f"the hook secret must be at least {MIN_HOOK_SECRET} characters"
                ' (e.g. the output of "openssl rand -hex 32")'
            )
        return value

    @model_validator(mode="after")
    def _secret_with_listen(self) -> EvidenceConfig:
        if self.listen is not None and self.secret is None and not self.sources:
            raise ValueError(
                "[evidence] listen needs a secret to check signatures"
                " or [[evidence.sources]] with tokens"
            )
        return self


class HostConfig(BaseModel):
    """Bybit's per-IP limit: every account this daemon runs shares one host budget."""

    model_config = STRICT

    # Bybit allows 600 requests in any 5 s from one IP; over it, HTTP 403 and a
    # ten-minute ban for every account on the address. The default leaves headroom.
    requests_per_5s: Annotated[int, Field(ge=10, le=600)] = 500


class MetricsConfig(BaseModel):
    """``[metrics]``: the Prometheus endpoint (loopback: put a proxy in front to expose it)."""

    model_config = STRICT

    enabled: bool = True
    listen: Annotated[str, PlainValidator(parse_listen)] = "127.0.0.1:9464"


class Config(BaseModel):
    """The whole config file, secrets resolved. ``source`` is the file it came from."""

    model_config = STRICT

    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    accounts: list[AccountConfig] = Field(default_factory=list)
    polling: PollingConfig = Field(default_factory=PollingConfig)
    chat: ChatConfig = Field(default_factory=ChatConfig)
    rates: list[RateConfig] = Field(default_factory=list)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    host: HostConfig = Field(default_factory=HostConfig)
    rules: list[RuleConfig] = Field(default_factory=list)

    _source: Path = PrivateAttr(default=Path("<memory>"))

    @property
    def source(self) -> Path:
        """The file this config was loaded from."""
        return self._source

    def account(self, name: str) -> AccountConfig:
        """The account called ``name``; KeyError if there is none."""
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(name)

    def warnings(self) -> list[str]:
        """What still loads but should change (deprecated keys), one sentence each."""
        return self.safety.warnings()

    def secret_values(self) -> list[str]:
        """Every resolved secret and the database password, for log redaction."""
        found: list[str] = []
        _collect_secrets(self, found)
        password = url_password(self.database.url)
        if password:
            found.append(password)
        return list(dict.fromkeys(v for v in found if v))

    def redacted(self) -> dict[str, Any]:
        """The resolved config as JSON-able data: secrets "***", durations "5s", money strings."""
        document = self.model_dump(mode="json", by_alias=True)
        # A rule lists only what it sets; two dozen nulls per rule hide the point.
        document["rules"] = [_without_nulls(rule) for rule in document["rules"]]
        return document


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _collect_secrets(value: object, found: list[str]) -> None:
    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect_secrets(getattr(value, name), found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_secrets(item, found)
