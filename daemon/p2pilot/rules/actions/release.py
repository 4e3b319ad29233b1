"""Release the crypto of one of our sell orders, only when every guard holds.

The state machine, money-critical:

- pending: decide. Every guard is checked on inputs gathered right now
  (:mod:`p2pilot.rules.actions.release_inputs`); a refusal is ``skipped`` with the
  guard table, an order that could not be re-read stays ``pending`` (decide again).
- awaiting: every guard held but the operators' (``account_paused``, ``not_held``,
  ``operator_approval``: ``release_mode = "approve"``, ``approve_above``,
  ``two_person_above``). The row waits with its guard table and
  ``order.release_pending`` is written once per order. One row per order waits: a
  second decision for the same order stands down. The engine's retry pass
  (:func:`p2pilot.rules.approvals.ready`) decides it again, every guard afresh,
  when an operator approved, lifted a hold or resumed the account, or when the
  order is over (it stands down). An operator command never releases: the daemon
  holding the account's lease does, through the claim below.
- claim: the totals, blacklist, evidence and lease are checked again under the
  account's lock, and the order's one release is recorded together with the row's
  ``sent`` (:mod:`p2pilot.rules.release_claim`) — always *before* the call.
- call: ``release`` succeeds (claim, row and the completed order recorded at once),
  fails (claim failed; the row retried or failed), or is unknown.
- reconcile: a row never claimed decides afresh; a claimed one asks the order's
  status: completed is success, still paid with the guards that can change
  unchanged is called again (bounded; a refusal of that call leaves it unknown, as
  the earlier call may still land), anything else failed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from p2pilot.crashpoints import crash_point
from p2pilot.exchange.errors import ExchangeError
from p2pilot.metrics import TRIGGER_TO_RELEASE, count_action
from p2pilot.records import OrderDetail, OrderStatus, Side
from p2pilot.rules import release_claim
from p2pilot.rules.actions import release_inputs
from p2pilot.rules.actions.base import RULE_GONE, ActionEnv, ActionRun
from p2pilot.rules.actions.steps import MAX_ATTEMPTS
from p2pilot.rules.approvals import AWAITING_APPROVAL, announce_pending
from p2pilot.rules.context import OrderFacts
from p2pilot.rules.guards import OPERATOR_GUARDS, all_hold, check_release, first_failure
from p2pilot.rules.model import ReleaseAction
from p2pilot.rules.release_claim import OrderToRelease
from p2pilot.rules.verdict import GuardResult, ReleaseInputs
from p2pilot.store import approvals, ledger, releases
from p2pilot.store import orders as stored_orders
from p2pilot.store.ledger import ActionState
from p2pilot.store.orders import FINAL_CODES

ALREADY_CLAIMED = "this order's release was already claimed"


class ReleaseHandler:
    """Decides, claims and calls ``release`` actions; reconciles against the order's status."""

    # A pending release decides afresh in reconcile, with every guard checked again.
    redo_pending = False

    def __init__(self, env: ActionEnv) -> None:
        self.env = env
        self.steps = env.steps

    def execute(self, run: ActionRun[ReleaseAction]) -> None:
        order = run.ctx.order
        if order is None or order.side != Side.SELL:
            self.steps.settle(
                run.record, ActionState.SKIPPED, error="release needs one of our sell orders"
            )
            return
        if self._already_over(run, order):
            return
        decided = self._decide(run, order)
        if decided is None:
            return
        inputs, guards = decided
        if run.account.dry_run:
            table = [g.to_json() for g in guards]
            self.steps.dry_run(run.record, run.log, {"guards": table, "decision": "release"})
            return
        if not self._claim(run, order, inputs, guards):
            return
        crash_point("release.after_sent")
        assert inputs.fresh is not None  # checked in _decide: no decision without it
        self._call(run, order, inputs.fresh, (run.ctx.event.type, run.ctx.event.created_at))

    def reconcile(self, run: ActionRun[ReleaseAction]) -> None:
        record, order = run.record, run.ctx.order
        if order is None:
            self.steps.settle(record, ActionState.FAILED, error="order no longer stored")
            return
        with self.env.store.transaction(read_only=True) as session:
            claim = releases.claim_of(session, order.pk)
            paused = approvals.pause_of(session, run.account.id)
            # Listed since the claim: a second call would be a new release to them.
            listed = release_claim.blacklist_entry(
                session, _to_release(order), self.env.policy.name_threshold
            )
        if claim == releases.ReleaseClaim(record.id, "succeeded"):
            # This row's release was recorded; a late word (another daemon's refused
            # second call) reopened the row. The claim says what happened.
            self.steps.settle(record, ActionState.SUCCEEDED)
            run.log.info("release.confirmed_by_claim")
            return
        in_flight = claim is not None and claim.action_id == record.id and claim.state == "sent"
        if not in_flight:
            # Never reached the exchange under a claim of its own: decide afresh, all
            # guards again (a claim another action holds makes this one stand down).
            # A claim of its own still ``sent`` is asked about whatever the row says:
            # a late decision of another daemon may have written it back to pending.
            self.execute(run)
            return
        try:
            fresh = run.account.client.order_detail(order.id)
        except ExchangeError as exc:
            run.log.warning("release.reconcile_failed", error=str(exc))
            return
        if fresh.status == OrderStatus.COMPLETED:
            self._record_released(run, order, fresh)
            run.log.info("release.confirmed_by_status")
            return
        guards_still_hold = (
            fresh.status == OrderStatus.PAID
            and fresh.amount == order.amount
            and fresh.appeal_user_id in ("", "0")
            and self.env.limits.auto_release
            and listed is None
        )
        if guards_still_hold and paused is not None:
            # Claimed before the pause, outcome unknown: not sent again while paused;
            # this row stays open and the first pass after the resume settles it.
            run.log.warning("release.paused", reason=paused.describe())
            return
        if guards_still_hold and record.attempts < MAX_ATTEMPTS:
            self.steps.mark_sent(record)
            self._call(run, order, fresh, after_unknown=True)
            return
        why = (
            f"order is {int(fresh.status)} ({fresh.status.label})"
            if listed is None
            else f"buyer on the blacklist ({listed.describe()})"
        )
        self._fail_after_unknown(run, order, fresh, f"{why} after an unknown release")

    def settle_without_rule(self, run: ActionRun[ReleaseAction]) -> None:
        """Its rule is gone from the config: what the exchange did still settles the row.

        A release under the row's own claim is settled by the order's status
        (completed: success; anything else: failed, not called again without its
        rule); any other row never reached the exchange and is closed.
        """
        record, order = run.record, run.ctx.order
        claim = None
        if order is not None:
            with self.env.store.transaction(read_only=True) as session:
                claim = releases.claim_of(session, order.pk)
        if order is None or claim != releases.ReleaseClaim(record.id, "sent"):
            self.steps.settle(record, ActionState.SKIPPED, error=f"{RULE_GONE}: not decided")
            return
        try:
            fresh = run.account.client.order_detail(order.id)
        except ExchangeError as exc:
            # Asked again on the next pass; the row says why it is still open.
            run.log.warning("release.reconcile_failed", error=str(exc))
            if record.state != ActionState.UNKNOWN or record.error != RULE_GONE:
                self.steps.settle(record, ActionState.UNKNOWN, error=RULE_GONE)
            return
        if fresh.status == OrderStatus.COMPLETED:
            self._record_released(run, order, fresh)
            run.log.info("release.confirmed_by_status")
            return
        status = f"order is {int(fresh.status)} ({fresh.status.label})"
        self._fail_after_unknown(run, order, fresh, f"{RULE_GONE}: {status}, not called again")

    def _fail_after_unknown(
        self, run: ActionRun[ReleaseAction], order: OrderFacts, fresh: OrderDetail, error: str
    ) -> None:
        """The release under this row's claim did not take effect: claim and row failed."""
        with self.env.store.transaction() as session:
            if not releases.settle_release(
                session, order.pk, "failed", action_id=run.record.id, at=self.env.clock()
            ):
                return  # settled meanwhile by another daemon working on this row
            ledger.transition(
                session, run.record.id, ActionState.FAILED, at=self.env.clock(), error=error
            )
        run.log.error("release.failed_after_unknown", status=int(fresh.status))

    # -- deciding --------------------------------------------------------------------

    def _already_over(self, run: ActionRun[ReleaseAction], order: OrderFacts) -> bool:
        """Stand down, without asking the exchange, when the store already knows the answer.

        Both ``order.paid`` and ``payment.received`` reach a release rule; the second
        decision usually finds the first one's release recorded, or the order over.
        """
        with self.env.store.transaction(read_only=True) as session:
            claimed = releases.release_state(session, order.pk)
            waiting = [
                r.id for r in ledger.awaiting_for_order(session, order.pk) if r.id != run.record.id
            ]
        if claimed in ("sent", "succeeded"):
            error, decision = ALREADY_CLAIMED, "duplicate"
        elif waiting:
            error = f"this order's release already waits for an operator (action {waiting[0]})"
            decision = "duplicate"
        elif order.status in FINAL_CODES:
            label = OrderStatus(order.status).label
            error, decision = f"order is {order.status} ({label}): nothing to release", "finished"
        else:
            return False
        if self._decided(run, ActionState.SKIPPED, error=error, detail={"decision": decision}):
            run.log.info("release.stood_down", reason=error)
        return True

    def _decide(
        self, run: ActionRun[ReleaseAction], order: OrderFacts
    ) -> tuple[ReleaseInputs, list[GuardResult]] | None:
        """Every guard on inputs gathered now; None when the row was settled instead."""
        inputs = release_inputs.gather(
            self.env.store,
            run.ctx,
            run.account,
            order,
            policy=self.env.policy,
            clock=self.env.clock,
        )
        guards = check_release(self.env.limits, run.rule.conditions, inputs)
        table = [g.to_json() for g in guards]
        unasked = _unasked(inputs)
        if unasked is not None:
            # Not a "no": the exchange could not be asked. Decide again on the next
            # retry pass, when every guard is checked afresh; a refusal here would
            # leave a paid order unreleased for a moment's network trouble.
            self._decided(
                run,
                ActionState.PENDING,
                error=f"could not read the {unasked}; will decide again",
                detail={"guards": table, "decision": "undecided"},
            )
            run.log.warning("release.undecided", reason=f"{unasked} read failed")
            return None
        if all_hold(guards):
            return inputs, guards
        if {g.name for g in guards if not g.ok} <= OPERATOR_GUARDS:
            self._await(run, order, guards)
            return None
        failed = first_failure(guards)
        others_hold = all(
            g.ok for g in guards if g.name != "auto_release" and g.name not in OPERATOR_GUARDS
        )
        if failed is not None and failed.name == "auto_release" and others_hold:
            run.log.info("release.would_release", guards=table)
        else:
            run.log.warning(
                "release.refused",
                guard=failed.name if failed else None,
                detail=failed.detail if failed else None,
            )
        self._decided(
            run,
            ActionState.SKIPPED,
            error=f"guard {failed.name}: {failed.detail}" if failed else None,
            detail={"guards": table, "decision": "refused"},
        )
        return None

    def _await(
        self, run: ActionRun[ReleaseAction], order: OrderFacts, guards: list[GuardResult]
    ) -> None:
        """Every guard held but the operators': the row waits, announced once per order."""
        waiting_for = [g for g in guards if not g.ok]
        reason = "; ".join(f"{g.name}: {g.detail}" for g in waiting_for)
        announced: list[bool] = []
        self._decided(
            run,
            ActionState.AWAITING,
            error=reason,
            detail={
                "guards": [g.to_json() for g in guards],
                "decision": AWAITING_APPROVAL,
                "amount": str(order.amount),  # an approval is of this amount
            },
            counted=False,
            also=lambda session: announced.append(
                announce_pending(
                    session,
                    account_id=run.account.id,
                    order_pk=order.pk,
                    extra={"waiting_for": [g.name for g in waiting_for], "reason": reason},
                )
            ),
        )
        if announced and announced[0]:
            count_action(run.record.kind, ActionState.AWAITING)
            run.log.info(
                "order.release_pending",
                amount=str(order.amount),
                currency=order.currency,
                waiting_for=[g.name for g in waiting_for],
            )

    def _decided(
        self,
        run: ActionRun[ReleaseAction],
        state: ActionState,
        *,
        error: str | None,
        detail: dict[str, object],
        counted: bool = True,
        also: Callable[[Session], object] | None = None,
    ) -> bool:
        """Write a decision on the row unless the row's own claim is in flight; False then.

        Two daemons can decide one row (one whose lease lapsed, and the new holder's
        start-up reconciliation). Written over the holder's ``sent``, a late decision
        would close the row (nothing reconciles it) or send it to a fresh decision
        that stands down before its own claim: the claim ``sent`` for ever. Under the
        account's lock, as the claim is made, so neither slips between the other's
        read and write.
        """
        order_pk = run.ctx.order.pk if run.ctx.order is not None else None
        with self.env.store.transaction() as session:
            release_claim.lock_account(session, run.account.id)
            if order_pk is not None and releases.claim_of(
                session, order_pk
            ) == releases.ReleaseClaim(run.record.id, "sent"):
                run.log.warning("release.decision_after_claim", state=str(state))
                return False
            ledger.transition(
                session, run.record.id, state, at=self.env.clock(), error=error, detail=detail
            )
            if also is not None:
                also(session)
        if counted:
            count_action(run.record.kind, state)
        return True

    def _claim(
        self,
        run: ActionRun[ReleaseAction],
        order: OrderFacts,
        inputs: ReleaseInputs,
        guards: list[GuardResult],
    ) -> bool:
        """Claim the order's one release (the row ``sent`` with it); False when refused."""
        outcome = release_claim.claim(
            self.env.store,
            account_id=run.account.id,
            lease_holder=self.env.lease_holder,
            order=_to_release(order),
            action_id=run.record.id,
            limits=self.env.limits,
            inputs=inputs,
            guards=guards,
            at=self.env.clock(),
        )
        if outcome.claimed:
            return True
        failing = {g.name for g in outcome.guards if not g.ok}
        if "lease_held" in failing:
            # The account is not ours now (a lapsed lease): the row is its holder's to
            # decide, and may be its holder's claim already. Settling it here would close
            # a release nobody then makes, or overwrite the holder's ``sent``.
            run.log.warning("release.lease_lost")
            return False
        if failing and failing <= OPERATOR_GUARDS:
            # Paused or held while deciding: wait for the operator again, not refused.
            self._await(run, order, outcome.guards)
            return False
        failed = first_failure(outcome.guards)
        self._decided(
            run,
            ActionState.SKIPPED,
            error=f"guard {failed.name}: {failed.detail}" if failed else ALREADY_CLAIMED,
            detail={
                "guards": [g.to_json() for g in outcome.guards],
                "decision": "refused" if failed else "duplicate",
            },
        )
        if failed is not None:
            run.log.warning("release.refused", guard=failed.name, detail=failed.detail)
        else:
            run.log.warning("release.duplicate_refused")
        return False

    # -- calling ---------------------------------------------------------------------

    def _call(
        self,
        run: ActionRun[ReleaseAction],
        order: OrderFacts,
        fresh: OrderDetail,
        trigger: tuple[str, datetime] | None = None,
        *,
        after_unknown: bool = False,
    ) -> None:
        try:
            run.account.client.release(order.id)
        except ExchangeError as exc:
            if after_unknown:
                # An earlier call's outcome is unknown, and the exchange may carry it
                # out after the order was read: a refusal now (the order's status) says
                # nothing of that one. The claim stays; the next pass reads the status.
                self.steps.unknown(run.record, exc, run.log)
                return
            # A definite refusal frees the claim in the row's own transaction: a crash
            # between the two would leave a ``sent`` row beside a claim another
            # action may take and carry out.
            self.steps.outcome(
                run.record,
                exc,
                run.log,
                refused=lambda session: releases.settle_release(
                    session, order.pk, "failed", action_id=run.record.id, at=self.env.clock()
                ),
            )
            return
        crash_point("release.after_call")
        # The exchange said the release went through: that is the completion, and
        # reading the order again only to learn it would cost a call per order. The
        # snapshot kept is the last one read; a sweep that ever finds another final
        # status records it as an anomaly.
        self._record_released(run, order, dataclasses.replace(fresh, status=OrderStatus.COMPLETED))
        if trigger is not None:
            TRIGGER_TO_RELEASE.labels(trigger[0]).observe(
                max(0.0, (self.env.clock() - trigger[1]).total_seconds())
            )
        run.log.info("release.done", amount=str(order.amount), currency=order.currency)

    def _record_released(
        self, run: ActionRun[ReleaseAction], order: OrderFacts, completed: OrderDetail
    ) -> None:
        """The release took effect: claim, ledger row and the completed order, at once."""
        now = self.env.clock
        with self.env.store.transaction() as session:
            releases.settle_release(
                session, order.pk, "succeeded", action_id=run.record.id, at=now()
            )
            ledger.transition(session, run.record.id, ActionState.SUCCEEDED, at=now())
            stored_orders.apply_order(session, run.account.id, completed, now=now())
        count_action(run.record.kind, ActionState.SUCCEEDED)


def _to_release(order: OrderFacts) -> OrderToRelease:
    """What the claim (and the blacklist) need of the order."""
    return OrderToRelease(
        pk=order.pk,
        amount=order.amount,
        currency=order.currency,
        counterparty_user_id=order.counterparty_user_id,
        counterparty_nickname=order.counterparty_nickname,
        kyc_name=order.counterparty_real_name,
    )


def _unasked(inputs: ReleaseInputs) -> str | None:
    """What the exchange could not be asked for this decision: the order, the buyer."""
    if inputs.fresh is None:
        return "order"
    if inputs.counterparty is None and release_inputs.payable(inputs.fresh):
        return "counterparty profile"
    return None
