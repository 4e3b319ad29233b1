"""The scenario driver: buyers take your ads, pay (or not), chat, appeal; prices move.

All randomness comes from one ``random.Random(seed)``, so a seed replays the same
desk. ``speed`` divides every delay. The driver is a loop of timed steps on one
thread that waits on an Event, so ``stop()`` ends it at once. A step is due a delay
after the step that scheduled it was due, not after it ran: a thread starved of CPU
runs late, but the steps keep their order and the seed its desk.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING

from p2pilot.simulator.records import Counterparty, ExchangeRefusal

if TYPE_CHECKING:
    from p2pilot.simulator.core import Simulator


@dataclass(frozen=True)
class Profile:
    """How busy a scenario is (seconds at speed 1)."""

    first_order: float
    order_every: tuple[float, float]
    pay_after: tuple[float, float]
    never_pays: float  # share of buyers who let the order expire
    appeal_after: float  # a paid order left unreleased this long gets appealed
    price_every: float


PROFILES = {
    "quiet": Profile(30, (120, 300), (30, 120), 0.2, 900, 60),
    "demo": Profile(3, (8, 14), (10, 30), 0.2, 300, 10),
    "busy": Profile(0.5, (0.2, 0.6), (2, 10), 0.1, 120, 2),
}
NAMES = (
    "OLEG SIDOROV",
    "ANNA KUZNETSOVA",
    "IVAN SMIRNOV",
    "MARIA POPOVA",
    "PAVEL ORLOV",
    "ELENA VOLKOVA",
    "DMITRY LEBEDEV",
    "OLGA NOVIKOVA",
)
GREETINGS = ("hi", "hello, paying now", "добрый день", "hi! sbp ok?")
PAID_NOTES = ("paid, check please", "sent via SBP", "оплатил", "done, please release")


class Scenario:
    """Drives one simulated desk."""

    def __init__(self, sim: Simulator, name: str, *, seed: int = 0, speed: float = 1.0) -> None:
        if name not in PROFILES:
            raise ValueError(f"unknown scenario {name!r}: use {', '.join(PROFILES)}")
        self.sim = sim
        self.profile = PROFILES[name]
        self.random = random.Random(seed)
        self.speed = speed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._queue: list[tuple[float, int, Callable[[], object]]] = []
        self._seq = itertools.count()
        self._now = 0.0  # when the running step was due (monotonic): the scenario's clock
        self.created: list[str] = []  # order ids in creation order (tests read it)

    def start(self) -> None:
        self._now = time.monotonic()
        self._at(self.profile.first_order, self._new_order)
        self._at(self.profile.price_every, self._move_prices)
        self._thread = threading.Thread(target=self._loop, name="simulator-scenario", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _at(self, delay: float, step: Callable[[], object]) -> None:
        due = self._now + delay / self.speed
        heapq.heappush(self._queue, (due, next(self._seq), step))

    def _between(self, span: tuple[float, float]) -> float:
        return self.random.uniform(*span)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._queue:
                self._stop.wait(0.1)
                continue
            due, _, step = self._queue[0]
            wait = due - time.monotonic()
            if wait > 0:
                self._stop.wait(min(wait, 0.5))
                continue
            heapq.heappop(self._queue)
            self._now = due
            # ExchangeRefusal: the order moved on meanwhile (released, cancelled).
            with contextlib.suppress(ExchangeRefusal):
                step()

    # -- steps ---------------------------------------------------------------------------

    def _new_order(self) -> None:
        ex = self.sim.exchange
        merchant = ex.default_merchant()
        ads = [a for a in ex.own_ads(merchant) if a.side == 1 and a.status == 10]
        self._at(self._between(self.profile.order_every), self._new_order)
        if not ads:
            return
        ad = self.random.choice(ads)
        low, high = int(ad.min_amount), int(min(ad.max_amount, ad.min_amount * 20))
        amount = Decimal(self.random.randint(low, max(low, high))).quantize(Decimal("0.01"))
        number = len(self.created) + 1
        name = self.random.choice(NAMES)
        buyer = Counterparty(
            user_id=str(60010000 + self.random.randint(0, 9999)),
            nickname=f"{name.split()[0].lower()}_{self.random.randint(10, 99)}",
            real_name=name,
            mask_id=f"s{self.random.getrandbits(32):08x}",
            total_orders=self.random.randint(0, 400),
            recent_rate=self.random.randint(80, 100),
        )
        order = ex.create_order(
            merchant=merchant,
            side=1,
            amount=amount,
            price=ad.price,
            token=ad.token,
            currency=ad.currency,
            counterparty=buyer,
        )
        del number
        self.created.append(order.id)
        if self.random.random() < 0.6:
            text = self.random.choice(GREETINGS)
            self._at(self.random.uniform(1, 4), lambda: ex.counterparty_says(order.id, text))
        if self.random.random() < self.profile.never_pays:
            expiry = order.payment_period_min * 60 if self.speed == 1 else 60
            self._at(expiry, lambda: self._expire(order.id))
            return
        self._at(self._between(self.profile.pay_after), lambda: self._pay(order.id))

    def _pay(self, order_id: str) -> None:
        ex = self.sim.exchange
        paid = ex.counterparty_pays(order_id)
        bank = self.sim.bank
        if bank is not None:
            # The merchant's bank texts the merchant a moment after the money moves.
            payer = paid.counterparty.real_name
            self._at(self.random.uniform(1, 3), lambda: bank.payment(paid.amount, payer))
        note = self.random.choice(PAID_NOTES)
        self._at(self.random.uniform(0.5, 2), lambda: ex.counterparty_says(order_id, note))
        self._at(self.profile.appeal_after, lambda: self._appeal_if_waiting(order_id))

    def _expire(self, order_id: str) -> None:
        ex = self.sim.exchange
        if ex.order(order_id).status == 10:
            ex.cancel(order_id, reason="payment window expired")

    def _appeal_if_waiting(self, order_id: str) -> None:
        ex = self.sim.exchange
        if ex.order(order_id).status == 20:
            ex.appeal(order_id)

    def _move_prices(self) -> None:
        ex = self.sim.exchange
        with ex.lock:
            for ad in ex.ads.values():
                if ad.merchant is None:
                    drift = Decimal(self.random.randint(-30, 30)) / Decimal(10000)
                    ad.price = (ad.price * (1 + drift)).quantize(Decimal("0.01"), ROUND_DOWN)
        self._at(self.profile.price_every, self._move_prices)
