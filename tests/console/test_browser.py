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
from contextlib import contextmanager
from pathlib import Path

import pytest

from p2pilot.store.engine import Store
from tests.console.conftest import PASSWORDS
from tests.console.stack import Stack, running_stack
from tests.e2e.conftest import SimProcess, simulator, simulator_process, wait_for
from tests.e2e.conftest import released as sim_released
from tests.e2e.test_approve_e2e import APPROVE_DESK

__all__ = ["simulator", "simulator_process"]  # the fixtures: one simulator a test process
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
def stack(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrated_db_url: str,
    simulator: SimProcess,
) -> Iterator[Stack]:
    """The desk and its console; parametrize indirectly with TOML to add to its config."""
    extra: str = getattr(request, "param", "")
    with running_stack(simulator, tmp_path, migrated_db_url, extra=extra) as running:
        yield running


@contextmanager
def new_page(browser):  # type: ignore[no-untyped-def]
    """A page in a browser context of its own, at the desk's window size; closed after."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser, stack: Stack) -> Iterator[object]:  # type: ignore[no-untyped-def]
    with new_page(browser) as page:
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.dialogs = dialogs
        yield page


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

    row.locator("a").first.click()
    page.wait_for_url(f"{stack.url}/orders/{order_id}")
    message = page.locator("#chat .message .text", has_text="window.pwned = 1")
    message.wait_for()
    assert message.inner_text() == SCRIPT  # shown as text, not run as markup
    assert page.locator(".counterparty b").inner_text() == SCRIPT
    assert page.evaluate("window.pwned") is None
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_a_session_opens_with_the_password_stays_home_and_ends_at_logout(  # type: ignore[no-untyped-def]
    page, stack: Stack
) -> None:
    """One browser session, start to end (one stack: each costs three processes).

    A wrong password stays on the login page; a hostile site's form cannot act with
    the operator's session; logging out locks the pages and the API.
    """
    page.goto(f"{stack.url}/login")
    page.fill("input[name=name]", "alice")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    page.locator("text=Wrong name or password").wait_for()
    page.goto(f"{stack.url}/")
    assert page.url.endswith("/login")

    log_in(page, stack)
    _a_hostile_page_cannot_act_with_the_operators_session(page, stack)

    page.goto(f"{stack.url}/")
    page.click("form.logout button")
    page.wait_for_url(f"{stack.url}/login")
    page.goto(f"{stack.url}/payments")
    assert page.url.endswith("/login")
    response = page.request.get(f"{stack.url}/api/v1/orders")
    assert response.status == 401


def released(stack: Stack) -> list[str]:
    """The orders the simulator carried out a release for, one entry per request."""
    return sim_released(stack.sim)


def paid_order(page, stack: Stack, amount: str, buyer: str, name: str = "") -> str:  # type: ignore[no-untyped-def]
    """A paid order, seen on the desk."""
    if page.url != f"{stack.url}/":
        page.goto(f"{stack.url}/")
    answer = stack.sim.control(
        "POST",
        "orders",
        amount=amount,
        price="81.00",
        counterparty=buyer,
        counterparty_real_name=name or buyer.upper(),
    )
    order_id = str(answer["id"])  # type: ignore[index]
    stack.sim.control("POST", f"orders/{order_id}/pay")
    page.locator(f"tr[data-order='{order_id}'] .status", has_text="paid").wait_for()
    return order_id


def confirm_payment(page, stack: Stack, order_id: str, reference: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{stack.url}/orders/{order_id}")
    form = page.locator(f"form[action='/orders/{order_id}/confirm-payment']")
    form.locator("input[name=reference]").fill(reference)
    form.locator("button").click()
    page.locator(".flash.ok", has_text="payment recorded").wait_for()


def flash_of(page) -> str:  # type: ignore[no-untyped-def]
    flash = page.locator(".flash")
    flash.wait_for()
    return str(flash.inner_text())


@pytest.mark.slow
@pytest.mark.parametrize("stack", [APPROVE_DESK], ids=["approve"], indirect=True)
def test_approve_hold_attach_pause_and_say_in_the_browser(page, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    log_in(page, stack)

    # Approve: the release waits for an operator, one click releases it, once.
    first = paid_order(page, stack, "1500.00", "anna_k")
    confirm_payment(page, stack, first, "bank-first")
    page.goto(f"{stack.url}/approvals")
    page.locator(f"tr[data-order='{first}']").wait_for()  # arrives live, no reload
    page.locator(f"tr[data-order='{first}'] button.approve").click()
    assert "approved" in flash_of(page)
    wait_for(lambda: released(stack) == [first], timeout=30)
    page.goto(f"{stack.url}/orders/{first}")
    page.locator(".release-state b", has_text="released").wait_for()
    screenshot(page, "console-order.png")
    page.locator(f"form[action='/orders/{first}/approve'] button").click()  # once more
    assert "already released" in flash_of(page)
    assert released(stack) == [first]

    # Hold: the second order's release stays waiting, with who held it and why.
    second = paid_order(page, stack, "2500.00", "boris_p")
    confirm_payment(page, stack, second, "bank-second")
    page.goto(f"{stack.url}/approvals")
    row = page.locator(f"tr[data-order='{second}']")
    row.wait_for()
    row.locator("input[name=reason]").fill("buyer disputes")
    row.locator("button.hold").click()
    assert flash_of(page) == "held"
    page.locator(f"tr[data-order='{second}'] .held", has_text="buyer disputes").wait_for()

    # Attach: evidence no order took, bound by hand to the order it pays.
    third = paid_order(page, stack, "3300.00", "vera_s", "VERA SMIRNOVA")
    payment_id = _unmatched_evidence(stack, "3300.00", "VERA SMIRNOVA")  # the buyer's KYC name
    page.goto(f"{stack.url}/payments")
    form = page.locator(f"form[action='/payments/{payment_id}/attach']")
    form.locator("input[name=order_id]").fill(third)
    form.locator("button").click()
    assert f"evidence {payment_id} attached" in flash_of(page)

    # Pause: the account's releases stop; an approval is refused while it is paused.
    page.goto(f"{stack.url}/")
    page.locator("button.pause").click()
    assert flash_of(page) == "paused"
    page.locator(".releases .held", has_text="paused by alice").wait_for()
    screenshot(page, "console-desk.png")
    wait_for(lambda: _release_state(stack, third) == "awaiting", timeout=30)
    page.goto(f"{stack.url}/orders/{third}")
    page.locator(f"form[action='/orders/{third}/approve'] button").click()
    assert "paused" in flash_of(page)

    # Say: a line in the order's chat, sent through the exchange and read back.
    page.fill("form.say textarea", "Your payment is being checked, one minute please")
    page.click("form.say button")
    assert flash_of(page) == "sent"
    # Our own line raises no unread counter; the buyer's answer has the daemon read the chat.
    stack.sim.control("POST", f"orders/{third}/messages", text="ok, waiting")
    page.locator("#chat .message .text", has_text="one minute please").wait_for()

    assert released(stack) == [first]  # neither the held nor the paused one went out
    page.goto(f"{stack.url}/audit")
    commands = page.locator("#audit tbody tr td:nth-child(4)").all_inner_texts()
    assert commands[:4] == ["say", "approve", "pause", "attach"]


def _unmatched_evidence(stack: Stack, amount: str, payer: str) -> int:
    from tests.evidence import stored_payment

    store = Store(stack.db_url)
    try:
        with store.transaction() as session:
            return stored_payment(session, amount, f"unmatched-{payer}", payer=payer)
    finally:
        store.dispose()


def _release_state(stack: Stack, order_id: str) -> str:
    from p2pilot.operator.releases import release_status

    store = Store(stack.db_url)
    try:
        with store.transaction(read_only=True) as session:
            status = release_status(session, order_id)
    finally:
        store.dispose()
    print(order_id, status)  # shown when the wait fails
    return status.state


def _a_hostile_page_cannot_act_with_the_operators_session(page, stack: Stack) -> None:  # type: ignore[no-untyped-def]
    # Another site's page posts a form to the console in the logged-in browser.
    hostile = (
        f'<form id="f" method="post" action="{stack.url}/accounts/desk/pause">'
        '<input name="reason" value="hostile"></form>'
    )
    page.route(
        "http://hostile.test/**",
        lambda route: route.fulfill(body=hostile, content_type="text/html"),
    )
    page.goto("http://hostile.test/")
    with page.expect_navigation():
        page.evaluate("document.getElementById('f').submit()")
    # SameSite=Strict keeps the cookie home: the console saw no session at all.
    assert page.url == f"{stack.url}/login"
    # And a same-site request with the cookie but without the token is refused too.
    answer = page.request.post(f"{stack.url}/accounts/desk/pause", form={"reason": "x"})
    assert answer.status == 403
    page.goto(f"{stack.url}/audit")
    assert page.locator("text=no operator command recorded yet").is_visible()
    page.goto(f"{stack.url}/")
    assert page.locator("button.pause").is_visible()  # still not paused
