"""Cyrillic payer names from bank texts against Bybit's Latin KYC names, through the matcher."""

from __future__ import annotations

import pytest

from p2pilot.evidence.matching import DEFAULT_POLICY, name_similarity, normalize_name

THRESHOLD = DEFAULT_POLICY.name_threshold


@pytest.mark.parametrize(
    ("payer", "kyc"),
    [
        ("Олег Сидоров", "OLEG SIDOROV"),
        ("Юлия Щербакова", "IULIIA SHCHERBAKOVA"),  # a passport since 2014 (ICAO 9303)
        ("Юлия Щербакова", "YULIYA SHCHERBAKOVA"),  # an older passport
        ("Алексей Ёлкин", "ALEKSEY YOLKIN"),
        ("Мария Попова", "MARIA POPOVA"),
        ("Евгений Соловьёв", "YEVGENIY SOLOVYEV"),
        ("Наталья Киселёва", "NATALIA KISELEVA"),
        ("ALEXEI ORLOV", "ALEKSEY ORLOV"),  # two Latin spellings of one name
    ],
)
def test_cyrillic_payers_match_their_latin_kyc_names(payer: str, kyc: str) -> None:
    assert name_similarity(payer, kyc) >= THRESHOLD


@pytest.mark.parametrize(
    ("payer", "kyc"),
    [
        ("Ольга Сидорова", "OLEG SIDOROV"),
        ("Иван Смирнов", "PAVEL SMIRNOV"),
        ("Юлия Щербакова", "IRINA SHCHERBAKOVA"),
    ],
)
def test_other_people_do_not(payer: str, kyc: str) -> None:
    assert name_similarity(payer, kyc) < THRESHOLD


def test_one_normal_form_for_every_spelling() -> None:
    assert normalize_name("Юлия Щербакова") == normalize_name("YULIYA SHCHERBAKOVA")
    assert normalize_name("A**** K.") == ("a****", "k")  # Bybit's masks pass through
