"""Our own ads as last seen on the exchange, and the edits p2pilot made to them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from p2pilot.records import Ad
from p2pilot.store.models import AdEditRow, AdRow
from p2pilot.store.types import decimal_text

# A change in any of these is an ``ad.changed``; the rest is noise.
WATCHED = ("price", "status", "last_quantity", "min_amount", "max_amount")


def upsert_ad(session: Session, account_id: int, ad: Ad, *, at: datetime) -> list[str]:
    """Store the ad's snapshot; returns the watched fields that changed (all, when new)."""
    row = session.scalars(
        select(AdRow).where(AdRow.account_id == account_id, AdRow.ad_id == ad.id)
    ).one_or_none()
    values: dict[str, Any] = {
        "side": int(ad.side),
        "token": ad.token,
        "currency": ad.currency,
        "price": ad.price,
        "status": int(ad.status),
        "quantity": ad.quantity,
        "last_quantity": ad.last_quantity,
        "min_amount": ad.min_amount,
        "max_amount": ad.max_amount,
        "raw": ad.raw,
        "updated_at": at,
    }
    if row is None:
        session.add(AdRow(account_id=account_id, ad_id=ad.id, **values))
        return list(WATCHED)
    changed = [name for name in WATCHED if getattr(row, name) != values[name]]
    if changed:
        for name, value in values.items():
            setattr(row, name, value)
    return changed


def ad_payload(account: str, row: AdRow) -> dict[str, Any]:
    """What an ``ad.changed`` event carries (decimals as exact text)."""
    return {
        "account": account,
        "order_id": None,
        "ad_id": row.ad_id,
        "side": "sell" if row.side == 1 else "buy",
        "token": row.token,
        "currency": row.currency,
        "price": decimal_text(row.price),
        "status": row.status,
        "quantity_left": decimal_text(row.last_quantity),
        "min_amount": decimal_text(row.min_amount),
        "max_amount": decimal_text(row.max_amount),
    }


def get_ad(session: Session, account_id: int, ad_id: str) -> AdRow | None:
    return session.scalars(
        select(AdRow).where(AdRow.account_id == account_id, AdRow.ad_id == ad_id)
    ).one_or_none()


def edits_since(session: Session, account_id: int, ad_id: str, since: datetime) -> int:
    """How many price edits p2pilot made to this ad since ``since``."""
    count = session.scalar(
        select(func.count())
        .select_from(AdEditRow)
        .where(AdEditRow.account_id == account_id, AdEditRow.ad_id == ad_id, AdEditRow.at >= since)
    )
    return int(count or 0)


def record_edit(
    session: Session, account_id: int, ad_id: str, price: Decimal, *, at: datetime
) -> None:
    """Count one edit against the ad's budget (written before the call is made)."""
    session.add(AdEditRow(account_id=account_id, ad_id=ad_id, price=price, at=at))
