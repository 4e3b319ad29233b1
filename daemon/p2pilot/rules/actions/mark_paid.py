"""Mark one of our buy orders paid with the seller's payment method (the buy side).

pending -> sent -> succeeded, or failed / skipped before anything is sent. After
a crash the order's status answers: paid (or on from paid: appeal, completed) is
success, still awaiting payment is sent again (bounded), anything else failed.
"""

from __future__ import annotations

from p2pilot.exchange.errors import ExchangeError
from p2pilot.records import OrderStatus, Side
from p2pilot.rules.actions.base import ActionEnv, ActionRun
from p2pilot.rules.actions.steps import MAX_ATTEMPTS
from p2pilot.rules.model import MarkPaidAction
from p2pilot.store.ledger import ActionState

# Statuses an order reaches only after it was marked paid.
MARKED_PAID = frozenset({OrderStatus.PAID, OrderStatus.APPEAL, OrderStatus.COMPLETED})


class MarkPaidHandler:
    """Declares ``mark_paid`` actions; reconciles against the order's status."""

    redo_pending = True

    def __init__(self, env: ActionEnv) -> None:
        self.steps = env.steps

    def execute(self, run: ActionRun[MarkPaidAction]) -> None:
        record, order, account = run.record, run.ctx.order, run.account
        if order is None or order.side != Side.BUY:
            self.steps.settle(
                record, ActionState.SKIPPED, error="mark_paid needs one of our buy orders"
            )
            return
        try:
            fresh = account.client.order_detail(order.id)
        except ExchangeError as exc:
            self.steps.outcome(record, exc, run.log)
            return
        wanted = run.action.payment_method.casefold()
        term = next(
            (
                t
                for t in fresh.payment_terms
                if str(t.payment_type) == wanted or t.name.casefold() == wanted
            ),
            None,
        )
        if term is None:
            self.steps.settle(
                record,
                ActionState.FAILED,
                error=f"the seller offers no payment method {run.action.payment_method!r}",
            )
            return
        detail = {"payment_type": term.payment_type, "payment_id": term.id}
        if fresh.status != OrderStatus.AWAITING_PAYMENT:
            self.steps.settle(
                record, ActionState.SKIPPED, error=f"order status is {int(fresh.status)}"
            )
            return
        if account.dry_run:
            self.steps.dry_run(record, run.log, detail)
            return
        self.steps.mark_sent(record, detail)
        try:
            account.client.mark_paid(
                order_id=order.id, payment_type=term.payment_type, payment_id=term.id
            )
        except ExchangeError as exc:
            self.steps.outcome(record, exc, run.log)
            return
        self.steps.settle(record, ActionState.SUCCEEDED)
        run.log.info("order.marked_paid", payment_type=term.payment_type)

    def reconcile(self, run: ActionRun[MarkPaidAction]) -> None:
        record, order = run.record, run.ctx.order
        if order is None:
            self.steps.settle(record, ActionState.FAILED, error="order no longer stored")
            return
        try:
            fresh = run.account.client.order_detail(order.id)
        except ExchangeError as exc:
            run.log.warning("mark_paid.reconcile_failed", error=str(exc))
            return
        if fresh.status != OrderStatus.AWAITING_PAYMENT:
            # Completed or under appeal, an order was marked paid first: the seller may
            # have released (or the buyer appealed) before this restart.
            paid = fresh.status in MARKED_PAID
            self.steps.settle(
                record,
                ActionState.SUCCEEDED if paid else ActionState.FAILED,
                error=None if paid else f"order status is {int(fresh.status)}",
            )
            return
        if record.attempts >= MAX_ATTEMPTS:
            self.steps.settle(record, ActionState.FAILED, error="still unpaid after retries")
            return
        self.execute(run)
