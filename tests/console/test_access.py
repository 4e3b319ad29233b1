"""Who gets in: sessions, cookies, CSRF, the login throttle, nothing answered anonymously."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from p2pilot.config import load_config
from p2pilot.console.app import create_app
from p2pilot.console.auth import COOKIE, LoginThrottle
from p2pilot.store.engine import Store
from tests.console.conftest import console_toml, log_in, login_token, page_csrf, seed_order

PAGES = ["/", "/orders/1", "/payments", "/blacklist", "/market", "/no-such-page"]
API = ["/api/v1/orders", "/api/v1/orders/1", "/api/v1/payments", "/api/v1/desk", "/api/v1/nope"]


@pytest.mark.parametrize("path", PAGES)
def test_a_page_without_a_session_redirects_to_login(app_client: TestClient, path: str) -> None:
    response = app_client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


@pytest.mark.parametrize("path", API)
def test_the_api_without_a_session_or_token_is_401(app_client: TestClient, path: str) -> None:
    response = app_client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "error" in response.json()


def test_login_and_static_files_answer_anonymously(app_client: TestClient) -> None:
    assert app_client.get("/login").status_code == 200
    script = app_client.get("/static/htmx.min.js")
    assert script.status_code == 200
    assert "htmx" in script.text[:400]


def test_a_wrong_bearer_token_is_401(app_client: TestClient) -> None:
    response = app_client.get("/api/v1/orders", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


def test_login_sets_a_strict_httponly_secure_cookie(app_client: TestClient) -> None:
    response = log_in(app_client)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = next(
        value
        for name, value in response.headers.multi_items()
        if name == "set-cookie" and value.startswith(f"{COOKIE}=")
    )
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "secure" in attributes  # the request came over https
    assert app_client.get("/").status_code == 200


def test_over_plain_http_the_cookie_is_not_secure(console_config, store: Store) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(console_config, store), base_url="http://console.test") as plain:
        token = login_token(plain)
        response = plain.post(
            "/login",
            data={"name": "alice", "password": "alice-password-1", "csrf": token},
            follow_redirects=False,
        )
    cookie = response.headers["set-cookie"]
    assert "secure" not in {part.strip().lower() for part in cookie.split(";")}


def test_a_wrong_password_is_refused(app_client: TestClient) -> None:
    response = log_in(app_client, "alice", "not-her-password")
    assert response.status_code == 401
    assert "Wrong name or password" in response.text
    assert COOKIE not in response.cookies
    assert app_client.get("/").status_code == 303


def test_the_login_form_needs_its_csrf_token(app_client: TestClient) -> None:
    login_token(app_client)
    response = app_client.post(
        "/login", data={"name": "alice", "password": "alice-password-1", "csrf": "forged"}
    )
    assert response.status_code == 403
    assert app_client.get("/").status_code == 303


def test_failed_logins_are_throttled_even_with_the_right_password(
    console_config,
    store: Store,  # type: ignore[no-untyped-def]
) -> None:
    throttle = LoginThrottle(limit=3, window=300)
    app = create_app(console_config, store, throttle=throttle)
    with TestClient(app, base_url="https://console.test", follow_redirects=False) as client:
        for _ in range(3):
            assert log_in(client, "alice", "guess").status_code == 401
        refused = log_in(client, "alice")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
        assert client.get("/").status_code == 303
        # Another name from the same address is refused too: the address is counted.
        assert log_in(client, "bob").status_code == 429


def test_the_throttle_forgets_after_its_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(limit=2, window=60, clock=lambda: now[0])
    throttle.failed("addr:x")
    throttle.failed("addr:x")
    assert throttle.retry_after("addr:x") > 0
    now[0] += 61
    assert throttle.retry_after("addr:x") == 0


def test_a_post_without_the_csrf_token_is_refused(client: TestClient) -> None:
    response = client.post("/logout")
    assert response.status_code == 403
    assert client.get("/").status_code == 200  # still logged in
    forged = client.post("/logout", data={"csrf": "forged"})
    assert forged.status_code == 403
    api = client.post("/api/v1/orders", headers={"X-CSRF-Token": "forged"})
    assert api.status_code == 403


def test_logout_with_the_token_ends_the_session(client: TestClient) -> None:
    copied = client.cookies.get(COOKIE)  # another tab, a proxy's log, a stolen laptop
    assert copied
    token = page_csrf(client)
    response = client.post("/logout", data={"csrf": token})
    assert response.status_code == 303
    client.cookies.clear()  # what the browser does with the expired cookie
    assert client.get("/").status_code == 303
    client.cookies.set(COOKIE, copied)  # the copy is refused too, not only forgotten
    assert client.get("/").status_code == 303
    assert client.get("/api/v1/orders").status_code == 401
    assert log_in(client).status_code == 303  # a new login is a new session
    assert client.get("/").status_code == 200


def test_changing_a_password_logs_the_user_out(
    client: TestClient, tmp_path: Path, store: Store
) -> None:
    cookie = client.cookies.get(COOKIE)
    assert cookie
    url = store.engine.url.render_as_string(hide_password=False)
    path = tmp_path / "new.toml"
    path.write_text(console_toml(url, users=("bob",)).replace('"bob"', '"alice"'))
    changed = load_config(path)  # alice now has bob's password hash
    with TestClient(create_app(changed, store), base_url="https://console.test") as other:
        other.cookies.set(COOKIE, cookie)
        assert other.get("/", follow_redirects=False).status_code == 303


def test_a_forged_cookie_is_ignored(app_client: TestClient) -> None:
    app_client.cookies.set(COOKIE, "eyJ1c2VyIjoiYWxpY2UifQ.forged.signature")
    assert app_client.get("/").status_code == 303


def test_the_session_secret_never_reaches_a_page(client: TestClient, store: Store) -> None:
    from tests.console.conftest import SESSION_SECRET

    seed_order(store, "5001")
    for path in ("/", "/orders/5001", "/api/v1/desk", "/api/v1/orders/5001"):
        assert SESSION_SECRET not in client.get(path).text
