"""Defensive readers for the exchange's JSON: fields, numbers, times and envelopes.

The exchange's documented types are often wrong (reference §6 Q2–Q4): numbers come
as ints or numeric strings, money as strings to be read as ``Decimal`` (never
through a float's binary value), dates as ms strings except two seconds fields,
``"0"``/``""`` for "unset". A ``Reader`` wraps one JSON object and turns any bad
field into ``MalformedResponse`` naming the endpoint and the field path, so no
``KeyError``/``TypeError``/``ValueError`` escapes the exchange layer.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from p2pilot.exchange.errors import MalformedResponse

E = TypeVar("E", bound=enum.IntEnum)
T = TypeVar("T")

_INT = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def malformed(endpoint: str, field: str, problem: str) -> MalformedResponse:
    """The error for one bad field."""
    return MalformedResponse(f"malformed response: {field} {problem}", endpoint=endpoint)


def to_int(value: object) -> int:
    """An int from an int, an integral float or a numeric string; never from a bool."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value.strip())
    raise ValueError(f"not an integer: {value!r}")


def to_decimal(value: object) -> Decimal:
    """A Decimal from a numeric string, an int or (via ``repr``) a finite float."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not an amount")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite amount: {value!r}")
        return Decimal(repr(value))
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        return Decimal(value.strip())
    raise ValueError(f"not a decimal amount: {value!r}")


def _from_ms(value: object) -> datetime:
    return _EPOCH + timedelta(milliseconds=to_int(value))


def is_unset(value: object) -> bool:
    """Null, ``""`` or ``"0"``: the exchange's ways of saying "not set"."""
    return value is None or (isinstance(value, str) and value.strip() in ("", "0"))


class Reader:
    """Typed, defensive access to one JSON object; errors name endpoint and field path."""

    __slots__ = ("data", "endpoint", "where")

    def __init__(self, data: object, endpoint: str, where: str) -> None:
        if not isinstance(data, dict):
            raise malformed(endpoint, where, f"is {type(data).__name__}, expected an object")
        self.data: dict[str, Any] = data
        self.endpoint = endpoint
        self.where = where

    def fail(self, key: str, problem: str) -> MalformedResponse:
        return malformed(self.endpoint, f"{self.where}.{key}", problem)

    def _convert(self, key: str, value: object, convert: Callable[[object], T]) -> T:
        try:
            return convert(value)
        except (ValueError, TypeError, InvalidOperation, OverflowError) as exc:
            raise self.fail(key, f"is invalid ({exc})") from None

    def _present(self, key: str) -> Any:
        value = self.data.get(key)
        if value is None or value == "":
            raise self.fail(key, "is missing")
        return value

    def ident(self, key: str) -> str:
        """A required, non-empty id (string or int on the wire)."""
        value = self._present(key)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(key, f"is {type(value).__name__}, expected a string")
        return str(value)

    def text(self, key: str, default: str = "") -> str:
        """An optional string; numbers are accepted and turned into their text."""
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(key, f"is {type(value).__name__}, expected a string")
        return str(value)

    def integer(self, key: str) -> int:
        return self._convert(key, self._present(key), to_int)

    def opt_int(self, key: str, default: int | None = 0) -> int | None:
        value = self.data.get(key)
        if value is None or value == "":
            return default
        return self._convert(key, value, to_int)

    def count(self, key: str) -> int:
        """An optional counter; missing or empty means 0."""
        return self.opt_int(key, 0) or 0

    def decimal(self, key: str) -> Decimal:
        return self._convert(key, self._present(key), to_decimal)

    def opt_decimal(self, key: str) -> Decimal | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        return self._convert(key, value, to_decimal)

    def flag(self, key: str) -> bool:
        """A yes/no in any of the exchange's spellings; missing means no."""
        value = self.data.get(key)
        if value is None or value == "":
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().upper() in ("Y", "N", "TRUE", "FALSE"):
            return value.strip().upper() in ("Y", "TRUE")
        number = self._convert(key, value, to_int)
        if number not in (0, 1):
            raise self.fail(key, f"is {value!r}, expected 0 or 1")
        return number == 1

    def enum(self, key: str, kind: type[E]) -> E:
        code = self.integer(key)
        try:
            return kind(code)
        except ValueError:
            raise self.fail(key, f"has unknown {kind.__name__} code {code}") from None

    def _time(self, key: str, unit_ms: int, required: bool) -> datetime | None:
        value = self.data.get(key)
        if is_unset(value) or value == 0:
            if required:
                raise self.fail(key, "is missing")
            return None
        number = self._convert(key, value, to_int)
        if number < 0:
            raise self.fail(key, f"is a negative timestamp ({number})")
        return self._convert(key, number * unit_ms, _from_ms)

    def time_ms(self, key: str) -> datetime:
        result = self._time(key, 1, required=True)
        if result is None:  # unreachable: required times raise instead
            raise self.fail(key, "is missing")
        return result

    def opt_time_ms(self, key: str) -> datetime | None:
        return self._time(key, 1, required=False)

    def opt_time_s(self, key: str) -> datetime | None:
        return self._time(key, 1000, required=False)

    def obj(self, key: str) -> Reader | None:
        """A nested object, or None when absent, null or empty."""
        value = self.data.get(key)
        if value is None or value == {} or value == "":
            return None
        return Reader(value, self.endpoint, f"{self.where}.{key}")

    def items(self, key: str) -> list[Reader]:
        """A list of objects; absent or null means empty."""
        return [
            Reader(item, self.endpoint, f"{self.where}.{key}[{index}]")
            for index, item in enumerate(self.list_of(key))
        ]

    def list_of(self, key: str) -> list[Any]:
        """A list of anything; absent or null means empty."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, f"is {type(value).__name__}, expected a list")
        return value


def unwrap(payload: object, endpoint: str, *, result_required: bool = True) -> Any:
    """The ``result`` of a success envelope (P2P ``ret_code`` or v5 ``retCode`` style)."""
    if not isinstance(payload, dict):
        raise malformed(endpoint, "response", f"is {type(payload).__name__}, expected an object")
    key = "retCode" if "retCode" in payload else "ret_code"
    if key not in payload:
        raise malformed(endpoint, "response", "has neither ret_code nor retCode")
    try:
        code = to_int(payload[key]) if payload[key] not in (None, "") else 0
    except ValueError:
        raise malformed(endpoint, key, f"is not a code: {payload[key]!r}") from None
    if code != 0:
        # pybit raises for every truthy code; one reaching here is a shape problem.
        raise malformed(endpoint, key, f"is {code} on a response treated as success")
    result = payload.get("result")
    if result is None and result_required:
        raise malformed(endpoint, "result", "is missing")
    return result
