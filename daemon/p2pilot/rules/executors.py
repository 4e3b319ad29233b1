"""Performing one claimed action, and settling one whose outcome is not known.

Each kind of action has its handler (:mod:`p2pilot.rules.actions`), which holds
its state machine; the executor picks the handler, binds the log to the action,
and keeps one failing action from stopping the others.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from p2pilot.evidence.matching import DEFAULT_POLICY, MatchPolicy
from p2pilot.logging import get_logger
from p2pilot.rules.account import AccountBinding
from p2pilot.rules.actions.base import RULE_GONE, ActionEnv, ActionRun
from p2pilot.rules.actions.registry import Registry
from p2pilot.rules.actions.release import ReleaseHandler
from p2pilot.rules.context import EventContext
from p2pilot.rules.guards import ReleaseLimits
from p2pilot.rules.model import Action, Conditions, ReleaseAction, Rule
from p2pilot.store.engine import Store
from p2pilot.store.ledger import ActionRecord, ActionState

log = get_logger(__name__)


class Executor:
    """Runs and reconciles actions through their handlers; one per daemon."""

    def __init__(
        self,
        store: Store,
        limits: ReleaseLimits,
        clock: Callable[[], datetime],
        *,
        stopping: Callable[[float], bool] | None = None,
        policy: MatchPolicy = DEFAULT_POLICY,
        lease_holder: str | None = None,
    ) -> None:
        self.env = ActionEnv(
            store, clock, limits, policy=policy, stopping=stopping, lease_holder=lease_holder
        )
        self.registry = Registry(self.env)

    def execute(
        self,
        record: ActionRecord,
        action: Action,
        ctx: EventContext,
        account: AccountBinding,
        rule: Rule,
    ) -> None:
        """Perform a freshly claimed action; a crash settles its row as ``unknown``."""
        run = self._run(record, action, ctx, account, rule)
        try:
            self.registry.handler_for(action).execute(run)
        except Exception as exc:
            # Whatever happened, the row must not stay "pending" forever unnoticed.
            run.log.exception("action.crashed")
            self.env.steps.settle(record, ActionState.UNKNOWN, error=f"{type(exc).__name__}: {exc}")

    def reconcile(
        self,
        record: ActionRecord,
        rule: Rule,
        action: Action,
        ctx: EventContext,
        account: AccountBinding,
    ) -> None:
        """Settle an open row (pending, sent, unknown) against the outside world."""
        handler = self.registry.handler_for(action)
        run = self._run(record, action, ctx, account, rule, state=str(record.state))
        run.log.info("action.reconciling")
        if record.state == ActionState.PENDING and handler.redo_pending:
            # Claimed, never sent: nothing left the process, so doing it now is the first time.
            self.execute(record, action, ctx, account, rule)
            return
        try:
            handler.reconcile(run)
        except Exception:
            # A bug must not stop the other rows from settling; this one stays open
            # as it was, and the next retry pass looks at it again.
            run.log.exception("action.reconcile_crashed")

    def settle_without_rule(
        self, record: ActionRecord, ctx: EventContext, account: AccountBinding
    ) -> None:
        """Settle the open row of an action whose rule is gone from the config; say so once.

        A release is settled by its order's status (what the exchange did is a fact
        of the order, not of the rule); any other row is left ``unknown``: whether it
        ran cannot be asked, and without its rule it is not done again.
        """
        said = record.state == ActionState.UNKNOWN and record.error == RULE_GONE
        release = ReleaseAction()
        rule = Rule(record.rule, (), Conditions(), ())  # a stand-in: only its name is read
        bound = self._run(record, release, ctx, account, rule, state=str(record.state)).log
        if not said:
            bound.warning("ledger.rule_gone")
        handler = self.registry.handler_for(release)
        if record.kind == release.kind and isinstance(handler, ReleaseHandler):
            handler.settle_without_rule(ActionRun(record, release, ctx, account, rule, bound))
        elif not said:
            self.env.steps.settle(record, ActionState.UNKNOWN, error=RULE_GONE)

    @staticmethod
    def _run(
        record: ActionRecord,
        action: Action,
        ctx: EventContext,
        account: AccountBinding,
        rule: Rule,
        **extra: str,
    ) -> ActionRun[Action]:
        bound = log.bind(
            account=account.name,
            order_id=ctx.order.id if ctx.order else None,
            rule=record.rule,
            action=record.kind,
            action_id=record.id,
            **extra,
        )
        return ActionRun(record, action, ctx, account, rule, bound)
