"""The configured accounts, opened: one exchange client and chat channel each, checked once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from p2pilot import metrics
from p2pilot.chat.channel import ChatChannel
from p2pilot.config import AccountConfig, Config
from p2pilot.exchange.budget import HOST, HostBudget, RequestBudget
from p2pilot.exchange.client import ExchangeClient
from p2pilot.exchange.errors import AdvertiserRequired, AuthError, ExchangeError
from p2pilot.exchange.port import Exchange
from p2pilot.exchange.transport import Transport
from p2pilot.logging import get_logger
from p2pilot.rules.account import AccountBinding
from p2pilot.store import accounts as stored_accounts
from p2pilot.store.alerts import raise_alert
from p2pilot.store.engine import Store

log = get_logger(__name__)

ClientFactory = Callable[[AccountConfig], Exchange]


def make_client(
    account: AccountConfig, transport: Transport | None = None, host: HostBudget = HOST
) -> ExchangeClient:
    """Build the one exchange client for an account: one pybit session, unless a
    ``transport`` is given (the simulator's in-process one, in tests). ``host`` is
    the budget every account of the process shares (Bybit's per-IP limit)."""
    return ExchangeClient(
        account=account.name,
        api_key=account.api_key.get_secret_value(),
        api_secret=account.api_secret.get_secret_value(),
        base_url=str(account.base_url).rstrip("/") if account.base_url else None,
        testnet=account.testnet,
        timeout=account.timeout.total_seconds(),
        recv_window=account.recv_window_ms,
        budget=RequestBudget(
            reads_per_second=account.reads_per_second,
            writes_per_second=account.writes_per_second,
            host=host,
        ),
        on_call=metrics.record_call,
        transport=transport,
    )


@dataclass(frozen=True)
class Account:
    """One enabled account as the daemon runs it."""

    config: AccountConfig
    id: int
    client: Exchange
    chat: ChatChannel
    nickname: str | None = None  # None: not read at start (see disabled_reason)
    disabled_reason: str | None = None  # set when the startup check failed to authenticate

    @property
    def name(self) -> str:
        return self.config.name

    def binding(self) -> AccountBinding:
        """What the rule engine needs of this account."""
        return AccountBinding(
            id=self.id,
            name=self.name,
            client=self.client,
            chat=self.chat,
            dry_run=self.config.dry_run,
            nickname=self.nickname or "",
        )


@dataclass(frozen=True)
class AccountOpener:
    """Opens the configured accounts: store row, client, chat channel, startup check."""

    config: Config
    store: Store
    clock: Callable[[], datetime]
    client_factory: ClientFactory = make_client

    def open_all(self) -> list[Account]:
        """Every enabled account, in config order; a disabled one is logged and left out."""
        opened = []
        for account in self.config.accounts:
            if not account.enabled:
                log.info("account.skipped", account=account.name, reason="enabled = false")
                continue
            opened.append(self.open(account))
        return opened

    def open(self, account: AccountConfig) -> Account:
        """Register the account, build its client and chat channel, read it once."""
        with self.store.transaction() as session:
            account_id = stored_accounts.ensure_account(session, account.name)
        client = self.client_factory(account)
        chat = self._chat_channel(account_id, account, client)
        nickname, disabled_reason = self._check(account_id, account.name, client)
        return Account(account, account_id, client, chat, nickname, disabled_reason)

    def _chat_channel(
        self, account_id: int, account: AccountConfig, client: Exchange
    ) -> ChatChannel:
        with self.store.transaction(read_only=True) as session:
            switched = stored_accounts.chat_api(session, account_id) == "session"

        def remember_switch() -> None:
            with self.store.transaction() as session:
                stored_accounts.set_chat_api(session, account_id, "session")

        return ChatChannel(
            client,
            account=account.name,
            mode=self.config.chat.api,
            switched=switched,
            on_switch=remember_switch,
        )

    def _check(self, account_id: int, name: str, client: Exchange) -> tuple[str | None, str | None]:
        """Read the account once: (nickname, None), or (None, why it is disabled).

        An exchange that cannot be reached gives (None, None): the jobs retry it.
        """
        bound = log.bind(account=name)
        try:
            info = client.account_info()
        except AuthError as exc:
            hint = (
                "this Bybit account needs P2P advertiser status "
                "(General Advertiser or above) to use the P2P API"
                if isinstance(exc, AdvertiserRequired)
                else "check the API key and secret"
            )
            bound.error("account.disabled", error=str(exc), hint=hint)
            raise_alert(
                self.store,
                account_id=account_id,
                account=name,
                reason="account_disabled",
                message=f"{exc} - {hint}",
                at=self.clock(),
            )
            return None, str(exc)
        except ExchangeError as exc:
            # The exchange is unreachable right now; the jobs retry with backoff.
            bound.warning("account.check_failed", error=str(exc))
            return None, None
        with self.store.transaction() as session:
            stored_accounts.set_identity(
                session, account_id, user_id=info.user_id, nickname=info.nickname
            )
        bound.info("account.ready", user_id=info.user_id, nickname=info.nickname)
        return info.nickname, None
