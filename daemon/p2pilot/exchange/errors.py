"""The exchange client's error family, named for what the caller must do.

- ``AuthError``: stop using this account until a human fixes keys or permissions.
- ``RateLimited``: wait until ``reset_at`` before the next call.
- ``TransientError``: try again later; for writes ``outcome_unknown`` says the
  request may have taken effect and must be reconciled, never blindly retried.
- ``Rejected``: the exchange understood and refused; do not retry as is.
- ``MalformedResponse``: the exchange answered something we cannot parse; log
  with context and skip.

No message here ever contains a key, a secret or a signature.
"""

from __future__ import annotations

from datetime import datetime


class ExchangeError(Exception):
    """Base of every error the exchange client raises."""

    def __init__(self, message: str, *, endpoint: str = "", code: int | None = None) -> None:
        self.message = message
        self.endpoint = endpoint
        self.code = code
        where = f" [{endpoint}]" if endpoint else ""
        what = f" (code {code})" if code is not None else ""
        super().__init__(f"{message}{what}{where}")


class AuthError(ExchangeError):
    """Keys invalid, signature refused or permission missing."""


class AdvertiserRequired(AuthError):
    """912000014: the account lacks P2P advertiser status (General Advertiser or above)."""


class RateLimited(ExchangeError):
    """Bybit's per-UID (10006) or per-IP (HTTP 403) limit was hit."""

    def __init__(
        self,
        message: str,
        *,
        reset_at: datetime,
        endpoint: str = "",
        code: int | None = None,
        ip_ban: bool = False,
    ) -> None:
        self.reset_at = reset_at
        self.ip_ban = ip_ban
        self.first_hit = False  # set by the request budget: the hit that started a pause
        super().__init__(message, endpoint=endpoint, code=code)


class TransientError(ExchangeError):
    """Network trouble, timeouts, overload or server errors: try again later."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        code: int | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        self.outcome_unknown = outcome_unknown
        super().__init__(message, endpoint=endpoint, code=code)


class Rejected(ExchangeError):
    """The exchange refused the request (business or parameter error)."""


class ChatApiClosed(Rejected):
    """912200387: per-order chat is shut; use the session chat API."""


class RouteNotFound(Rejected):
    """HTTP 404 (or ``10017``): the exchange has no such route, e.g. one it removed."""


class MalformedResponse(ExchangeError):
    """A response that is not what the reference says (missing fields, bad types)."""
