"""The ledger's unique keys are the last line of defence, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from p2pilot.store import accounts, ledger, payments, releases
from p2pilot.store.engine import Store
from p2pilot.store.ledger import ActionState

from ..orderrows import claimed_action, sell_order_row

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def order(store: Store) -> tuple[int, int]:
    with store.transaction() as session:
        account_id = accounts.ensure_account(session, "desk")
        row = sell_order_row(
            account_id,
            "1991",
            "8145.00",
            price=Decimal("81.45"),
            created_at=NOW,
            first_seen_at=NOW,
            updated_at=NOW,
        )
        session.add(row)
        session.flush()
        return account_id, row.id


def test_a_key_is_claimed_once(store: Store) -> None:
    account_id, order_pk = order(store)
    claims = []
    for _ in range(2):
        with store.transaction() as session:
            claims.append(
                ledger.claim(
                    session,
                    key="ev1/greet/0:reply",
                    account_id=account_id,
                    event_id=None,
                    order_pk=order_pk,
                    rule="greet",
                    kind="reply",
                    at=NOW,
                )
            )
    first, second = claims
    assert first is not None and first.state == ActionState.PENDING
    assert second is None
    with store.transaction() as session:
        ledger.transition(session, first.id, ActionState.SENT, at=NOW, count_attempt=True)
        (open_row,) = ledger.open_actions(session)
    assert open_row.attempts == 1 and open_row.state.is_open


def test_an_order_is_released_at_most_once_and_counts_against_limits(store: Store) -> None:
    account_id, order_pk = order(store)
    results, action_ids = [], []
    for action in range(2):
        with store.transaction() as session:
            action_row = claimed_action(session, account_id, order_pk, f"k{action}", at=NOW)
            action_ids.append(action_row.id)
            results.append(
                releases.claim_release(
                    session,
                    account_id=account_id,
                    order_pk=order_pk,
                    action_id=action_row.id,
                    amount=Decimal("8145.00"),
                    currency="RUB",
                    counterparty_user_id="60012345",
                    at=NOW,
                )
            )
    assert results == [True, False]
    with store.transaction() as session:
        total = releases.released_total(
            session, account_id=account_id, currency="RUB", since=NOW - timedelta(hours=1)
        )
        assert total == Decimal("8145.00")
        releases.settle_release(session, order_pk, "failed", action_id=action_ids[0], at=NOW)
        after = releases.released_total(
            session, account_id=account_id, currency="RUB", since=NOW - timedelta(hours=1)
        )
    assert after == 0  # a release the exchange refused does not use up the limit


def test_evidence_reference_and_order_are_used_once(store: Store) -> None:
    account_id, order_pk = order(store)
    with store.transaction() as session:
        kwargs = dict(
            amount=Decimal("8145.00"),
            currency="RUB",
            payer_name="Oleg S",
            reference="bank-1",
            received_at=NOW,
            source="test",
            account_id=account_id,
            at=NOW,
        )
        first = payments.add_payment(session, **kwargs)  # type: ignore[arg-type]
        replay = payments.add_payment(session, **kwargs)  # type: ignore[arg-type]
        other = payments.add_payment(session, **{**kwargs, "reference": "bank-2"})  # type: ignore[arg-type]
        assert first is not None and replay is None and other is not None
        assert payments.match(session, first.id, order_pk, at=NOW)
        assert not payments.match(session, other.id, order_pk, at=NOW)
        assert [p.reference for p in payments.unmatched(session)] == ["bank-2"]
