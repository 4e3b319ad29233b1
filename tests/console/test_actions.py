"""Operator commands from the console's forms and API: the operator layer's, audited as console."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select
from starlette.testclient import TestClient

from p2pilot.store import approvals, audit
from p2pilot.store import payments as stored_payments
from p2pilot.store.accounts import ensure_account
from p2pilot.store.engine import Store
from p2pilot.store.models import BlacklistRow
from tests.console.conftest import page_csrf, seed_order, seed_payment
from tests.orderrows import await_approval

NOW = datetime.now(UTC)


def awaiting(store: Store, exchange_id: str, amount: str = "500.00") -> int:
    """A paid order whose release waits for an operator, as the release handler leaves it."""
    order_pk = seed_order(store, exchange_id, amount=amount)
    with store.transaction() as session:
        await_approval(session, ensure_account(session, "desk"), order_pk, exchange_id, amount, NOW)
    return order_pk


def flash(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 303, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {key: values[0] for key, values in query.items()}


def last_audit(store: Store) -> audit.AuditRecord:
    with store.transaction(read_only=True) as session:
        return audit.recent(session, limit=1)[0]


def test_the_queue_lists_a_waiting_release_and_approve_records_it(
    client: TestClient, store: Store
) -> None:
    order_pk = awaiting(store, "7001")
    seed_order(store, "7002")  # paid, not waiting for anyone
    page = client.get("/approvals").text
    assert 'data-order="7001"' in page and 'data-order="7002"' not in page
    assert "an operator&#39;s approval" in client.get("/").text
    token = page_csrf(client, "/approvals")
    answer = client.post("/approvals/7001/approve", data={"csrf": token})
    assert "approved" in flash(answer)["done"]
    assert answer.headers["location"].startswith("/approvals?")
    with store.transaction(read_only=True) as session:
        standing = approvals.standing(session, order_pk)
    assert [(a.operator, a.source) for a in standing.approvals] == [("alice", "console")]
    row = last_audit(store)
    assert (row.operator, row.source, row.command, row.order_id, row.outcome) == (
        "alice",
        "console",
        "approve",
        "7001",
        "ok",
    )
    assert "alice" in client.get("/approvals").text  # approved by, on the queue


def test_hold_needs_a_reason_and_stops_the_release(client: TestClient, store: Store) -> None:
    order_pk = awaiting(store, "7101")
    token = page_csrf(client, "/approvals")
    refused = flash(client.post("/orders/7101/hold", data={"csrf": token, "reason": " "}))
    assert "hold refused" in refused["error"]
    done = flash(client.post("/orders/7101/hold", data={"csrf": token, "reason": "buyer disputes"}))
    assert done["done"] == "held"
    with store.transaction(read_only=True) as session:
        hold = approvals.standing(session, order_pk).hold
    assert hold is not None and (hold.operator, hold.reason) == ("alice", "buyer disputes")
    # Approving now is refused unless the hold is lifted.
    again = flash(client.post("/orders/7101/approve", data={"csrf": token}))
    assert "approve refused" in again["error"]
    lifted = flash(client.post("/orders/7101/approve", data={"csrf": token, "lift_hold": "1"}))
    assert "approved" in lifted["done"]


def test_a_form_post_without_the_token_changes_nothing(client: TestClient, store: Store) -> None:
    order_pk = awaiting(store, "7201")
    assert client.post("/approvals/7201/approve").status_code == 403
    assert client.post("/approvals/7201/approve", data={"csrf": "forged"}).status_code == 403
    with store.transaction(read_only=True) as session:
        assert approvals.standing(session, order_pk).approvals == ()
        assert audit.recent(session) == []


def test_attach_binds_unmatched_evidence(client: TestClient, store: Store) -> None:
    order_pk = seed_order(store, "7301", amount="640.00")
    payment_id = seed_payment(store, amount="640.00", payer="PAYER X", reference="r-7301")
    token = page_csrf(client, "/payments")
    assert f'action="/payments/{payment_id}/attach"' in client.get("/payments").text
    done = flash(
        client.post(f"/payments/{payment_id}/attach", data={"csrf": token, "order_id": "7301"})
    )
    assert done["done"] == f"evidence {payment_id} attached"
    with store.transaction(read_only=True) as session:
        bound = stored_payments.for_order(session, order_pk)
    assert bound is not None and bound.id == payment_id
    assert last_audit(store).command == "attach"


def test_pause_and_resume_an_account_from_the_desk(client: TestClient, store: Store) -> None:
    token = page_csrf(client)
    assert flash(client.post("/accounts/desk/pause", data={"csrf": token}))["done"] == "paused"
    desk = client.get("/").text
    assert "paused by alice" in desk and 'action="/accounts/desk/resume"' in desk
    with store.transaction(read_only=True) as session:
        assert approvals.pause_of(session, ensure_account(session, "desk")) is not None
    assert flash(client.post("/accounts/desk/resume", data={"csrf": token}))["done"] == "resumed"
    unknown = flash(client.post("/accounts/nobody/pause", data={"csrf": token}))
    assert "pause refused" in unknown["error"]


def test_blacklist_add_and_remove(client: TestClient, store: Store) -> None:
    token = page_csrf(client, "/blacklist")
    added = flash(
        client.post(
            "/blacklist/add",
            data={"csrf": token, "kind": "nickname", "value": "scammer", "reason": "chargeback"},
        )
    )
    assert "blacklisted" in added["done"]
    with store.transaction(read_only=True) as session:
        entry_id = session.scalars(select(BlacklistRow.id)).one()
    assert "scammer" in client.get("/blacklist").text
    removed = flash(client.post(f"/blacklist/{entry_id}/remove", data={"csrf": token}))
    assert "removed" in removed["done"]


def test_the_api_runs_commands_with_the_session_and_its_csrf_header(
    client: TestClient, store: Store
) -> None:
    awaiting(store, "7401")
    token = page_csrf(client)
    headers = {"X-CSRF-Token": token}
    approved = client.post("/api/v1/orders/7401/approve", headers=headers)
    assert approved.status_code == 200
    assert approved.json()["ok"] is True and approved.json()["command"] == "approve"
    refused = client.post("/api/v1/orders/nope/approve", headers=headers)
    assert refused.status_code == 409 and refused.json()["ok"] is False
    paused = client.post("/api/v1/accounts/desk/pause", headers=headers, json={"reason": "audit"})
    assert paused.status_code == 200 and paused.json()["message"] == "paused"
    resumed = client.post("/api/v1/accounts/desk/resume", headers=headers)
    assert resumed.json()["message"] == "resumed"
    seed_order(store, "7402", amount="900.00")
    confirmed = client.post(
        "/api/v1/orders/7402/confirm-payment",
        headers=headers,
        json={"amount": "900.00", "reference": "bank-7402", "payer": "IVAN"},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["details"]["matched"] is True
    bad = client.post("/api/v1/orders/7402/confirm-payment", headers=headers, json={"amount": "x"})
    assert bad.status_code == 400
    assert client.post("/api/v1/orders/7401/hold", json={"reason": "r"}).status_code == 403


def test_the_audit_page_lists_commands_with_buyer_text_escaped(
    client: TestClient, store: Store
) -> None:
    token = page_csrf(client, "/blacklist")
    client.post(
        "/blacklist/add",
        data={"csrf": token, "kind": "nickname", "value": "<script>x()</script>", "reason": "r"},
    )
    page = client.get("/audit").text
    assert "blacklist-add" in page and "alice" in page
    assert "<script>x()</script>" not in page and "&lt;script&gt;x()&lt;/script&gt;" in page
