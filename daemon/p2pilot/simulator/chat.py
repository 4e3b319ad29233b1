"""Which shape of Bybit's chat move the simulated exchange shows (set through /_sim/chat)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# How the per-order chat routes answer. Bybit is removing them and nobody knows yet
# what a removed route will say (reference, 2026-11 update): 912200387 (seen live),
# an HTTP 404, or a code nobody has documented.
ORDER_CHAT_ANSWERS = ("open", "912200387", "http_404", "unknown_code")


@dataclass
class ChatVariants:
    """Which of the reported (or feared) shapes of Bybit's chat move this exchange shows."""

    order_api: str = "open"  # one of ORDER_CHAT_ANSWERS
    # Whether a message the buyer writes in session chat raises the order list's
    # unreadMsgCount: only a response example shows that field; nothing says.
    session_messages_on_order_list: bool = True
    # One live report: listpage_v1 answers nothing when lastId (or size) is sent.
    listpage_v1_empty_with_last_id: bool = False
    # order/info's targetUserMaskId: only the newer Get-Session-ID page names it.
    detail_mask_id: bool = True

    def update(self, settings: dict[str, Any]) -> None:
        """Apply the control API's settings; unknown keys and values are refused."""
        for key, value in settings.items():
            if key == "order_api":
                if value not in ORDER_CHAT_ANSWERS:
                    raise ValueError(f"order_api must be one of {', '.join(ORDER_CHAT_ANSWERS)}")
                self.order_api = value
            elif key in (
                "session_messages_on_order_list",
                "listpage_v1_empty_with_last_id",
                "detail_mask_id",
            ):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
                setattr(self, key, value)
            else:
                raise ValueError(f"unknown chat setting {key!r}")

    def describe(self) -> dict[str, Any]:
        return {
            "order_api": self.order_api,
            "session_messages_on_order_list": self.session_messages_on_order_list,
            "listpage_v1_empty_with_last_id": self.listpage_v1_empty_with_last_id,
            "detail_mask_id": self.detail_mask_id,
        }
