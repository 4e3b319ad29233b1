"""The Telegram bot: the desk's alerts with buttons, and operator commands from a phone.

``[telegram]`` configures it; ``run`` starts it (:func:`build_bot`) in a thread
of its own. Every tap and command goes through :mod:`p2pilot.operator`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from p2pilot.config import Config
from p2pilot.store.engine import Store
from p2pilot.telegram.bot import TelegramBot
from p2pilot.telegram.handlers import Handlers, TelegramUser


def build_bot(
    config: Config,
    store: Store,
    clock: Callable[[], datetime],
    *,
    poll_timeout: int = 20,
    **commands_options: object,
) -> TelegramBot:
    """The bot over this store and config; its commands use ``OperatorCommands``."""
    from p2pilot.operator import OperatorCommands

    commands = OperatorCommands(store, config, clock=clock, **commands_options)  # type: ignore[arg-type]
    handlers = Handlers(store, config, commands)
    return TelegramBot(config, store, handlers, clock=clock, poll_timeout=poll_timeout)


__all__ = ["Handlers", "TelegramBot", "TelegramUser", "build_bot"]
