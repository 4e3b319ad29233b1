"""The per-account request budget: rolling-second pacing, rate-limit and IP-ban pauses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2pilot.exchange.budget import HostBudget, RequestBudget, RollingWindow
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
    budget = RequestBudget(host=HostBudget(None), now=lambda: now[0], sleep=lambda _s: None)
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
    host = HostBudget(None)
    now = datetime.now(UTC)
    first, second = RequestBudget(host=host), RequestBudget(host=host)
    ban = rate_limited(now + timedelta(minutes=10), ip_ban=True)
    first.after(ban)
    assert ban.first_hit is True
    for budget in (first, second):
        with pytest.raises(RateLimited) as paused:
            budget.before("read", "/v5/p2p/order/pending/simplifyList")
        assert paused.value.ip_ban is True
    host.ban.clear()
    second.before("read", "/v5/p2p/order/pending/simplifyList")


def test_background_reads_leave_most_reads_to_orders_and_releases() -> None:
    clock = FakeTime()
    budget = RequestBudget(host=HostBudget(None), sleep=clock.sleep, clock=clock)
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


ORDERS_POLL = "/v5/p2p/order/pending/simplifyList"


def sent_in_any_window(times: list[float], span: float) -> int:
    """The most calls any rolling ``span`` seconds holds."""
    return max(sum(1 for u in times if t <= u < t + span) for t in times)


def test_the_host_budget_holds_every_account_under_its_five_seconds() -> None:
    clock = FakeTime()
    host = HostBudget(20, clock=clock)
    desk = [RequestBudget(host=host, sleep=clock.sleep, clock=clock) for _ in range(10)]
    sent: list[tuple[float, int]] = []
    for _round in range(6):
        for number, budget in enumerate(desk):
            budget.before("read", ORDERS_POLL)
            sent.append((clock.t, number))
    times = [t for t, _ in sent]
    assert sent_in_any_window(times, 5.0) <= 20
    # Each account alone is far under its own 8 a second: only the host held them.
    assert times[-1] - times[0] > 10.0
    # First come, first served: every round gave every account its turn, in order.
    assert [number for _, number in sent] == list(range(10)) * 6


def test_background_reads_take_at_most_half_of_the_host() -> None:
    clock = FakeTime()
    host = HostBudget(20, clock=clock)
    desk = [RequestBudget(host=host, sleep=clock.sleep, clock=clock) for _ in range(20)]
    chat = "/v5/p2p/order/message/listpage"
    for budget in desk[:10]:
        budget.before("read", chat)
    assert clock.t == 1000.0  # half the host's window
    for budget in desk[10:]:
        budget.before("read", ORDERS_POLL)  # the other half is still free for the polls
    assert clock.t == 1000.0
    desk[0].before("read", chat)
    assert clock.t == pytest.approx(1005.25)  # the host's window, plus its room for jitter


def test_no_host_window_with_none() -> None:
    clock = FakeTime()
    host = HostBudget(None, clock=clock)
    desk = [RequestBudget(host=host, sleep=clock.sleep, clock=clock) for _ in range(100)]
    for budget in desk:
        budget.before("read", ORDERS_POLL)
    assert clock.t == 1000.0


def test_the_calls_a_buyer_waits_on_find_room_however_many_accounts_poll() -> None:
    clock = FakeTime()
    host = HostBudget(20, clock=clock)
    desk = [RequestBudget(host=host, sleep=clock.sleep, clock=clock) for _ in range(20)]
    for budget in desk[:16]:
        budget.before("read", ORDERS_POLL)
    assert clock.t == 1000.0  # four fifths of the host's window
    # The order's detail and the greeting go at once: a fifth is kept for them.
    desk[16].before("read", "/v5/p2p/order/info")
    desk[16].before("write", "/v5/p2p/order/message/send")
    assert clock.t == 1000.0
    desk[17].before("read", ORDERS_POLL)  # the next poll waits for the window to move
    assert clock.t == pytest.approx(1005.25)
