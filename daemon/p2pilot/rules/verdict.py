"""One guard's verdict, as stored in a release decision's guard table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class GuardResult:
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"guard": self.name, "ok": self.ok, "detail": self.detail}
