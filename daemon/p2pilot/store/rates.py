"""Observed market rates: the best price and a robust reference price, over time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2pilot.records import Side
from p2pilot.store.columns import same_named
from p2pilot.store.models import RateRow
from p2pilot.store.types import decimal_text


@dataclass(frozen=True, slots=True)
class RatePoint:
    """One observation of one market."""

    token: str
    currency: str
    side: Side
    best_price: Decimal
    reference_price: Decimal | None
    sample_size: int
    observed_at: datetime

    @classmethod
    def from_row(cls, row: RateRow) -> RatePoint:
        return cls(**same_named(row, cls, side=Side(row.side)))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (prices as exact decimal text, times ISO 8601 UTC)."""
        return {
            "token": self.token,
            "currency": self.currency,
            "side": self.side.label,
            "best": decimal_text(self.best_price),
            "reference": decimal_text(self.reference_price)
            if self.reference_price is not None
            else None,
            "offers": self.sample_size,
            "observed_at": self.observed_at.isoformat(),
        }


def add_rate(session: Session, point: RatePoint) -> None:
    """Store one observation."""
    session.add(RateRow(**same_named(point, RatePoint, side=int(point.side))))


def latest(session: Session, token: str, currency: str, side: Side) -> RatePoint | None:
    """The newest observation of one market, if any."""
    row = session.scalars(
        select(RateRow)
        .where(RateRow.token == token, RateRow.currency == currency, RateRow.side == int(side))
        .order_by(RateRow.observed_at.desc(), RateRow.id.desc())
        .limit(1)
    ).first()
    return RatePoint.from_row(row) if row is not None else None


def markets(session: Session) -> list[tuple[str, str, Side]]:
    """Every (token, currency, side) observed so far."""
    rows = session.execute(select(RateRow.token, RateRow.currency, RateRow.side).distinct())
    return sorted((token, currency, Side(side)) for token, currency, side in rows)


def history(
    session: Session, token: str, currency: str, side: Side, *, since: datetime
) -> list[RatePoint]:
    """Observations of one market since ``since``, oldest first."""
    rows = session.scalars(
        select(RateRow)
        .where(
            RateRow.token == token,
            RateRow.currency == currency,
            RateRow.side == int(side),
            RateRow.observed_at >= since,
        )
        .order_by(RateRow.observed_at, RateRow.id)
    )
    return [RatePoint.from_row(row) for row in rows]
