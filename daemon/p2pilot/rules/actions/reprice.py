"""Reprice an ad from a ``rate.changed`` event: where the price should go, and the call.

:func:`plan_reprice` is the pure decision; :class:`RepriceHandler` reads the ad,
spends the stored edit budget and calls the exchange. pending -> sent ->
succeeded | failed, or skipped (nothing to do, budget spent). After a crash the
ad's price says whether the edit took; one that did not is not redone, since the
next ``rate.changed`` reprices from fresh numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from p2pilot.exchange.ad_editing import AdCheckError, edited, explain
from p2pilot.exchange.errors import ExchangeError, Rejected
from p2pilot.records import Ad
from p2pilot.rules.actions.base import ActionEnv, ActionRun
from p2pilot.rules.model import RepriceAction
from p2pilot.store import ads as stored_ads
from p2pilot.store import ledger
from p2pilot.store.ledger import ActionState

# Bybit refuses the 11th edit of an ad within 5 minutes (912120050); stay inside it.
EDIT_BUDGET = 10
EDIT_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class RepricePlan:
    """The decision: ``price`` to set, or ``skip`` with the reason."""

    price: Decimal | None
    base: Decimal | None
    skip: str | None = None


def plan_reprice(action: RepriceAction, payload: dict[str, Any], ad: Ad) -> RepricePlan:
    """Target price for the ad: market price + step, clamped, at the ad's precision."""
    if (payload.get("token"), payload.get("currency")) != (ad.token, ad.currency):
        return RepricePlan(
            None,
            None,
            f"the rate is for {payload.get('token')}/{payload.get('currency')},"
            f" ad {ad.id} trades {ad.token}/{ad.currency}",
        )
    try:
        base = Decimal(str(payload[action.to]))
    except (KeyError, InvalidOperation, TypeError):
        return RepricePlan(None, None, f"the event carries no {action.to} price")
    exponent = ad.price.as_tuple().exponent
    quantum = Decimal(1).scaleb(exponent if isinstance(exponent, int) else -2)
    target = (base + action.step).quantize(quantum, rounding=ROUND_HALF_UP)
    target = min(max(target, action.floor), action.ceiling)
    if target == ad.price:
        return RepricePlan(None, base, f"price already {ad.price}")
    return RepricePlan(target, base)


class RepriceHandler:
    """Edits an ad's price on ``rate.changed``; reconciles against the ad's price."""

    redo_pending = True

    def __init__(self, env: ActionEnv) -> None:
        self.env = env
        self.steps = env.steps

    def execute(self, run: ActionRun[RepriceAction]) -> None:
        record, ctx, account = run.record, run.ctx, run.account
        if ctx.event.type != "rate.changed":
            self.steps.settle(record, ActionState.SKIPPED, error="reprice runs on rate.changed")
            return
        try:
            ad = account.client.ad_detail(run.action.ad_id)
        except ExchangeError as exc:
            self.steps.outcome(record, exc, run.log)
            return
        plan = plan_reprice(run.action, ctx.event.payload, ad)
        detail = {"ad_id": ad.id, "from": str(ad.price), "base": str(plan.base)}
        if plan.price is None:
            self.steps.settle(record, ActionState.SKIPPED, error=plan.skip, detail=detail)
            run.log.info("reprice.skipped", ad_id=ad.id, reason=plan.skip)
            return
        detail["to"] = str(plan.price)
        if account.dry_run:
            self.steps.dry_run(record, run.log, detail)
            return
        try:
            params = edited(ad, price=plan.price)
        except AdCheckError as exc:
            self.steps.settle(record, ActionState.FAILED, error=str(exc), detail=detail)
            run.log.warning("reprice.refused", ad_id=ad.id, error=str(exc))
            return
        if not self._spend_edit(run, ad.id, plan.price, detail):
            return
        try:
            account.client.update_ad(ad.id, params)
        except Rejected as exc:
            self.steps.settle(record, ActionState.FAILED, error=explain(exc))
            run.log.warning("reprice.refused", ad_id=ad.id, error=explain(exc))
            return
        except ExchangeError as exc:
            self.steps.outcome(record, exc, run.log)
            return
        self.steps.settle(record, ActionState.SUCCEEDED)
        run.log.info(
            "reprice.done", ad_id=ad.id, price_from=str(ad.price), price_to=str(plan.price)
        )

    def _spend_edit(
        self, run: ActionRun[RepriceAction], ad_id: str, price: Decimal, detail: dict[str, Any]
    ) -> bool:
        """Count the edit and mark the row sent, in one step; False (skipped) if none is left."""
        now = self.env.clock()
        with self.env.store.transaction() as session:
            spent = stored_ads.edits_since(session, run.account.id, ad_id, now - EDIT_WINDOW)
            if spent >= EDIT_BUDGET:
                error = f"edit budget spent: {spent} edits of ad {ad_id} in the last 5 minutes"
                ledger.transition(
                    session, run.record.id, ActionState.SKIPPED, at=now, error=error, detail=detail
                )
            else:
                # Counted before the call: a crash after it must not hand out a free edit.
                stored_ads.record_edit(session, run.account.id, ad_id, price, at=now)
                ledger.transition(
                    session,
                    run.record.id,
                    ActionState.SENT,
                    at=now,
                    detail=detail,
                    count_attempt=True,
                )
        if spent >= EDIT_BUDGET:
            run.log.warning("reprice.budget_spent", ad_id=ad_id, edits=spent)
            return False
        return True

    def reconcile(self, run: ActionRun[RepriceAction]) -> None:
        record = run.record
        wanted = record.detail.get("to")
        try:
            ad = run.account.client.ad_detail(run.action.ad_id)
        except ExchangeError as exc:
            run.log.warning("reprice.reconcile_failed", error=str(exc))
            return
        if wanted is not None and str(ad.price) == wanted:
            self.steps.settle(record, ActionState.SUCCEEDED)
            return
        # Not applied; the next rate.changed reprices from fresh numbers, so no retry.
        self.steps.settle(record, ActionState.FAILED, error=f"ad price is {ad.price}, not {wanted}")
