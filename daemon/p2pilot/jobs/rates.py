"""The rates job: read the public order book for each ``[[rates]]`` market and store its price.

For each market: one page of online ads (the best 100 by the exchange's own
sort), minus our own ads and those that do not fit the entry (amount, payment
methods, the advertiser's recent orders and completion rate). The best price is
the first that remains; the reference price is the median of the best ``depth``,
which one bait ad cannot move. ``rate.changed`` is emitted when the reference has
moved by ``threshold`` percent since the last announced value.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from p2pilot.config.schema import RateConfig
from p2pilot.exchange.errors import AuthError, ExchangeError, RateLimited
from p2pilot.exchange.port import Exchange
from p2pilot.logging import get_logger
from p2pilot.records import OnlineAd, Side
from p2pilot.store import rates as stored_rates
from p2pilot.store.engine import Store
from p2pilot.store.events import append_event
from p2pilot.store.models import AccountRow
from p2pilot.store.rates import RatePoint
from p2pilot.store.types import decimal_text

log = get_logger(__name__)

RATE_CHANGED = "rate.changed"
BOOK_SIZE = 100  # one page of the order book: far deeper than any median we take

Market = tuple[str, str, Side]


def market_of(entry: RateConfig) -> Market:
    return (entry.token, entry.currency, Side.SELL if entry.side == "sell" else Side.BUY)


def fits(ad: OnlineAd, entry: RateConfig, methods: frozenset[str], own_user_id: str) -> bool:
    """Whether an offer counts for this market entry."""
    if own_user_id and ad.user_id == own_user_id:
        return False
    if entry.amount is not None and not ad.min_amount <= entry.amount <= ad.max_amount:
        return False
    if methods and not methods.intersection(ad.payment_types):
        return False
    if ad.recent_order_count < entry.min_orders:
        return False
    rate = ad.recent_execute_rate
    return not (
        entry.min_completion_rate > 0 and (rate is None or rate < entry.min_completion_rate)
    )


def price_point(ads: list[OnlineAd], entry: RateConfig, observed_at: datetime) -> RatePoint | None:
    """Best and reference price of the offers that fit, or None when none do."""
    if not ads:
        return None
    token, currency, side = market_of(entry)
    # A buyer wants the cheapest seller; a seller wants the highest bidder.
    ordered = sorted((a.price for a in ads), reverse=side == Side.BUY)
    best_n = ordered[: entry.depth]
    return RatePoint(
        token=token,
        currency=currency,
        side=side,
        best_price=ordered[0],
        reference_price=Decimal(statistics.median(best_n)),
        sample_size=len(best_n),
        observed_at=observed_at,
    )


def moved_percent(previous: Decimal, current: Decimal) -> Decimal:
    return abs(current - previous) / previous * 100 if previous else Decimal(0)


@dataclass
class RatesJob:
    """Poll every configured market through one account's client."""

    account: str
    account_id: int
    client: Exchange
    store: Store
    entries: list[RateConfig]
    clock: Callable[[], datetime]
    _announced: dict[Market, Decimal] = field(default_factory=dict, repr=False)
    _methods: dict[Market, frozenset[str]] | None = field(default=None, repr=False)

    def __call__(self) -> None:
        self.tick()

    def tick(self) -> int:
        """Run one tick; returns how many markets got a new observation."""
        methods = self._resolve_methods()
        with self.store.transaction(read_only=True) as session:
            account = session.get(AccountRow, self.account_id)
            own_user_id = account.user_id or "" if account else ""
        observed = 0
        for entry in self.entries:
            market = market_of(entry)
            try:
                book = self.client.online_ads(
                    token=entry.token, currency=entry.currency, side=market[2], size=BOOK_SIZE
                )
            except (AuthError, RateLimited):
                raise
            except ExchangeError as exc:
                log.warning(
                    "rates.read_failed", account=self.account, market=_label(market), error=str(exc)
                )
                continue
            offers = [
                a
                for a in book.items
                if fits(a, entry, methods.get(market, frozenset()), own_user_id)
            ]
            point = price_point(offers, entry, self.clock())
            if point is None:
                log.warning(
                    "rates.no_offers",
                    account=self.account,
                    market=_label(market),
                    offers=len(book.items),
                    reason="no offer fits the [[rates]] filters",
                )
                continue
            self._record(entry, market, point)
            observed += 1
        return observed

    def _record(self, entry: RateConfig, market: Market, point: RatePoint) -> None:
        with self.store.transaction() as session:
            if market not in self._announced:
                previous = stored_rates.latest(session, *market)
                if previous is not None and previous.reference_price is not None:
                    self._announced[market] = previous.reference_price
            stored_rates.add_rate(session, point)
            reference = point.reference_price
            baseline = self._announced.get(market)
            if reference is None:
                return
            if baseline is None:
                self._announced[market] = reference  # the first observation sets the baseline
                return
            change = moved_percent(baseline, reference)
            if change < entry.threshold:
                return
            append_event(
                session,
                account_id=self.account_id,
                order_pk=None,
                type=RATE_CHANGED,
                payload={"account": self.account, "order_id": None}
                | point.to_json()
                | {
                    "previous": decimal_text(baseline),
                    "change_percent": decimal_text(change.quantize(Decimal("0.01"))),
                },
                at=point.observed_at,
            )
        self._announced[market] = reference

    def _resolve_methods(self) -> dict[Market, frozenset[str]]:
        """Each entry's payment methods as type ids; names are looked up among ours once."""
        if self._methods is not None:
            return self._methods
        names: dict[str, str] = {}
        if any(not m.isdigit() for e in self.entries for m in e.payment_methods):
            terms = self.client.payment_methods()  # raises: the runner retries later
            names = {t.name.casefold(): str(t.payment_type) for t in terms if t.name}
        resolved: dict[Market, frozenset[str]] = {}
        for entry in self.entries:
            ids = set()
            for method in entry.payment_methods:
                if method.isdigit():
                    ids.add(method)
                elif method.casefold() in names:
                    ids.add(names[method.casefold()])
                else:
                    log.warning(
                        "rates.unknown_payment_method",
                        account=self.account,
                        method=method,
                        hint="use the payment type id, or the name of one of your own methods",
                    )
            if entry.payment_methods and not ids:
                ids.add("<none of the configured methods>")  # fit nothing, never everything
            resolved[market_of(entry)] = frozenset(ids)
        self._methods = resolved
        return resolved


def _label(market: Market) -> str:
    token, currency, side = market
    return f"{token}/{currency} {side.label}"
