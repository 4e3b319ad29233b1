"""Matching payment evidence to orders: names, amounts, never a guess between two."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from p2pilot.evidence.matching import (
    MAX_NAME_WORDS,
    Evidence,
    EvidenceCandidate,
    MatchPolicy,
    amount_matches,
    best_match,
    name_similarity,
    normalize_name,
)

T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payer", "kyc"),
    [
        ("Oleg Sidorov", "OLEG S"),  # Bybit shows the surname's initial
        ("Ánna Kuznetsova", "KUZNETSOVA ANNA"),  # accents, case, word order
        ("Anna Kuznetsova", "A**** KUZNETSOVA"),  # Bybit's mask, on their side
        ("anna-kuznetsova", "ANNA KUZNETSOVA"),
        ("KUZNETSOVA ANNA", "Anna K."),
    ],
)
def test_same_person_written_differently(payer: str, kyc: str) -> None:
    assert name_similarity(payer, kyc) == 1.0


def test_a_near_spelling_is_nearly_as_good() -> None:
    assert 0.9 <= name_similarity("Oleg Sidorv", "Oleg Sidorov") < 1.0


@pytest.mark.parametrize(
    ("payer", "kyc"),
    [
        ("Ivan Petrov", "Petr Ivanov"),
        ("Maria Popova", "Oleg Sidorov"),
        ("", "Oleg"),
        # The cases: each scored 1.00 and released.
        ("* *", "ANNA KOVALEVA"),
        ("A K", "ANNA KOVALEVA"),
        ("M G", "MARIA DEL CARMEN GARCIA LOPEZ"),
        ("A. K.", "ANNA K"),
        ("A**** K****", "ANNA KOVALEVA"),
        ("12345 67", "ANNA KOVALEVA"),
    ],
)
def test_different_people_or_too_little_to_tell(payer: str, kyc: str) -> None:
    assert name_similarity(payer, kyc) == 0.0


def test_unmatched_words_lower_the_score() -> None:
    assert name_similarity("Bob Kovaleva Anna", "ANNA KOVALEVA") < 0.8
    assert name_similarity("OLEG", "Oleg Ivanov") < 0.8  # one word says too little
    # A payer's initial is half a word: "I. PETROV" could be Ivan or Igor.
    assert name_similarity("I. PETROV", "Ivan Petrov") == 0.75
    # Banks drop middle names: a KYC word missing on the payer side costs half.
    assert name_similarity("Anna Kovaleva", "ANNA MARIA KOVALEVA") == 0.8


def test_names_are_capped() -> None:
    assert name_similarity("Anna Kovaleva " * 40, "ANNA KOVALEVA") == 0.0
    assert len(normalize_name("a " * 10_000)) <= MAX_NAME_WORDS
    assert all(len(w) <= 40 for w in normalize_name("a" * 10_000))


payer_words = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöé", min_size=2, max_size=8),
    min_size=1,
    max_size=4,
)
# Any text a bank hook could send, masks and initials included.
any_name = st.text(alphabet=st.sampled_from("abcdefgh ABCDEFGH*.-éÅ1\t"), max_size=60) | st.text(
    max_size=60
)


@example(["ii"])  # folded to "i" it once passed for an initial and scored 0
@example(["yi", "wang"])
@example(["ye"])
@given(payer_words)
def test_word_order_case_and_accents_do_not_matter(name: list[str]) -> None:
    text = " ".join(name)
    assert name_similarity(text, " ".join(reversed(name)).upper()) == 1.0
    assert normalize_name(text) == normalize_name(" ".join(reversed(name)).upper())


@given(any_name, any_name)
def test_scores_stay_between_0_and_1(payer: str, kyc: str) -> None:
    assert 0.0 <= name_similarity(payer, kyc) <= 1.0


def _no_letter_within(char: str) -> bool:
    # Names are compared after NFKD: a symbol such as "㋿" decomposes into letters.
    return not any(c.isalpha() for c in unicodedata.normalize("NFKD", char))


no_letters = st.characters(exclude_categories=("Lu", "Ll", "Lt", "Lm", "Lo")).filter(
    _no_letter_within
)


@given(st.text(alphabet=no_letters), any_name)
def test_a_payer_without_letters_matches_nothing(payer: str, kyc: str) -> None:
    assert name_similarity(payer, kyc) == 0.0


@given(
    st.lists(
        st.sampled_from("abcdefgh").map(lambda c: st_mask(c)) | st.sampled_from("abcdefgh"),
        min_size=1,
        max_size=4,
    ),
    any_name,
)
def test_initials_and_masks_alone_match_nothing(words: list[str], kyc: str) -> None:
    assert name_similarity(" ".join(words), kyc) == 0.0


def st_mask(first: str) -> str:
    return first + "***"


@given(
    st.lists(st.text(alphabet="abcdefghijklmnop", min_size=2, max_size=8), min_size=1, max_size=4),
    st.lists(st.text(alphabet="abcdefghijklmnop", min_size=1, max_size=8), min_size=1, max_size=4),
    # Letters the KYC alphabet lacks even after transliteration folds (x -> ks, y -> i).
    st.text(alphabet="qrstuvwz", min_size=2, max_size=6),
)
def test_an_extra_unmatched_word_never_raises_the_score(
    payer: list[str], kyc: list[str], extra: str
) -> None:
    plain, kyc_name = " ".join(payer), " ".join(kyc)
    before = name_similarity(plain, kyc_name)
    after = name_similarity(plain + " " + extra, kyc_name)
    assert after <= before
    if before > 0:
        assert after < before  # and it does lower it


def test_amounts_are_exact_unless_a_tolerance_says_otherwise() -> None:
    assert amount_matches(Decimal("8145.00"), Decimal("8145"))
    assert not amount_matches(Decimal("8145.00"), Decimal("8144.99"))
    assert amount_matches(Decimal("8145.00"), Decimal("8144.50"), tolerance=Decimal("0.5"))
    assert amount_matches(Decimal("1000"), Decimal("990"), tolerance_percent=Decimal("1"))
    with pytest.raises(TypeError):
        amount_matches(Decimal("1"), 1.0)  # type: ignore[arg-type]


def candidate(order_id: str, amount: str, name: str, account: str = "desk") -> EvidenceCandidate:
    return EvidenceCandidate(order_id, account, Decimal(amount), "RUB", name, T0)


def evidence(amount: str, name: str, **changes: object) -> Evidence:
    base = dict(
        id="1",
        amount=Decimal(amount),
        currency="RUB",
        payer_name=name,
        reference="ref",
        received_at=T0 + timedelta(minutes=5),
        account=None,
    )
    base.update(changes)
    return Evidence(**base)  # type: ignore[arg-type]


def test_the_one_fitting_order_is_chosen() -> None:
    result = best_match(
        evidence("8145.00", "Oleg Sidorov"),
        [
            candidate("1", "8145.00", "OLEG S"),
            candidate("2", "8145.00", "ANNA K"),
            candidate("3", "500.00", "OLEG S"),
        ],
    )
    assert (result.order_id, result.account) == ("1", "desk")


def test_two_fitting_orders_are_never_guessed_between() -> None:
    result = best_match(
        evidence("8145.00", "Oleg Sidorov"),
        [candidate("1", "8145.00", "OLEG S"), candidate("2", "8145.00", "OLEG SIDOROV")],
    )
    assert result.order_id is None and "ambiguous" in result.reason


def test_reasons_say_why_nothing_matched() -> None:
    assert "amount" in best_match(evidence("1.00", "x y"), [candidate("1", "2.00", "x y")]).reason
    name_miss = best_match(evidence("2.00", "Maria Popova"), [candidate("1", "2.00", "OLEG S")])
    assert name_miss.order_id is None and "payer name" in name_miss.reason
    early = evidence("2.00", "Oleg S", received_at=T0 - timedelta(hours=1))
    assert best_match(early, [candidate("1", "2.00", "OLEG S")]).order_id is None
    other_account = evidence("2.00", "Oleg S", account="other")
    assert best_match(other_account, [candidate("1", "2.00", "OLEG S")]).order_id is None


@given(
    expected=st.decimals(min_value=1, max_value=10**7, places=2),
    received=st.decimals(min_value=1, max_value=10**7, places=2),
    tolerance=st.decimals(min_value=0, max_value=1000, places=2),
    percent=st.decimals(min_value=0, max_value=150, places=2),
)
def test_the_query_range_holds_every_amount_that_fits(
    expected: Decimal, received: Decimal, tolerance: Decimal, percent: Decimal
) -> None:
    # The duplicate check narrows its query with this range, then decides with
    # amount_fits: a fitting amount outside the range would be a missed duplicate.
    policy = MatchPolicy(tolerance=tolerance, tolerance_percent=percent)
    low, high = policy.expected_range(received)
    if policy.amount_fits(expected, received):
        assert low <= expected and (high is None or expected <= high)
