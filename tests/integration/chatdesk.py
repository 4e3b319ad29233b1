"""What the chat tests share: one account on the simulator, its chat routes, a desk."""

from __future__ import annotations

from typing import Any

from p2pilot.config import parse_config
from p2pilot.service import Daemon
from p2pilot.simulator.server import SimulatorServer

from .simdesk import FAST, request_log

KEY, SECRET = "chat-key", "chat-secret-77"
ORDER_LIST = "/v5/p2p/order/message/listpage"
ORDER_SEND = "/v5/p2p/order/message/send"
SESSIONS = "/v5/p2p/chat/session/list_v1"
SESSION_LIST = "/v5/p2p/chat/message/listpage_v1"
SESSION_SEND = "/v5/p2p/chat/message/send_v1"
ANSWER_PAID = {
    "name": "answer-paid",
    "on": "chat.message",
    "if": {"text_matches": "(?i)\\bpaid\\b"},
    "reply": "Thanks {order.counterparty}, checking the payment now.",
}


def chat_desk(
    db_url: str, sim: SimulatorServer, rules: list[dict[str, Any]], api: str = "auto"
) -> Daemon:
    """A started daemon for the one account, with these rules and chat API setting."""
    account = {"name": "desk", "api_key": KEY, "api_secret": SECRET, "base_url": sim.url}
    config = parse_config(
        {
            "database": {"url": db_url},
            "logging": {"format": "json"},
            "accounts": [{**account, **FAST, "timeout": "2s"}],
            "chat": {"api": api},
            "rules": rules,
        }
    )
    daemon = Daemon(config)
    daemon.start()
    return daemon


def calls(sim: SimulatorServer, path: str, since: int = 0) -> list[dict[str, Any]]:
    """The requests to ``path`` after the log entry numbered ``since``."""
    return [e for e in request_log(sim) if e["path"] == path and e["seq"] > since]


def last_seq(sim: SimulatorServer) -> int:
    """The number of the simulator's latest log entry (0 when empty)."""
    log = request_log(sim)
    return int(log[-1]["seq"]) if log else 0
