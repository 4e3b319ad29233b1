"""Everything a release decision reads, gathered right before it: the guards' inputs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from p2pilot.evidence import waiting
from p2pilot.evidence.matching import MatchPolicy
from p2pilot.exchange.errors import ExchangeError
from p2pilot.logging import get_logger
from p2pilot.records import OrderDetail, OrderStatus
from p2pilot.rules.account import AccountBinding
from p2pilot.rules.blacklist import Buyer, matching_entry
from p2pilot.rules.context import EventContext, OrderFacts
from p2pilot.rules.release_claim import start_of_utc_day
from p2pilot.rules.verdict import EvidenceSummary, ReleaseInputs
from p2pilot.store import approvals, releases
from p2pilot.store import blacklist as stored_blacklist
from p2pilot.store import payments as stored_payments
from p2pilot.store.engine import Store

log = get_logger(__name__)

# A paid order/info answer younger than this stands in for the release's own re-read:
# the tick that read it decides within milliseconds, and a second read would say the same.
REREAD_MAX_AGE = 1.0


def gather(
    store: Store,
    ctx: EventContext,
    account: AccountBinding,
    order: OrderFacts,
    *,
    policy: MatchPolicy,
    clock: Callable[[], datetime],
) -> ReleaseInputs:
    """The order re-read, then today's totals, the evidence and the blacklist."""
    fresh, age = fresh_order(account, order)
    since = start_of_utc_day(clock())
    with store.transaction(read_only=True) as session:
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
        held = waiting.held_notes(session, order.pk, policy) if evidence is None else ()
        word = approvals.operator_word(
            session, account_id=account.id, order_pk=order.pk, amount=order.amount
        )
    entry = matching_entry(
        entries,
        Buyer(
            order.counterparty_user_id,
            order.counterparty_nickname,
            (order.counterparty_real_name, evidence.payer_name if evidence else ""),
        ),
        policy.name_threshold,
    )
    return ReleaseInputs(
        stored_amount=order.amount,
        currency=order.currency,
        fresh=fresh,
        fresh_age=age,
        released_today=total,
        released_today_counterparty=total_cp,
        # Bybit's ban flag is in the profile, and a ban never releases: read for every
        # decision that could release, not for one the order's status already refuses
        # (evidence that comes before the buyer pays would cost a read for nothing).
        counterparty=ctx.counterparty() if payable(fresh) else None,
        evidence=(
            EvidenceSummary(
                evidence.reference, evidence.amount, evidence.payer_name, evidence.source
            )
            if evidence is not None
            else None
        ),
        kyc_name=order.counterparty_real_name,
        blacklisted=entry.describe() if entry is not None else None,
        held=held,
        name_threshold=policy.name_threshold,
        paused=word.paused,
        hold=word.hold,
        approvers=word.approvers,
    )


def payable(fresh: OrderDetail | None) -> bool:
    """Whether the exchange says the order is paid: the only status a release can follow."""
    return fresh is not None and fresh.status == OrderStatus.PAID


def fresh_order(account: AccountBinding, order: OrderFacts) -> tuple[OrderDetail | None, float]:
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
