"""``[telegram]``: the operator's bot: its token, the chats allowed to act, what alerts."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, field_validator, model_validator

from p2pilot.config.rules import EVENT_NAMES
from p2pilot.config.secrets import Secret
from p2pilot.config.values import HttpUrl, invalid

STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)
DEFAULT_ALERTS = (
    "order.release_pending",
    "order.paid_unconfirmed",
    "payment.unmatched",
    "order.appeal",
    "order.anomaly",
    "daemon.alert",
)


def parse_chat_id(value: object) -> int:
    """A Telegram chat id: a user's (positive) or a group's (negative) integer, not 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value == 0:
        invalid("a chat id is a non-zero integer (a user's id, or a group's, negative)")
    return value


def parse_alert(value: object) -> str:
    if not isinstance(value, str) or value not in EVENT_NAMES:
        invalid(f"alerts are event names: one of {', '.join(EVENT_NAMES)}")
    return value


class TelegramConfig(BaseModel):
    """``[telegram]``: runs inside ``p2pilot run`` when ``bot_token`` is set."""

    model_config = STRICT

    # From @BotFather. Whoever has it can read and send as the bot.
    bot_token: Secret | None = None
    # Chats whose members may act (approve, hold, confirm, pause...); alerts go to each.
    chats: list[Annotated[int, PlainValidator(parse_chat_id)]] = Field(default_factory=list)
    api_url: HttpUrl = "https://api.telegram.org"
    alerts: list[Annotated[str, PlainValidator(parse_alert)]] = Field(
        default_factory=lambda: list(DEFAULT_ALERTS)
    )

    @property
    def enabled(self) -> bool:
        """A bot token is configured: ``run`` starts the bot."""
        return self.bot_token is not None

    @field_validator("chats")
    @classmethod
    def _unique_chats(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            invalid("a chat is listed twice")
        return value

    @model_validator(mode="after")
    def _token_with_chats(self) -> TelegramConfig:
        if self.bot_token is not None and not self.chats:
            raise ValueError(
                "[telegram] bot_token needs chats = [CHAT_ID, ...]: who gets alerts and may act"
            )
        if self.bot_token is None and self.chats:
            raise ValueError(
                '[telegram] chats need a bot_token (e.g. bot_token = { env = "TELEGRAM_TOKEN" })'
            )
        return self
