"""Is this API key pair good for p2pilot? Asked of the exchange itself, before any config exists.

Three reads, each answering one question a new operator otherwise learns only
when the daemon starts: the profile (is the signature accepted; whose account
is it), the payment methods (which ones an ad or a rule can name), and the
pending orders (does the account have P2P advertiser status: without it Bybit
answers every order call with 912000014).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from p2pilot.exchange.client import ExchangeClient
from p2pilot.exchange.errors import AdvertiserRequired, AuthError, ExchangeError
from p2pilot.records import PaymentTerm, UserProfile


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """What the exchange said about one key pair; ``problem`` is None when it is usable."""

    profile: UserProfile | None = None
    payment_methods: tuple[PaymentTerm, ...] = field(default=())
    advertiser: bool = False
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_keys(
    *,
    api_key: str,
    api_secret: str,
    base_url: str | None,
    testnet: bool,
    account: str = "init",
    timeout: float = 10.0,
) -> KeyCheck:
    """Ask the exchange about the key pair; never raises for what the exchange answers."""
    client = ExchangeClient(
        account=account,
        api_key=api_key,
        api_secret=api_secret,
        base_url=base_url,
        testnet=testnet,
        timeout=timeout,
    )
    try:
        profile = client.account_info()
    except AdvertiserRequired as exc:
        return KeyCheck(problem=_advertiser_problem(exc))
    except AuthError as exc:
        return KeyCheck(problem=str(exc))
    except ExchangeError as exc:
        return KeyCheck(problem=f"could not ask the exchange: {exc}")
    try:
        methods = tuple(client.payment_methods())
        client.pending_orders(page=1, size=1)
    except AdvertiserRequired as exc:
        return KeyCheck(profile=profile, problem=_advertiser_problem(exc))
    except ExchangeError as exc:
        return KeyCheck(profile=profile, problem=f"could not ask the exchange: {exc}")
    return KeyCheck(profile=profile, payment_methods=methods, advertiser=True)


def _advertiser_problem(exc: ExchangeError) -> str:
    return (
        "the key works, but the account has no P2P advertiser permission "
        f"({exc.code or 912000014} permission denied): Bybit's P2P API needs General "
        "Advertiser status or above; apply on Bybit's P2P page, then run init again"
    )
