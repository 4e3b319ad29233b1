"""Buyer-supplied text cannot act on the operator's terminal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from p2pilot.terminal import printable


def test_escape_sequences_are_shown_not_obeyed() -> None:
    assert printable("\x1b[2Jhi") == "\\x1b[2Jhi"
    assert printable("\x1b]0;owned\x07") == "\\x1b]0;owned\\x07"
    assert printable("ok\nINFO release.done order_id=999") == "ok\\nINFO release.done order_id=999"
    assert printable("\x9b31m") == "\\x9b31m"  # C1 CSI
    assert printable("abc\u202edcba") == "abc\\u202edcba"  # bidi override


def test_ordinary_text_is_unchanged() -> None:
    for text in ("Anna K", "Олег Смирнов", "María José", "8145.00 RUB", "emoji 👍"):
        assert printable(text) == text


@given(st.text())
def test_no_control_character_survives(text: str) -> None:
    shown = printable(text)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in shown)
