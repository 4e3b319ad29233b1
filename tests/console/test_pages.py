"""What the pages and the API show, from a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from starlette.testclient import TestClient

from p2pilot.store.engine import Store
from p2pilot.store.models import ActionRow
from tests.console.conftest import seed_chat, seed_order, seed_payment

SCRIPT = "<script>alert('pwned')</script>"


def test_the_desk_lists_open_orders_with_what_they_wait_for(
    client: TestClient, store: Store
) -> None:
    seed_order(store, "1001", amount="900.00", age=timedelta(minutes=7))
    pk = seed_order(store, "1002", amount="1200.50", counterparty="Anna")
    seed_payment(store, amount="1200.50", payer="ANNA K", reference="ref-1", order_pk=pk)
    seed_order(store, "1003", status=50)  # completed: not open
    seed_order(store, "1004", status=10)
    page = client.get("/")
    assert page.status_code == 200
    text = page.text
    assert 'data-order="1001"' in text and 'data-order="1002"' in text
    assert 'data-order="1003"' not in text
    assert "900.00 RUB" in text and "1200.50 RUB" in text
    assert "bank evidence of the payment" in text  # 1001: paid, no evidence
    assert "release (evidence matched)" in text  # 1002
    assert "the buyer&#39;s payment" in text  # 1004
    assert "7m " in text  # its age
    # The oldest paid order is the seven-minute one.
    assert '<a href="/orders/1001">1001</a> on desk, paid 7m' in text


def test_htmx_gets_only_the_live_fragment(client: TestClient, store: Store) -> None:
    seed_order(store, "1101")
    fragment = client.get("/", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert 'data-order="1101"' in fragment.text
    assert "<html" not in fragment.text
    full = client.get("/")
    assert "<html" in full.text and 'hx-trigger="every 2s [!typing()]"' in full.text


def test_an_order_page_shows_chat_evidence_and_the_guard_table(
    client: TestClient, store: Store
) -> None:
    pk = seed_order(store, "2001", counterparty="Ivan")
    seed_chat(store, "2001", "I paid, please release")
    seed_payment(store, amount="500.00", payer="IVAN PETROV", reference="ref-2001", order_pk=pk)
    with store.transaction() as session:
        session.add(
            ActionRow(
                key="release:2001",
                account_id=1,
                event_id=None,
                order_id=pk,
                kind="release",
                rule="auto-release",
                state="skipped",
                attempts=1,
                detail={
                    "decision": "refused",
                    "guards": [
                        {"guard": "max_amount", "ok": True, "value": "500.00", "limit": "5000"},
                        {"guard": "payer_name", "ok": False, "detail": "IVAN PETROV vs Ivan"},
                    ],
                },
                error=None,
                created_at=_now(),
                updated_at=_now(),
            )
        )
    page = client.get("/orders/2001")
    assert page.status_code == 200
    text = page.text
    assert "I paid, please release" in text
    assert "IVAN PETROV" in text and "ref-2001" in text
    assert "max_amount" in text and "payer_name" in text and ">NO<" in text
    assert "auto-release" in text


def test_buyer_text_is_escaped_everywhere(client: TestClient, store: Store) -> None:
    seed_order(store, "3001", counterparty=SCRIPT)
    seed_chat(store, "3001", SCRIPT, sender=SCRIPT)
    seed_payment(store, amount="77.00", payer=SCRIPT, reference=SCRIPT)
    for path in ("/", "/orders/3001", "/payments"):
        text = client.get(path).text
        assert SCRIPT not in text, path
        assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in text, path
    # The API is JSON: the text as written, for a script to escape as it needs.
    assert client.get("/api/v1/orders/3001").json()["counterparty"] == SCRIPT


def test_an_unknown_order_is_404(client: TestClient) -> None:
    assert client.get("/orders/nope").status_code == 404
    assert client.get("/api/v1/orders/nope").status_code == 404


def test_the_payments_page_lists_unmatched_evidence(client: TestClient, store: Store) -> None:
    pk = seed_order(store, "4001")
    seed_payment(store, amount="500.00", payer="MATCHED ONE", reference="ref-m", order_pk=pk)
    seed_payment(store, amount="321.00", payer="NOBODY KNOWN", reference="ref-u")
    text = client.get("/payments").text
    unmatched = text.split('id="unmatched"')[1].split("</table>")[0]
    assert "NOBODY KNOWN" in unmatched and "321.00 RUB" in unmatched
    assert "MATCHED ONE" not in unmatched
    api = client.get("/api/v1/payments", params={"unmatched": "1"}).json()
    assert [p["payer_name"] for p in api] == ["NOBODY KNOWN"]


def test_the_orders_api_filters_and_limits(client: TestClient, store: Store) -> None:
    for index in range(5):
        seed_order(store, f"60{index}", age=timedelta(minutes=10 - index))
    seed_order(store, "699", status=50)
    newest = client.get("/api/v1/orders", params={"limit": "2"}).json()
    assert [o["id"] for o in newest] == ["699", "604"]
    paid = client.get("/api/v1/orders", params={"status": "paid"}).json()
    assert {o["id"] for o in paid} == {f"60{i}" for i in range(5)}
    assert paid[0]["amount"] == "500.00"  # exact decimal text
    assert client.get("/api/v1/orders", params={"limit": "0"}).status_code == 400
    assert client.get("/api/v1/orders", params={"status": "bogus"}).status_code == 400


def test_blacklist_and_market_pages_render(client: TestClient, store: Store) -> None:
    from p2pilot.store import blacklist

    with store.transaction() as session:
        blacklist.add(session, kind="nickname", value=SCRIPT, reason="chargeback", at=_now())
    text = client.get("/blacklist").text
    assert "chargeback" in text and SCRIPT not in text
    assert client.get("/market").status_code == 200


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)
