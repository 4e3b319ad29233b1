"""Fraud guards: a buyer Bybit blocked, one on the desk's blacklist, a payer who is not the buyer.

Each is a named row of the release's guard table, so ``orders show`` says which
one held an order. They are pure functions of what was gathered before the
release, like the other guards.
"""

from __future__ import annotations

from p2pilot.evidence.matching import name_similarity, normalize_name
from p2pilot.records import OrderStatus
from p2pilot.rules.verdict import GuardResult, ReleaseInputs

# What Bybit's ``blocked`` field says when the user is not banned ("" and "N" are
# seen); anything else is read as a ban: when unsure, do not release.
NOT_BLOCKED = frozenset({"", "n", "0", "false", "no"})
OPERATOR = "operator"


def fraud_guards(inputs: ReleaseInputs) -> list[GuardResult]:
    """``counterparty_not_blocked`` and ``not_blacklisted``, in that order."""
    profile = inputs.counterparty
    fresh = inputs.fresh
    if profile is None and fresh is not None and fresh.status != OrderStatus.PAID:
        # Not read: the status guard refuses this decision whatever the flag says.
        blocked = GuardResult(
            "counterparty_not_blocked", False, "not read: the order is not paid yet"
        )
    elif profile is None:
        blocked = GuardResult(
            "counterparty_not_blocked", False, "counterparty info unavailable: ban status unknown"
        )
    else:
        flag = profile.blocked.strip()
        blocked = GuardResult(
            "counterparty_not_blocked",
            flag.casefold() in NOT_BLOCKED,
            f"Bybit's blocked flag is {flag!r}",
        )
    listed = GuardResult(
        "not_blacklisted",
        inputs.blacklisted is None,
        "not on the desk's blacklist"
        if inputs.blacklisted is None
        else f"on the blacklist: {inputs.blacklisted}",
    )
    return [blocked, listed]


def payer_is_buyer(inputs: ReleaseInputs) -> GuardResult:
    """The money came from the buyer, not a third party (the classic P2P fraud)."""
    evidence = inputs.evidence
    if evidence is None:
        return GuardResult("payer_is_buyer", False, "no payment evidence to compare")
    if not normalize_name(evidence.payer_name) and evidence.source == OPERATOR:
        # The operator confirmed without a payer name: their word that the buyer paid.
        return GuardResult("payer_is_buyer", True, "confirmed by the operator (no payer named)")
    if not normalize_name(inputs.kyc_name):
        return GuardResult("payer_is_buyer", False, "the buyer's KYC name is unknown")
    score = name_similarity(evidence.payer_name, inputs.kyc_name)
    return GuardResult(
        "payer_is_buyer",
        score >= inputs.name_threshold,
        f"payer {evidence.payer_name!r} vs buyer {inputs.kyc_name!r}: {score:.2f}"
        f" (>= {inputs.name_threshold}; below: a third-party payment, never released"
        " automatically)",
    )
