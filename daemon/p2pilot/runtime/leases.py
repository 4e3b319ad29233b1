"""Which accounts this daemon holds: it polls and acts only for those.

One word for one idea: a daemon *holds* an account. On SQLite one daemon holds
every account (the file lock keeps a second one out). On PostgreSQL daemons
share the accounts through leases in the database: :class:`LeaseKeeper` takes
and renews them, and :class:`Holdings` answers "do we hold it now?" for the
jobs, the event dispatcher and the rule engine.

Daemons sharing one database are a fleet, and spread the accounts evenly: each
announces itself at every renewal, and holds at most its share (the accounts
divided by the running daemons, rounded up). One holding more hands the excess
back, one at a time between two events; one holding less takes free accounts
until it has its share. A daemon that dies stops announcing, and the others'
shares grow to take its accounts once its leases run out: within two lease
periods. The release claim checks the lease under the account's lock, and the
ledger's unique keys stay the last line of defence.
"""

from __future__ import annotations

import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

from p2pilot.logging import get_logger
from p2pilot.runtime.accounts import Account
from p2pilot.store import leases as stored_leases
from p2pilot.store.engine import Store

log = get_logger(__name__)

# A renewed lease is trusted for this share of its length (clock rates and the
# renewal's own duration differ between machines).
LEASE_TRUST = 0.8


class Holdings:
    """The accounts this daemon holds now, each until a monotonic deadline.

    ``leased`` False (SQLite): every account, always. Otherwise only the accounts
    whose lease :class:`LeaseKeeper` took and renewed recently enough.
    """

    def __init__(self, *, leased: bool) -> None:
        self.leased = leased
        # PostgreSQL: this daemon's id in the lease table (and the release claim).
        self.holder = new_holder() if leased else None
        # Account id -> monotonic time the lease surely lasts until (renewed minus a margin).
        self._until: dict[int, float] = {}

    def holds(self, account_id: int) -> bool:
        """Whether this daemon polls and acts for the account now.

        Asked before every event: a lease renewed too long ago (a stalled renewal, a
        long batch) counts as lost before the database would let another daemon in.
        """
        if not self.leased:
            return True
        until = self._until.get(account_id)
        return until is not None and time.monotonic() < until

    def held(self) -> set[int] | None:
        """The accounts held now; None for every account (no leases)."""
        if not self.leased:
            return None
        now = time.monotonic()
        # A copy first: the lease job may add an account while this iterates.
        return {account_id for account_id, until in list(self._until.items()) if now < until}

    def known(self, account_id: int) -> bool:
        """Whether the account was held at the last renewal (its deadline may have passed)."""
        return account_id in self._until

    def hold(self, account_id: int, until: float) -> None:
        """Hold the account until the monotonic time ``until`` (a renewal)."""
        self._until[account_id] = until

    def drop(self, account_id: int) -> None:
        """Stop holding the account (its lease was lost or given up)."""
        self._until.pop(account_id, None)

    def accounts(self) -> list[int]:
        """Every account held at the last renewal."""
        return list(self._until)


class LeaseKeeper:
    """Takes and renews the leases of the accounts this daemon may hold (PostgreSQL).

    An account just taken is settled before it is worked on: ``settle`` runs
    inside ``exclusive`` (no event is handled meanwhile), right after the hold
    starts, so the ledger's open rows are reconciled before any new event.
    """

    def __init__(
        self,
        store: Store,
        holdings: Holdings,
        ttl: timedelta,
        *,
        exclusive: Callable[[], AbstractContextManager[None]],
        settle: Callable[[Account], None],
    ) -> None:
        if holdings.holder is None:
            raise ValueError("leases need a holder id: Holdings(leased=True)")
        self.store = store
        self.holdings = holdings
        self.holder: str = holdings.holder
        self.ttl = ttl
        self.exclusive = exclusive
        self.settle = settle

    @property
    def renew_every(self) -> timedelta:
        """How often the leases are renewed: three times per lease."""
        return self.ttl / 3

    def refresh(self, accounts: Sequence[Account]) -> None:
        """Announce this daemon, keep its share of the accounts, hand back the excess.

        A few statements whatever the number of accounts: the held leases are
        renewed at once, every lease of the configured accounts is read at once,
        and only the free accounts taken (up to the share) cost one each. An
        account just taken has its ledger settled before it is worked on.
        """
        share = self._share(len(accounts))
        # Counted from before the renewal, with a margin: never believed past expiry.
        until = time.monotonic() + self.ttl.total_seconds() * LEASE_TRUST
        try:
            with self.store.transaction() as session:
                renewed = stored_leases.renew_mine(session, self.holder, self.ttl)
                leases = stored_leases.leases_of(session, [a.id for a in accounts])
        except Exception:
            # The database is unreachable: keep nothing we cannot prove we hold
            # (the deadlines of the last renewal run out on their own).
            log.exception("lease.refresh_failed", holder=self.holder)
            return
        held = 0
        for account in accounts:
            if account.id in renewed:
                self.holdings.hold(account.id, until)
                held += 1
            elif self.holdings.known(account.id):
                log.warning("lease.lost", account=account.name, holder=self.holder)
                self.holdings.drop(account.id)
        for account in accounts:
            if held >= share:
                break  # the rest is someone else's share: taken only if they leave
            lease = leases.get(account.id)
            if account.id not in renewed and self._take(account, lease):
                log.info("lease.acquired", account=account.name, holder=self.holder)
                with self.exclusive():
                    self.holdings.hold(account.id, until)
                    self.settle(account)
                held += 1
        self._hand_over(accounts, share)

    def _share(self, accounts: int) -> int:
        """This daemon's share of the accounts: all of them when it cannot count the fleet."""
        try:
            with self.store.transaction() as session:
                stored_leases.announce(session, self.holder, self.ttl)
                running = stored_leases.members(session)
        except Exception:
            log.exception("fleet.announce_failed", holder=self.holder)
            return accounts
        # A member that ran here and whose process is gone is not counted: its
        # accounts are taken at once, as its leases are (see _take).
        alive = [h for h in running if h == self.holder or not exited_here(h)]
        return math.ceil(accounts / max(1, len(alive)))

    def _take(self, account: Account, lease: stored_leases.Lease | None) -> bool:
        """Take a free account's lease; False when another daemon holds it (or won a race)."""
        if lease is not None and not lease.expired and not exited_here(lease.holder):
            return False  # held by a live daemon
        try:
            with self.store.transaction() as session:
                if lease is not None and not lease.expired:
                    # A crashed predecessor on this machine (systemd restarting us)
                    # need not be waited out: its process is gone.
                    return stored_leases.take_from(
                        session, account.id, lease.holder, self.holder, self.ttl
                    )
                return stored_leases.take_or_renew(session, account.id, self.holder, self.ttl)
        except Exception:
            log.exception("lease.take_failed", account=account.name)
            return False

    def _hand_over(self, accounts: Sequence[Account], share: int) -> None:
        """Give back the accounts beyond this daemon's share, last configured first."""
        held = [account for account in accounts if self.holdings.known(account.id)]
        for account in reversed(held[share:]):
            self.hand_back(account)
            log.info("lease.handed_over", account=account.name, holder=self.holder, share=share)

    def hand_back(self, account: Account) -> None:
        """Stop holding one account and free its lease for another daemon."""
        # Between two events: the one being handled finishes first (its actions
        # recorded), and none starts for this account once the hold is dropped.
        with self.exclusive():
            self.holdings.drop(account.id)
            try:
                with self.store.transaction() as session:
                    stored_leases.give_up(session, account.id, self.holder)
            except Exception:
                # It runs out on its own; meanwhile nobody acts for the account.
                log.warning("lease.release_failed", account=account.name, exc_info=True)

    def give_up(self) -> None:
        """Hand every lease back (a clean stop): another daemon need not wait them out."""
        try:
            with self.store.transaction() as session:
                stored_leases.leave(session, self.holder)
        except Exception:
            log.warning("fleet.leave_failed", holder=self.holder, exc_info=True)
        for account_id in self.holdings.accounts():
            try:
                with self.store.transaction() as session:
                    stored_leases.give_up(session, account_id, self.holder)
            except Exception:
                log.warning("lease.release_failed", account_id=account_id, exc_info=True)
            self.holdings.drop(account_id)


def new_holder() -> str:
    """This process's lease holder id: machine, pid and a nonce."""
    return f"{this_machine()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def describe_holder(holder: str) -> dict[str, Any]:
    """A holder id as an operator reads it: host, pid, and the id itself."""
    parts = holder.rsplit(":", 2)  # host/boot:pid:nonce
    if len(parts) != 3 or not parts[1].isdigit():
        return {"holder": holder, "host": None, "pid": None}
    return {"holder": holder, "host": parts[0].split("/", 1)[0], "pid": int(parts[1])}


def this_machine() -> str:
    """This host and kernel boot: a pid means the same process only within both."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        boot = "unknown-boot"
    return f"{socket.gethostname()}/{boot[:8]}"


def exited_here(holder: str) -> bool:
    """Whether a lease holder ran on this machine, in this boot, and its process is gone."""
    parts = holder.rsplit(":", 2)  # machine:pid:nonce
    if len(parts) != 3:
        return False
    machine, pid, _nonce = parts
    if machine != this_machine() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False
