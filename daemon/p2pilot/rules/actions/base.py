"""What every action handler is given and what it must do.

One handler per action kind (``reply``, ``release``, ...), each in its own
module with its whole state machine; :mod:`p2pilot.rules.actions.registry` maps
an action's ``kind`` to its handler. The engine has claimed the action's ledger
row (``pending``, committed) before a handler sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from structlog.stdlib import BoundLogger

from p2pilot.evidence.matching import DEFAULT_POLICY, MatchPolicy
from p2pilot.rules.account import AccountBinding
from p2pilot.rules.actions.steps import LedgerSteps
from p2pilot.rules.context import EventContext
from p2pilot.rules.guards import ReleaseLimits
from p2pilot.rules.model import Rule
from p2pilot.store.engine import Store
from p2pilot.store.ledger import ActionRecord

# The error of a row whose rule is no longer in the config (said once, then kept).
RULE_GONE = "rule removed from the config"

A_co = TypeVar("A_co", covariant=True)
A_contra = TypeVar("A_contra", contravariant=True)


@dataclass(frozen=True)
class ActionRun(Generic[A_co]):
    """One action of one rule for one event, with its ledger row and its account."""

    record: ActionRecord
    action: A_co
    ctx: EventContext
    account: AccountBinding
    rule: Rule
    log: BoundLogger  # bound to the account, order, rule and action


@dataclass
class ActionEnv:
    """What handlers share: the store, the clock, and the settings a reload may replace."""

    store: Store
    clock: Callable[[], datetime]
    limits: ReleaseLimits
    policy: MatchPolicy = DEFAULT_POLICY
    # Waits up to the given seconds; True when the daemon is stopping meanwhile.
    stopping: Callable[[float], bool] | None = None
    # PostgreSQL: this daemon's lease holder id, checked in the release claim.
    lease_holder: str | None = None
    steps: LedgerSteps = field(init=False)

    def __post_init__(self) -> None:
        self.steps = LedgerSteps(self.store, self.clock)


class ActionHandler(Protocol[A_contra]):
    """Performs one kind of action, and settles one whose run was interrupted.

    A handler owns the ledger row it is given from ``pending`` to a settled state
    (``succeeded``, ``failed``, ``skipped``, ``dry_run``), through ``sent`` when
    something leaves the process: ``sent`` is committed before the side effect, so
    a crash in between is visible. It may leave the row ``pending`` (a retry pass
    runs it again) or ``unknown`` (nobody can tell whether it happened).

    .. attribute:: redo_pending

        True when a ``pending`` row found after a restart is simply executed: it
        was claimed, never sent, so nothing left the process and running it now
        is the first time. False when :meth:`reconcile` decides even then (a
        release re-checks every guard either way, under its own rules).
    """

    redo_pending: bool

    def execute(self, run: ActionRun[A_contra]) -> None:
        """Perform the action for the first time and settle its row.

        The caller turns an exception into ``unknown`` (``action.crashed``); an
        exchange failure that is understood is settled here, through
        :meth:`LedgerSteps.outcome`.

        :param run: the claimed row, the action, the event's context and account
        """

    def reconcile(self, run: ActionRun[A_contra]) -> None:
        """Settle a row left open (``sent``, ``unknown``, or ``pending``) by a crash or failure.

        Look at the outside world first (the chat for a reply's ``msgUuid``, the
        order's status for a release) and redo the side effect only where doing it
        twice is impossible or harmless. A row that cannot be settled now may stay
        open: the next retry pass or start calls this again.

        :param run: the open row as stored, the rule's action, a context rebuilt
            from the row's event, and the account
        """


def event_document(run: ActionRun[Any]) -> dict[str, Any]:
    """The event as a webhook receives it and a command reads it on stdin."""
    ctx = run.ctx
    return {
        "event": ctx.event.type,
        "event_id": ctx.event.id,
        "account": ctx.account,
        "rule": run.record.rule,
        "action_key": run.record.key,
        "created_at": ctx.event.created_at.isoformat(),
        "payload": ctx.event.payload,
    }
