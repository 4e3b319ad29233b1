"""The per-account request budget: rolling-second pacing, rate-limit and IP-ban pauses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2pilot.exchange.budget import HostPause, RequestBudget, RollingWindow
from p2pilot.exchange.errors import RateLimited, TransientError


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=0.5), st.floats(min_value=0, max_value=0.4)),
        min_size=1,
        max_size=60,
    )
)
def test_no_rolling_second_ever_holds_more_than_the_rate(steps: list[tuple[float, float]]) -> None:
    clock = FakeTime()
    window = RollingWindow(4, clock=clock)
    sent: list[float] = []
    for gap, late in steps:
        clock.t += gap
        slot, wait = window.take()
        clock.sleep(wait + late)  # the caller waits as told, and may wake up late
        window.leaving(slot)
        sent.append(clock.t)
    sent.sort()
    for i, at in enumerate(sent):
        assert sum(1 for other in sent[i:] if other < at + 1.0) <= 4


def test_a_burst_goes_at_once_then_waits() -> None:
    clock = FakeTime()
    window = RollingWindow(8, clock=clock)
    assert [window.take()[1] for _ in range(8)] == [0.0] * 8
    assert window.take()[1] == pytest.approx(1.1)  # a second, and room for jitter


def test_a_call_that_leaves_late_is_counted_from_when_it_left() -> None:
    clock = FakeTime()
    window = RollingWindow(1, clock=clock)
    slot, _ = window.take()
    clock.t += 0.3  # the thread was not scheduled for 300 ms
    window.leaving(slot)
    assert window.take()[1] == pytest.approx(1.1)  # from the send, not from the slot


def rate_limited(reset_at: datetime, *, ip_ban: bool = False) -> RateLimited:
    return RateLimited("limit", reset_at=reset_at, ip_ban=ip_ban, code=None if ip_ban else 10006)


def test_10006_pauses_the_account_until_the_reset() -> None:
    now = [datetime(2026, 11, 27, 12, 0, tzinfo=UTC)]
    budget = RequestBudget(host=HostPause(), now=lambda: now[0], sleep=lambda _s: None)
    hit = rate_limited(now[0] + timedelta(seconds=2))
    budget.after(hit)
    assert hit.first_hit is True
    with pytest.raises(RateLimited) as paused:
        budget.before("read", "/v5/p2p/order/info")
    assert paused.value.reset_at == now[0] + timedelta(seconds=2)
    again = rate_limited(now[0] + timedelta(seconds=1))
    budget.after(again)
    assert again.first_hit is False  # the pause was already in force
    now[0] += timedelta(seconds=3)
    budget.before("read", "/v5/p2p/order/info")  # the reset has passed
    budget.after(TransientError("500"))  # other failures pause nothing
    budget.before("write", "/v5/p2p/order/finish")


def test_an_ip_ban_pauses_every_account_of_the_host() -> None:
    host = HostPause()
    now = datetime.now(UTC)
    first, second = RequestBudget(host=host), RequestBudget(host=host)
    ban = rate_limited(now + timedelta(minutes=10), ip_ban=True)
    first.after(ban)
    assert ban.first_hit is True
    for budget in (first, second):
        with pytest.raises(RateLimited) as paused:
            budget.before("read", "/v5/p2p/order/pending/simplifyList")
        assert paused.value.ip_ban is True
    host.clear()
    second.before("read", "/v5/p2p/order/pending/simplifyList")


def test_background_reads_leave_most_reads_to_orders_and_releases() -> None:
    clock = FakeTime()
    budget = RequestBudget(host=HostPause(), sleep=clock.sleep, clock=clock)
    chat = "/v5/p2p/order/message/listpage"
    for _ in range(2):
        budget.before("read", chat)
    assert clock.t == 1000.0  # two background reads go at once
    # A third would wait for the next window; the orders poll does not.
    for _ in range(6):
        budget.before("read", "/v5/p2p/order/pending/simplifyList")
    assert clock.t == 1000.0
    budget.before("read", chat)
    assert clock.t == pytest.approx(1001.1)
