"""The rule engine: for each event, the matching rules' actions, each exactly once.

For every (event, rule, action) the engine claims a ledger row under a unique
key and commits it *before* anything leaves the process; the executor then
moves the row to ``sent`` (committed), performs the side effect and settles the
row. Seeing the same event again (after a crash) finds the row: a settled one
is skipped, an open one is reconciled against the exchange, never blindly redone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, tzinfo

from p2pilot.evidence import waiting
from p2pilot.evidence.matching import DEFAULT_POLICY, MatchPolicy
from p2pilot.logging import get_logger
from p2pilot.rules import approvals
from p2pilot.rules.account import AccountBinding
from p2pilot.rules.context import EventContext, OrderFacts, unmet_condition
from p2pilot.rules.executors import Executor
from p2pilot.rules.guards import ReleaseLimits
from p2pilot.rules.model import Action, Rule
from p2pilot.store import ledger
from p2pilot.store import payments as stored_payments
from p2pilot.store.engine import Store
from p2pilot.store.events import EventRecord
from p2pilot.store.ledger import ActionRecord, ActionState
from p2pilot.store.models import OrderRow

log = get_logger(__name__)

# A row a transient failure left open is tried again after this long.
RETRY_AFTER = timedelta(seconds=5)
RETRY_STATES = frozenset({ActionState.PENDING, ActionState.UNKNOWN})
AWAITING_STATES = frozenset({ActionState.AWAITING})


def action_key(event_id: int, rule: str, index: int, action: Action) -> str:
    """The idempotency key of one action of one rule for one event."""
    return f"ev{event_id}/{rule}/{index}:{action.kind}"


class RuleEngine:
    """Implements the dispatcher's EventHandler."""

    def __init__(
        self,
        store: Store,
        rules: Sequence[Rule],
        accounts: dict[int, AccountBinding],
        limits: ReleaseLimits,
        clock: Callable[[], datetime],
        *,
        local_tz: tzinfo | None = None,
        stopping: Callable[[float], bool] | None = None,
        policy: MatchPolicy = DEFAULT_POLICY,
        lease_holder: str | None = None,
        holds: Callable[[int], bool] = lambda _account_id: True,
    ) -> None:
        self.store = store
        self.rules = list(rules)
        self.accounts = accounts
        self.clock = clock
        self.local_tz = local_tz
        self.executor = Executor(
            store, limits, clock, stopping=stopping, policy=policy, lease_holder=lease_holder
        )
        self._last_retry: datetime | None = None
        # Whether this daemon holds an account now (its lease, on PostgreSQL).
        self.holds = holds

    def bind(self, account: AccountBinding) -> None:
        """Act for an account added by a reload (called between two events)."""
        self.accounts[account.id] = account

    def unbind(self, account_id: int) -> None:
        """Stop acting for an account removed by a reload (called between two events)."""
        self.accounts.pop(account_id, None)

    def replace_rules(
        self, rules: Sequence[Rule], limits: ReleaseLimits, policy: MatchPolicy
    ) -> None:
        """Swap in newly loaded rules (SIGHUP); in-flight events finish with the old ones."""
        self.rules = list(rules)
        self.executor.env.limits = limits
        self.executor.env.policy = policy

    def handle(self, event: EventRecord) -> None:
        listening = [rule for rule in self.rules if event.type in rule.on]
        if not listening:
            return
        account = self.accounts.get(event.account_id)
        if account is None:
            log.warning("rules.account_inactive", trigger=event.type, event_id=event.id)
            return
        ctx = self._context(event, account)
        for rule in listening:
            unmet = unmet_condition(rule.conditions, ctx)
            bound = log.bind(
                account=account.name,
                order_id=ctx.order.id if ctx.order else None,
                rule=rule.name,
                trigger=event.type,
            )
            if unmet is not None:
                bound.debug("rule.not_matched", condition=unmet)
                continue
            bound.info("rule.matched")
            for index, action in enumerate(rule.actions):
                key = action_key(event.id, rule.name, index, action)
                self._run_once(key, rule, action, ctx, account)

    def _run_once(
        self, key: str, rule: Rule, action: Action, ctx: EventContext, account: AccountBinding
    ) -> None:
        now = self.clock()
        with self.store.transaction() as session:
            existing = ledger.get(session, key)
            if existing is None:
                claimed = ledger.claim(
                    session,
                    key=key,
                    account_id=account.id,
                    event_id=ctx.event.id,
                    order_pk=ctx.order.pk if ctx.order else None,
                    rule=rule.name,
                    kind=action.kind,
                    at=now,
                )
        if existing is not None:
            if existing.state.is_open:
                self.executor.reconcile(existing, rule, action, ctx, account)
            return
        if claimed is None:  # lost a race with another worker: it owns the action
            return
        self.executor.execute(claimed, action, ctx, account, rule)

    def reconcile_open(self, account_id: int | None = None) -> int:
        """Settle every pending, sent or unknown ledger row before new work begins."""
        with self.store.transaction(read_only=True) as session:
            rows = ledger.open_actions(session, account_id)
        return self._reconcile(rows)

    def retry_due(self) -> int:
        """Retry rows left pending or unknown by a failure, at most once per ``RETRY_AFTER``.

        Releases awaiting an operator are looked at on every call (:meth:`awaiting_due`).

        Runs under the dispatcher's lock, so nothing else in this process is acting
        on these rows. ``sent`` rows are left alone: while running, only a crash
        leaves one behind, and start-up reconciliation owns those.
        """
        awaited = self.awaiting_due()
        now = self.clock()
        if self._last_retry is not None and now - self._last_retry < RETRY_AFTER:
            return awaited
        self._last_retry = now
        with self.store.transaction(read_only=True) as session:
            rows = ledger.open_actions(
                session, states=RETRY_STATES, updated_before=now - RETRY_AFTER
            )
        return awaited + self._reconcile(rows)

    def awaiting_due(self) -> int:
        """Decide again the releases waiting for an operator whose word now lets them go.

        Every pass, unthrottled: an approval is acted on within a drain interval,
        and a waiting row costs one read of the store, never a call to the exchange.
        """
        limits = self.executor.env.limits
        with self.store.transaction(read_only=True) as session:
            rows = ledger.open_actions(session, states=AWAITING_STATES)
            due = [
                record
                for record in rows
                if record.account_id in self.accounts
                and self.holds(record.account_id)
                and approvals.ready(session, record, limits)
            ]
        return self._reconcile(due)

    def _reconcile(self, rows: Sequence[ActionRecord]) -> int:
        settled = 0
        for record in rows:
            account = self.accounts.get(record.account_id)
            if account is None or not self.holds(record.account_id):
                continue  # not ours (another daemon holds the account) or not usable
            found = self._action_for(record)
            ctx = self._context_for_record(record, account)
            if found is None:
                self.executor.settle_without_rule(record, ctx, account)
                continue
            rule, action = found
            self.executor.reconcile(record, rule, action, ctx, account)
            settled += 1
        return settled

    def _action_for(self, record: ActionRecord) -> tuple[Rule, Action] | None:
        # key = ev{event}/{rule}/{index}:{kind}
        try:
            index = int(record.key.rsplit("/", 1)[1].split(":", 1)[0])
        except (IndexError, ValueError):
            return None
        for rule in self.rules:
            if rule.name == record.rule and index < len(rule.actions):
                action = rule.actions[index]
                if action.kind == record.kind:
                    return rule, action
        return None

    def _context(self, event: EventRecord, account: AccountBinding) -> EventContext:
        with self.store.transaction(read_only=True) as session:
            order = None
            evidence = None
            if event.order_pk is not None:
                row = session.get(OrderRow, event.order_pk)
                order = OrderFacts.from_row(row) if row is not None else None
                evidence = stored_payments.for_order(session, event.order_pk)
        if order is not None and evidence is None:
            evidence = waiting.match_waiting(
                self.store,
                account=account.name,
                order_pk=order.pk,
                order_id=order.id,
                side=order.side,
                status=order.status,
                policy=self.executor.env.policy,
                clock=self.clock,
            )
        return EventContext(
            event=event,
            account=account.name,
            account_nickname=account.nickname,
            order=order,
            evidence=evidence,
            client=account.client,
            now=self.clock(),
            local_tz=self.local_tz,
        )

    def _context_for_record(self, record: ActionRecord, account: AccountBinding) -> EventContext:
        from p2pilot.store.events import get_event

        with self.store.transaction(read_only=True) as session:
            event = get_event(session, record.event_id) if record.event_id is not None else None
        if event is None:
            event = EventRecord(
                id=record.event_id or 0,
                account_id=record.account_id,
                order_pk=record.order_pk,
                type="",
                payload={},
                created_at=record.created_at,
                handled_at=None,
            )
        return self._context(event, account)
