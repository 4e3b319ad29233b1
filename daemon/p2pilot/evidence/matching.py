"""Which order does this payment pay? Exactly one, or none: never guess between two.

Names are compared as sets of normalised words (case, accents and word order do
not matter). Each word of the shorter name must find a partner in the longer
one: the same word, an initial (``S`` ~ ``SIDOROV``), a masked word as Bybit
shows KYC names (``A****`` ~ ``ANNA``), or a near spelling (similarity >= 0.85).
The score is the share of the shorter name's words that found a partner.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from difflib import SequenceMatcher

CLOCK_SKEW = timedelta(minutes=2)
TYPO_SIMILARITY = 0.85
_NOT_WORD = re.compile(r"[^\w*]+")


def normalize_name(name: str) -> tuple[str, ...]:
    """Case-folded words without accents or punctuation, sorted."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return tuple(sorted(word for word in _NOT_WORD.split(plain.replace("_", " ")) if word))


def _words_match(short: str, long: str) -> bool:
    if short == long:
        return True
    if "*" in short or "*" in long:
        pattern = short if "*" in short else long
        other = long if "*" in short else short
        regex = "".join(".*" if ch == "*" else re.escape(ch) for ch in pattern)
        return re.fullmatch(regex, other) is not None
    if len(short) == 1 or len(long) == 1:
        return short[0] == long[0]
    return SequenceMatcher(None, short, long).ratio() >= TYPO_SIMILARITY


def name_similarity(a: str, b: str) -> float:
    """Share of the shorter name's words matched one-to-one in the longer name, 0..1.

    A one-word name against a longer one scores at most 0.75: "OLEG" alone says
    too little about who paid.
    """
    left, right = normalize_name(a), normalize_name(b)
    if not left or not right:
        return 0.0
    short, long = sorted((left, right), key=len)
    remaining = list(long)
    pending = list(short)
    matched = 0
    # Exact partners first, so an initial does not take a word a full match needs.
    for exact in (True, False):
        unmatched = []
        for word in pending:
            index = next(
                (
                    i
                    for i, other in enumerate(remaining)
                    if (word == other if exact else _words_match(word, other))
                ),
                None,
            )
            if index is None:
                unmatched.append(word)
            else:
                remaining.pop(index)
                matched += 1
        pending = unmatched
    score = matched / len(short)
    if len(short) == 1 and len(long) > 1:
        score *= 0.75
    return score


def amount_matches(
    expected: Decimal,
    received: Decimal,
    *,
    tolerance: Decimal = Decimal(0),
    tolerance_percent: Decimal = Decimal(0),
) -> bool:
    """``received`` within ``expected`` ± the larger of the two tolerances."""
    for value in (expected, received, tolerance, tolerance_percent):
        if not isinstance(value, Decimal):
            raise TypeError("amounts must be Decimal, never float")
    allowed = max(tolerance, expected * tolerance_percent / Decimal(100))
    return abs(received - expected) <= allowed


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """How strictly evidence must fit an order: the ``[evidence]`` settings."""

    name_threshold: float = 0.8
    tolerance: Decimal = Decimal(0)
    tolerance_percent: Decimal = Decimal(0)

    def amount_fits(self, expected: Decimal, received: Decimal) -> bool:
        """``received`` pays an order of ``expected`` within the tolerances."""
        return amount_matches(
            expected,
            received,
            tolerance=self.tolerance,
            tolerance_percent=self.tolerance_percent,
        )


DEFAULT_POLICY = MatchPolicy()


@dataclass(frozen=True, slots=True)
class EvidenceCandidate:
    order_id: str
    account: str
    amount: Decimal
    currency: str
    payer_name: str  # the buyer's KYC name
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Evidence:
    id: str
    amount: Decimal
    currency: str
    payer_name: str
    reference: str
    received_at: datetime
    account: str | None


@dataclass(frozen=True, slots=True)
class MatchResult:
    order_id: str | None
    account: str | None
    reason: str
    score: float = 0.0


def best_match(
    evidence: Evidence,
    candidates: Sequence[EvidenceCandidate],
    policy: MatchPolicy = DEFAULT_POLICY,
) -> MatchResult:
    """The single order this evidence pays, or why there is none."""
    fitting = [
        c
        for c in candidates
        if c.currency.upper() == evidence.currency.upper()
        and (evidence.account is None or evidence.account == c.account)
        and evidence.received_at >= c.created_at - CLOCK_SKEW
        and policy.amount_fits(c.amount, evidence.amount)
    ]
    if not fitting:
        return MatchResult(None, None, "no open order with this amount")
    scored = [(name_similarity(evidence.payer_name, c.payer_name), c) for c in fitting]
    passing = [(score, c) for score, c in scored if score >= policy.name_threshold]
    if not passing:
        best = max(score for score, _ in scored)
        return MatchResult(None, None, f"payer name does not match (best {best:.2f})", best)
    if len(passing) > 1:
        return MatchResult(None, None, f"ambiguous: {len(passing)} orders match")
    score, chosen = passing[0]
    return MatchResult(
        chosen.order_id, chosen.account, f"amount and payer name match ({score:.2f})", score
    )
