"""``[console]``: the web console's listener, operators and session cookie."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, field_validator, model_validator

from p2pilot.config.secrets import Secret
from p2pilot.config.values import (
    Duration,
    Name,
    NonEmptyStr,
    at_least,
    invalid,
    one_of,
    parse_listen,
)

STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)
MIN_SESSION_SECRET = 32


class ConsoleUser(BaseModel):
    """``[[console.users]]``: an operator who may log in to the web console."""

    model_config = STRICT

    name: Name
    # From `p2pilot console hash-password`; the password itself is never in the file.
    password_hash: Annotated[str, PlainValidator(parse_password_hash)]


class ConsoleConfig(BaseModel):
    """``[console]``: the web console (``p2pilot console``), a process of its own."""

    model_config = STRICT

    listen: Annotated[str, PlainValidator(parse_listen)] = "127.0.0.1:8088"
    users: list[ConsoleUser] = Field(default_factory=list)
    # Signs the session cookie: anyone who has it can forge a login.
    session_secret: Secret | None = None
    # Secure cookies: "auto" when the request came over https (as the proxy says).
    secure_cookie: Annotated[str, PlainValidator(one_of("auto", "always", "never"))] = "auto"
    # Proxies whose X-Forwarded-For/-Proto are believed (uvicorn's forwarded_allow_ips).
    trusted_proxies: list[NonEmptyStr] = Field(default_factory=lambda: ["127.0.0.1"])
    session_lifetime: Annotated[Duration, at_least("1m")] = timedelta(hours=12)

    @field_validator("session_secret")
    @classmethod
    def _session_secret_long_enough(cls, value: Secret | None) -> Secret | None:
        if value is not None and len(value.get_secret_value()) < MIN_SESSION_SECRET:
            invalid(
                f"the session secret must be at least {MIN_SESSION_SECRET} characters"
                ' (e.g. the output of "openssl rand -hex 32")'
            )
        return value

    @field_validator("users")
    @classmethod
    def _unique_users(cls, value: list[ConsoleUser]) -> list[ConsoleUser]:
        names = [user.name for user in value]
        for name in names:
            if names.count(name) > 1:
                invalid(f"console user {name!r} is listed twice")
        return value

    @model_validator(mode="after")
    def _secret_with_users(self) -> ConsoleConfig:
        if self.users and self.session_secret is None:
            raise ValueError(
                "[console] users need a session_secret to sign logins"
                ' (e.g. session_secret = { env = "P2PILOT_CONSOLE_SECRET" })'
            )
        return self


def parse_password_hash(value: object) -> str:
    """An argon2 hash as `p2pilot console hash-password` prints it (never a password)."""
    if not isinstance(value, str) or not value.startswith("$argon2"):
        invalid(
            "password_hash must be an argon2 hash from `p2pilot console hash-password`"
            " (the password itself never goes in the config)"
        )
    return value
