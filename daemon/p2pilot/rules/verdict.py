"""One guard's verdict, as stored in a release decision's guard table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class GuardResult:
    """A guard's name, whether it held, and a sentence saying what it compared.

    A guard that compares a figure with a bound also stores both (``value``,
    ``limit``), so the operator's guard table can show them in columns.
    """

    name: str
    ok: bool
    detail: str
    value: str | None = None
    limit: str | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"guard": self.name, "ok": self.ok, "detail": self.detail}
        if self.value is not None and self.limit is not None:
            document |= {"value": self.value, "limit": self.limit}
        return document
