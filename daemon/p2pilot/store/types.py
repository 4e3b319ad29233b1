"""Column types that behave the same on SQLite and PostgreSQL.

Money is stored as decimal text so every digit and the scale survive on both
backends ("8145.00" comes back as ``Decimal("8145.00")``); SQLite has no exact
numeric type and PostgreSQL's NUMERIC would normalise nothing but still differs
in how drivers hand values back. Datetimes always come back as aware UTC values:
SQLite has no time zone support and returns naive values, PostgreSQL returns them
in the session's time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

DECIMAL_TEXT_LENGTH = 64


def decimal_text(value: Decimal) -> str:
    """Plain decimal text (never exponent notation) that keeps the value's scale."""
    if not value.is_finite():
        raise ValueError(f"not a finite decimal: {value}")
    exponent = value.as_tuple().exponent
    # Read off the representation before formatting: "1e50000000" would format
    # as a 50-million-character string.
    if value.adjusted() >= DECIMAL_TEXT_LENGTH or int(exponent) < -DECIMAL_TEXT_LENGTH:
        raise ValueError("decimal too long to store")
    return format(value, "f")


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact ``Decimal`` stored as text; SQL ordering/arithmetic on it is textual."""

    impl = String(DECIMAL_TEXT_LENGTH)
    cache_ok = True

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, float):
            # A float already lost the exact value; refuse rather than store a guess.
            raise TypeError("money must be Decimal, not float")
        if isinstance(value, int | str):
            try:
                value = Decimal(value)
            except InvalidOperation as exc:
                raise ValueError(f"not a decimal: {value!r}") from exc
        if not isinstance(value, Decimal):
            raise TypeError(f"expected Decimal, got {type(value).__name__}")
        text = decimal_text(value)
        if len(text) > DECIMAL_TEXT_LENGTH:
            raise ValueError(f"decimal too long to store: {len(text)} characters")
        return text

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime, stored in UTC and always returned as aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        utc: datetime = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite keeps text; a fixed naive-UTC form sorts and compares correctly.
            return utc.replace(tzinfo=None)
        return utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            if value.tzinfo is None:
                return value.replace(tzinfo=UTC)
            return value.astimezone(UTC)
        raise TypeError(f"database returned {type(value).__name__} for a datetime")
