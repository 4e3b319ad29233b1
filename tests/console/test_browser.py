"""The console in a real browser: Debian's headless Chromium driven by Playwright.

The desk runs as it does in production: the simulator, ``p2pilot run`` and
``p2pilot console`` as processes on one database (SQLite and PostgreSQL).
``P2PILOT_SCREENSHOTS=DIR`` keeps screenshots of the desk and an order page there
(the README's come from ``docs/``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.conftest import PASSWORDS
from tests.console.stack import Stack, running_stack
from tests.e2e.conftest import running_simulator

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCRIPT = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
TIMEOUT_MS = 20_000

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium is not installed (make test-packages)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def stack(tmp_path: Path, db_url: str) -> Iterator[Stack]:
    with running_simulator() as simulator, running_stack(simulator, tmp_path, db_url) as running:
        yield running


@pytest.fixture
def page(browser, stack: Stack) -> Iterator[object]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    yield page
    context.close()


def log_in(page, stack: Stack, name: str = "alice") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{stack.url}/")
    assert page.url.endswith("/login")  # no session: the login page
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.url}/")


def screenshot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    folder = os.environ.get("P2PILOT_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_an_order_appears_live_and_its_chat_reads_as_text(page, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    log_in(page, stack)
    assert page.locator("text=no open orders").is_visible()
    # A marker that a full reload would wipe out.
    page.evaluate("window.stillTheSamePage = true")
    order_id = str(
        stack.sim.control("POST", "orders", amount="1500.00", counterparty=SCRIPT)["id"]  # type: ignore[index]
    )
    stack.sim.control("POST", f"orders/{order_id}/messages", text=SCRIPT)
    stack.sim.control("POST", f"orders/{order_id}/pay")
    row = page.locator(f"tr[data-order='{order_id}']")
    row.wait_for()
    assert page.evaluate("window.stillTheSamePage") is True
    page.locator(f"tr[data-order='{order_id}'] .status", has_text="paid").wait_for()
    assert "1500.00 RUB" in row.inner_text()
    assert "bank evidence of the payment" in row.inner_text()
    screenshot(page, "console-desk.png")

    row.locator("a").first.click()
    page.wait_for_url(f"{stack.url}/orders/{order_id}")
    message = page.locator("#chat .message .text", has_text="window.pwned = 1")
    message.wait_for()
    assert message.inner_text() == SCRIPT  # shown as text, not run as markup
    assert page.locator(".counterparty b").inner_text() == SCRIPT
    assert page.evaluate("window.pwned") is None
    assert page.dialogs == []  # type: ignore[attr-defined]
    screenshot(page, "console-order.png")


def test_logging_out_locks_the_pages(page, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    log_in(page, stack)
    page.click("form.logout button")
    page.wait_for_url(f"{stack.url}/login")
    page.goto(f"{stack.url}/payments")
    assert page.url.endswith("/login")
    response = page.request.get(f"{stack.url}/api/v1/orders")
    assert response.status == 401


def test_a_wrong_password_stays_on_the_login_page(page, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{stack.url}/login")
    page.fill("input[name=name]", "alice")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    page.locator("text=Wrong name or password").wait_for()
    page.goto(f"{stack.url}/")
    assert page.url.endswith("/login")
