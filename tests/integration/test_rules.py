"""Rules that act, against the simulator, on SQLite and PostgreSQL.

The daemon runs in-process (``Daemon.start`` + ``run_once``); the simulator's
request log is the witness of what reached the exchange. ``run_daemon(config, sim)``
reaches the simulator through the in-memory exchange; the tests about what HTTP
does to an action (a lost response, a 429) build their daemon over HTTP.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from structlog.testing import capture_logs
from werkzeug import Request, Response

from p2pilot.config import Config, parse_config
from p2pilot.rules.engine import RETRY_AFTER
from p2pilot.service import Daemon
from p2pilot.signing import verify
from p2pilot.simulator.server import SimulatorServer
from p2pilot.store import ledger, payments
from p2pilot.store import orders as stored_orders
from p2pilot.store.ledger import ActionState

from ..evidence import report_payment
from .simdesk import FAST, control, in_process, running_simulator, served, sim_status, took_effect

KEY, SECRET = "rules-key", "rules-secret-123"
FINISH = "/v5/p2p/order/finish"
SEND = "/v5/p2p/order/message/send"
COUNTERPARTY = "/v5/p2p/user/order/personal/info"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with running_simulator({KEY: SECRET}) as server:
        yield server


def make_config(
    db_url: str, sim: SimulatorServer, *, rules: list[dict[str, Any]], **sections: Any
) -> Config:
    account = {
        "name": "desk",
        "api_key": KEY,
        "api_secret": SECRET,
        "base_url": sim.url,
        **FAST,
        "timeout": "2s",
    }
    account.update(sections.pop("account", {}))
    document: dict[str, Any] = {
        "database": {"url": db_url},
        "logging": {"format": "json"},
        "accounts": [account],
        "safety": {
            "release_max_amount": {"RUB": "10000"},
            "release_daily_limit": {"RUB": "12000"},
            "release_mode": "auto",
        },
        "rules": rules,
    }
    document.update(sections)
    return parse_config(document)


GREET = {
    "name": "greet",
    "on": "order.created",
    "if": {"side": "sell"},
    "reply": "Hi {order.counterparty}, pay {order.amount} {order.currency}",
}
RELEASE = {
    "name": "auto-release",
    "on": ["order.paid", "payment.received"],
    "if": {"payment_confirmed": True, "counterparty_min_orders": 20},
    "release": True,
}


def run_daemon(config: Config, in_memory: SimulatorServer | None = None) -> Daemon:
    """A started daemon after one pass; ``in_memory`` reaches that simulator in-process."""
    daemon = Daemon(config, client_factory=in_process(in_memory)) if in_memory else Daemon(config)
    daemon.start()
    assert daemon.run_once() == 0
    return daemon


def actions_of(daemon: Daemon, order_id: str) -> list[dict[str, Any]]:
    with daemon.store.transaction() as session:
        view = stored_orders.get_order(session, order_id)
    assert view is not None
    return view.to_json()["actions"]  # type: ignore[no-any-return]


def confirm(daemon: Daemon, order_id: str, amount: str, payer: str = "") -> None:
    result = report_payment(
        daemon.store, amount, f"bank-{order_id}", payer=payer, account="desk", order_id=order_id
    )
    assert result.order_id == order_id


def test_reply_goes_out_once_per_new_order(sim: SimulatorServer, db_url: str) -> None:
    first = control(
        sim, "orders", side="sell", amount="1500.00", price="81.00", counterparty="anna_k"
    )["id"]
    daemon = run_daemon(make_config(db_url, sim, rules=[GREET]), sim)
    second = control(sim, "orders", side="sell", amount="700.00", price="81.00")["id"]
    control(sim, "orders", side="buy", amount="300.00", price="80.00")  # not ours to greet
    for _ in range(3):
        assert daemon.run_once() == 0
    daemon.close()

    sends = served(sim, SEND)
    assert sorted(s["body"]["orderId"] for s in sends) == sorted([first, second])
    greeting = next(s["body"] for s in sends if s["body"]["orderId"] == first)
    assert greeting["message"] == "Hi anna_k, pay 1500.00 RUB"
    assert greeting["msgUuid"]  # derived from the ledger key: a resend is recognisable
    (action,) = actions_of(daemon, first)
    assert action["state"] == "succeeded" and action["kind"] == "reply"
    assert action["detail"]["msg_uuid"] == greeting["msgUuid"]


def test_release_needs_evidence_and_happens_once(sim: SimulatorServer, db_url: str) -> None:
    order_id = control(sim, "orders", side="sell", amount="8145.00", price="81.45")["id"]
    control(sim, f"orders/{order_id}/pay")
    daemon = run_daemon(make_config(db_url, sim, rules=[RELEASE]), sim)
    # Paid, but no evidence: the rule does not match, nothing is released.
    assert served(sim, FINISH) == []
    assert sim_status(sim, order_id) == 20

    confirm(daemon, order_id, "8145.00")
    assert daemon.run_once() == 0
    assert daemon.run_once() == 0
    daemon.close()

    assert len(served(sim, FINISH)) == 1
    assert sim_status(sim, order_id) == 50
    (action,) = actions_of(daemon, order_id)
    assert action["state"] == "succeeded"
    guards = {g["guard"]: g["ok"] for g in action["detail"]["guards"]}
    assert all(guards.values())
    assert {
        "status_paid",
        "max_amount",
        "daily_limit",
        "payment_evidence",
        "counterparty_min_orders",
    } <= set(guards)


def test_guard_failure_is_recorded_and_nothing_released(sim: SimulatorServer, db_url: str) -> None:
    small = control(sim, "orders", side="sell", amount="5000.00", price="81.00")["id"]
    big = control(sim, "orders", side="sell", amount="9000.00", price="81.00")["id"]
    for order_id in (small, big):
        control(sim, f"orders/{order_id}/pay")
    daemon = run_daemon(make_config(db_url, sim, rules=[RELEASE]), sim)
    confirm(daemon, small, "5000.00")
    assert daemon.run_once() == 0
    confirm(daemon, big, "9000.00")  # 5000 + 9000 > the 12000 daily limit
    assert daemon.run_once() == 0
    daemon.close()

    assert [e["body"]["orderId"] for e in served(sim, FINISH)] == [small]
    (refused,) = actions_of(daemon, big)
    assert refused["state"] == "skipped"
    failed = [g for g in refused["detail"]["guards"] if not g["ok"]]
    assert [g["guard"] for g in failed] == ["daily_limit"]
    assert "daily_limit" in refused["error"]


def test_shadow_mode_records_would_release(sim: SimulatorServer, db_url: str) -> None:
    order_id = control(sim, "orders", side="sell", amount="100.00", price="81.00")["id"]
    control(sim, f"orders/{order_id}/pay")
    config = make_config(
        db_url,
        sim,
        rules=[RELEASE],
        safety={"release_max_amount": {"RUB": "10000"}, "release_daily_limit": {"RUB": "12000"}},
    )
    daemon = run_daemon(config, sim)
    confirm(daemon, order_id, "100.00")
    assert daemon.run_once() == 0
    daemon.close()
    assert served(sim, FINISH) == []
    (action,) = actions_of(daemon, order_id)
    assert action["state"] == "skipped"
    assert [g["guard"] for g in action["detail"]["guards"] if not g["ok"]] == ["auto_release"]


def test_dry_run_decides_but_calls_nothing(sim: SimulatorServer, db_url: str) -> None:
    order_id = control(sim, "orders", side="sell", amount="100.00", price="81.00")["id"]
    control(sim, f"orders/{order_id}/pay")
    config = make_config(db_url, sim, rules=[GREET, RELEASE], account={"dry_run": True})
    daemon = run_daemon(config, sim)
    confirm(daemon, order_id, "100.00")
    assert daemon.run_once() == 0
    daemon.close()
    assert served(sim, FINISH) == [] and served(sim, SEND) == []
    states = {a["kind"]: a["state"] for a in actions_of(daemon, order_id)}
    assert states == {"reply": "dry_run", "release": "dry_run"}


def test_lost_release_response_is_settled_by_reading_the_order(
    sim: SimulatorServer, db_url: str
) -> None:
    order_id = control(sim, "orders", side="sell", amount="300.00", price="81.00")["id"]
    control(sim, f"orders/{order_id}/pay")
    daemon = run_daemon(make_config(db_url, sim, rules=[RELEASE]))
    control(sim, "faults", fault="lost_response", paths=[FINISH], count=1)
    confirm(daemon, order_id, "300.00")
    assert daemon.run_once() == 0
    (action,) = actions_of(daemon, order_id)
    assert action["state"] == "unknown"
    daemon.close()

    restarted = Daemon(daemon.config)
    restarted.start()  # startup reconciliation reads the order back
    restarted.close()
    (action,) = actions_of(restarted, order_id)
    assert action["state"] == "succeeded"
    finishes = [
        e for e in requests.get(f"{sim.url}/_sim/requests", timeout=5).json() if e["path"] == FINISH
    ]
    assert len(finishes) == 1  # never sent twice


class SteppedClock:
    """Real time, moved ahead on demand: waits are over without sleeping."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


def test_refused_writes_are_retried_later_never_lost(sim: SimulatorServer, db_url: str) -> None:
    greeted = control(sim, "orders", side="sell", amount="300.00", price="81.00")["id"]
    paid = control(sim, "orders", side="sell", amount="400.00", price="81.00")["id"]
    control(sim, f"orders/{paid}/pay")
    clock = SteppedClock()
    daemon = Daemon(make_config(db_url, sim, rules=[GREET, RELEASE]), clock=clock)
    daemon.start()
    # The exchange refuses (and so does nothing): the writes wait for the retry pass.
    control(sim, "faults", fault="http_429", paths=[SEND], count=2)
    control(sim, "faults", fault="rate_limit", paths=[FINISH], count=1, reset_in_ms=10)
    assert daemon.run_once() == 0
    confirm(daemon, paid, "400.00")
    daemon.dispatcher.drain()
    states = {a["kind"]: a["state"] for a in actions_of(daemon, greeted)}
    assert states == {"reply": "pending"}
    assert sim_status(sim, paid) == 20
    assert [a["state"] for a in actions_of(daemon, paid) if a["kind"] == "release"] == ["pending"]

    daemon.run_once()  # too early: nothing is retried within RETRY_AFTER
    assert took_effect(sim, SEND) == [] and took_effect(sim, FINISH) == []
    clock.ahead += RETRY_AFTER
    daemon.run_once()
    clock.ahead += RETRY_AFTER
    daemon.run_once()
    daemon.close()

    assert sorted(s["body"]["orderId"] for s in took_effect(sim, SEND)) == sorted([greeted, paid])
    assert [e["body"]["orderId"] for e in took_effect(sim, FINISH)] == [paid]
    assert sim_status(sim, paid) == 50
    (reply,) = [a for a in actions_of(daemon, greeted) if a["kind"] == "reply"]
    assert reply["state"] == "succeeded" and reply["attempts"] >= 2


def test_release_waits_out_an_unreadable_counterparty_profile(
    sim: SimulatorServer, db_url: str
) -> None:
    # The ban flag is in the buyer's profile: when the exchange cannot be asked for it
    # the decision waits for the retry pass, it is not a refusal that strands the order.
    order_id = control(sim, "orders", side="sell", amount="400.00", price="81.00")["id"]
    control(sim, f"orders/{order_id}/pay")
    clock = SteppedClock()
    rule = {**RELEASE, "if": {"payment_confirmed": True}}  # the profile is read by the guard
    daemon = Daemon(make_config(db_url, sim, rules=[rule]), clock=clock)
    daemon.start()
    assert daemon.run_once() == 0
    control(sim, "faults", fault="http_429", paths=[COUNTERPARTY], count=1)
    with capture_logs() as logs:
        confirm(daemon, order_id, "400.00")
        daemon.dispatcher.drain()
    undecided = [e for e in logs if e["event"] == "release.undecided"]
    assert [e["reason"] for e in undecided] == ["counterparty profile read failed"]
    (release,) = [a for a in actions_of(daemon, order_id) if a["kind"] == "release"]
    assert release["state"] == "pending"
    assert sim_status(sim, order_id) == 20

    clock.ahead += RETRY_AFTER
    daemon.run_once()
    daemon.close()
    assert [e["body"]["orderId"] for e in took_effect(sim, FINISH)] == [order_id]
    (release,) = [a for a in actions_of(daemon, order_id) if a["kind"] == "release"]
    assert release["state"] == "succeeded"


def test_the_buyers_profile_is_read_only_for_a_decision_that_could_release(
    sim: SimulatorServer, db_url: str
) -> None:
    # Evidence before the buyer pays: that decision is refused by the order's status,
    # so it costs no profile read; the one after the payment reads it once.
    order_id = control(sim, "orders", side="sell", amount="400.00", price="81.00")["id"]
    rule = {**RELEASE, "if": {"payment_confirmed": True}}
    daemon = run_daemon(make_config(db_url, sim, rules=[rule]), sim)
    confirm(daemon, order_id, "400.00")
    daemon.dispatcher.drain()
    (early,) = [a for a in actions_of(daemon, order_id) if a["kind"] == "release"]
    assert early["state"] == "skipped"
    blocked = next(g for g in early["detail"]["guards"] if g["guard"] == "counterparty_not_blocked")
    assert blocked["detail"] == "not read: the order is not paid yet"
    assert served(sim, COUNTERPARTY) == []

    control(sim, f"orders/{order_id}/pay")
    assert daemon.run_once() == 0
    daemon.close()
    assert [e["body"]["orderId"] for e in took_effect(sim, FINISH)] == [order_id]
    assert len(served(sim, COUNTERPARTY)) == 1


def test_reply_sent_before_a_crash_is_found_in_the_chat(sim: SimulatorServer, db_url: str) -> None:
    order_id = control(sim, "orders", side="sell", amount="300.00", price="81.00")["id"]
    daemon = run_daemon(make_config(db_url, sim, rules=[GREET]), sim)
    daemon.close()
    (action,) = actions_of(daemon, order_id)
    # Pretend the process died after sending but before settling the row.
    with daemon.store.transaction() as session:
        ledger.transition(session, action["id"], ActionState.SENT, at=datetime.now(UTC))
    restarted = Daemon(daemon.config)
    restarted.start()
    restarted.close()
    (action,) = actions_of(restarted, order_id)
    assert action["state"] == "succeeded"
    assert len(served(sim, SEND)) == 1


def test_webhook_command_and_notify_reach_real_receivers(
    sim: SimulatorServer, db_url: str, httpserver: HTTPServer, tmp_path: Path
) -> None:
    received: list[Request] = []

    def hook(request: Request) -> Response:
        received.append(request)
        return Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(hook)
    httpserver.expect_request("/notify", method="POST").respond_with_handler(hook)
    script = tmp_path / "hook.py"
    out = tmp_path / "event.json"
    script.write_text(f"import sys; open({str(out)!r}, 'w').write(sys.stdin.read())\n")
    rules = [
        {
            "name": "tell-everyone",
            "on": "order.created",
            "webhook": {"url": httpserver.url_for("/hook"), "secret": "hook-secret-1"},
            "command": [sys.executable, str(script)],
            "notify": {
                "urls": [f"json://127.0.0.1:{httpserver.port}/notify"],
                "title": "New order {order.id}",
            },
        }
    ]
    order_id = control(sim, "orders", side="sell", amount="42.00", price="81.00")["id"]
    daemon = run_daemon(make_config(db_url, sim, rules=rules), sim)
    daemon.close()

    hooks = [r for r in received if r.path == "/hook"]
    assert len(hooks) == 1
    body = hooks[0].get_data()
    verify("hook-secret-1", dict(hooks[0].headers), body)
    document = json.loads(body)
    assert document["event"] == "order.created" and document["payload"]["order_id"] == order_id
    assert hooks[0].headers["Idempotency-Key"].startswith("ev")
    assert json.loads(out.read_text())["payload"]["amount"] == "42.00"
    notes = [r for r in received if r.path == "/notify"]
    assert len(notes) == 1 and order_id in notes[0].get_data(as_text=True)
    states = {a["kind"]: a["state"] for a in actions_of(daemon, order_id)}
    assert states == {"webhook": "succeeded", "notify": "succeeded", "command": "succeeded"}


def test_posted_evidence_is_matched_and_released_at_once(sim: SimulatorServer, db_url: str) -> None:
    from p2pilot.evidence.payment_hook import PaymentHook
    from p2pilot.evidence.routes import evidence_routes
    from p2pilot.evidence.server import EvidenceServer
    from p2pilot.rules.actions.webhook import encode
    from p2pilot.signing import signature_headers

    order_id = control(
        sim,
        "orders",
        side="sell",
        amount="2500.00",
        price="81.00",
        counterparty="oleg_s",
        counterparty_real_name="OLEG S",
    )["id"]
    control(sim, f"orders/{order_id}/pay")
    daemon = run_daemon(make_config(db_url, sim, rules=[RELEASE]), sim)
    hook = PaymentHook(
        secret="hook-key-123",
        store=daemon.store,
        clock=daemon.clock,
        on_recorded=lambda _result: daemon.dispatcher.drain(),
    )
    server = EvidenceServer("127.0.0.1:0", evidence_routes(payments=hook))
    server.start()
    try:
        payment = {
            "amount": "2500.00",
            "currency": "RUB",
            "payer_name": "Sidorov Oleg",
            "reference": "sbp-0001",
            "received_at": datetime.now(UTC).isoformat(),  # after the order was placed
        }
        body = encode(payment)
        unsigned = requests.post(f"{server.address}/v1/payments", data=body, timeout=5)
        assert unsigned.status_code == 401
        headers = {"Content-Type": "application/json", **signature_headers("hook-key-123", body)}
        posted = requests.post(
            f"{server.address}/v1/payments", data=body, headers=headers, timeout=5
        )
        assert posted.status_code == 201, posted.text
        assert posted.json()["order_id"] == order_id, posted.json()
        # Released by the request itself, before any further poll.
        assert sim_status(sim, order_id) == 50
        replay = requests.post(
            f"{server.address}/v1/payments", data=body, headers=headers, timeout=5
        )
        assert replay.status_code == 409
        floaty = encode({**payment, "reference": "sbp-0002", "amount": 2500.5})
        bad = requests.post(
            f"{server.address}/v1/payments",
            data=floaty,
            headers={**headers, **signature_headers("hook-key-123", floaty)},
            timeout=5,
        )
        assert bad.status_code == 400 and "decimal string" in bad.json()["error"]
    finally:
        server.stop()
        daemon.close()
    assert len(served(sim, FINISH)) == 1


def test_reply_with_attachment_uploads_then_posts_the_file(
    sim: SimulatorServer, db_url: str, tmp_path: Path
) -> None:
    receipt = tmp_path / "requisites.png"
    receipt.write_bytes(b"\x89PNG\r\n\x1a\nnot really an image")
    rules = [
        {
            "name": "requisites",
            "on": "order.created",
            "reply": {"text": "Pay by SBP, details attached", "attachment": str(receipt)},
        }
    ]
    order_id = control(sim, "orders", side="sell", amount="600.00", price="81.00")["id"]
    daemon = run_daemon(make_config(db_url, sim, rules=rules), sim)
    daemon.close()
    assert len(served(sim, "/v5/p2p/oss/upload_file")) == 1
    sends = [e["body"] for e in served(sim, SEND)]
    assert [s["contentType"] for s in sends] == ["str", "pic"]
    assert sends[1]["message"].startswith("/fiat/p2p/oss/") and sends[1]["fileName"] == receipt.name
    assert len({s["msgUuid"] for s in sends}) == 2
    (action,) = actions_of(daemon, order_id)
    assert action["state"] == "succeeded"


def test_mark_paid_declares_the_named_method_on_buy_orders(
    sim: SimulatorServer, db_url: str
) -> None:
    rules = [
        {
            "name": "pay-flag",
            "on": "order.created",
            "if": {"side": "buy"},
            "mark_paid": "Bank Transfer",
        }
    ]
    order_id = control(sim, "orders", side="buy", amount="800.00", price="80.00")["id"]
    daemon = run_daemon(make_config(db_url, sim, rules=rules), sim)
    daemon.close()
    (paid,) = [e["body"] for e in served(sim, "/v5/p2p/order/pay")]
    assert paid["orderId"] == order_id and paid["paymentType"] == "14"
    assert isinstance(paid["paymentId"], str)
    assert sim_status(sim, order_id) == 20
    (action,) = actions_of(daemon, order_id)
    assert action["state"] == "succeeded" and action["detail"]["payment_type"] == 14


def test_a_paid_order_is_released_on_the_reads_the_tick_already_made(
    sim: SimulatorServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import select

    from p2pilot.exchange.parse import parse_order_detail
    from p2pilot.rules.actions import release_inputs
    from p2pilot.store.models import OrderRow

    # The window is a second; a loaded CI machine may take longer between the tick's
    # read and the decision, so this test widens it: the path under test is the same.
    monkeypatch.setattr(release_inputs, "REREAD_MAX_AGE", 30.0)
    rule = {**RELEASE, "if": {"payment_confirmed": True}}
    order_id = control(sim, "orders", side="sell", amount="3100.00", price="81.00")["id"]
    daemon = run_daemon(make_config(db_url, sim, rules=[rule]), sim)  # stored: one order/info
    confirm(daemon, order_id, "3100.00")  # the bank reported it before the buyer clicked
    control(sim, f"orders/{order_id}/pay")
    for _ in range(3):  # the paid tick releases; the next ones find nothing to read
        assert daemon.run_once() == 0

    infos = [e for e in served(sim, "/v5/p2p/order/info") if e["body"]["orderId"] == order_id]
    assert len(infos) == 2, infos  # on appearance and on paid; none to re-check or confirm
    assert len(served(sim, FINISH)) == 1 and sim_status(sim, order_id) == 50
    # order.paid released; payment.received then found the release recorded.
    released, stood_down = actions_of(daemon, order_id)
    status_guard = next(g for g in released["detail"]["guards"] if g["guard"] == "status_paid")
    assert status_guard["ok"] and " s before" in status_guard["detail"], status_guard
    assert stood_down["state"] == "skipped" and "already claimed" in stood_down["error"]
    with daemon.store.transaction() as session:
        view = stored_orders.get_order(session, order_id)
        assert view is not None and view.order.status == 50
        kinds = [h.type for h in view.history]
        assert kinds.count("order.completed") == 1, kinds
        # A tick that read the order just before the release lands afterwards: its
        # "paid" is old news, not an anomaly.
        row = session.scalars(select(OrderRow).where(OrderRow.exchange_id == order_id)).one()
        stale = {**row.raw, "status": 20}
        assert (
            stored_orders.apply_order(
                session,
                row.account_id,
                parse_order_detail({"retCode": 0, "retMsg": "OK", "result": stale}),
                now=datetime.now(UTC),
            )
            == []
        )
    daemon.close()


def test_evidence_that_came_first_is_bound_with_the_configured_tolerance(
    sim: SimulatorServer, db_url: str
) -> None:
    config = make_config(db_url, sim, rules=[RELEASE], evidence={"amount_tolerance": "1.00"})
    daemon = run_daemon(config, sim)
    order_id = control(
        sim,
        "orders",
        side="sell",
        amount="3000.00",
        price="81.00",
        counterparty="anna_k",
        counterparty_real_name="ANNA K",
    )["id"]

    def report(amount: str, payer: str, reference: str) -> str | None:
        policy = config.evidence.match_policy
        return report_payment(
            daemon.store, amount, reference, payer=payer, source="http", policy=policy
        ).order_id

    # The bank is quicker than the next poll: the order is not stored yet.
    assert report("2999.50", "Anna Kovaleva", "bank-early") is None
    assert report("123.00", "Someone Else", "bank-stray") is None  # no order's money
    control(sim, f"orders/{order_id}/pay")
    assert daemon.run_once() == 0
    assert daemon.run_once() == 0
    daemon.close()

    # Bound within the configured tolerance (not the default, exact), then released.
    assert sim_status(sim, order_id) == 50
    assert len(served(sim, FINISH)) == 1
    with daemon.store.transaction(read_only=True) as session:
        view = stored_orders.get_order(session, order_id)
        stray = [p.reference for p in payments.unmatched(session)]
    assert view is not None and view.evidence is not None
    assert view.evidence["reference"] == "bank-early"
    assert stray == ["bank-stray"]
