"""Cyrillic payer names against Latin KYC names: the passport standard and its common variants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2pilot.evidence.translit import has_cyrillic, latin_key, latin_variants, same_word, to_latin


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


# Common Russian first names and surnames (a sample written for this test).
NAME_TEXT = (
    "Юлия Алексей Наталья Евгений Ксения Олег Иван Мария Дмитрий Андрей Сергей Юрий Татьяна"
    " Фёдор Пётр Семён Екатерина Елена Ольга Анастасия Наталия Виктория Валерий Григорий"
    " Георгий Илья Николай Михаил Владимир Вячеслав Ярослав Людмила Любовь Зоя Майя Яна"
    " Айгерим Щербакова Ёлкин Смирнов Кузнецов Попова Соколов Лебедев Соловьёв Васильев"
    " Зайцев Семёнов Воробьёв Фёдоров Беляев Киселёв Андреев Ковалёв Алексеев Сергеев"
    " Королёв Пономарёв Григорьев Журавлёв Николаев Матвеев Ширяев Афанасьев Аксёнов Зуев"
    " Елисеев Исаев Муравьёв Гурьев Гуляев Евсеев Бобылёв Белозёров Сысоев Кондратьев"
    " Хрущёв Цой Чернышёв Шевчук Жуков Ефимов Яковлев Юдин Щукин Эрдниев"
)
NAMES = tuple(NAME_TEXT.split())


@pytest.mark.parametrize("name", NAMES)
def test_every_accepted_spelling_of_a_name_has_one_key(name: str) -> None:
    keys = {latin_key(spelling) for spelling in latin_variants(name)} | {latin_key(name)}
    assert len(keys) == 1, (name, sorted(latin_variants(name)), keys)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("IULIIA", "YULIYA"),
        ("YULIA", "Юлия"),
        ("ALEXEI", "ALEKSEY"),
        ("MARIA", "Мария"),
        ("YEVGENIY", "EVGENII"),
        ("FYODOR", "FEDOR"),
        ("A****", "a****"),
    ],
)
def test_spellings_of_one_name_share_a_key(a: str, b: str) -> None:
    assert latin_key(a) == latin_key(b)


def test_different_names_keep_different_keys() -> None:
    by_key: dict[str, set[str]] = {}
    for name in NAMES:
        by_key.setdefault(latin_key(name), set()).add(name)
    shared = [names for names in by_key.values() if len(names) > 1]
    # Natalya and Natalia are one name in Latin letters: the only pair that meets.
    assert shared == [{"Наталья", "Наталия"}]
    assert latin_key("OLGA") != latin_key("OLEG") and latin_key("IVAN") != latin_key("IVANOV")
