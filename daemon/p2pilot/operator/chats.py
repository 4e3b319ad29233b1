"""The accounts' chats as ``say`` reaches them: one client and one channel per account.

The clients are built with the commands, once per configured account, so every
message from one front end shares its account's request budget and connection.
Each account's channel is built on its first message, because which chat API it
starts on (per-order or session) is the store's word at that moment, and kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.orm import Session

from p2pilot.chat.channel import ChatChannel
from p2pilot.config import AccountConfig, Config
from p2pilot.exchange.port import Exchange
from p2pilot.operator.base import Refused
from p2pilot.store import accounts as stored_accounts


class AccountChats:
    """Every configured account's chat channel, for the operators' messages.

    :param config: the accounts (their credentials) and ``[chat] api``
    :param client_factory: builds one account's exchange client, called once per
        account here and never again
    """

    def __init__(self, config: Config, client_factory: Callable[[AccountConfig], Exchange]) -> None:
        self.mode = config.chat.api
        self.clients = {account.name: client_factory(account) for account in config.accounts}
        self._channels: dict[str, ChatChannel] = {}
        self._lock = threading.Lock()  # the console and the bot send from worker threads

    def channel(self, session: Session, account: str, account_id: int) -> ChatChannel:
        """The account's channel; refused for an account not in the config."""
        client = self.clients.get(account)
        if client is None:
            raise Refused(f"account {account} is not in the config")
        with self._lock:
            channel = self._channels.get(account)
            if channel is None:
                switched = stored_accounts.chat_api(session, account_id) == "session"
                channel = ChatChannel(client, account=account, mode=self.mode, switched=switched)
                self._channels[account] = channel
            return channel
