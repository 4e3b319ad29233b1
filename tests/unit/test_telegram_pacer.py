"""The bot's pacing, ahead of Telegram's limits: a second apart per chat, thirty a second."""

from __future__ import annotations

import pytest

from p2pilot.telegram.calls import Pacer


class FakeTime:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_one_chat_gets_one_message_a_second() -> None:
    clock = FakeTime()
    pacer = Pacer(clock)
    assert [pacer.delay(5001) for _ in range(3)] == [0.0, 1.0, 2.0]
    assert pacer.delay(5002) == 0.0  # another chat is not held back
    clock.t += 5
    assert pacer.delay(5001) == 0.0  # the chat has been quiet since


def test_no_more_than_thirty_a_second_in_all() -> None:
    clock = FakeTime()
    pacer = Pacer(clock)
    waits = [pacer.delay(chat) for chat in range(40)]
    assert waits[:30] == [0.0] * 30
    assert all(w == pytest.approx(1.1) for w in waits[30:])  # the next second, with room
