"""``POST /v1/notifications`` over a real socket: tokens, forwarder shapes, repeats, unparsed."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from p2pilot.config.intake import SourceConfig
from p2pilot.evidence.notification_hook import NotificationHook
from p2pilot.evidence.routes import evidence_routes
from p2pilot.evidence.server import EvidenceServer
from p2pilot.evidence.templates import Template
from p2pilot.evidence.texts import TextIntake
from p2pilot.logging import configure_logging
from p2pilot.store import notifications
from p2pilot.store.accounts import ensure_account
from p2pilot.store.engine import Store

TOKEN, OTHER = "phone-TOKEN-3b8e61f0aa", "tablet-TOKEN-77d2c4e915"
SMS = Template.build(
    "sms",
    r"Перевод (?P<amount>\d[\d\s]*(?:,\d\d)?\s?р)\.? от (?P<payer>[^\d\n]+?)\.?\s+Баланс",
    sender="^900$",
)
TEXT = "Перевод 2 500,00р от Анна Ковалева. Баланс: 10 000,00р"


@pytest.fixture
def server(store: Store) -> Iterator[EvidenceServer]:
    with store.transaction() as session:
        ensure_account(session, "desk")
    intake = TextIntake(store, [SMS], clock=lambda: datetime.now(UTC))
    sources = [
        SourceConfig.model_validate({"name": "phone", "token": TOKEN}),
        SourceConfig.model_validate({"name": "tablet", "token": OTHER}),
    ]
    hook = NotificationHook(sources=sources, intake=intake, clock=lambda: datetime.now(UTC))
    subject = EvidenceServer("127.0.0.1:0", evidence_routes(payments=None, notices=hook))
    subject.start()
    yield subject
    subject.stop()


def post(
    server: EvidenceServer, document: Any, token: str | None = TOKEN, **kw: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(
        f"{server.address}/v1/notifications", json=document, headers=headers, timeout=10, **kw
    )


def test_a_forwarded_sms_becomes_evidence_once(server: EvidenceServer, store: Store) -> None:
    first = post(server, {"from": "900", "text": TEXT})
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "evidence" and first.json()["repeat"] is False
    retry = post(server, {"from": "900", "text": TEXT})  # the forwarder did not hear back
    assert retry.status_code == 200 and retry.json()["repeat"] is True
    assert retry.json()["notification_id"] == first.json()["notification_id"]
    # The other phone forwards the same SMS: the same text, the same transfer.
    other = post(server, {"sender": "900", "message": TEXT}, token=OTHER)
    assert other.status_code == 200 and other.json()["repeat"] is True


def test_an_unreadable_text_is_kept_as_unparsed(server: EvidenceServer, store: Store) -> None:
    answer = post(server, {"from": "900", "text": "Списание 300р Кофейня. Баланс: 9 700р"})
    assert answer.status_code == 201 and answer.json()["status"] == "unparsed"
    with store.transaction(read_only=True) as session:
        (kept,) = notifications.unparsed(session)
    assert kept.source == "phone" and kept.sender == "900" and kept.text.startswith("Списание")


def test_tokens_are_required_checked_and_never_logged(server: EvidenceServer) -> None:
    buffer = io.StringIO()
    configure_logging(level="info", fmt="json", secrets=[TOKEN, OTHER], stream=buffer)
    missing = post(server, {"from": "900", "text": TEXT}, token=None)
    assert missing.status_code == 401
    wrong = post(server, {"from": "900", "text": TEXT}, token="guessed-" + TOKEN)
    assert wrong.status_code == 401 and wrong.json() == {"error": "unknown token"}
    basic = requests.post(
        f"{server.address}/v1/notifications",
        json={"text": TEXT},
        headers={"Authorization": f"Basic {TOKEN}"},
        timeout=10,
    )
    assert basic.status_code == 401
    assert post(server, {"from": "900", "text": TEXT}).status_code == 201
    logged = buffer.getvalue()
    lines = [json.loads(line) for line in logged.splitlines()]
    assert any(line["event"] == "evidence.refused" for line in lines)
    assert TOKEN not in logged and OTHER not in logged
    assert TOKEN not in wrong.text and TOKEN not in missing.text


def test_what_is_not_a_notification_is_refused(server: EvidenceServer) -> None:
    assert post(server, {"from": "900"}).status_code == 400
    garbage = requests.post(
        f"{server.address}/v1/notifications",
        data=b"{nope",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert garbage.status_code == 400 and "not JSON" in garbage.json()["error"]
