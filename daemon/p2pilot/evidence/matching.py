"""Which order does this payment pay? Exactly one, or none: never guess between two.

Names are compared word by word after :func:`normalize_name` (case, accents,
punctuation and word order do not matter). The two sides are not alike: the
*payer* is what the bank reports, the *KYC name* is what Bybit shows of the
buyer, often abbreviated by Bybit itself (``ANNA K``, ``A**** KOVALEVA``).

- A full word (two or more letters) equal to, or a near spelling of, a word on
  the other side earns full credit; at least one such match is required.
- A Bybit abbreviation on the KYC side consistent with the payer's full word
  earns full credit (the buyer did not choose it).
- An initial or a masked word on the *payer* side earns half: ``A K`` says
  little about who paid.
- Every payer word left unmatched counts against the score, a KYC word left
  unmatched half as much (banks drop middle names).

Names are capped in length and compared without regular expressions, so the
time is bounded whatever a bank hook sends.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from difflib import SequenceMatcher
from enum import StrEnum

from p2pilot.clocks import CLOCK_SKEW
from p2pilot.evidence.translit import latin_key, to_latin

TYPO_SIMILARITY = 0.85
TYPO_CREDIT = 0.9
ABBREVIATED_CREDIT = 0.5  # an initial or masked word on the payer's side
UNMATCHED_KYC_WEIGHT = 0.5
MAX_NAME_CHARS = 200  # more is no one's name: the rest is ignored
MAX_NAME_WORDS = 8
MAX_WORD_CHARS = 40
MASK = "*"


def normalize_name(name: str) -> tuple[str, ...]:
    """Case-folded words of letters (and Bybit's ``*`` masks), accents removed, sorted.

    The one place a name is normalised: transliteration plugs in here. Digits and
    punctuation separate words; a word with no letter (``***``) is dropped.
    """
    # Cyrillic payer names (bank SMS) are compared with Bybit's Latin KYC names.
    latin = to_latin(name[:MAX_NAME_CHARS])
    decomposed = unicodedata.normalize("NFKD", latin.casefold())
    words: list[str] = []
    current: list[str] = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        if ch.isalpha() or ch == MASK:
            current.append(ch)
            continue
        if current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    # Spellings of one name in different transliteration systems (IULIIA, YULIYA) share one key.
    kept = [latin_key(w)[:MAX_WORD_CHARS] for w in words if any(c.isalpha() for c in w)]
    return tuple(sorted(kept[:MAX_NAME_WORDS]))


def _is_full(word: str) -> bool:
    return len(word) >= 2 and MASK not in word


def _glob_matches(pattern: str, word: str) -> bool:
    """``pattern`` with ``*`` for any run of letters matches ``word``: greedy, no backtracking.

    With ``*`` the only wildcard, taking each literal piece at its first fit is
    exact, and each ``find`` is linear: the cost is bounded by the capped lengths.
    """
    pieces = pattern.split(MASK)
    head, tail = pieces[0], pieces[-1]
    if len(word) < len(head) + len(tail) or not word.startswith(head):
        return False
    if not word.endswith(tail):
        return False
    position, end = len(head), len(word) - len(tail)
    for piece in pieces[1:-1]:
        if not piece:
            continue
        found = word.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def _abbreviation_fits(short: str, word: str) -> bool:
    """An initial (``a``) or a mask (``a****``) is consistent with ``word``."""
    if len(short) == 1:
        return word[0] == short
    if MASK in word:  # two abbreviations: only their first letters can be compared
        return short[0] != MASK and short[0] == word[0]
    return _glob_matches(short, word)


def _credit(payer: str, kyc: str) -> tuple[float, bool]:
    """What one payer word earns against one KYC word, and whether it is a full-word match."""
    if _is_full(payer) and _is_full(kyc):
        if payer == kyc:
            return 1.0, True
        near = min(len(payer), len(kyc)) >= 4
        if near and SequenceMatcher(None, payer, kyc).ratio() >= TYPO_SIMILARITY:
            return TYPO_CREDIT, True
        return 0.0, False
    if _is_full(payer):
        # Bybit abbreviated the KYC name; visible letters beyond the first are real letters.
        if not _abbreviation_fits(kyc, payer):
            return 0.0, False
        visible = sum(1 for c in kyc if c != MASK)
        return 1.0, visible >= 2
    if not _is_full(kyc):
        return (ABBREVIATED_CREDIT, False) if _abbreviation_fits(payer, kyc) else (0.0, False)
    return (ABBREVIATED_CREDIT, False) if _abbreviation_fits(payer, kyc) else (0.0, False)


def name_similarity(payer: str, kyc_name: str) -> float:
    """How well the payer's name fits the buyer's KYC name, 0..1 (see the module's rules)."""
    if len(payer) > MAX_NAME_CHARS or len(kyc_name) > MAX_NAME_CHARS:
        return 0.0  # no one's name: a bank hook sending this is not to be trusted with it
    left, right = normalize_name(payer), normalize_name(kyc_name)
    if not left or not right:
        return 0.0
    pairs = []
    for i, p in enumerate(left):
        for j, k in enumerate(right):
            credit, strong = _credit(p, k)
            if credit > 0:
                pairs.append((strong, credit, i, j))
    # Full-word matches first, so an initial cannot take the word a full match needs.
    pairs.sort(key=lambda pair: (pair[0], pair[1]), reverse=True)
    used_payer: set[int] = set()
    used_kyc: set[int] = set()
    total = 0.0
    strong_found = False
    for strong, credit, i, j in pairs:
        if i in used_payer or j in used_kyc:
            continue
        used_payer.add(i)
        used_kyc.add(j)
        total += credit
        strong_found = strong_found or strong
    if not strong_found:
        return 0.0
    unmatched_kyc = len(right) - len(used_kyc)
    return min(1.0, total / (len(left) + UNMATCHED_KYC_WEIGHT * unmatched_kyc))


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

    def expected_range(self, received: Decimal) -> tuple[Decimal, Decimal | None]:
        """Bounds on every ``expected`` that ``received`` may fit (None: no upper bound).

        A superset, for narrowing a query; ``amount_fits`` still decides each one.
        """
        share = self.tolerance_percent / Decimal(100)
        low = min(received - self.tolerance, received / (1 + share))
        if share >= 1:
            return low, None
        return low, max(received + self.tolerance, received / (1 - share))

    def amount_fits(self, expected: Decimal, received: Decimal) -> bool:
        """``received`` pays an order of ``expected`` within the tolerances."""
        return amount_matches(
            expected,
            received,
            tolerance=self.tolerance,
            tolerance_percent=self.tolerance_percent,
        )


DEFAULT_POLICY = MatchPolicy()


class HoldReason(StrEnum):
    """Why evidence is stored but bound to no order (``payment.unmatched``'s ``reason``)."""

    NO_ORDER = "no order"
    AMBIGUOUS = "ambiguous"
    POSSIBLE_DUPLICATE = "possible duplicate"
    NAME_MISMATCH = "name mismatch"


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
    hold: HoldReason | None = None  # why no order was chosen
    candidates: tuple[str, ...] = ()  # the orders that fit in amount (ambiguous: the tied ones)


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
        return MatchResult(None, None, "no open order with this amount", hold=HoldReason.NO_ORDER)
    scored = [(name_similarity(evidence.payer_name, c.payer_name), c) for c in fitting]
    passing = [(score, c) for score, c in scored if score >= policy.name_threshold]
    if not passing:
        best = max(score for score, _ in scored)
        return MatchResult(
            None,
            None,
            f"payer name does not match (best {best:.2f})",
            best,
            hold=HoldReason.NAME_MISMATCH,
            candidates=tuple(c.order_id for c in fitting),
        )
    if len(passing) > 1:
        tied = tuple(c.order_id for _, c in passing)
        return MatchResult(
            None,
            None,
            f"ambiguous: {len(passing)} orders match ({', '.join(tied)})",
            hold=HoldReason.AMBIGUOUS,
            candidates=tied,
        )
    score, chosen = passing[0]
    return MatchResult(
        chosen.order_id, chosen.account, f"amount and payer name match ({score:.2f})", score
    )
