"""Cyrillic names in Latin letters, as Bybit's KYC names are written.

A bank SMS says the money came from "Юлия Щербакова"; Bybit's KYC name for the
buyer reads "IULIIA SHCHERBAKOVA" (a passport issued since 2014) or "YULIYA
SHCHERBAKOVA" (an older passport, or a name the buyer typed in). Both must match.

The reference spelling is ICAO Doc 9303, the standard Russian international
passports follow since 2014 (order 889 of the Federal Migration Service).
Because passports from before then, bank cards and hand-typed names use other
systems, a word is also accepted in the spellings of the older passport
orders (MVD 782 of 2000s passports, MVD 310 of 1997), the informal "Wikipedia"
spelling most people type, and BGN/PCGN. The tables come from ``iuliia``, a
maintained library of the published transliteration schemas, rather than being
retyped here.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import iuliia

# ICAO Doc 9303 first: it is what to_latin() writes.
PASSPORT = iuliia.ICAO_DOC_9303
VARIANT_SCHEMAS = (
    iuliia.ICAO_DOC_9303,
    iuliia.MVD_782,
    iuliia.MVD_310,
    iuliia.WIKIPEDIA,
    iuliia.BGN_PCGN,
)

_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_NOT_LETTER = re.compile(r"[^a-z]+")
MAX_WORD = 64  # longer is not a name; it is not worth the variants


def has_cyrillic(text: str) -> bool:
    """Does ``text`` hold any Cyrillic letter?"""
    return _CYRILLIC.search(text) is not None


@lru_cache(maxsize=4096)
def to_latin(text: str) -> str:
    """``text`` with its Cyrillic written as in a Russian passport (ICAO Doc 9303).

    Latin letters, digits and punctuation pass through unchanged.
    """
    if not has_cyrillic(text):
        return text
    return str(PASSPORT.translate(text))


@lru_cache(maxsize=4096)
def latin_variants(word: str) -> frozenset[str]:
    """Every accepted Latin spelling of one word, case-folded, letters only.

    A word without Cyrillic is its own only variant (accents dropped), so the
    result can always be compared with a word of the other name.
    """
    word = word[:MAX_WORD]
    if not has_cyrillic(word):
        return frozenset({_letters(word)} - {""})
    spellings = {_letters(str(schema.translate(word))) for schema in VARIANT_SCHEMAS}
    # The everyday spelling of -ия names (Maria, Anastasia) is in no schema.
    spellings |= {s.replace("iia", "ia") for s in spellings}
    return frozenset(spellings - {""})


def same_word(a: str, b: str) -> bool:
    """Are ``a`` and ``b`` the same name word, one of them possibly in Cyrillic?"""
    return not latin_variants(a).isdisjoint(latin_variants(b))


def _letters(text: str) -> str:
    # Apostrophes of soft signs (Natal'ya) go, and BGN's Cyrillic diaeresis (Yёlkin)
    # becomes a Latin e: a KYC name holds A-Z only.
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("ё", "e"))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_LETTER.sub("", plain)


_YO_YE = re.compile(r"y[oe]")
_DOUBLE_I = re.compile(r"i+")


@lru_cache(maxsize=8192)
def latin_key(word: str) -> str:
    """One spelling for every accepted spelling of a name word: compare keys, not words.

    ``IULIIA``, ``YULIYA``, ``YULIA`` and ``Юлия`` all give ``iulia``; ``ALEKSEY``,
    ``ALEXEI`` and ``Алексей`` give ``aleksei``. The folds are those that tell the
    transliteration systems apart (y/i, yo/e, ye/e, x/ks, a doubled i);
    applied to both names, they make a Cyrillic payer and a Latin KYC name, or two
    Latin spellings, compare equal. Bybit's ``*`` masks pass through.
    """
    latin = to_latin(word[:MAX_WORD]).casefold()
    decomposed = unicodedata.normalize("NFKD", latin)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = "".join(ch for ch in plain if ch.isalpha() or ch == "*")
    folded = _YO_YE.sub("e", plain).replace("x", "ks").replace("y", "i")
    folded = _DOUBLE_I.sub("i", folded)
    # A short name stays a word ("Yi", "Ye", "Ii"): folded to one letter it would
    # pass for an initial, and two people of that name would no longer match.
    return folded if len(folded) >= 2 or len(plain) < 2 else plain
