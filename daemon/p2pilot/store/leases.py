"""Account leases on PostgreSQL: each account polled and acted on by exactly one daemon.

A daemon holds an account while its lease row names it and has not expired, in
the database's clock (so daemons' clocks need not agree). It renews well before
expiry; a daemon that dies stops renewing and another takes the account over
once the lease has run out, within two lease periods. The actions ledger's
unique keys remain the last line of defence if two ever overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

_TAKE = text(
    """
    INSERT INTO account_leases (account_id, holder, acquired_at, expires_at)
    VALUES (:account_id, :holder, now(), now() + make_interval(secs => :ttl))
    ON CONFLICT (account_id) DO UPDATE
       SET holder = EXCLUDED.holder,
           expires_at = EXCLUDED.expires_at,
           acquired_at = CASE WHEN account_leases.holder = EXCLUDED.holder
                              THEN account_leases.acquired_at ELSE now() END
     WHERE account_leases.holder = EXCLUDED.holder OR account_leases.expires_at < now()
    RETURNING holder
    """
)


def take_or_renew(session: Session, account_id: int, holder: str, ttl: timedelta) -> bool:
    """Hold (or keep holding) the account's lease; False while another daemon holds it."""
    row = session.execute(
        _TAKE, {"account_id": account_id, "holder": holder, "ttl": ttl.total_seconds()}
    ).first()
    return row is not None


@dataclass(frozen=True, slots=True)
class Lease:
    """An account's lease row: who holds it, and whether it has run out."""

    holder: str
    expired: bool


def renew_mine(session: Session, holder: str, ttl: timedelta) -> set[int]:
    """Renew every lease ``holder`` has, in one statement; the accounts it holds.

    A lease of ours that ran out but that nobody took is still ours: renewed too.
    """
    rows = session.execute(
        text(
            """
            UPDATE account_leases SET expires_at = now() + make_interval(secs => :ttl)
             WHERE holder = :holder
            RETURNING account_id
            """
        ),
        {"holder": holder, "ttl": ttl.total_seconds()},
    )
    return {int(account_id) for (account_id,) in rows}


def leases_of(session: Session, account_ids: list[int]) -> dict[int, Lease]:
    """The lease rows of these accounts (none: never leased), in one query."""
    if not account_ids:
        return {}
    rows = session.execute(
        text(
            "SELECT account_id, holder, expires_at < now() FROM account_leases"
            " WHERE account_id = ANY(:ids)"
        ),
        {"ids": account_ids},
    )
    return {int(a): Lease(str(h), bool(expired)) for a, h, expired in rows}


def give_up(session: Session, account_id: int, holder: str) -> None:
    """Release our lease so another daemon can take the account at once."""
    session.execute(
        text("DELETE FROM account_leases WHERE account_id = :account_id AND holder = :holder"),
        {"account_id": account_id, "holder": holder},
    )


def holders(session: Session) -> dict[int, str]:
    """Every account's current (unexpired) holder."""
    rows = session.execute(
        text("SELECT account_id, holder FROM account_leases WHERE expires_at >= now()")
    )
    return {account_id: holder for account_id, holder in rows}


def take_from(session: Session, account_id: int, dead: str, holder: str, ttl: timedelta) -> bool:
    """Take the lease from ``dead`` (known to have exited), if it still holds it."""
    row = session.execute(
        text(
            """
            UPDATE account_leases
               SET holder = :holder, acquired_at = now(),
                   expires_at = now() + make_interval(secs => :ttl)
             WHERE account_id = :account_id AND holder = :dead
            RETURNING holder
            """
        ),
        {"account_id": account_id, "holder": holder, "dead": dead, "ttl": ttl.total_seconds()},
    ).first()
    return row is not None


def holder_of(session: Session, account_id: int) -> str | None:
    """Who holds the account's lease row (expired or not)."""
    holder = session.scalar(
        text("SELECT holder FROM account_leases WHERE account_id = :account_id"),
        {"account_id": account_id},
    )
    return str(holder) if holder is not None else None


# -- the fleet: which daemons share this database now --------------------------------

_ANNOUNCE = text(
    """
    INSERT INTO fleet_members (holder, joined_at, expires_at)
    VALUES (:holder, now(), now() + make_interval(secs => :ttl))
    ON CONFLICT (holder) DO UPDATE SET expires_at = EXCLUDED.expires_at
    """
)


def announce(session: Session, holder: str, ttl: timedelta) -> None:
    """Say this daemon is running, for one more lease period; forget long-gone members."""
    session.execute(_ANNOUNCE, {"holder": holder, "ttl": ttl.total_seconds()})
    session.execute(text("DELETE FROM fleet_members WHERE expires_at < now() - interval '1 hour'"))


def members(session: Session) -> list[str]:
    """The daemons whose announcement has not run out, oldest first."""
    rows = session.execute(
        text(
            "SELECT holder FROM fleet_members WHERE expires_at >= now() ORDER BY joined_at, holder"
        )
    )
    return [str(holder) for (holder,) in rows]


def leave(session: Session, holder: str) -> None:
    """This daemon stops (cleanly): the others need not wait for its row to run out."""
    session.execute(text("DELETE FROM fleet_members WHERE holder = :holder"), {"holder": holder})


def held_accounts(session: Session) -> list[tuple[str, str]]:
    """(account name, holder) of every unexpired lease, by account name."""
    rows = session.execute(
        text(
            """
            SELECT a.name, l.holder FROM account_leases l JOIN accounts a ON a.id = l.account_id
             WHERE l.expires_at >= now() ORDER BY a.name
            """
        )
    )
    return [(str(name), str(holder)) for name, holder in rows]
