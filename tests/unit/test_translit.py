"""Cyrillic payer names against Latin KYC names: the passport standard and its common variants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2pilot.evidence.translit import has_cyrillic, latin_variants, same_word, to_latin


@pytest.mark.parametrize(
    ("cyrillic", "passport"),
    [
        # ICAO Doc 9303, as in Russian passports issued since 2014.
        ("Юлия Щербакова", "Iuliia Shcherbakova"),
        ("Алексей Ёлкин", "Aleksei Elkin"),
        ("Наталья Хрущёва", "Natalia Khrushcheva"),
        ("Евгений Сергеевич", "Evgenii Sergeevich"),
        ("Ксения Цой", "Kseniia Tsoi"),
        ("Айгерим Нурланова", "Aigerim Nurlanova"),
    ],
)
def test_to_latin_writes_the_passport_spelling(cyrillic: str, passport: str) -> None:
    assert to_latin(cyrillic) == passport


@pytest.mark.parametrize(
    ("cyrillic", "kyc"),
    [
        ("Юлия", "IULIIA"),  # ICAO 9303 (passports since 2014)
        ("Юлия", "YULIYA"),  # MVD 2000s passports
        ("Мария", "MARIA"),  # the everyday spelling
        ("Алексей", "ALEKSEY"),
        ("Ёлкин", "YOLKIN"),
        ("Наталья", "NATALYA"),
        ("Евгений", "YEVGENIY"),
        ("Дмитрий", "DMITRY"),
        ("Щербакова", "SHCHERBAKOVA"),
        ("Хрущёв", "KHRUSHCHEV"),
    ],
)
def test_a_cyrillic_word_matches_its_latin_kyc_spellings(cyrillic: str, kyc: str) -> None:
    assert same_word(cyrillic, kyc)
    assert same_word(kyc, cyrillic)  # either side may be the Cyrillic one


@pytest.mark.parametrize(
    ("cyrillic", "kyc"),
    [("Юлия", "IRINA"), ("Олег", "OLGA"), ("Смирнов", "SMIRNOVA"), ("Иван", "IVANOV")],
)
def test_different_names_stay_different(cyrillic: str, kyc: str) -> None:
    assert not same_word(cyrillic, kyc)


def test_latin_words_pass_through_case_folded_without_accents() -> None:
    assert latin_variants("José") == frozenset({"jose"})
    assert to_latin("JOHN SMITH") == "JOHN SMITH"
    assert not has_cyrillic("JOHN SMITH") and has_cyrillic("John Смит")


@given(st.text(alphabet="абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"))
def test_every_variant_is_plain_latin_letters(word: str) -> None:
    for variant in latin_variants(word):
        assert variant.isascii() and variant.isalpha() and variant == variant.lower()
    assert not has_cyrillic(to_latin(word))
