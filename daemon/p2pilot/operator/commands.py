"""The operator commands: one method per command, the same for every front end.

The CLI, the console and the Telegram bot build one :class:`OperatorCommands`
over the store and the config and call it with the :class:`Operator` acting.
Every method checks its preconditions itself, returns an :class:`Outcome`
(``ok`` or a refusal with its reason, never an exception for a refusal) and
writes one ``audit`` row, in the transaction of its effect where it has one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from p2pilot.chat.channel import ChatTarget
from p2pilot.config import Config
from p2pilot.evidence.intake import (
    EvidenceError,
    attach_evidence_in,
    record_evidence_in,
    unbound_evidence,
)
from p2pilot.exchange.errors import ExchangeError
from p2pilot.exchange.port import Exchange
from p2pilot.operator import queue, releases
from p2pilot.operator.base import Done, Operator, Outcome, Refused, audited, find_order
from p2pilot.operator.chats import AccountChats
from p2pilot.operator.releases import ReleaseStatus
from p2pilot.rules.blacklist import BlacklistError, add_entry_in, remove_entry_in
from p2pilot.runtime.accounts import make_client
from p2pilot.runtime.rules import release_limits
from p2pilot.store import accounts as stored_accounts
from p2pilot.store import approvals
from p2pilot.store.engine import Store

MAX_SAY_CHARS = 2000  # longer is refused, not cut: the buyer must read what was meant


def utc_now() -> datetime:
    return datetime.now(UTC)


class OperatorCommands:
    """Every operator command over one store and config.

    :param store: the desk's database (the daemon's own)
    :param config: the loaded config: release limits and approval thresholds,
        evidence matching policy, accounts' credentials (for ``say``)
    :param clock: the time written to the audit and the approvals (UTC)
    :param client_factory: builds an account's exchange client for ``say``, once
        per configured account, here (default :func:`p2pilot.runtime.accounts.make_client`)
    """

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        clock: Callable[[], datetime] = utc_now,
        client_factory: Callable[..., Exchange] = make_client,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.chats = AccountChats(config, client_factory)
        self.limits = release_limits(config)

    # -- releases ----------------------------------------------------------------------

    def approve(
        self,
        operator: Operator,
        order_id: str,
        *,
        account: str | None = None,
        lift_hold: bool = False,
    ) -> Outcome:
        """Approve the release waiting for this order; the daemon then releases it.

        Records the approval only: the daemon holding the account sees it on its
        next retry pass, checks every guard again at that moment and releases
        through its claim, exactly once however many approvals arrive. Above
        ``two_person_above`` two different operator names must approve; a second
        approval by the same name is not counted twice.

        ``ok`` with "approved, waiting for the daemon" (or "approved (1 of 2) ...",
        or "already released" for an order released before). Refused, with the
        reason, when the order is unknown, not ours to release, over (cancelled,
        completed), already under way, on a paused account, held (unless
        ``lift_hold``, which lifts the hold first), changed since it began waiting
        (amount), or not awaiting approval (with the latest decision).
        ``details["state"]``: released, approved, approved_partly, or the refusal's.
        """
        return audited(
            self.store,
            self.clock,
            operator,
            "approve",
            account=account,
            order_id=order_id,
            act=lambda session: releases.approve(
                session,
                operator,
                order_id,
                limits=self.limits,
                at=self.clock(),
                account=account,
                lift_hold=lift_hold,
            ),
        )

    def hold(
        self, operator: Operator, order_id: str, reason: str, *, account: str | None = None
    ) -> Outcome:
        """Stop this order's release until an approval with ``lift_hold``.

        Effective at once: the release decision and the claim both check holds.
        Voids the approvals given before it, and writes ``order.release_held``
        (with operator, source and reason) for the rules. Refused when the reason
        is empty, the order unknown, a buy order, over, or already released or
        under way.
        """
        return audited(
            self.store,
            self.clock,
            operator,
            "hold",
            account=account,
            order_id=order_id,
            act=lambda session: releases.hold(
                session, operator, order_id, reason, at=self.clock(), account=account
            ),
        )

    def release_status(self, order_id: str, *, account: str | None = None) -> ReleaseStatus:
        """Where the order's release stands (read only, not audited): for waiting on it."""
        with self.store.transaction(read_only=True) as session:
            return releases.release_status(session, order_id, account)

    def approval_queue(self) -> list[dict[str, Any]]:
        """Releases waiting for an operator, oldest first (read only, not audited).

        The one queue the console, Telegram's ``/pending`` and ``orders pending``
        list: see :func:`p2pilot.operator.queue.approval_queue` for each entry.
        """
        with self.store.transaction(read_only=True) as session:
            return queue.approval_queue(session, self.clock())

    # -- accounts ----------------------------------------------------------------------

    def pause(self, operator: Operator, account: str, *, reason: str | None = None) -> Outcome:
        """Stop every release from this account until :meth:`resume`, without a reload.

        The release decision and the claim (under the account's lock) both check
        the pause, so a release not yet claimed does not go out; polling, replies
        and the rest go on. ``ok`` "paused", or "already paused" (nothing
        changed); refused for an account not in the config.
        """

        def act(session: Session) -> Done:
            account_id = self._account_id(session, account)
            existing = approvals.pause_of(session, account_id)
            if existing is not None:
                return Done("already paused", {"pause": existing.to_json()})
            approvals.pause(
                session,
                account_id=account_id,
                operator=operator.name,
                source=operator.source,
                reason=reason,
                at=self.clock(),
            )
            return Done("paused", {"paused": True})

        return audited(
            self.store, self.clock, operator, "pause", account=account, order_id=None, act=act
        )

    def resume(self, operator: Operator, account: str) -> Outcome:
        """Let this account release again; releases waiting only for that go on.

        ``ok`` "resumed", or "not paused" (nothing changed); refused for an
        account not in the config.
        """

        def act(session: Session) -> Done:
            resumed = approvals.resume(session, self._account_id(session, account))
            return Done("resumed" if resumed else "not paused", {"paused": False})

        return audited(
            self.store, self.clock, operator, "resume", account=account, order_id=None, act=act
        )

    # -- evidence ----------------------------------------------------------------------

    def confirm_payment(
        self,
        operator: Operator,
        order_id: str,
        *,
        amount: Decimal | None = None,
        reference: str | None = None,
        payer: str | None = None,
        account: str | None = None,
    ) -> Outcome:
        """The operator saw the fiat for this order arrive: record it as its evidence.

        ``amount`` defaults to the order's, ``reference`` to ``manual-ORDER``. The
        money must fit the order (currency, amount); unbound evidence that already
        pays it is adopted instead of a second piece. Money that may be evidence
        already bound to another order (a possible duplicate) is stored held, not
        bound: ``matched`` False, ``hold`` its reason, and the message says how to
        attach it. Refused when the order is unknown or already has evidence, the
        amount does not fit, or the reference was reported before. ``details``:
        stored, matched, adopted, payment_id, reason (and hold, when held).
        """

        def act(session: Session) -> Done:
            order, name = find_order(session, order_id, account)
            now = self.clock()
            result = record_evidence_in(
                session,
                amount=amount if amount is not None else order.amount,
                currency=order.currency,
                payer_name=payer or "",
                reference=reference or f"manual-{order_id}",
                received_at=now,
                source="operator",
                now=now,
                account=name,
                order_id=order_id,
                policy=self.config.evidence.match_policy,
            )
            details = {
                "stored": result.stored,
                "matched": result.order_id is not None,
                "adopted": result.adopted,
                "payment_id": result.payment_id,
                "reason": result.reason,
            }
            if result.hold is not None:
                # Stored, not bound: the order is not paid by it until an operator attaches it.
                return Done(
                    f"payment held, not recorded for order {order_id}: {result.reason};"
                    f" if it is a second, distinct transfer:"
                    f" p2pilot payments attach {result.payment_id} {order_id}",
                    details | {"hold": str(result.hold)},
                    name,
                )
            if result.order_id is None:
                raise Refused(result.reason)
            return Done(f"payment recorded ({result.reason})", details, name)

        return audited(
            self.store,
            self.clock,
            operator,
            "confirm-payment",
            account=account,
            order_id=order_id,
            act=act,
            refusals=(EvidenceError,),
        )

    def attach(
        self, operator: Operator, payment_id: int, order_id: str, *, account: str | None = None
    ) -> Outcome:
        """Bind unbound evidence (a held possible duplicate, say) to the order it pays.

        Refused when the evidence is unknown or already paid an order, was
        reported for another account, does not fit the order, or the order
        already has evidence. ``details``: payment_id, reason.
        """

        def act(session: Session) -> Done:
            result = attach_evidence_in(
                session,
                payment_id=payment_id,
                order_id=order_id,
                now=self.clock(),
                account=account,
                policy=self.config.evidence.match_policy,
            )
            return Done(
                f"evidence {payment_id} attached",
                {"payment_id": payment_id, "reason": result.reason},
            )

        return audited(
            self.store,
            self.clock,
            operator,
            "attach",
            account=account,
            order_id=order_id,
            act=act,
            refusals=(EvidenceError,),
        )

    def ignore(self, operator: Operator, payment_id: int, *, account: str | None = None) -> Outcome:
        """Dismiss the alert of evidence that matches no order: seen, left as it is.

        Changes nothing: the evidence stays unbound (and held, if it was), so it
        can still be attached later; the audit row records who dismissed it and
        when. Refused when the evidence is unknown, already paid an order, or was
        reported for another account than ``account``. ``details``: payment_id.
        """

        def act(session: Session) -> Done:
            payment = unbound_evidence(session, payment_id, account=account)
            owner = payment.account_id
            name = stored_accounts.account_name(session, owner) if owner is not None else None
            message = f"ignored evidence {payment_id} (nothing changed)"
            return Done(message, {"payment_id": payment_id}, name)

        return audited(
            self.store,
            self.clock,
            operator,
            "ignore",
            account=account,
            order_id=None,
            act=act,
            refusals=(EvidenceError,),
        )

    # -- blacklist ---------------------------------------------------------------------

    def blacklist_add(
        self, operator: Operator, kind: str, value: str, *, reason: str | None = None
    ) -> Outcome:
        """List a buyer by ``kind`` ``uid``, ``nickname`` or ``name`` (KYC or payer).

        Effective at once (every release decision and claim reads the list).
        Refused when the kind is unknown, the value empty or too long, a name
        has no full word, or the entry is listed already. ``details["entry"]``.
        """

        def act(session: Session) -> Done:
            entry = add_entry_in(session, kind=kind, value=value, reason=reason, now=self.clock())
            return Done(f"blacklisted {entry.describe()}", {"entry": entry.to_json()})

        return audited(
            self.store,
            self.clock,
            operator,
            "blacklist-add",
            account=None,
            order_id=None,
            act=act,
            refusals=(BlacklistError,),
        )

    def blacklist_remove(self, operator: Operator, entry_id: int) -> Outcome:
        """Take entry ``entry_id`` off the blacklist; refused when there is none."""

        def act(session: Session) -> Done:
            entry = remove_entry_in(session, entry_id)
            return Done(f"removed {entry.describe()}", {"entry": entry.to_json()})

        return audited(
            self.store,
            self.clock,
            operator,
            "blacklist-remove",
            account=None,
            order_id=None,
            act=act,
            refusals=(BlacklistError,),
        )

    # -- chat --------------------------------------------------------------------------

    def say(
        self, operator: Operator, order_id: str, text: str, *, account: str | None = None
    ) -> Outcome:
        """Send ``text`` to the order's chat, through the account's exchange client.

        Sent at once (not through the daemon), with the account's configured
        credentials; the chat job stores it when it next reads the chat. Refused
        when the text is empty or over 2000 characters, the order unknown, its
        account not configured, or the exchange refused the message (its error).
        The audit row is written after the exchange answered.
        """

        def act(session: Session) -> Done:
            body = text.strip()
            if not body or len(body) > MAX_SAY_CHARS:
                raise Refused(f"a message is 1 to {MAX_SAY_CHARS} characters")
            order, name = find_order(session, order_id, account)
            channel = self.chats.channel(session, name, order.account_id)
            target = ChatTarget(
                order.exchange_id,
                order.counterparty_mask_id or "",
                order.counterparty_nickname or "",
            )
            try:
                api = channel.send(target, text=body, msg_uuid=uuid.uuid4().hex)
            except ExchangeError as exc:
                raise Refused(f"the exchange refused the message: {exc}") from None
            return Done("sent", {"chat_api": str(api)}, name)

        return audited(
            self.store, self.clock, operator, "say", account=account, order_id=order_id, act=act
        )

    def _account_id(self, session: Session, account: str) -> int:
        if account not in {a.name for a in self.config.accounts}:
            raise Refused(f"no account named {account!r} in the config")
        return stored_accounts.ensure_account(session, account)
