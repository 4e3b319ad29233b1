"""``p2pilot status``: is the daemon healthy? Per account and job, from the store.

A job is stale when its last success is older than three of its intervals (at
least a minute): the daemon is down, wedged, or cannot reach the exchange. The
oldest paid sell order still waiting for release is shown with its age, since
that is the buyer who is waiting. Exit 1 when anything is stale.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import typer

from p2pilot.cli.app import JsonFlag, load, print_json
from p2pilot.config import Config
from p2pilot.health import MIN_STALE_AFTER, JobHealth, jobs_health

if TYPE_CHECKING:
    from p2pilot.store.mailboxes import MailboxState
    from p2pilot.store.telegram import BotState


def _health(
    account: str,
    job: str,
    state: MailboxState | BotState | None,
    now: datetime,
    stale_after: timedelta,
) -> JobHealth:
    """A mailbox's or the bot's calls as a job: stale when failing, or quiet too long."""
    last = state.last_success_at if state else None
    lag = now - last if last is not None else None
    failures = state.failures if state else 0
    return JobHealth(
        account=account,
        job=job,
        last_success_at=last,
        last_error_at=state.last_error_at if state else None,
        last_error=state.last_error if state else None,
        consecutive_failures=failures,
        lag=lag,
        stale=failures > 0 or lag is None or lag > stale_after,
    )


def mailbox_health(config: Config, now: datetime) -> list[JobHealth]:
    """Each receipt mailbox as a job of the pseudo-account "mailbox"; a failing one is stale."""
    from p2pilot.store import mailboxes
    from p2pilot.store.engine import Store
    from p2pilot.store.migrate import is_current

    if not config.evidence.mailboxes:
        return []
    store = Store(config.database.url)
    try:
        states = {}
        if is_current(store.engine):
            with store.transaction(read_only=True) as session:
                states = {m.name: m for m in mailboxes.all_mailboxes(session)}
    finally:
        store.dispose()
    found = []
    for mailbox in config.evidence.mailboxes:
        state = states.get(mailbox.name)
        stale_after = max(3 * mailbox.poll, MIN_STALE_AFTER)
        found.append(_health("mailbox", mailbox.name, state, now, stale_after))
    return found


def telegram_health(config: Config, now: datetime) -> list[JobHealth]:
    """The Telegram bot as job "bot" of the pseudo-account "telegram"; failing is stale."""
    from p2pilot.store import telegram
    from p2pilot.store.engine import Store
    from p2pilot.store.migrate import is_current

    if not config.telegram.enabled:
        return []
    store = Store(config.database.url)
    try:
        state = None
        if is_current(store.engine):
            with store.transaction(read_only=True) as session:
                state = telegram.read_state(session)
    finally:
        store.dispose()
    # A healthy bot notes a success at least every 30 s (its long polls answer).
    return [_health("telegram", "bot", state, now, MIN_STALE_AFTER)]


def fleet(config: Config) -> dict[str, Any] | None:
    """PostgreSQL: which daemon (host, pid) holds each account, and how many each holds."""
    from p2pilot.runtime.leases import describe_holder
    from p2pilot.store import leases
    from p2pilot.store.engine import Store
    from p2pilot.store.migrate import is_current

    store = Store(config.database.url)
    try:
        if store.dialect != "postgresql" or not is_current(store.engine):
            return None
        with store.transaction(read_only=True) as session:
            held = leases.held_accounts(session)
            running = leases.members(session)
    finally:
        store.dispose()
    counts = {holder: 0 for holder in running}
    for _account, holder in held:
        counts[holder] = counts.get(holder, 0) + 1
    return {
        "accounts": [{"account": a, **describe_holder(h)} for a, h in held],
        "daemons": [{**describe_holder(h), "accounts": n} for h, n in counts.items()],
    }


def health(
    config: Config, now: datetime
) -> tuple[list[JobHealth], dict[str, Any] | None, dict[str, Any]]:
    """Every expected (account, job) with its state, the oldest order awaiting release,
    and the paused accounts (name → the pause)."""
    from p2pilot.store import accounts as stored_accounts
    from p2pilot.store import approvals, poll_state
    from p2pilot.store import orders as stored_orders
    from p2pilot.store.engine import Store
    from p2pilot.store.migrate import is_current

    store = Store(config.database.url)
    try:
        if not is_current(store.engine):
            # Never started (or an older schema): no job has ever succeeded here.
            return jobs_health(config, {}, now), None, {}
        with store.transaction(read_only=True) as session:
            states = {(s.account, s.job): s for s in poll_state.all_states(session)}
            oldest = stored_orders.oldest_awaiting_release(session)
            names = {i: n for n, i in stored_accounts.account_ids(session).items()}
            paused = {
                names[account_id]: pause.to_json()
                for account_id, pause in approvals.pauses(session).items()
                if account_id in names
            }
    finally:
        store.dispose()
    waiting = None
    if oldest is not None:
        waiting = {
            "order_id": oldest.order_id,
            "account": oldest.account,
            "paid_at": _iso(oldest.since),
            "age_seconds": round((now - oldest.since).total_seconds(), 1),
        }
    return jobs_health(config, states, now), waiting, paused


def register(app: typer.Typer) -> None:
    """Attach ``status`` to the CLI."""

    app.command()(status)


def status(
    as_json: JsonFlag = False,
) -> None:
    """Health per account and job; exit 1 when anything is stale."""
    config = load(logs_to_stderr=True)
    now = datetime.now(UTC)
    jobs, waiting, paused = health(config, now)
    boxes = mailbox_health(config, now)
    bots = telegram_health(config, now)
    healthy = all(not j.stale for j in jobs + boxes + bots)
    job_documents = [j.to_json() for j in jobs]
    box_documents = [m.to_json() for m in boxes]
    bot_documents = [b.to_json() for b in bots]
    from p2pilot.runtime.hostfit import host_fit

    fit = host_fit(config)
    document = {
        "healthy": healthy,
        "jobs": job_documents,
        "mailboxes": box_documents,
        "telegram": bot_documents[0] if bot_documents else None,
        "oldest_awaiting_release": waiting,
        "paused": paused,  # account name → who paused it, when, why: no releases from it
        "host": {**fit.to_json(), "advice": fit.advice()},
        "fleet": fleet(config),
    }
    if as_json:
        print_json(document)
    else:
        from p2pilot.render.console import make_console
        from p2pilot.render.health import status as render_status

        # For a person, a receipt mailbox is one more job: account "mailbox".
        shown = {**document, "jobs": job_documents + box_documents + bot_documents}
        render_status(make_console(), shown, now)
    if not healthy:
        raise typer.Exit(1)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
