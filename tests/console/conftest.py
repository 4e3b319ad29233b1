"""Fixtures for the console: a config with two operators, the app on a real store, a login."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from p2pilot.config import Config, load_config
from p2pilot.console.app import create_app
from p2pilot.console.auth import hash_password
from p2pilot.store.accounts import ensure_account
from p2pilot.store.engine import Store
from p2pilot.store.models import ChatMessageRow, PaymentRow
from tests.orderrows import sell_order_row

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-22"}
SESSION_SECRET = "console-test-session-secret-0123456789abcdef"
# Hashing costs tens of milliseconds: once per run.
_HASHES: dict[str, str] = {}


def password_hash(name: str) -> str:
    if name not in _HASHES:
        _HASHES[name] = hash_password(PASSWORDS[name])
    return _HASHES[name]


def console_toml(db_url: str, *, extra: str = "", users: tuple[str, ...] = ("alice", "bob")) -> str:
    """A config for the console on ``db_url`` with the given operators."""
    people = "".join(
        f'\n[[console.users]]\nname = "{name}"\npassword_hash = "{password_hash(name)}"\n'
        for name in users
    )
    return f"""
[database]
url = "{db_url}"

[[accounts]]
name = "desk"
api_key = "k"
api_secret = "s"
base_url = "http://127.0.0.1:9"

[safety]
release_mode = "approve"
release_max_amount = {{ RUB = "500000" }}
release_daily_limit = {{ RUB = "1000000" }}

[console]
listen = "127.0.0.1:0"
session_secret = "{SESSION_SECRET}"
{extra}
{people}
"""


@pytest.fixture
def console_config(tmp_path: Path, store: Store) -> Config:
    path = tmp_path / "console.toml"
    path.write_text(console_toml(store.engine.url.render_as_string(hide_password=False)))
    return load_config(path)


@pytest.fixture
def app_client(console_config: Config, store: Store) -> Iterator[TestClient]:
    """An anonymous client of the console app (base URL https, so cookies are Secure)."""
    app = create_app(console_config, store)
    with TestClient(app, base_url="https://console.test", follow_redirects=False) as client:
        yield client


def login_token(client: TestClient) -> str:
    """The CSRF token of the login form (its cookie is set by the same answer)."""
    page = client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def log_in(client: TestClient, name: str = "alice", password: str | None = None) -> Any:
    token = login_token(client)
    return client.post(
        "/login",
        data={"name": name, "password": password or PASSWORDS[name], "csrf": token},
    )


def page_csrf(client: TestClient, path: str = "/") -> str:
    """The session's CSRF token as a page carries it (for forms and htmx)."""
    page = client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    """A client logged in as alice."""
    assert log_in(app_client).status_code == 303
    return app_client


def seed_order(
    store: Store,
    exchange_id: str,
    *,
    account: str = "desk",
    amount: str = "500.00",
    counterparty: str = "Buyer",
    age: timedelta = timedelta(minutes=3),
    **changes: Any,
) -> int:
    """A stored paid sell order; its primary key."""
    created = datetime.now(UTC) - age
    with store.transaction() as session:
        account_id = ensure_account(session, account)
        row = sell_order_row(
            account_id,
            exchange_id,
            amount,
            counterparty_nickname=counterparty,
            counterparty_user_id="777",
            created_at=created,
            first_seen_at=created,
            **changes,
        )
        session.add(row)
        session.flush()
        return row.id


def seed_chat(store: Store, order_id: str, text: str, *, sender: str = "Buyer") -> None:
    with store.transaction() as session:
        account_id = ensure_account(session, "desk")
        session.add(
            ChatMessageRow(
                account_id=account_id,
                order_id=order_id,
                message_id=f"m-{order_id}-{abs(hash(text))}",
                sender_user_id="777",
                sender_nickname=sender,
                text=text,
                content_type="str",
                msg_type=1,
                role="user",
                msg_uuid=None,
                api="order",
                created_at=datetime.now(UTC),
                raw={},
            )
        )


def seed_payment(
    store: Store, *, amount: str, payer: str, reference: str, order_pk: int | None = None
) -> int:
    now = datetime.now(UTC)
    with store.transaction() as session:
        row = PaymentRow(
            account_id=None,
            amount=Decimal(amount),
            currency="RUB",
            payer_name=payer,
            reference=reference,
            received_at=now,
            source="test",
            order_id=order_pk,
            matched_at=now if order_pk else None,
            note=None,
            created_at=now,
        )
        session.add(row)
        session.flush()
        return row.id
