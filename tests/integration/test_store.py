"""The store against real databases: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from p2pilot.records import (
    ChatApi,
    ChatMessage,
    ChatRole,
    OrderDetail,
    OrderStatus,
    OrderSummary,
    Side,
)
from p2pilot.store import accounts, chat, events, orders, poll_state
from p2pilot.store.engine import Store, create_engine_for, redact_url
from p2pilot.store.migrate import (
    SchemaOutdated,
    current_revision,
    ensure_schema,
    head_revision,
    is_current,
    upgrade,
)
from p2pilot.store.models import AccountRow, Base, OrderEventRow, OrderRow, RateRow

T0 = datetime(2026, 11, 20, 9, 30, 0, 123000, tzinfo=UTC)
ALL_TABLES = {
    "accounts",
    "orders",
    "order_events",
    "chat_messages",
    "rates",
    "ads",
    "ad_edits",
    "account_leases",
    "fleet_members",
    "telegram_cursor",
    "telegram_messages",
    "blacklist",
    "poll_state",
    "actions",
    "releases",
    "payments",
    "notifications",
    "mailboxes",
    "audit",
    "account_pauses",
    "release_approvals",
    "console_tokens",
    "console_logouts",
    "alembic_version",
}


def common(order_id: str) -> dict[str, Any]:
    """The fields an order's list row and its detail both have, as one order."""
    return {
        "id": order_id,
        "side": Side.SELL,
        "status": OrderStatus.AWAITING_PAYMENT,
        "token": "USDT",
        "currency": "RUB",
        "amount": Decimal("8145.00"),
        "price": Decimal("81.45"),
        "quantity": Decimal("100.0000"),
        "fee": None,
        "counterparty_nickname": "buyer42",
        "counterparty_user_id": "777",
        "user_id": "111",
        "seller_real_name": "",
        "buyer_real_name": "",
        "created_at": T0,
        "transfer_seconds_left": 900,
        "unread_count": 0,
    }


def summary(order_id: str = "1900000000000000001", **changes: Any) -> OrderSummary:
    fields: dict[str, Any] = {
        **common(order_id),
        "self_unread_count": 0,
        "raw": {"id": order_id, "amount": "8145.00"},
    }
    fields.update(changes)
    return OrderSummary(**fields)


def detail(order_id: str = "1900000000000000001", **changes: Any) -> OrderDetail:
    fields: dict[str, Any] = {
        **common(order_id),
        "counterparty_mask_id": "mask-777",
        "maker_user_id": "111",
        "item_id": "1800000000000000009",
        "payment_type": 377,
        "payment_terms": [],
        "confirmed_payment": None,
        "updated_at": T0,
        "paid_at": None,
        "can_appeal": False,
        "appeal_user_id": "",
        "cancel_reason": "",
        "raw": {"id": order_id, "amount": "8145.00", "detail": True},
    }
    fields.update(changes)
    return OrderDetail(**fields)


def event_count(store: Store) -> int:
    with store.transaction() as session:
        return session.scalar(select(func.count()).select_from(OrderEventRow)) or 0


def make_account(store: Store, name: str = "desk") -> int:
    with store.transaction() as session:
        return accounts.ensure_account(session, name)


def apply(store: Store, account_id: int, record: Any, now: datetime) -> list[str]:
    with store.transaction() as session:
        return orders.apply_order(session, account_id, record, now=now)


def stored_row(store: Store, exchange_id: str) -> OrderRow:
    with store.transaction() as session:
        return session.scalars(select(OrderRow).where(OrderRow.exchange_id == exchange_id)).one()


# -- migrations ---------------------------------------------------------------------


def test_upgrade_from_empty_reaches_head(db_url: str) -> None:
    subject = Store(db_url)
    try:
        assert current_revision(subject.engine) is None
        assert not is_current(subject.engine)
        upgrade(db_url)
        assert current_revision(subject.engine) == head_revision() == "0012"
        assert is_current(subject.engine)
        assert set(inspect(subject.engine).get_table_names()) == ALL_TABLES
        upgrade(subject)  # idempotent at head
        assert is_current(subject.engine)
    finally:
        subject.dispose()


@pytest.mark.postgres
def test_a_fleet_starting_together_migrates_once(postgres_url: str) -> None:
    # Three daemons on a new database: without the migration lock, two of them
    # crashed creating alembic_version at the same moment.
    from concurrent.futures import ThreadPoolExecutor

    stores = [Store(postgres_url) for _ in range(3)]
    try:
        with ThreadPoolExecutor(3) as pool:
            done = list(pool.map(lambda s: ensure_schema(s, auto_migrate=True), stores))
        assert done == [None] * 3
        assert current_revision(stores[0].engine) == head_revision()
    finally:
        for store in stores:
            store.dispose()


def test_ensure_schema_refuses_old_database_without_auto_migrate(db_url: str) -> None:
    subject = Store(db_url)
    try:
        with pytest.raises(SchemaOutdated) as refused:
            ensure_schema(subject, auto_migrate=False)
        message = str(refused.value)
        assert "empty" in message and head_revision() in message
        assert "p2pilot db upgrade" in message and "auto_migrate = true" in message
        assert inspect(subject.engine).get_table_names() == []  # nothing was created

        ensure_schema(subject, auto_migrate=True)
        assert is_current(subject.engine)
        ensure_schema(subject, auto_migrate=False)  # at head: no complaint
    finally:
        subject.dispose()


def test_ensure_schema_refuses_a_revision_it_does_not_know(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    for auto_migrate in (False, True):
        with pytest.raises(SchemaOutdated, match=r"ffff.*newer p2pilot"):
            ensure_schema(store, auto_migrate=auto_migrate)


def test_migrations_create_exactly_the_models_schema(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


# -- types --------------------------------------------------------------------------

TRICKY = ["8145.00", "0.00000001", "123456789012345678.123456789", "-42.10", "0", "-0.50"]


def test_decimals_round_trip_exactly_with_scale(store: Store) -> None:
    with store.transaction() as session:
        for i, value in enumerate(TRICKY):
            session.add(
                RateRow(
                    token="USDT",
                    currency="RUB",
                    side=i,
                    best_price=Decimal(value),
                    reference_price=None,
                    sample_size=i,
                    observed_at=T0,
                )
            )
    with store.transaction() as session:
        back = {r.side: r.best_price for r in session.scalars(select(RateRow))}
        stored_text = {
            side: value
            for side, value in session.execute(text("SELECT side, best_price FROM rates"))
        }
    for i, value in enumerate(TRICKY):
        assert isinstance(back[i], Decimal)
        assert str(back[i]) == str(Decimal(value))  # same digits, same scale
        assert back[i].as_tuple() == Decimal(value).as_tuple()
    assert stored_text[1] == "0.00000001"  # plain text, never exponent form


def test_float_money_is_refused(store: Store) -> None:
    with pytest.raises(StatementError, match="Decimal, not float"), store.transaction() as session:
        session.add(
            RateRow(
                token="USDT",
                currency="RUB",
                side=0,
                best_price=81.45,  # a float, on purpose
                sample_size=1,
                observed_at=T0,
            )
        )
        session.flush()


def test_datetimes_come_back_aware_utc(store: Store) -> None:
    moscow = timezone(timedelta(hours=3))
    written = datetime(2026, 11, 20, 12, 30, 0, 654321, tzinfo=moscow)
    with store.transaction() as session:
        session.add(AccountRow(name="tz", created_at=written))
    with store.transaction() as session:
        back = session.scalars(select(AccountRow.created_at)).one()
    assert back.tzinfo is UTC
    assert back == written
    assert back.hour == 9 and back.microsecond == 654321

    with pytest.raises(StatementError, match="naive"), store.transaction() as session:
        session.add(AccountRow(name="naive", created_at=datetime(2026, 1, 1)))
        session.flush()


def test_raw_json_keeps_strings_exactly(store: Store) -> None:
    account_id = make_account(store)
    raw = {"amount": "8145.00", "price": "81.450", "nested": {"note": 'Привет "x"'}, "n": 5}
    apply(store, account_id, summary(raw=raw), T0)
    assert stored_row(store, "1900000000000000001").raw == raw


# -- engine -------------------------------------------------------------------------


def test_redact_url_hides_passwords() -> None:
    url = "postgresql+psycopg://p2pilot:s3cr%40t@db.example:5432/p2p?sslpassword=k3y"
    redacted = redact_url(url)
    assert "s3cr" not in redacted and "k3y" not in redacted
    assert "p2pilot:***@db.example:5432/p2p" in redacted
    assert (
        redact_url("sqlite:///var/lib/p2pilot/p2pilot.db") == "sqlite:///var/lib/p2pilot/p2pilot.db"
    )
    assert "hunter2" not in redact_url("not a url://u:hunter2@host")


def test_sqlite_pragmas_and_parent_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "p2pilot.db"
    engine = create_engine_for(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert path.exists()
    finally:
        engine.dispose()


def test_sqlite_concurrent_writers_wait_instead_of_failing(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'p2pilot.db'}")
    try:
        upgrade(store)
        account_id = make_account(store)
        rounds = 40
        barrier = threading.Barrier(2, timeout=30)
        errors: list[BaseException] = []

        def writer(job: str) -> None:
            try:
                for _ in range(rounds):
                    barrier.wait()
                    # Read, then write, in one transaction: the pattern that fails at
                    # once with "database is locked" under deferred BEGIN.
                    with store.transaction() as session:
                        poll_state.get_state(session, account_id, "shared")
                        poll_state.record_failure(session, account_id, "shared", at=T0, error=job)
            except BaseException as exc:
                errors.append(exc)
                barrier.abort()

        threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        with store.transaction(read_only=True) as session:
            state = poll_state.get_state(session, account_id, "shared")
        assert state is not None and state.consecutive_failures == 2 * rounds
    finally:
        store.dispose()


def test_transaction_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as session:
        accounts.ensure_account(session, "ghost")
        raise RuntimeError("boom")
    with store.transaction() as session:
        assert accounts.account_ids(session) == {}


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(IntegrityError), store.transaction() as session:
        events.append_event(session, account_id=999, order_pk=None, type="x", payload={})
    assert event_count(store) == 0


# -- accounts -----------------------------------------------------------------------


def test_accounts_are_created_once_and_get_identity(store: Store) -> None:
    first = make_account(store, "main")
    assert make_account(store, "main") == first
    second = make_account(store, "spare")
    with store.transaction() as session:
        accounts.set_identity(session, first, user_id="52700411", nickname="DeskRUB")
    with store.transaction() as session:
        assert accounts.account_ids(session) == {"main": first, "spare": second}
        row = session.get(AccountRow, first)
        assert row is not None and (row.user_id, row.nickname) == ("52700411", "DeskRUB")


# -- apply_order --------------------------------------------------------------------


def test_new_order_writes_created_then_status_alias(store: Store) -> None:
    account_id = make_account(store)
    written = apply(store, account_id, detail(), T0)
    assert written == ["order.created", "order.awaiting_payment"]
    with store.transaction() as session:
        pending = events.pending_events(session)
    assert [e.type for e in pending] == written
    payload = pending[0].payload
    assert payload["account"] == "desk"
    assert payload["order_id"] == "1900000000000000001"
    assert payload["side"] == "sell"
    assert payload["status"] == 10 and payload["status_name"] == "awaiting_payment"
    assert (payload["amount"], payload["price"], payload["quantity"]) == (
        "8145.00",
        "81.45",
        "100.0000",
    )
    assert payload["counterparty"] == "buyer42"
    assert (payload["token"], payload["currency"]) == ("USDT", "RUB")
    row = stored_row(store, "1900000000000000001")
    assert row.has_detail and row.first_seen_at == T0 and row.updated_at == T0


@pytest.mark.parametrize(
    ("status", "alias"),
    [
        (OrderStatus.PAID, ["order.paid"]),
        (OrderStatus.OBJECTIONING, ["order.appeal"]),
        (OrderStatus.CANCELLED_EXCEPTION, ["order.cancelled"]),
        (OrderStatus.COMPLETED, ["order.completed"]),
        (OrderStatus.PAYMENT_FAILED, []),
    ],
)
def test_new_order_alias_follows_status(
    store: Store, status: OrderStatus, alias: list[str]
) -> None:
    account_id = make_account(store)
    assert apply(store, account_id, summary(status=status), T0) == ["order.created", *alias]


def test_unchanged_order_writes_nothing(store: Store) -> None:
    account_id = make_account(store)
    apply(store, account_id, detail(), T0)
    before = event_count(store)
    later = T0 + timedelta(minutes=5)
    # Only ticking counters and the raw payload differ.
    ticking = detail(transfer_seconds_left=600, unread_count=3, raw={"tick": 1})
    assert apply(store, account_id, ticking, later) == []
    assert apply(store, account_id, summary(transfer_seconds_left=1, unread_count=9), later) == []
    assert event_count(store) == before
    row = stored_row(store, "1900000000000000001")
    assert row.updated_at == T0
    assert row.raw == detail().raw


def test_status_change_writes_status_changed_then_alias(store: Store) -> None:
    account_id = make_account(store)
    apply(store, account_id, detail(), T0)
    later = T0 + timedelta(minutes=2)
    paid = detail(status=OrderStatus.PAID, paid_at=later)
    assert apply(store, account_id, paid, later) == ["order.status_changed", "order.paid"]
    with store.transaction() as session:
        pending = events.pending_events(session)
    changed = pending[-2]
    assert changed.type == "order.status_changed"
    assert (changed.payload["from"], changed.payload["to"]) == (10, 20)
    assert changed.payload["status_name"] == "paid"
    assert pending[-1].payload["paid_at"] == later.isoformat()
    row = stored_row(store, "1900000000000000001")
    assert (row.status, row.paid_at, row.updated_at) == (20, later, later)


def test_final_status_is_never_undone_and_anomaly_is_written_once(store: Store) -> None:
    account_id = make_account(store)
    apply(store, account_id, detail(status=OrderStatus.COMPLETED), T0)
    cancelled = summary(status=OrderStatus.CANCELLED)
    assert apply(store, account_id, cancelled, T0 + timedelta(seconds=5)) == ["order.anomaly"]
    assert apply(store, account_id, cancelled, T0 + timedelta(seconds=10)) == []
    # A different impossible status is a different anomaly.
    paid = summary(status=OrderStatus.PAID)
    assert apply(store, account_id, paid, T0 + timedelta(seconds=15)) == ["order.anomaly"]
    assert apply(store, account_id, paid, T0 + timedelta(seconds=20)) == []
    row = stored_row(store, "1900000000000000001")
    assert row.status == 50 and row.updated_at == T0
    with store.transaction() as session:
        anomalies = [e for e in events.pending_events(session) if e.type == "order.anomaly"]
    assert [(e.payload["stored"], e.payload["reported"]) for e in anomalies] == [(50, 40), (50, 20)]


def test_summary_after_detail_keeps_detail_fields(store: Store) -> None:
    account_id = make_account(store)
    paid_at = T0 + timedelta(minutes=1)
    apply(store, account_id, detail(status=OrderStatus.PAID, paid_at=paid_at), T0)
    later = T0 + timedelta(minutes=3)
    appealed = summary(status=OrderStatus.APPEAL, quantity=None, counterparty_nickname="")
    assert apply(store, account_id, appealed, later) == ["order.status_changed", "order.appeal"]
    row = stored_row(store, "1900000000000000001")
    assert row.status == 30
    assert row.item_id == "1800000000000000009"
    assert row.payment_type == 377
    assert row.counterparty_mask_id == "mask-777"
    assert row.paid_at == paid_at
    assert row.quantity == Decimal("100.0000")
    assert row.counterparty_nickname == "buyer42"
    # The stored detail describes the old status: the job must read it again.
    assert row.has_detail is False
    with store.transaction() as session:
        known = orders.load_known(session, account_id, ["1900000000000000001"])
    assert known["1900000000000000001"].has_detail is False


def test_detail_becoming_available_is_written_without_events(store: Store) -> None:
    account_id = make_account(store)
    assert apply(store, account_id, summary(), T0) == ["order.created", "order.awaiting_payment"]
    assert stored_row(store, "1900000000000000001").has_detail is False
    later = T0 + timedelta(seconds=5)
    assert apply(store, account_id, detail(), later) == []
    row = stored_row(store, "1900000000000000001")
    assert row.has_detail and row.item_id == "1800000000000000009" and row.updated_at == later
    assert event_count(store) == 2


def test_amount_change_updates_snapshot(store: Store) -> None:
    account_id = make_account(store)
    apply(store, account_id, summary(), T0)
    later = T0 + timedelta(seconds=5)
    assert apply(store, account_id, summary(amount=Decimal("8145.50")), later) == []
    row = stored_row(store, "1900000000000000001")
    assert (row.amount, row.updated_at) == (Decimal("8145.50"), later)


def test_load_known_open_orders_and_specific_ids(store: Store) -> None:
    account_id = make_account(store)
    other = make_account(store, "other")
    apply(store, account_id, summary("1"), T0)
    apply(store, account_id, summary("2", status=OrderStatus.COMPLETED), T0)
    apply(store, account_id, detail("3", status=OrderStatus.PAID), T0)
    apply(store, other, summary("4"), T0)
    with store.transaction() as session:
        open_orders = orders.load_known(session, account_id)
        chosen = orders.load_known(session, account_id, ["2", "3", "4", "nope"])
    assert set(open_orders) == {"1", "3"}
    assert open_orders["3"] == orders.KnownOrder(
        status=20, has_detail=True, fingerprint=orders.record_fingerprint(detail("3", status=20))
    )
    assert set(chosen) == {"2", "3"}
    assert chosen["2"].status == 50 and chosen["2"].has_detail is False
    assert chosen["2"].fingerprint != chosen["3"].fingerprint


def test_orders_from_two_accounts_do_not_mix(store: Store) -> None:
    first = make_account(store, "a")
    second = make_account(store, "b")
    assert apply(store, first, summary("9"), T0)[0] == "order.created"
    assert apply(store, second, summary("9"), T0)[0] == "order.created"
    assert apply(store, second, summary("9", status=OrderStatus.PAID), T0) == [
        "order.status_changed",
        "order.paid",
    ]
    with store.transaction() as session:
        assert orders.load_known(session, first, ["9"])["9"].status == 10


# -- events -------------------------------------------------------------------------


def test_pending_events_in_order_and_mark_handled(store: Store) -> None:
    account_id = make_account(store)
    with store.transaction() as session:
        ids = [
            events.append_event(
                session,
                account_id=account_id,
                order_pk=None,
                type=f"rate.changed.{i}",
                payload={"i": i, "price": "81.45"},
            )
            for i in range(5)
        ]
    assert ids == sorted(ids)
    with store.transaction() as session:
        pending = events.pending_events(session, limit=3)
    assert [e.id for e in pending] == ids[:3]
    assert pending[0].payload == {"i": 0, "price": "81.45"} and pending[0].order_pk is None
    with store.transaction() as session:
        assert events.mark_handled(session, ids[0], at=T0) is True
        assert events.mark_handled(session, ids[2], at=T0) is True
        assert events.mark_handled(session, ids[2], at=T0) is False
    with store.transaction() as session:
        assert [e.id for e in events.pending_events(session)] == [ids[1], ids[3], ids[4]]
        handled = session.get(OrderEventRow, ids[0])
        assert handled is not None and handled.handled_at == T0


# -- chat ---------------------------------------------------------------------------


def message(message_id: str, text_: str, at: datetime, order_id: str = "1900000000000000001"):  # type: ignore[no-untyped-def]
    return ChatMessage(
        id=message_id,
        order_id=order_id,
        sender_user_id="777",
        sender_nickname="buyer42",
        text=text_,
        content_type="str",
        msg_type=1,
        role=ChatRole.USER,
        msg_uuid=f"u-{message_id}",
        file_name="",
        created_at=at,
        api=ChatApi.ORDER,
        raw={"id": message_id, "message": text_},
    )


def test_chat_messages_are_stored_once(store: Store) -> None:
    account_id = make_account(store)
    other = make_account(store, "other")
    first = [message("m1", "hello", T0), message("m2", "paid", T0 + timedelta(seconds=1))]
    with store.transaction() as session:
        assert chat.store_messages(session, account_id, first) == first
    again = [*first, message("m3", "thanks", T0 + timedelta(seconds=2))]
    with store.transaction() as session:
        assert [m.id for m in chat.store_messages(session, account_id, again)] == ["m3"]
        assert chat.store_messages(session, account_id, again) == []
        # The same message id on another account is another message.
        assert [m.id for m in chat.store_messages(session, other, first)] == ["m1", "m2"]
    with store.transaction() as session:
        stored = chat.order_chat(session, account_id, "1900000000000000001")
    assert [(m.id, m.text, m.sender) for m in stored] == [
        ("m1", "hello", "buyer42"),
        ("m2", "paid", "buyer42"),
        ("m3", "thanks", "buyer42"),
    ]


# -- poll state ---------------------------------------------------------------------


def test_poll_state_counts_failures_and_resets_on_success(store: Store) -> None:
    account_id = make_account(store)
    with store.transaction() as session:
        assert poll_state.get_state(session, account_id, "orders") is None
        poll_state.record_failure(session, account_id, "orders", at=T0, error="TransientError: x")
        poll_state.record_failure(
            session, account_id, "orders", at=T0 + timedelta(seconds=5), error="E" * 10_000
        )
        state = poll_state.get_state(session, account_id, "orders")
    assert state is not None
    assert state.consecutive_failures == 2
    assert state.last_error_at == T0 + timedelta(seconds=5)
    assert state.last_error is not None and len(state.last_error) == poll_state.MAX_ERROR_LENGTH
    assert state.last_success_at is None and state.account == "desk"

    success_at = T0 + timedelta(seconds=10)
    with store.transaction() as session:
        poll_state.record_success(session, account_id, "orders", at=success_at)
        poll_state.set_sweep(session, account_id, "orders", success_at)
        poll_state.set_cursor(session, account_id, "chat", "page-2", at=success_at)
    with store.transaction() as session:
        state = poll_state.get_state(session, account_id, "orders")
        every = poll_state.all_states(session)
    assert state is not None
    assert state.consecutive_failures == 0
    assert state.last_success_at == success_at and state.last_sweep_at == success_at
    assert state.last_error_at == T0 + timedelta(seconds=5)  # kept for `p2pilot status`
    assert [(s.job, s.cursor) for s in every] == [("chat", "page-2"), ("orders", None)]


# -- read side ----------------------------------------------------------------------

CONTRACT_KEYS = {
    "id", "account", "side", "status", "status_name", "token", "currency",
    "amount", "price", "quantity", "counterparty", "created_at", "updated_at",
}  # fmt: skip


def test_list_orders_json_contract(store: Store) -> None:
    account_id = make_account(store)
    other = make_account(store, "other")
    apply(store, account_id, detail("1", amount=Decimal("8145.00")), T0)
    apply(
        store,
        account_id,
        summary("2", side=Side.BUY, amount=Decimal("1000.01"), status=OrderStatus.PAID),
        T0 + timedelta(minutes=1),
    )
    apply(store, other, summary("3", created_at=T0 + timedelta(minutes=2)), T0)
    with store.transaction() as session:
        everything = orders.list_orders(session)
        paid = orders.list_orders(session, status=20)
        only_other = orders.list_orders(session, account="other")
        newest = orders.list_orders(session, limit=1)
    assert [v.id for v in everything] == ["3", "2", "1"]  # newest created first (ties: id)
    assert [v.id for v in paid] == ["2"]
    assert [v.id for v in only_other] == ["3"]
    assert [v.id for v in newest] == ["3"]
    first = next(v for v in everything if v.id == "1").to_json()
    assert set(first) >= CONTRACT_KEYS
    assert first["amount"] == "8145.00" and first["price"] == "81.45"
    assert first["quantity"] == "100.0000"
    assert first["side"] == "sell" and first["status"] == 10
    assert first["status_name"] == "awaiting_payment"
    assert first["counterparty"] == "buyer42" and first["account"] == "desk"
    assert first["created_at"] == "2026-11-20T09:30:00.123000+00:00"
    assert first["updated_at"].endswith("+00:00")
    second = next(v for v in everything if v.id == "2").to_json()
    assert second["side"] == "buy" and second["amount"] == "1000.01"


def test_get_order_has_history_and_chat(store: Store) -> None:
    account_id = make_account(store)
    apply(store, account_id, detail(), T0)
    paid_at = T0 + timedelta(minutes=1)
    apply(store, account_id, detail(status=OrderStatus.PAID, paid_at=paid_at), paid_at)
    with store.transaction() as session:
        chat.store_messages(session, account_id, [message("m1", "sent the money", paid_at)])
        view = orders.get_order(session, "1900000000000000001")
        missing = orders.get_order(session, "1900000000000000001", account="nobody")
    assert missing is None
    assert view is not None
    document = view.to_json()
    assert set(document) >= CONTRACT_KEYS
    assert document["status"] == 20 and document["amount"] == "8145.00"
    assert [h["type"] for h in document["history"]] == [
        "order.created",
        "order.awaiting_payment",
        "order.status_changed",
        "order.paid",
    ]
    change = document["history"][2]
    assert (change["from"], change["to"]) == (10, 20)
    assert change["at"] == paid_at.isoformat()
    assert document["chat"] == [
        {
            "id": "m1",
            "created_at": paid_at.isoformat(),
            "sender": "buyer42",
            "sender_user_id": "777",
            "role": "user",
            "text": "sent the money",
            "content_type": "str",
            "api": "order",
        }
    ]
    assert document["actions"] == []
