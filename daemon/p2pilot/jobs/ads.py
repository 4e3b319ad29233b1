"""The ads job: keep our own ads in the store, and emit ``ad.changed`` when one moves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from p2pilot.exchange.port import Exchange
from p2pilot.logging import get_logger
from p2pilot.records import Ad
from p2pilot.store import ads as stored_ads
from p2pilot.store.engine import Store
from p2pilot.store.events import append_event

log = get_logger(__name__)

AD_CHANGED = "ad.changed"
PAGE_SIZE = 30
MAX_PAGES = 20  # 600 ads: no desk has that many


def all_ads(client: Exchange) -> Iterator[Ad]:
    """Every one of our ads, page by page."""
    for number in range(1, MAX_PAGES + 1):
        page = client.my_ads(page=number, size=PAGE_SIZE)
        yield from page.items
        if page.rows < PAGE_SIZE or number * PAGE_SIZE >= page.count:
            return


@dataclass
class AdsJob:
    """Poll one account's ads into the store."""

    account: str
    account_id: int
    client: Exchange
    store: Store
    clock: Callable[[], datetime]

    def __call__(self) -> None:
        self.tick()

    def tick(self) -> int:
        """Run one tick; returns how many ads changed."""
        ads = list(all_ads(self.client))  # read everything first: one short transaction
        now = self.clock()
        changed = 0
        with self.store.transaction() as session:
            for ad in ads:
                fields = stored_ads.upsert_ad(session, self.account_id, ad, at=now)
                if not fields:
                    continue
                changed += 1
                row = stored_ads.get_ad(session, self.account_id, ad.id)
                assert row is not None
                append_event(
                    session,
                    account_id=self.account_id,
                    order_pk=None,
                    type=AD_CHANGED,
                    payload=stored_ads.ad_payload(self.account, row) | {"changed": fields},
                    at=now,
                )
        if changed:
            log.info("ads.synced", account=self.account, ads=len(ads), changed=changed)
        return changed
