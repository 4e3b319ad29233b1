"""The exchange as the jobs, the rules and the CLI see it: the ``Exchange`` port.

``ExchangeClient`` is its implementation, over either transport (pybit and HTTP in
production, the simulator in-process in tests); ``tests/contract`` holds both to
this contract. Code outside ``exchange/`` is typed against the port, so what it
may ask of the exchange is written down once, here.

The contract every method keeps:

* It returns records from ``p2pilot.records``: amounts are ``Decimal``, times are aware
  UTC ``datetime``, enums are the reference's codes. Nothing is a raw payload.
* It raises only from ``errors.py``, named for what the caller must do:
  ``AuthError`` (stop using the account), ``RateLimited`` (wait until
  ``reset_at``), ``TransientError`` (try later; on a write, ``outcome_unknown``
  means it may have taken effect: read back, never resend blindly), ``Rejected``
  (the exchange refused: not as is), ``MalformedResponse`` (log and skip).
* It waits for the account's request budget before each call, and never retries
  or sleeps for any other reason. Messages never hold a key, secret or signature.
* A list page with rows it cannot read returns the readable rows and names the
  others in ``Page.unreadable`` (and logs them), rather than failing the page.
* Methods may be called from several threads at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from p2pilot import records as r
from p2pilot.exchange.recent import RecentDetails
from p2pilot.exchange.requests import AdParams


class Exchange(Protocol):
    """One account's Bybit P2P API (reference §2 lists every path)."""

    account: str
    """The account's name in the config: the label of its log lines and metrics."""

    recent_details: RecentDetails
    """Order details read in the last moments, by order id, with their age: what a
    release decision may use instead of a new read (see ``recent.py``)."""

    # -- account -------------------------------------------------------------------

    def account_info(self) -> r.UserProfile:
        """Our own P2P profile; an ``AuthError`` here means the keys do not work."""
        ...

    def payment_methods(self) -> list[r.PaymentTerm]:
        """Our saved payment methods, the ids ads and ``mark_paid`` name."""
        ...

    def counterparty_info(self, *, user_id: str, order_id: str) -> r.UserProfile:
        """The counterparty's profile (ban flag, completed orders) through one of our orders."""
        ...

    # -- orders --------------------------------------------------------------------

    def pending_orders(self, *, page: int = 1, size: int = 30) -> r.Page[r.OrderSummary]:
        """One page (newest first, at most 30) of the orders not yet final."""
        ...

    def orders(
        self,
        *,
        page: int = 1,
        size: int = 30,
        status: r.OrderStatus | None = None,
        begin: datetime | None = None,
        end: datetime | None = None,
    ) -> r.Page[r.OrderSummary]:
        """One page (newest first) of every order, optionally by status and time range."""
        ...

    def order_detail(self, order_id: str) -> r.OrderDetail:
        """One order in full (KYC name, payment terms); remembered in ``recent_details``."""
        ...

    def release(self, order_id: str) -> None:
        """Release the crypto of a paid sell order. Irreversible: the caller records
        the decision before calling, and after a ``TransientError`` with
        ``outcome_unknown`` reads the order back instead of calling again."""
        ...

    def mark_paid(self, *, order_id: str, payment_type: int, payment_id: str) -> None:
        """Declare one of our buy orders paid with one of the seller's payment terms."""
        ...

    # -- chat ----------------------------------------------------------------------

    def chat_messages(self, order_id: str, *, page: int = 1, size: int = 30) -> list[r.ChatMessage]:
        """One page of an order's chat, newest first (per-order chat API)."""
        ...

    def send_chat_message(
        self,
        *,
        order_id: str,
        text: str,
        msg_uuid: str,
        content_type: str = "str",
        file_name: str | None = None,
    ) -> None:
        """Send to an order's chat; ``msg_uuid`` finds the message again after a crash."""
        ...

    def upload_chat_file(self, *, data: bytes, filename: str) -> r.UploadedFile:
        """Upload a file; its URL is then sent as a picture, PDF or video message."""
        ...

    def chat_session_id(self, user_mask_id: str) -> str:
        """The session chat with one counterparty (session chat API)."""
        ...

    def chat_sessions(
        self, *, size: int = 30, last_id: str | None = None, read_status: int | None = None
    ) -> list[r.ChatSession]:
        """A page of our chat sessions with their unread counts."""
        ...

    def session_messages(
        self, session_id: str, *, limit: int = 30, last_id: str | None = None
    ) -> list[r.ChatMessage]:
        """A page of one session's messages, newest first; rows may name no order."""
        ...

    def send_session_message(
        self, *, order_id: str, session_id: str, text: str, content_type: str = "str"
    ) -> None:
        """Send through the session chat, on behalf of one order."""
        ...

    # -- ads -----------------------------------------------------------------------

    def my_ads(
        self,
        *,
        page: int = 1,
        size: int = 30,
        token: str | None = None,
        currency: str | None = None,
    ) -> r.Page[r.Ad]:
        """One page of our own ads."""
        ...

    def ad_detail(self, ad_id: str) -> r.Ad:
        """One of our ads in full."""
        ...

    def create_ad(self, params: AdParams) -> str:
        """Post a new ad; its id."""
        ...

    def update_ad(
        self, ad_id: str, params: AdParams, *, action: Literal["MODIFY", "ACTIVE"] = "MODIFY"
    ) -> None:
        """Modify an ad, or relist (``ACTIVE``) one the exchange took offline."""
        ...

    def remove_ad(self, ad_id: str) -> None:
        """Delete an ad (Bybit has no pause)."""
        ...

    def online_ads(
        self, *, token: str, currency: str, side: r.Side, page: int = 1, size: int = 100
    ) -> r.Page[r.OnlineAd]:
        """One page of the public order book for a pair, by advertiser side."""
        ...
