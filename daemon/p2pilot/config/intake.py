"""``[[evidence.sources]]``, ``[[evidence.templates]]``, ``[[evidence.mailboxes]]``.

Where payment evidence comes from when nobody writes code: phone forwarders
posting bank SMS and push texts with a per-source token, and receipt mailboxes
read over IMAP; templates turn either text into an amount, a payer and a
reference.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from p2pilot.config.errors import ConfigError
from p2pilot.config.reading import read_toml, validation_issues
from p2pilot.config.secrets import Secret
from p2pilot.config.values import Code, Duration, Name, at_least, invalid, one_of, toml_type
from p2pilot.evidence.templates import Template, TemplateError, compile_pattern, compile_sender

STRICT = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MIN_TOKEN = 16


def _regex(value: object, compile_it: Callable[[str], object], *, empty: bool = True) -> str:
    """``value`` as given, once ``compile_it`` takes it (an empty one only if ``empty``)."""
    if not isinstance(value, str) or not (value or empty):
        invalid(f"expected a regular expression string, got {toml_type(value)}")
    try:
        compile_it(value)
    except TemplateError as exc:
        invalid(str(exc))
    return value


def _pattern(value: object) -> str:
    return _regex(value, compile_pattern)


def _sender(value: object) -> str:
    return _regex(value, compile_sender, empty=False)


def _host(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        invalid("expected a host name or address")
    return value


class SourceConfig(BaseModel):
    """A phone or app that posts notifications, known by its own bearer token."""

    model_config = STRICT

    name: Name
    token: Secret
    account: Name | None = None  # evidence from this source pays only this account's orders

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: Secret) -> Secret:
        # Anyone who can reach the listener can try tokens: a short one is guessed.
        if len(value.get_secret_value()) < MIN_TOKEN:
            raise ValueError(
                f"a source token must be at least {MIN_TOKEN} characters (openssl rand -hex 32)"
            )
        return value


class TemplateConfig(BaseModel):
    """A bank's message format: who sends it and where the money is in the text."""

    model_config = STRICT

    name: Name
    from_: Annotated[str, PlainValidator(_sender)] | None = Field(default=None, alias="from")
    pattern: Annotated[str, PlainValidator(_pattern)]
    currency: Code | None = None  # when the text does not name one
    decimal_separator: Annotated[Literal[",", "."], PlainValidator(one_of(",", "."))] | None = None

    def compiled(self) -> Template:
        """The template ready to read texts (the patterns were checked at load)."""
        return Template.build(
            self.name,
            self.pattern,
            sender=self.from_,
            currency=self.currency,
            decimal_separator=self.decimal_separator,
        )


class MailboxConfig(BaseModel):
    """A mailbox the bank sends receipts to, read over IMAP."""

    model_config = STRICT

    name: Name
    host: Annotated[str, PlainValidator(_host)]
    port: Annotated[int, Field(ge=1, le=65535)] = 993
    # "tls": TLS from the first byte (993); "starttls": upgrade on 143; "none": loopback only.
    security: Annotated[
        Literal["tls", "starttls", "none"], PlainValidator(one_of("tls", "starttls", "none"))
    ] = "tls"
    user: Annotated[str, PlainValidator(_host)]
    password: Secret
    folder: str = "INBOX"
    templates: list[Name] = Field(default_factory=list)  # empty: every template
    # What to do with a message once read: never deleted, either marked seen or moved.
    after_read: Annotated[Literal["seen", "move"], PlainValidator(one_of("seen", "move"))] = "seen"
    move_to: str | None = None
    poll: Annotated[Duration, at_least("5s")] = timedelta(seconds=60)
    idle: bool = True  # wait with IMAP IDLE where the server offers it
    account: Name | None = None

    @model_validator(mode="after")
    def _consistent(self) -> MailboxConfig:
        if self.after_read == "move" and not self.move_to:
            raise ValueError('after_read = "move" needs move_to (a folder name)')
        if self.security == "none" and self.host not in LOOPBACK_HOSTS:
            raise ValueError('security = "none" sends the password in clear: loopback only')
        return self


class _TemplateSection(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    templates: list[TemplateConfig] = Field(default_factory=list)


class _TemplateFile(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    evidence: _TemplateSection = Field(default_factory=_TemplateSection)


def load_templates(path: Path) -> list[TemplateConfig]:
    """The ``[[evidence.templates]]`` of a TOML file (a config or a template collection).

    Only the templates are read: the rest of a config file (accounts, secrets) is
    neither needed nor resolved. Raises ConfigError naming the file and key.
    """
    data = read_toml(path)
    try:
        document = _TemplateFile.model_validate(data)
    except ValidationError as exc:
        issues = validation_issues(exc)
        raise ConfigError(str(path), issues[0].key, issues[0].problem, issues=issues) from None
    if not document.evidence.templates:
        raise ConfigError(str(path), "evidence.templates", "no [[evidence.templates]] in this file")
    return document.evidence.templates
