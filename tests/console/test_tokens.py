"""Bearer tokens: made by the CLI, stored as a digest, good for the API of a configured user."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sqlalchemy import select
from starlette.testclient import TestClient

from p2pilot.config import load_config
from p2pilot.console.app import create_app
from p2pilot.store import audit
from p2pilot.store.engine import Store
from p2pilot.store.models import ConsoleTokenRow
from tests import forkcli
from tests.console.conftest import console_toml, seed_order


def cli_of(config_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return forkcli.p2pilot("--config", str(config_path), "console", *args)


def make_token(config_path: Path, user: str) -> subprocess.CompletedProcess[str]:
    return forkcli.p2pilot(
        "--config", str(config_path), "console", "token", "create", "--user", user
    )


def test_a_token_from_the_cli_opens_the_api_and_acts_as_its_user(
    tmp_path: Path, store: Store
) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    path = tmp_path / "console.toml"
    path.write_text(console_toml(url))
    made = make_token(path, "bob")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("p2c_") and len(token) > 40
    with store.transaction(read_only=True) as session:
        row = session.scalars(select(ConsoleTokenRow)).one()
    assert row.operator == "bob" and token not in row.digest  # only the digest is stored

    seed_order(store, "8001")
    app = create_app(load_config(path), store)
    with TestClient(app, base_url="https://console.test") as api:
        bearer = {"Authorization": f"Bearer {token}"}
        listed = api.get("/api/v1/orders", headers=bearer)
        assert listed.status_code == 200 and [o["id"] for o in listed.json()] == ["8001"]
        # No CSRF token needed: a browser never sends a bearer token by itself.
        paused = api.post("/api/v1/accounts/desk/pause", headers=bearer)
        assert paused.status_code == 200, paused.text
        assert (
            api.get("/api/v1/orders", headers={"Authorization": "Bearer p2c_nope"}).status_code
            == 401
        )
        # A bearer token opens the API, not the pages' forms without it.
        assert api.get("/", headers=bearer).status_code == 200
    with store.transaction(read_only=True) as session:
        (record,) = audit.recent(session)
        used = session.scalars(select(ConsoleTokenRow.last_used_at)).one()
    assert (record.operator, record.source, record.command) == ("bob", "console", "pause")
    assert used is not None

    # Listed without the token itself; revoked, it opens nothing at once.
    listed = cli_of(path, "token", "list", "--json")
    assert listed.returncode == 0 and token not in listed.stdout
    (entry,) = json.loads(listed.stdout)
    assert entry["operator"] == "bob" and entry["last_used_at"] is not None
    with TestClient(app, base_url="https://console.test") as api:
        assert cli_of(path, "token", "revoke", str(entry["id"])).returncode == 0
        bearer = {"Authorization": f"Bearer {token}"}
        assert api.get("/api/v1/orders", headers=bearer).status_code == 401
    assert cli_of(path, "token", "revoke", str(entry["id"])).returncode == 1
    made = make_token(path, "bob")
    token = made.stdout.strip()

    # Taken out of the config, bob's token opens nothing.
    alone = tmp_path / "alice-only.toml"
    alone.write_text(console_toml(url, users=("alice",)))
    with TestClient(create_app(load_config(alone), store), base_url="https://console.test") as api:
        assert (
            api.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"}).status_code
            == 401
        )


def test_a_token_for_an_unknown_user_is_refused(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "console.toml"
    path.write_text(console_toml(store.engine.url.render_as_string(hide_password=False)))
    made = make_token(path, "mallory")
    assert made.returncode == 2
    assert "mallory" in made.stderr
    with store.transaction(read_only=True) as session:
        assert session.scalars(select(ConsoleTokenRow)).all() == []


def test_hash_password_reads_stdin_and_prints_an_argon2_hash() -> None:
    from p2pilot.console.auth import HASHER

    made = forkcli.p2pilot("console", "hash-password", input="a-long-password\n")
    assert made.returncode == 0, made.stderr
    digest = made.stdout.strip()
    assert digest.startswith("$argon2id$") and "a-long-password" not in digest
    assert HASHER.verify(digest, "a-long-password")
    short = forkcli.p2pilot("console", "hash-password", input="short\n")
    assert short.returncode == 1


def test_console_without_users_exits_78(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "console.toml"
    path.write_text(console_toml(store.engine.url.render_as_string(hide_password=False), users=()))
    served = forkcli.p2pilot("--config", str(path), "console")
    assert served.returncode == 78
    assert "console.users" in served.stderr
