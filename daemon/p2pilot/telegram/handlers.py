"""What a tap or a command does: always through the operator-command layer.

Synchronous (the bot runs these in a worker thread): each takes the chat it
came from and the Telegram user, refuses a chat not in ``[telegram] chats``
(logged), and otherwise calls :class:`OperatorCommands`, which checks,
acts and audits, with the operator ``tg:@username`` (or ``tg:ID``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from p2pilot.config import Config
from p2pilot.health import jobs_health
from p2pilot.logging import get_logger
from p2pilot.operator import Operator, OperatorCommands, Outcome
from p2pilot.operator.queue import operators_word
from p2pilot.store import accounts as stored_accounts
from p2pilot.store import approvals, poll_state
from p2pilot.store.engine import Store
from p2pilot.store.order_views import get_order
from p2pilot.telegram.render import MAX_TEXT, parse_callback

log = get_logger(__name__)

REFUSED_CHAT = "refused: this chat may not act"
HOLD_REASON = "held from Telegram"
MAX_PENDING = 20
MAX_CHAT_LINES = 20


@dataclass(frozen=True, slots=True)
class TelegramUser:
    """Who tapped or wrote: Telegram's user id and @username, if any."""

    id: int
    username: str | None

    def operator(self) -> Operator:
        """The audited operator: ``tg:@username``, or ``tg:ID`` without a username."""
        return Operator(f"tg:@{self.username}" if self.username else f"tg:{self.id}", "telegram")


@dataclass(frozen=True, slots=True)
class Answer:
    """The tap's short answer, and a message to send to the chat as well, if any."""

    text: str
    message: str | None = None


class Handlers:
    """The bot's taps and commands over one store and config."""

    def __init__(self, store: Store, config: Config, commands: OperatorCommands) -> None:
        self.store = store
        self.config = config
        self.commands = commands
        self.chats = set(config.telegram.chats)

    def allowed(self, chat_id: int, user: TelegramUser, what: str) -> bool:
        """Whether this chat may act; a refusal is logged with who tried what."""
        if chat_id in self.chats:
            return True
        log.warning(
            "telegram.refused",
            chat_id=chat_id,
            user_id=user.id,
            username=user.username,
            attempted=what[:100],
        )
        return False

    def tap(self, chat_id: int, user: TelegramUser, data: str) -> Answer:
        """A button was tapped: do what it says, answer with the outcome's message."""
        if not self.allowed(chat_id, user, f"tap {data}"):
            return Answer(REFUSED_CHAT)
        parsed = parse_callback(data)
        if parsed is None:
            return Answer("refused: unknown button")
        verb, args = parsed
        who = user.operator()
        if verb == "c":
            return Answer("chat below", self.chat_text(args[0]))
        outcome = self._tapped(verb, args, who)
        log.info("telegram.tap", verb=verb, operator=who.name, outcome=outcome.message)
        return Answer(outcome.message)

    def _tapped(self, verb: str, args: list[str], who: Operator) -> Outcome:
        if verb == "a":
            return self.commands.approve(who, args[0])
        if verb == "h":
            return self.commands.hold(who, args[0], HOLD_REASON)
        if verb == "p":
            return self.commands.confirm_payment(who, args[0])
        command = "ignore" if verb == "i" else "attach"
        try:
            payment_id = int(args[0])
        except ValueError:
            return Outcome(False, command, "refused: not a payment id")
        if verb == "i":
            return self.commands.ignore(who, payment_id)
        return self.commands.attach(who, payment_id, args[1])

    def command(self, chat_id: int, user: TelegramUser, text: str) -> str | None:
        """A ``/command`` message; the reply's text (None: not a command of ours)."""
        name, _, rest = text.strip().partition(" ")
        name = name.split("@", 1)[0].lower()  # "/status@MyDeskBot" in groups
        known = {"/status", "/pending", "/order", "/pause", "/resume", "/say", "/start", "/help"}
        if name not in known:
            return None
        if not self.allowed(chat_id, user, name):
            return REFUSED_CHAT
        return self._command(name, rest.strip(), user.operator())

    def _command(self, name: str, rest: str, who: Operator) -> str:
        if name == "/status":
            return self.status_text()
        if name == "/pending":
            return self.pending_text()
        if name == "/order":
            return self.order_text(rest) if rest else "usage: /order ID"
        if name in ("/pause", "/resume"):
            if not rest:
                return f"usage: {name} ACCOUNT"
            act = self.commands.pause if name == "/pause" else self.commands.resume
            return act(who, rest).message
        if name == "/say":
            order_id, _, body = rest.partition(" ")
            if not order_id or not body.strip():
                return "usage: /say ORDER_ID TEXT"
            return self.commands.say(who, order_id, body).message
        return HELP

    def release_detail(self, order_id: str) -> dict[str, Any]:
        """What the release alert shows beyond the event: the guards' results, the evidence."""
        with self.store.transaction(read_only=True) as session:
            view = get_order(session, order_id)
        if view is None:
            return {}
        fields = view.to_json()
        releases = [a for a in fields.get("actions") or [] if a.get("kind") == "release"]
        detail = releases[-1].get("detail") or {} if releases else {}
        return {"guards": detail.get("guards") or [], "evidence": fields.get("evidence")}

    def status_text(self) -> str:
        """Per account and job: ok or stale, and which accounts are paused."""
        now = datetime.now(UTC)
        with self.store.transaction(read_only=True) as session:
            states = {(s.account, s.job): s for s in poll_state.all_states(session)}
            names = {i: n for n, i in stored_accounts.account_ids(session).items()}
            paused = {names[i] for i in approvals.pauses(session) if i in names}
        jobs = jobs_health(self.config, states, now)
        stale = [f"{j.account}/{j.job}" for j in jobs if j.stale]
        lines = ["healthy" if not stale else f"STALE: {', '.join(stale)}"]
        for account in self.config.accounts:
            mark = "paused" if account.name in paused else "releasing"
            lines.append(f"{account.name}: {mark}")
        return "\n".join(lines)

    def pending_text(self) -> str:
        """The approvals queue (the console's and ``orders pending``'s), oldest first."""
        queue = self.commands.approval_queue()
        if not queue:
            return "no release waits for an operator"
        lines = [pending_line(entry) for entry in queue[:MAX_PENDING]]
        if len(queue) > MAX_PENDING:
            lines.append(f"... and {len(queue) - MAX_PENDING} more")
        return "\n".join(lines)[:MAX_TEXT]

    def order_text(self, order_id: str) -> str:
        """One order: its fields and where its release stands."""
        with self.store.transaction(read_only=True) as session:
            view = get_order(session, order_id)
        if view is None:
            return f"no stored order {order_id}"
        fields = view.to_json()
        status = self.commands.release_status(order_id)
        return (
            f"Order {fields['id']} ({fields['account']}), {fields['side']}, "
            f"{fields['status_name']}\n{fields['amount']} {fields['currency']} for "
            f"{fields['quantity']} {fields['token']}, {fields['counterparty']}\n"
            f"release: {status.state}, {status.message}"
        )[:MAX_TEXT]

    def chat_text(self, order_id: str) -> str:
        """The order's stored chat, the latest lines."""
        with self.store.transaction(read_only=True) as session:
            view = get_order(session, order_id)
        if view is None:
            return f"no stored order {order_id}"
        chat = view.to_json().get("chat") or []
        if not chat:
            return f"order {order_id}: no chat messages"
        lines = [f"{m.get('sender') or m.get('from') or '?'}: {m.get('text') or ''}" for m in chat]
        return f"Chat of order {order_id}\n" + "\n".join(lines[-MAX_CHAT_LINES:])[:MAX_TEXT]


def pending_line(entry: dict[str, Any]) -> str:
    """One queued release: the order, what it waits for, who approved or held it."""
    word = operators_word(entry.get("standing") or {}) or "nobody approved yet"
    return (
        f"{entry['id']} ({entry['account']}) {entry['amount']} {entry['currency']}"
        f" from {entry.get('counterparty') or 'unknown'}: {entry.get('why') or 'waiting'}; {word}"
    )


HELP = (
    "/status, /pending, /order ID, /pause ACCOUNT, /resume ACCOUNT, /say ORDER_ID TEXT;"
    " alerts carry buttons to approve, hold, confirm payment or show the chat"
)
