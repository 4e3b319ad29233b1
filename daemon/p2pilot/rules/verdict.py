"""What the release guards read, and one guard's verdict as the guard table stores it.

The guards (``guards.py``, ``fraud.py``) are pure functions from these inputs to
these verdicts; the inputs are gathered by the release handler right before it
decides, and read again under the claim's lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from p2pilot.records import OrderDetail, UserProfile


@dataclass(frozen=True, slots=True)
class GuardResult:
    """A guard's name, whether it held, and a sentence saying what it compared.

    A guard that compares a figure with a bound also stores both (``value``,
    ``limit``), so the operator's guard table can show them in columns.
    """

    name: str
    ok: bool
    detail: str
    value: str | None = None
    limit: str | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"guard": self.name, "ok": self.ok, "detail": self.detail}
        if self.value is not None and self.limit is not None:
            document |= {"value": self.value, "limit": self.limit}
        return document


@dataclass(frozen=True, slots=True)
class EvidenceSummary:
    """The payment evidence matched to this order, as far as the guard needs it."""

    reference: str
    amount: Decimal
    payer_name: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class ReleaseInputs:
    """Everything gathered right before a release."""

    stored_amount: Decimal
    currency: str
    fresh: OrderDetail | None  # None: the re-read failed
    released_today: Decimal
    released_today_counterparty: Decimal
    counterparty: UserProfile | None
    evidence: EvidenceSummary | None
    fresh_age: float = 0.0  # seconds between reading ``fresh`` and deciding
    kyc_name: str = ""  # the buyer's KYC name as the order shows it
    blacklisted: str | None = None  # the blacklist entry this buyer matches, described
    held: tuple[str, ...] = ()  # unbound evidence that fits this order, and why it is held
    name_threshold: float = 0.8
    # The operators' word, read with the rest: the account's pause, the order's hold
    # (each described, None when there is none) and who approved its release.
    paused: str | None = None
    hold: str | None = None
    approvers: tuple[str, ...] = ()
