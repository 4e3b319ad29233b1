"""A failing job keeps trying within two ticks, logs less and less, and says when it is back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog

from p2pilot.exchange.errors import TransientError
from p2pilot.jobs.runner import JobRunner
from p2pilot.store import accounts, poll_state
from p2pilot.store.engine import Store

TICK = timedelta(seconds=1)


class Flaky:
    """A tick that fails while ``down`` is set, and counts its attempts."""

    def __init__(self) -> None:
        self.down = True
        self.attempts: list[int] = []
        self.at = 0

    def __call__(self) -> None:
        self.attempts.append(self.at)
        if self.down:
            raise TransientError("HTTP 500: exchange server error", endpoint="/v5/p2p/x")


def test_failing_job_retries_every_second_tick_and_recovers_at_once(store: Store) -> None:
    with store.transaction() as session:
        account_id = accounts.ensure_account(session, "desk")
    start = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    flaky = Flaky()
    # The scheduler fires a few ms late, as it does.
    runner = JobRunner(
        account="desk",
        account_id=account_id,
        job="orders",
        interval=TICK,
        tick=flaky,
        store=store,
        clock=lambda: start + TICK * flaky.at + timedelta(milliseconds=7),
    )
    with structlog.testing.capture_logs() as logs:
        for second in range(40):
            flaky.at = second
            if second == 30:
                flaky.down = False  # the outage ends
            runner()

    outage = [a for a in flaky.attempts if a < 30]
    assert outage == [0, 1, *range(3, 30, 2)]  # next tick, then every second tick
    assert flaky.attempts[len(outage)] <= 31  # back within two ticks of the end
    assert flaky.attempts[len(outage) :] == list(range(flaky.attempts[len(outage)], 40))
    warned = [
        e["consecutive_failures"]
        for e in logs
        if e["event"] == "job.failed" and e["log_level"] == "warning"
    ]
    assert warned == [1, 2, 4, 8, 16]
    (recovered,) = [e for e in logs if e["event"] == "job.recovered"]
    assert recovered["after_failures"] == len(outage)
    with store.transaction() as session:
        state = poll_state.get_state(session, account_id, "orders")
    assert state is not None and state.consecutive_failures == 0
