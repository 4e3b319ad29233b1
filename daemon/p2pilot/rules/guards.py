"""Release guards: every one must hold before crypto leaves, checked in a fixed order.

The check is a pure function of what was gathered right before the call (the
order re-read from the exchange, today's released totals, the counterparty's
profile, the matched payment evidence), so the same inputs always give the same
table — and the table is stored with the decision for ``orders show``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from p2pilot.records import OrderStatus, UserProfile
from p2pilot.rules.fraud import fraud_guards, payer_is_buyer
from p2pilot.rules.model import Conditions
from p2pilot.rules.verdict import GuardResult, ReleaseInputs

APPEAL_STATUSES = frozenset(
    {OrderStatus.APPEAL, OrderStatus.OBJECTIONING, OrderStatus.AWAITING_OBJECTION}
)


# Guards an operator clears (approve, lift a hold, resume): when only these fail, the
# release waits for the operator instead of being refused.
OPERATOR_GUARDS = frozenset({"account_paused", "not_held", "operator_approval"})


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """Which releases wait for operators: ``[safety] release_mode`` and its thresholds.

    ``approve``: every release waits for one approval, except at or below
    ``approve_above`` in its currency (a currency missing from a given table waits).
    ``auto``: none waits, except above ``approve_above`` where it is set for the
    currency. Either way, above ``two_person_above`` two different operators approve.
    """

    mode: str = "auto"  # "approve" or "auto"; shadow is ReleaseLimits.auto_release False
    approve_above: Mapping[str, Decimal] | None = None
    two_person_above: Mapping[str, Decimal] | None = None

    def needed(self, amount: Decimal, currency: str) -> int:
        """How many different operators must approve this release (0, 1 or 2)."""
        currency = currency.upper()
        two = (self.two_person_above or {}).get(currency)
        if two is not None and amount > two:
            return 2
        above = (self.approve_above or {}).get(currency)
        if self.mode == "approve":
            return 0 if above is not None and amount <= above else 1
        return 1 if above is not None and amount > above else 0

    def why(self, amount: Decimal, currency: str) -> str:
        """The setting that asks for the approvals :meth:`needed` counts."""
        currency = currency.upper()
        needed = self.needed(amount, currency)
        if needed == 2:
            two = (self.two_person_above or {}).get(currency)
            return f"two operators above two_person_above {two} {currency}"
        above = (self.approve_above or {}).get(currency)
        if needed == 1:
            return (
                f"one operator above approve_above {above} {currency}"
                if above is not None
                else "one operator (release_mode = approve)"
            )
        return (
            f"none at or below approve_above {above} {currency}"
            if above is not None
            else "none (release_mode = auto)"
        )


@dataclass(frozen=True, slots=True)
class ReleaseLimits:
    """``[safety]``: hard limits no rule can exceed, fiat per currency.

    A currency with no entry in ``max_amount`` or ``daily_limit`` is never
    released automatically; ``counterparty_daily_limit`` None means "not set".
    ``auto_release`` False is shadow mode (decide, log, never send).
    """

    auto_release: bool
    max_amount: Mapping[str, Decimal] = field(default_factory=dict)
    daily_limit: Mapping[str, Decimal] = field(default_factory=dict)
    counterparty_daily_limit: Mapping[str, Decimal] | None = None
    approval: ApprovalPolicy = field(default_factory=ApprovalPolicy)

    @property
    def mode(self) -> str:
        """``shadow``, ``approve`` or ``auto``: ``[safety] release_mode``."""
        return self.approval.mode if self.auto_release else "shadow"

    def approvals_needed(self, amount: Decimal, currency: str) -> int:
        """Operators who must approve this release (none in shadow mode: nothing is sent)."""
        return self.approval.needed(amount, currency) if self.auto_release else 0


def check_release(
    limits: ReleaseLimits, conditions: Conditions, inputs: ReleaseInputs
) -> list[GuardResult]:
    """Every guard's verdict, in order. Release only if all are ok.

    Of the rule's ``conditions`` only the counterparty minimums are guards here (the
    rest decided whether the rule matched at all); None means not required.
    """
    results = [_auto_release(limits)]
    results += _fresh_order(inputs)
    results += limit_guards(limits, inputs)
    results += fraud_guards(inputs)
    results += _risk(conditions, inputs.counterparty)
    results.append(_evidence(inputs))
    results.append(payer_is_buyer(inputs))
    results += operator_guards(limits, inputs)
    return results


def operator_guards(limits: ReleaseLimits, inputs: ReleaseInputs) -> list[GuardResult]:
    """The operators' word: the account not paused, the order not held, approvals enough."""
    needed = limits.approvals_needed(inputs.stored_amount, inputs.currency)
    have = inputs.approvers
    if needed == 0:
        detail = f"no approval needed: {limits.approval.why(inputs.stored_amount, inputs.currency)}"
    elif len(have) >= needed:
        detail = f"approved by {', '.join(have)}"
    else:
        shown = f"; approved by {', '.join(have)}" if have else ""
        detail = (
            f"waiting for {needed - len(have)} more approval(s):"
            f" {limits.approval.why(inputs.stored_amount, inputs.currency)}{shown}"
        )
    return [
        paused_guard(inputs.paused),
        held_guard(inputs.hold),
        GuardResult(
            "operator_approval",
            len(have) >= needed,
            detail,
            value=str(len(have)),
            limit=f">= {needed}",
        ),
    ]


def paused_guard(paused: str | None) -> GuardResult:
    """``account_paused`` holds when no operator paused the account."""
    return GuardResult(
        "account_paused", paused is None, "account not paused" if paused is None else paused
    )


def held_guard(hold: str | None) -> GuardResult:
    """``not_held`` holds when no operator holds this order's release."""
    return GuardResult("not_held", hold is None, "no hold" if hold is None else hold)


def limit_guards(limits: ReleaseLimits, inputs: ReleaseInputs) -> list[GuardResult]:
    """The per-order and daily limits in the order's currency; none set: no release."""
    amount, currency = inputs.stored_amount, inputs.currency.upper()
    maximum = limits.max_amount.get(currency)
    daily = limits.daily_limit.get(currency)
    results = [
        GuardResult(
            "max_amount",
            maximum is not None and maximum > 0 and amount <= maximum,
            f"{amount} <= release_max_amount {maximum} {currency}"
            if maximum is not None
            else f"no release_max_amount for {currency}: never released automatically",
            value=f"{amount} {currency}",
            limit=f"{maximum} {currency}" if maximum is not None else "none",
        )
    ]
    after = inputs.released_today + amount
    results.append(
        GuardResult(
            "daily_limit",
            daily is not None and daily > 0 and after <= daily,
            f"released today {inputs.released_today} + {amount} = {after}"
            f" <= release_daily_limit {daily} {currency}"
            if daily is not None
            else f"no release_daily_limit for {currency}: never released automatically",
            value=f"{after} {currency}",
            limit=f"{daily} {currency}" if daily is not None else "none",
        )
    )
    if limits.counterparty_daily_limit is not None:
        per_cp = limits.counterparty_daily_limit.get(currency)
        after_cp = inputs.released_today_counterparty + amount
        results.append(
            GuardResult(
                "counterparty_daily_limit",
                per_cp is not None and after_cp <= per_cp,
                f"released to this counterparty today {inputs.released_today_counterparty}"
                f" + {amount} = {after_cp} <= {per_cp} {currency}"
                if per_cp is not None
                else f"no release_counterparty_daily_limit for {currency}:"
                " never released automatically",
                value=f"{after_cp} {currency}",
                limit=f"{per_cp} {currency}" if per_cp is not None else "none",
            )
        )
    return results


def all_hold(results: list[GuardResult]) -> bool:
    return bool(results) and all(r.ok for r in results)


def first_failure(results: list[GuardResult]) -> GuardResult | None:
    return next((r for r in results if not r.ok), None)


def _auto_release(limits: ReleaseLimits) -> GuardResult:
    return GuardResult(
        "auto_release",
        limits.auto_release,
        f"[safety] release_mode = {limits.mode}"
        if limits.auto_release
        else "shadow mode: would release",
    )


def _fresh_order(inputs: ReleaseInputs) -> list[GuardResult]:
    fresh = inputs.fresh
    if fresh is None:
        return [GuardResult("order_reread", False, "could not re-read the order from the exchange")]
    return [
        GuardResult(
            "status_paid",
            fresh.status == OrderStatus.PAID,
            f"exchange status {int(fresh.status)} ({fresh.status.label}), need 20 (paid)"
            + (f"; read {inputs.fresh_age:.2f} s before" if inputs.fresh_age else ""),
            value=f"{int(fresh.status)} ({fresh.status.label})",
            limit="20 (paid)",
        ),
        GuardResult(
            "amount_unchanged",
            fresh.amount == inputs.stored_amount,
            f"exchange amount {fresh.amount}, stored {inputs.stored_amount}",
            value=str(fresh.amount),
            limit=f"= {inputs.stored_amount}",
        ),
        GuardResult(
            "not_in_appeal",
            fresh.status not in APPEAL_STATUSES and fresh.appeal_user_id in ("", "0"),
            "no appeal open" if fresh.appeal_user_id in ("", "0") else "appeal opened",
        ),
    ]


def _risk(conditions: Conditions, profile: UserProfile | None) -> list[GuardResult]:
    min_orders = conditions.counterparty_min_orders
    min_rate = conditions.counterparty_min_completion_rate
    min_days = conditions.counterparty_min_account_days
    if min_orders is None and min_rate is None and min_days is None:
        return []
    if profile is None:
        return [GuardResult("counterparty_profile", False, "counterparty info unavailable")]
    results = []
    if min_orders is not None:
        results.append(
            GuardResult(
                "counterparty_min_orders",
                profile.total_finish_count >= min_orders,
                f"{profile.total_finish_count} completed orders >= {min_orders}",
                value=str(profile.total_finish_count),
                limit=f">= {min_orders}",
            )
        )
    if min_rate is not None:
        rate = profile.recent_rate
        results.append(
            GuardResult(
                "counterparty_min_completion_rate",
                rate is not None and rate >= min_rate,
                f"30-day completion {rate}% >= {min_rate}%",
                value=f"{rate}%",
                limit=f">= {min_rate}%",
            )
        )
    if min_days is not None:
        results.append(
            GuardResult(
                "counterparty_min_account_days",
                profile.account_create_days >= min_days,
                f"account age {profile.account_create_days} days >= {min_days}",
                value=f"{profile.account_create_days} days",
                limit=f">= {min_days} days",
            )
        )
    return results


def _evidence(inputs: ReleaseInputs) -> GuardResult:
    evidence = inputs.evidence
    if evidence is None:
        held = "; held: " + "; ".join(inputs.held) if inputs.held else ""
        return GuardResult("payment_evidence", False, f"no matching payment evidence{held}")
    # Amount and payer were checked when the evidence was matched to this order.
    return GuardResult(
        "payment_evidence",
        True,
        f"evidence {evidence.reference}: {evidence.amount} {inputs.currency}"
        f" from {evidence.payer_name!r}",
    )
