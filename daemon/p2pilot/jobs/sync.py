"""``run --once`` as a full sync: tick the orders job until the store has every order.

One orders tick reads at most a tick's share of the request budget in order
details and puts the rest off to the next tick, which is right for the daemon (the
pending list must be read on time) and wrong for a one-shot run, which would exit
with most of a busy desk unstored. Here the ticks follow each other until one
leaves nothing for later; the exchange client's budget paces the calls, so a
sync of a thousand orders takes as long as the budget needs, and never more
requests per second than the daemon would make.
"""

from __future__ import annotations

from collections.abc import Callable

from p2pilot.jobs.orders import OrdersJob
from p2pilot.jobs.runner import JobRunner
from p2pilot.logging import get_logger

log = get_logger(__name__)

# A desk of 1,200 open orders (the pending list's limit) at one detail a tick:
# beyond this, something keeps adding work faster than a sync can store it.
MAX_ROUNDS = 1_500
# Rounds in a row that may leave as much for later as before: a slow exchange or a
# detail read that fails a few times is waited out, one that never answers is not.
STALL_ROUNDS = 3


def sync_orders(
    runner: JobRunner,
    job: OrdersJob,
    *,
    keep_lease: Callable[[], object] = lambda: None,
    max_rounds: int = MAX_ROUNDS,
) -> bool:
    """Tick until a tick leaves no backlog; False (and a log line) when that cannot be reached.

    A failed tick ends the sync: the runner has logged why and recorded the failure.
    ``keep_lease`` renews the account's lease before each tick: a sync of a busy desk
    outlasts a lease, and a tick without one is skipped, which would look like a stall.
    """
    stalled = 0
    best: int | None = None
    for rounds in range(1, max_rounds + 1):
        keep_lease()
        if not runner():
            return False
        if job.backlog == 0:
            if rounds > 1:
                log.info("orders.synced", account=job.account, ticks=rounds)
            return True
        if best is None or job.backlog < best:
            best, stalled = job.backlog, 0
        else:
            stalled += 1
        if stalled >= STALL_ROUNDS:
            break
    log.error(
        "orders.sync_incomplete",
        account=job.account,
        left=job.backlog,
        hint="some orders are not stored yet; run again, or run the daemon to catch up",
    )
    return False
