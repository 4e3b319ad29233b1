"""What every operator command shares: who acts, what came of it, and the audit row.

A command is a function of the store (and, for ``say``, the exchange) that checks
its preconditions the same way whoever calls it (the CLI, the console,
Telegram), does its effect, and writes one ``audit`` row in the same
transaction. A refusal rolls the transaction back and writes its audit row
alone: every use is recorded, allowed or refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2pilot.store import audit
from p2pilot.store.columns import same_named
from p2pilot.store.engine import Store
from p2pilot.store.models import AccountRow, OrderRow

SOURCES = ("cli", "console", "telegram")
MAX_OPERATOR_CHARS = 100

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Operator:
    """Who gives a command (a login or console user name) and through what.

    :param name: the operator's name as the audit shows it (1-100 characters)
    :param source: ``"cli"``, ``"console"`` or ``"telegram"``
    :raises ValueError: an empty or too long name, or another source
    """

    name: str
    source: str

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > MAX_OPERATOR_CHARS:
            raise ValueError(f"an operator name is 1 to {MAX_OPERATOR_CHARS} characters")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What came of one command.

    ``ok`` False is a refusal, and nothing was changed. ``message`` is one line for
    a human ("released", "approved, waiting for the daemon", "already paused",
    "refused: order cancelled"); ``details`` carries what a program needs.
    """

    ok: bool
    command: str
    message: str
    account: str | None = None
    order_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    audit_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return same_named(self, Outcome, details=dict(self.details))


class Refused(Exception):
    """A precondition failed: the command changes nothing; ``reason`` says why."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


@dataclass(frozen=True, slots=True)
class Done:
    """A command's effect, before it is audited: the message and the details."""

    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    account: str | None = None  # when the command learned it (an order's account)


def audited(
    store: Store,
    clock: Callable[[], datetime],
    operator: Operator,
    command: str,
    *,
    account: str | None,
    order_id: str | None,
    act: Callable[[Session], Done],
    refusals: tuple[type[Exception], ...] = (),
) -> Outcome:
    """Run ``act`` in one transaction with its audit row; a refusal audited alone.

    ``act`` raises :class:`Refused` (or one of ``refusals``, the domain's own
    error types) to refuse; the transaction is rolled back first.
    """
    try:
        with store.transaction() as session:
            done = act(session)
            named = done.account or account
            audit_id = _audit(
                session, clock, operator, command, named, order_id, "ok", done.message
            )
    except Refused as refused:
        return _refused(store, clock, operator, command, account, order_id, refused)
    except refusals as exc:
        return _refused(store, clock, operator, command, account, order_id, Refused(str(exc)))
    return Outcome(True, command, done.message, named, order_id, done.details, audit_id)


def _refused(
    store: Store,
    clock: Callable[[], datetime],
    operator: Operator,
    command: str,
    account: str | None,
    order_id: str | None,
    refused: Refused,
) -> Outcome:
    message = f"refused: {refused.reason}"
    with store.transaction() as session:
        audit_id = _audit(session, clock, operator, command, account, order_id, "refused", message)
    return Outcome(False, command, message, account, order_id, refused.details, audit_id)


def _audit(
    session: Session,
    clock: Callable[[], datetime],
    operator: Operator,
    command: str,
    account: str | None,
    order_id: str | None,
    outcome: str,
    detail: str,
) -> int:
    return audit.record(
        session,
        at=clock(),
        operator=operator.name,
        source=operator.source,
        command=command,
        account=account,
        order_id=order_id,
        outcome=outcome,
        detail=detail,
    )


def find_order(session: Session, order_id: str, account: str | None) -> tuple[OrderRow, str]:
    """The stored order and its account's name; refused when none or ambiguous."""
    statement = (
        select(OrderRow, AccountRow.name)
        .join(AccountRow, AccountRow.id == OrderRow.account_id)
        .where(OrderRow.exchange_id == order_id)
    )
    if account is not None:
        statement = statement.where(AccountRow.name == account)
    rows = session.execute(statement).all()
    if not rows:
        raise Refused(f"no stored order {order_id}")
    if len(rows) > 1:
        raise Refused(f"order {order_id} exists on several accounts: name one")
    row, name = rows[0]
    return row, name
