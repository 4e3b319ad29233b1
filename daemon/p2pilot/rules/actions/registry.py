"""Which handler performs which kind of action: the one place that knows them all."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from p2pilot.rules.actions.base import ActionEnv, ActionHandler
from p2pilot.rules.actions.command import CommandHandler
from p2pilot.rules.actions.mark_paid import MarkPaidHandler
from p2pilot.rules.actions.notify import NotifyHandler
from p2pilot.rules.actions.release import ReleaseHandler
from p2pilot.rules.actions.reply import ReplyHandler
from p2pilot.rules.actions.reprice import RepriceHandler
from p2pilot.rules.actions.webhook import WebhookHandler
from p2pilot.rules.model import (
    Action,
    CommandAction,
    MarkPaidAction,
    NotifyAction,
    ReleaseAction,
    ReplyAction,
    RepriceAction,
    WebhookAction,
)

# A new kind of action is a model class, a handler module, and one line here.
HANDLERS: Mapping[type[Action], Callable[[ActionEnv], ActionHandler[Any]]] = {
    ReleaseAction: ReleaseHandler,
    ReplyAction: ReplyHandler,
    MarkPaidAction: MarkPaidHandler,
    RepriceAction: RepriceHandler,
    WebhookAction: WebhookHandler,
    NotifyAction: NotifyHandler,
    CommandAction: CommandHandler,
}


class Registry:
    """One handler per action type, all sharing one :class:`ActionEnv`."""

    def __init__(self, env: ActionEnv) -> None:
        self.env = env
        self._handlers = {kind: make(env) for kind, make in HANDLERS.items()}

    def handler_for(self, action: Action) -> ActionHandler[Any]:
        """The handler of ``action``'s type (every type of :data:`Action` has one)."""
        return self._handlers[type(action)]
