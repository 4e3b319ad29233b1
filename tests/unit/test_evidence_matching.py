"""Matching payment evidence to orders: names, amounts, never a guess between two."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2pilot.evidence.matching import (
    Evidence,
    EvidenceCandidate,
    amount_matches,
    best_match,
    name_similarity,
    normalize_name,
)

T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("OLEG S", "Sidorov Oleg Sergeevich"),
        ("Ánna Kuznetsova", "KUZNETSOVA ANNA"),
        ("A**** K", "Anna Kuznetsova"),
        ("I. PETROV", "Ivan Petrov"),
        ("Oleg Sidorv", "Oleg Sidorov"),
    ],
)
def test_same_person_written_differently(a: str, b: str) -> None:
    assert name_similarity(a, b) == 1.0


@pytest.mark.parametrize(
    ("a", "b"),
    [("Ivan Petrov", "Petr Ivanov"), ("Maria Popova", "Oleg Sidorov"), ("", "Oleg")],
)
def test_different_people(a: str, b: str) -> None:
    assert name_similarity(a, b) < 0.5


def test_one_word_is_not_enough() -> None:
    assert name_similarity("OLEG", "Oleg Ivanov") < 0.8


words = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöé", min_size=2, max_size=8),
    min_size=1,
    max_size=4,
)


@given(words)
def test_word_order_and_case_do_not_matter(name: list[str]) -> None:
    text = " ".join(name)
    assert name_similarity(text, " ".join(reversed(name)).upper()) == 1.0
    assert normalize_name(text) == normalize_name(" ".join(reversed(name)).upper())


@given(words, words)
def test_similarity_is_symmetric(a: list[str], b: list[str]) -> None:
    assert name_similarity(" ".join(a), " ".join(b)) == name_similarity(" ".join(b), " ".join(a))


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
