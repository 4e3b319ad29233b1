"""One account as the rules see it: its exchange client, its chat, and how it acts."""

from __future__ import annotations

from dataclasses import dataclass

from p2pilot.chat.channel import ChatChannel
from p2pilot.exchange.port import Exchange


@dataclass
class AccountBinding:
    """What the engine and the action handlers need of one account."""

    id: int
    name: str
    client: Exchange
    chat: ChatChannel
    dry_run: bool = False
    nickname: str = ""
