"""Performing one claimed action, and settling one whose outcome is not known.

Every side effect follows the same three steps: commit the ledger row as
``sent`` (with what is about to be sent), do it, commit the outcome. A crash
between the first and the last leaves ``sent``: :meth:`Executor.reconcile`
looks at the exchange (the chat for a reply's ``msgUuid``, the order's status
for a release) to learn what happened before doing anything again.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from p2pilot.crashpoints import crash_point
from p2pilot.evidence import binding
from p2pilot.evidence.candidates import OPEN_ORDER_STATUSES
from p2pilot.evidence.matching import DEFAULT_POLICY, MatchPolicy
from p2pilot.exchange.ad_editing import AdCheckError, edited, explain
from p2pilot.exchange.errors import ExchangeError, RateLimited, Rejected, TransientError
from p2pilot.exchange.records import OrderDetail, OrderStatus, Side
from p2pilot.logging import get_logger
from p2pilot.metrics import ORDER_TO_REPLY, TRIGGER_TO_RELEASE, count_action
from p2pilot.rules import release_claim
from p2pilot.rules.actions.command import run_command
from p2pilot.rules.actions.notify import send_notification
from p2pilot.rules.actions.reprice import EDIT_BUDGET, EDIT_WINDOW, plan_reprice
from p2pilot.rules.actions.webhook import send_webhook
from p2pilot.rules.blacklist import Buyer, matching_entry
from p2pilot.rules.context import EventContext, OrderFacts
from p2pilot.rules.guards import (
    EvidenceSummary,
    ReleaseInputs,
    ReleaseLimits,
    RiskMinimums,
    all_hold,
    check_release,
    first_failure,
)
from p2pilot.rules.model import (
    Action,
    CommandAction,
    MarkPaidAction,
    NotifyAction,
    ReleaseAction,
    ReplyAction,
    RepriceAction,
    Rule,
    WebhookAction,
)
from p2pilot.rules.release_claim import OrderToRelease, start_of_utc_day
from p2pilot.store import ads as stored_ads
from p2pilot.store import blacklist as stored_blacklist
from p2pilot.store import ledger, releases
from p2pilot.store import orders as stored_orders
from p2pilot.store import payments as stored_payments
from p2pilot.store.engine import Store
from p2pilot.store.ledger import ActionRecord, ActionState
from p2pilot.store.models import OrderRow
from p2pilot.store.orders import FINAL_CODES
from p2pilot.store.payments import PaymentRecord

if TYPE_CHECKING:
    from p2pilot.rules.engine import AccountBinding

log = get_logger(__name__)

MAX_ATTEMPTS = 3  # sends of one action in all, retries after reconciliation included
MSG_UUID_NAMESPACE = uuid.UUID("6f1d2a0e-7a57-4a43-9a0c-2b8e5c9a1f10")
ATTACHMENT_KINDS = {".jpg": "pic", ".jpeg": "pic", ".png": "pic", ".pdf": "pdf", ".mp4": "video"}
# A paid order/info answer younger than this stands in for the release's own re-read:
# the tick that read it decides within milliseconds, and a second read would say the same.
REREAD_MAX_AGE = 1.0
ALREADY_CLAIMED = "this order's release was already claimed"


def msg_uuid_for(key: str) -> str:
    """The chat ``msgUuid`` of a reply: derived from its ledger key, so a resend is recognisable."""
    return uuid.uuid5(MSG_UUID_NAMESPACE, key).hex


class Executor:
    """Runs and reconciles actions; one per daemon."""

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
        self.store = store
        self.limits = limits
        self.clock = clock
        self.stopping = stopping
        self.policy = policy
        # PostgreSQL: this daemon's lease holder id, checked in the release claim.
        self.lease_holder = lease_holder

    # -- entry points ----------------------------------------------------------------

    def execute(
        self,
        record: ActionRecord,
        action: Action,
        ctx: EventContext,
        account: AccountBinding,
        rule: Rule,
    ) -> None:
        bound = log.bind(
            account=account.name,
            order_id=ctx.order.id if ctx.order else None,
            rule=record.rule,
            action=record.kind,
            action_id=record.id,
        )
        try:
            if isinstance(action, ReleaseAction):
                self._release(record, ctx, account, rule, bound)
            elif isinstance(action, ReplyAction):
                self._reply(record, action, ctx, account, bound)
            elif isinstance(action, MarkPaidAction):
                self._mark_paid(record, action, ctx, account, bound)
            elif isinstance(action, RepriceAction):
                self._reprice(record, action, ctx, account, bound)
            elif isinstance(action, WebhookAction):
                self._webhook(record, action, ctx, account, bound)
            elif isinstance(action, NotifyAction):
                self._notify(record, action, ctx, account, bound)
            elif isinstance(action, CommandAction):
                self._command(record, action, ctx, account, bound)
        except Exception as exc:
            # Whatever happened, the row must not stay "pending" forever unnoticed.
            bound.exception("action.crashed")
            self._settle(record, ActionState.UNKNOWN, error=f"{type(exc).__name__}: {exc}")

    def reconcile(
        self,
        record: ActionRecord,
        rule: Rule,
        action: Action,
        ctx: EventContext,
        account: AccountBinding,
    ) -> None:
        """Settle an open row (pending, sent, unknown) against the outside world."""
        bound = log.bind(
            account=account.name,
            order_id=ctx.order.id if ctx.order else None,
            rule=record.rule,
            action=record.kind,
            action_id=record.id,
            state=str(record.state),
        )
        bound.info("action.reconciling")
        if record.state == ActionState.PENDING and not isinstance(action, ReleaseAction):
            # Claimed, never sent: nothing left the process, so doing it now is the first time.
            self.execute(record, action, ctx, account, rule)
            return
        try:
            self._reconcile_kind(record, rule, action, ctx, account, bound)
        except Exception:
            # A bug must not stop the other rows from settling; this one stays open
            # as it was, and the next retry pass looks at it again.
            bound.exception("action.reconcile_crashed")

    def _reconcile_kind(
        self,
        record: ActionRecord,
        rule: Rule,
        action: Action,
        ctx: EventContext,
        account: AccountBinding,
        bound: Any,
    ) -> None:
        if isinstance(action, ReplyAction):
            self._reconcile_reply(record, action, ctx, account, bound)
        elif isinstance(action, ReleaseAction):
            self._reconcile_release(record, rule, ctx, account, bound)
        elif isinstance(action, MarkPaidAction):
            self._reconcile_mark_paid(record, action, ctx, account, bound)
        elif isinstance(action, RepriceAction):
            self._reconcile_reprice(record, action, account, bound)
        elif isinstance(action, WebhookAction) and record.attempts < MAX_ATTEMPTS:
            # Receivers dedupe on the Idempotency-Key header, so resending is safe.
            self._webhook(record, action, ctx, account, bound)
        elif record.state != ActionState.UNKNOWN:
            # A notification or a command may or may not have run: say so, do not redo.
            self._settle(record, ActionState.UNKNOWN, error="outcome unknown after a restart")
            bound.warning("action.outcome_unknown")

    def settle_without_rule(self, record: ActionRecord, account: AccountBinding) -> None:
        self._settle(record, ActionState.UNKNOWN, error="rule removed from the config")

    # -- ledger helpers ----------------------------------------------------------------

    def _settle(
        self,
        record: ActionRecord,
        state: ActionState,
        *,
        error: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        with self.store.transaction() as session:
            ledger.transition(
                session, record.id, state, at=self.clock(), error=error, detail=detail
            )
        count_action(record.kind, state)

    def _mark_sent(self, record: ActionRecord, detail: dict[str, Any]) -> None:
        with self.store.transaction() as session:
            ledger.transition(
                session,
                record.id,
                ActionState.SENT,
                at=self.clock(),
                detail=detail,
                count_attempt=True,
            )

    def _dry_run(self, record: ActionRecord, bound: Any, detail: dict[str, Any]) -> None:
        self._settle(record, ActionState.DRY_RUN, detail=detail)
        bound.info("action.dry_run", **{k: v for k, v in detail.items() if k != "guards"})

    def _outcome(self, record: ActionRecord, exc: ExchangeError, bound: Any) -> None:
        """Settle a failed exchange write: unknown, to be retried, or failed for good."""
        if isinstance(exc, TransientError) and exc.outcome_unknown:
            self._settle(record, ActionState.UNKNOWN, error=str(exc))
            bound.warning("action.outcome_unknown", error=str(exc))
            return
        # The exchange answered and did nothing (rate limit, overload, clock skew):
        # doing it again later is the first time it happens, so retry, bounded.
        retryable = isinstance(exc, RateLimited | TransientError)
        with self.store.transaction() as session:
            attempts = ledger.attempts(session, record.id)
            state = (
                ActionState.PENDING if retryable and attempts < MAX_ATTEMPTS else ActionState.FAILED
            )
            ledger.transition(session, record.id, state, at=self.clock(), error=str(exc))
        if state == ActionState.PENDING:
            bound.warning("action.will_retry", error=str(exc), attempts=attempts)
        else:
            bound.warning("action.failed", error=str(exc), attempts=attempts)

    # -- reply -------------------------------------------------------------------------

    def _reply(
        self,
        record: ActionRecord,
        action: ReplyAction,
        ctx: EventContext,
        account: AccountBinding,
        bound: Any,
    ) -> None:
        if ctx.order is None:
            self._settle(record, ActionState.SKIPPED, error="reply needs an order")
            return
        text = action.template.render(ctx.template_values())
        msg_uuid = msg_uuid_for(record.key)
        detail = {"text": text, "msg_uuid": msg_uuid}
        if action.attachment is not None:
            detail["attachment"] = str(action.attachment)
        if account.dry_run:
            self._dry_run(record, bound, detail)
            return
        self._send_reply(record, ctx, account, detail, bound)

    def _send_reply(
        self,
        record: ActionRecord,
        ctx: EventContext,
        account: AccountBinding,
        detail: dict[str, Any],
        bound: Any,
    ) -> None:
        assert ctx.order is not None
        self._mark_sent(record, detail)
        crash_point("reply.after_sent")
        try:
            api = account.chat.send(
                ctx.order.chat_target, text=detail["text"], msg_uuid=detail["msg_uuid"]
            )
        except ExchangeError as exc:
            self._outcome(record, exc, bound)
            return
        crash_point("reply.after_call")
        attachment = detail.get("attachment")
        if attachment:
            error = self._send_attachment(record, ctx, account, Path(attachment))
            if error is not None:
                self._settle(record, ActionState.FAILED, error=f"text sent; attachment: {error}")
                bound.warning("reply.attachment_failed", error=error)
                return
        self._settle(record, ActionState.SUCCEEDED, detail={"api": str(api)})
        ORDER_TO_REPLY.observe(max(0.0, (self.clock() - ctx.order.created_at).total_seconds()))
        bound.info("reply.sent", msg_uuid=detail["msg_uuid"], api=str(api))

    def _send_attachment(
        self, record: ActionRecord, ctx: EventContext, account: AccountBinding, path: Path
    ) -> str | None:
        """Upload a file and post it after the text; the error, or None when it went out."""
        assert ctx.order is not None
        try:
            data = path.read_bytes()
        except OSError as exc:
            return f"cannot read {path.name}: {exc.strerror}"
        kind = ATTACHMENT_KINDS.get(path.suffix.lower())
        if kind is None:
            return f"{path.suffix or 'no extension'}: Bybit takes jpg, png, pdf or mp4"
        try:
            uploaded = account.client.upload_chat_file(data=data, filename=path.name)
            account.chat.send(
                ctx.order.chat_target,
                text=uploaded.url,
                msg_uuid=msg_uuid_for(f"{record.key}:file"),
                content_type=kind,
                file_name=path.name,
            )
        except ExchangeError as exc:
            return str(exc)
        return None

    def _reconcile_reply(
        self,
        record: ActionRecord,
        action: ReplyAction,
        ctx: EventContext,
        account: AccountBinding,
        bound: Any,
    ) -> None:
        if ctx.order is None:
            self._settle(record, ActionState.FAILED, error="order no longer stored")
            return
        msg_uuid = record.detail.get("msg_uuid") or msg_uuid_for(record.key)
        text = record.detail.get("text") or action.template.render(ctx.template_values())
        try:
            found = account.chat.find_sent(
                ctx.order.chat_target,
                msg_uuid=msg_uuid,
                text=text,
                our_nickname=account.nickname,
                since=record.created_at,
            )
        except ExchangeError as exc:
            bound.warning("reply.reconcile_failed", error=str(exc))
            if ctx.order.status in FINAL_CODES:
                # Nobody is waiting for this message any more, and its chat may never
                # be readable (an order seen only in a list has no counterparty mask
                # id for session chat): close the row rather than retry it forever.
                self._settle(
                    record,
                    ActionState.FAILED,
                    error=f"order finished; whether the reply went out is unknown: {exc}",
                )
            return  # stays open; the retry pass or the next start tries again
        if found:
            self._settle(record, ActionState.SUCCEEDED)
            bound.info("reply.confirmed_in_chat", msg_uuid=msg_uuid)
            return
        if record.attempts >= MAX_ATTEMPTS:
            self._settle(record, ActionState.FAILED, error="not in the chat after retries")
            return
        self._send_reply(record, ctx, account, {"text": text, "msg_uuid": msg_uuid}, bound)

    # -- release -----------------------------------------------------------------------

    def _release(
        self,
        record: ActionRecord,
        ctx: EventContext,
        account: AccountBinding,
        rule: Rule,
        bound: Any,
    ) -> None:
        order = ctx.order
        if order is None or order.side != Side.SELL:
            self._settle(record, ActionState.SKIPPED, error="release needs one of our sell orders")
            return
        if self._already_over(record, order, bound):
            return
        risk = RiskMinimums(
            min_orders=rule.conditions.counterparty_min_orders,
            min_completion_rate=rule.conditions.counterparty_min_completion_rate,
            min_account_days=rule.conditions.counterparty_min_account_days,
        )
        inputs = self._release_inputs(ctx, account, order, risk)
        guards = check_release(self.limits, risk, inputs)
        table = [g.to_json() for g in guards]
        held = all_hold(guards)
        unasked = _unasked(inputs)
        if unasked is not None:
            # Not a "no": the exchange could not be asked. Decide again on the next
            # retry pass, when every guard is checked afresh; a refusal here would
            # leave a paid order unreleased for a moment's network trouble.
            self._settle(
                record,
                ActionState.PENDING,
                error=f"could not read the {unasked}; will decide again",
                detail={"guards": table, "decision": "undecided"},
            )
            bound.warning("release.undecided", reason=f"{unasked} read failed")
            return
        if not held:
            failed = first_failure(guards)
            others_hold = all(g.ok for g in guards if g.name != "auto_release")
            if failed is not None and failed.name == "auto_release" and others_hold:
                bound.info("release.would_release", guards=table)
            else:
                bound.warning(
                    "release.refused",
                    guard=failed.name if failed else None,
                    detail=failed.detail if failed else None,
                )
            self._settle(
                record,
                ActionState.SKIPPED,
                error=f"guard {failed.name}: {failed.detail}" if failed else None,
                detail={"guards": table, "decision": "refused"},
            )
            return
        if account.dry_run:
            self._dry_run(record, bound, {"guards": table, "decision": "release"})
            return
        outcome = release_claim.claim(
            self.store,
            account_id=account.id,
            lease_holder=self.lease_holder,
            order=OrderToRelease(
                pk=order.pk,
                amount=order.amount,
                currency=order.currency,
                counterparty_user_id=order.counterparty_user_id,
                counterparty_nickname=order.counterparty_nickname,
                kyc_name=order.counterparty_real_name,
            ),
            action_id=record.id,
            limits=self.limits,
            inputs=inputs,
            guards=guards,
            at=self.clock(),
        )
        if not outcome.claimed:
            failed = first_failure(outcome.guards)
            error = f"guard {failed.name}: {failed.detail}" if failed else ALREADY_CLAIMED
            self._settle(
                record,
                ActionState.SKIPPED,
                error=error,
                detail={
                    "guards": [g.to_json() for g in outcome.guards],
                    "decision": "refused" if failed else "duplicate",
                },
            )
            if failed is not None:
                bound.warning("release.refused", guard=failed.name, detail=failed.detail)
            else:
                bound.warning("release.duplicate_refused")
            return
        crash_point("release.after_sent")
        assert inputs.fresh is not None  # checked above: no decision without it
        self._call_release(
            record, order, inputs.fresh, account, bound, (ctx.event.type, ctx.event.created_at)
        )

    def _already_over(self, record: ActionRecord, order: OrderFacts, bound: Any) -> bool:
        """Stand down, without asking the exchange, when the store already knows the answer.

        Both ``order.paid`` and ``payment.received`` reach a release rule; the second
        decision usually finds the first one's release recorded, or the order over.
        """
        with self.store.transaction(read_only=True) as session:
            claimed = releases.release_state(session, order.pk)
        if claimed in ("sent", "succeeded"):
            error, decision = ALREADY_CLAIMED, "duplicate"
        elif order.status in FINAL_CODES:
            label = OrderStatus(order.status).label
            error, decision = f"order is {order.status} ({label}): nothing to release", "finished"
        else:
            return False
        self._settle(record, ActionState.SKIPPED, error=error, detail={"decision": decision})
        bound.info("release.stood_down", reason=error)
        return True

    def _call_release(
        self,
        record: ActionRecord,
        order: OrderFacts,
        fresh: OrderDetail,
        account: AccountBinding,
        bound: Any,
        trigger: tuple[str, datetime] | None = None,
    ) -> None:
        try:
            account.client.release(order.id)
        except ExchangeError as exc:
            unknown = isinstance(exc, TransientError) and exc.outcome_unknown
            if not unknown:
                with self.store.transaction() as session:
                    releases.settle_release(session, order.pk, "failed", at=self.clock())
            self._outcome(record, exc, bound)
            return
        crash_point("release.after_call")
        # The exchange said the release went through: that is the completion, and
        # reading the order again only to learn it would cost a call per order. The
        # snapshot kept is the last one read; a sweep that ever finds another final
        # status records it as an anomaly.
        self._record_released(
            record, order, account, dataclasses.replace(fresh, status=OrderStatus.COMPLETED)
        )
        if trigger is not None:
            TRIGGER_TO_RELEASE.labels(trigger[0]).observe(
                max(0.0, (self.clock() - trigger[1]).total_seconds())
            )
        bound.info("release.done", amount=str(order.amount), currency=order.currency)

    def _record_released(
        self,
        record: ActionRecord,
        order: OrderFacts,
        account: AccountBinding,
        completed: OrderDetail,
    ) -> None:
        """The release took effect: claim, ledger row and the completed order, at once."""
        with self.store.transaction() as session:
            releases.settle_release(session, order.pk, "succeeded", at=self.clock())
            ledger.transition(session, record.id, ActionState.SUCCEEDED, at=self.clock())
            stored_orders.apply_order(session, account.id, completed, now=self.clock())
        count_action(record.kind, ActionState.SUCCEEDED)

    def _reconcile_release(
        self,
        record: ActionRecord,
        rule: Rule,
        ctx: EventContext,
        account: AccountBinding,
        bound: Any,
    ) -> None:
        order = ctx.order
        if order is None:
            self._settle(record, ActionState.FAILED, error="order no longer stored")
            return
        with self.store.transaction(read_only=True) as session:
            claimed = releases.release_state(session, order.pk)
        if record.state == ActionState.PENDING or claimed is None:
            # Never reached the exchange: decide afresh, all guards again.
            self._release(record, ctx, account, rule, bound)
            return
        try:
            fresh = account.client.order_detail(order.id)
        except ExchangeError as exc:
            bound.warning("release.reconcile_failed", error=str(exc))
            return
        if fresh.status == OrderStatus.COMPLETED:
            self._record_released(record, order, account, fresh)
            bound.info("release.confirmed_by_status")
            return
        guards_still_hold = (
            fresh.status == OrderStatus.PAID
            and fresh.amount == order.amount
            and fresh.appeal_user_id in ("", "0")
            and self.limits.auto_release
        )
        if guards_still_hold and record.attempts < MAX_ATTEMPTS:
            with self.store.transaction() as session:
                ledger.transition(
                    session, record.id, ActionState.SENT, at=self.clock(), count_attempt=True
                )
            self._call_release(record, order, fresh, account, bound)
            return
        with self.store.transaction() as session:
            releases.settle_release(session, order.pk, "failed", at=self.clock())
            ledger.transition(
                session,
                record.id,
                ActionState.FAILED,
                at=self.clock(),
                error=f"order is {int(fresh.status)} ({fresh.status.label})"
                " after an unknown release",
            )
        bound.error("release.failed_after_unknown", status=int(fresh.status))

    def _release_inputs(
        self, ctx: EventContext, account: AccountBinding, order: OrderFacts, risk: RiskMinimums
    ) -> ReleaseInputs:
        fresh, age = self._fresh_order(account, order)
        since = start_of_utc_day(self.clock())
        with self.store.transaction(read_only=True) as session:
            total = releases.released_total(
                session, account_id=account.id, currency=order.currency, since=since
            )
            total_cp = releases.released_total(
                session,
                account_id=account.id,
                currency=order.currency,
                since=since,
                counterparty_user_id=order.counterparty_user_id,
            )
            evidence = stored_payments.for_order(session, order.pk)
            entries = stored_blacklist.entries(session)
            row = session.get(OrderRow, order.pk)
            held = (
                binding.waiting_for(session, row, self.policy, include_held=True)
                if evidence is None and row is not None
                else []
            )
        entry = matching_entry(
            entries,
            Buyer(
                order.counterparty_user_id,
                order.counterparty_nickname,
                (order.counterparty_real_name, evidence.payer_name if evidence else ""),
            ),
            self.policy.name_threshold,
        )
        return ReleaseInputs(
            stored_amount=order.amount,
            currency=order.currency,
            fresh=fresh,
            fresh_age=age,
            released_today=total,
            released_today_counterparty=total_cp,
            # Always read: Bybit's ban flag is in the profile, and a ban never releases.
            counterparty=ctx.counterparty(),
            evidence=(
                EvidenceSummary(
                    evidence.reference, evidence.amount, evidence.payer_name, evidence.source
                )
                if evidence is not None
                else None
            ),
            kyc_name=order.counterparty_real_name,
            blacklisted=entry.describe() if entry is not None else None,
            held=tuple(_held_note(p) for p in held),
            name_threshold=self.policy.name_threshold,
        )

    @staticmethod
    def _fresh_order(
        account: AccountBinding, order: OrderFacts
    ) -> tuple[OrderDetail | None, float]:
        """The order as the exchange has it now, and how many seconds old that answer is.

        A paid answer the orders tick got under a second ago is as fresh as a new
        read would be by the time the release goes out; anything else is read again.
        """
        recent = account.client.recent_details.get(order.id, REREAD_MAX_AGE)
        if recent is not None and recent.detail.status == OrderStatus.PAID:
            return recent.detail, recent.age
        try:
            return account.client.order_detail(order.id), 0.0
        except ExchangeError as exc:
            log.warning(
                "release.reread_failed", account=account.name, order_id=order.id, error=str(exc)
            )
            return None, 0.0

    # -- evidence ----------------------------------------------------------------------

    def match_waiting_evidence(
        self, order: OrderFacts, account: AccountBinding
    ) -> PaymentRecord | None:
        """Bind unmatched evidence that fits this order (one that arrived before it was paid)."""
        if order.side != Side.SELL or order.status not in OPEN_ORDER_STATUSES:
            return None
        with self.store.transaction() as session:
            row = session.get(OrderRow, order.pk)
            if row is None:
                return None
            bound = binding.bind_waiting(session, row, self.policy, at=self.clock())
        if bound is not None:
            log.info(
                "payment.matched",
                account=account.name,
                order_id=order.id,
                reference=bound.reference,
            )
        return bound

    # -- mark paid (buy side) ------------------------------------------------------------

    def _mark_paid(
        self,
        record: ActionRecord,
        action: MarkPaidAction,
        ctx: EventContext,
        account: AccountBinding,
        bound: Any,
    ) -> None:
        order = ctx.order
        if order is None or order.side != Side.BUY:
            self._settle(record, ActionState.SKIPPED, error="mark_paid needs one of our buy orders")
            return
        try:
            fresh = account.client.order_detail(order.id)
        except ExchangeError as exc:
            self._outcome(record, exc, bound)
            return
        wanted = action.payment_method.casefold()
        term = next(
            (
                t
                for t in fresh.payment_terms
                if str(t.payment_type) == wanted or t.name.casefold() == wanted
            ),
            None,
        )
        if term is None:
            self._settle(
                record,
                ActionState.FAILED,
                error=f"the seller offers no payment method {action.payment_method!r}",
            )
            return
        detail = {"payment_type": term.payment_type, "payment_id": term.id}
        if fresh.status != OrderStatus.AWAITING_PAYMENT:
            self._settle(record, ActionState.SKIPPED, error=f"order status is {int(fresh.status)}")
            return
        if account.dry_run:
            self._dry_run(record, bound, detail)
            return
        self._mark_sent(record, detail)
        try:
            account.client.mark_paid(
                order_id=order.id, payment_type=term.payment_type, payment_id=term.id
            )
        except ExchangeError as exc:
            self._outcome(record, exc, bound)
            return
        self._settle(record, ActionState.SUCCEEDED)
        bound.info("order.marked_paid", payment_type=term.payment_type)

    def _reconcile_mark_paid(
        self,
        record: ActionRecord,
        action: MarkPaidAction,
        ctx: EventContext,
        account: AccountBinding,
        bound: Any,
    ) -> None:
        if ctx.order is None:
            self._settle(record, ActionState.FAILED, error="order no longer stored")
            return
        try:
            fresh = account.client.order_detail(ctx.order.id)
        except ExchangeError as exc:
            bound.warning("mark_paid.reconcile_failed", error=str(exc))
            return
        if fresh.status != OrderStatus.AWAITING_PAYMENT:
            self._settle(
                record,
                ActionState.SUCCEEDED if fresh.status == OrderStatus.PAID else ActionState.FAILED,
                error=None
                if fresh.status == OrderStatus.PAID
                else f"order status is {int(fresh.status)}",
            )
            return
        if record.attempts >= MAX_ATTEMPTS:
            self._settle(record, ActionState.FAILED, error="still unpaid after retries")
            return
        self._mark_paid(record, action, ctx, account, bound)

    # -- reprice ---------------------------------------------------------------------------

    def _reprice(
        self,
        record: ActionRecord,
        action: RepriceAction,
        ctx: EventContext,
        account: AccountBinding,
        bound: Any,
    ) -> None:
        if ctx.event.type != "rate.changed":
            self._settle(record, ActionState.SKIPPED, error="reprice runs on rate.changed")
            return
        try:
            ad = account.client.ad_detail(action.ad_id)
        except ExchangeError as exc:
            self._outcome(record, exc, bound)
            return
        plan = plan_reprice(action, ctx.event.payload, ad)
        detail = {"ad_id": ad.id, "from": str(ad.price), "base": str(plan.base)}
        if plan.price is None:
            self._settle(record, ActionState.SKIPPED, error=plan.skip, detail=detail)
            bound.info("reprice.skipped", ad_id=ad.id, reason=plan.skip)
            return
        detail["to"] = str(plan.price)
        if account.dry_run:
            self._dry_run(record, bound, detail)
            return
        try:
            params = edited(ad, price=plan.price)
        except AdCheckError as exc:
            self._settle(record, ActionState.FAILED, error=str(exc), detail=detail)
            bound.warning("reprice.refused", ad_id=ad.id, error=str(exc))
            return
        now = self.clock()
        with self.store.transaction() as session:
            spent = stored_ads.edits_since(session, account.id, ad.id, now - EDIT_WINDOW)
            if spent >= EDIT_BUDGET:
                error = f"edit budget spent: {spent} edits of ad {ad.id} in the last 5 minutes"
                ledger.transition(
                    session, record.id, ActionState.SKIPPED, at=now, error=error, detail=detail
                )
            else:
                # Counted before the call: a crash after it must not hand out a free edit.
                stored_ads.record_edit(session, account.id, ad.id, plan.price, at=now)
                ledger.transition(
                    session, record.id, ActionState.SENT, at=now, detail=detail, count_attempt=True
                )
        if spent >= EDIT_BUDGET:
            bound.warning("reprice.budget_spent", ad_id=ad.id, edits=spent)
            return
        try:
            account.client.update_ad(ad.id, params)
        except Rejected as exc:
            self._settle(record, ActionState.FAILED, error=explain(exc))
            bound.warning("reprice.refused", ad_id=ad.id, error=explain(exc))
            return
        except ExchangeError as exc:
            self._outcome(record, exc, bound)
            return
        self._settle(record, ActionState.SUCCEEDED)
        bound.info("reprice.done", ad_id=ad.id, price_from=str(ad.price), price_to=str(plan.price))

    def _reconcile_reprice(
        self, record: ActionRecord, action: RepriceAction, account: AccountBinding, bound: Any
    ) -> None:
        wanted = record.detail.get("to")
        try:
            ad = account.client.ad_detail(action.ad_id)
        except ExchangeError as exc:
            bound.warning("reprice.reconcile_failed", error=str(exc))
            return
        if wanted is not None and str(ad.price) == wanted:
            self._settle(record, ActionState.SUCCEEDED)
            return
        # Not applied; the next rate.changed reprices from fresh numbers, so no retry.
        self._settle(record, ActionState.FAILED, error=f"ad price is {ad.price}, not {wanted}")

    # -- webhook, notify, command ----------------------------------------------------------

    def _event_document(self, ctx: EventContext, record: ActionRecord) -> dict[str, Any]:
        return {
            "event": ctx.event.type,
            "event_id": ctx.event.id,
            "account": ctx.account,
            "rule": record.rule,
            "action_key": record.key,
            "created_at": ctx.event.created_at.isoformat(),
            "payload": ctx.event.payload,
        }

    def _webhook(
        self,
        record: ActionRecord,
        action: WebhookAction,
        ctx: EventContext,
        account: AccountBinding,
        bound: Any,
    ) -> None:
        document = self._event_document(ctx, record)
        if account.dry_run:
            self._dry_run(record, bound, {"url": _host_of(action.url)})
            return
        self._mark_sent(record, {"url": _host_of(action.url)})
        result = send_webhook(
            action.url,
            document,
            secret=action.secret,
            timeout=action.timeout,
            max_attempts=action.max_attempts,
            idempotency_key=record.key,
            wait=self.stopping,
        )
        state = (
            ActionState.SUCCEEDED
            if result.ok
            else ActionState.UNKNOWN
            if result.outcome_unknown
            else ActionState.FAILED
        )
        self._settle(
            record,
            state,
            error=result.error,
            detail={"status": result.status, "attempts": result.attempts},
        )
        bound.info("webhook.settled", state=str(state), status=result.status)

    def _notify(
        self,
        record: ActionRecord,
        action: NotifyAction,
        ctx: EventContext,
        account: AccountBinding,
        bound: Any,
    ) -> None:
        values = ctx.template_values()
        title = action.title.render(values) if action.title else f"p2pilot: {ctx.event.type}"
        body = (
            action.body.render(values)
            if action.body
            else json.dumps(ctx.event.payload, ensure_ascii=False, default=str)
        )
        if account.dry_run:
            self._dry_run(record, bound, {"title": title})
            return
        self._mark_sent(record, {"title": title})
        result = send_notification(action.urls, title=title, body=body)
        self._settle(
            record, ActionState.SUCCEEDED if result.ok else ActionState.FAILED, error=result.error
        )

    def _command(
        self,
        record: ActionRecord,
        action: CommandAction,
        ctx: EventContext,
        account: AccountBinding,
        bound: Any,
    ) -> None:
        if account.dry_run:
            self._dry_run(record, bound, {"argv0": action.argv[0]})
            return
        self._mark_sent(record, {"argv0": action.argv[0]})
        result = run_command(
            action.argv, stdin_json=self._event_document(ctx, record), timeout=action.timeout
        )
        state = ActionState.SUCCEEDED if result.ok else ActionState.FAILED
        self._settle(
            record,
            state,
            error=result.error,
            detail={"exit_code": result.exit_code, "timed_out": result.timed_out},
        )


def _held_note(payment: PaymentRecord) -> str:
    why = payment.note or payment.hold_reason or "not bound"
    return f"evidence #{payment.id} {payment.reference} ({why})"


def _host_of(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}"


def _unasked(inputs: ReleaseInputs) -> str | None:
    """What the exchange could not be asked for this decision: the order, the buyer."""
    if inputs.fresh is None:
        return "order"
    if inputs.counterparty is None:
        return "counterparty profile"
    return None
