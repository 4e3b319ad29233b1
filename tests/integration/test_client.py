"""The exchange client over real HTTP against the simulator: the error mapping of
every fault, signatures, timeouts and rate-limit headers. Every method's records
and request bodies are the contract suite's (``tests/contract/test_exchange.py``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from p2pilot.exchange.client import CallInfo, ExchangeClient
from p2pilot.exchange.errors import (
    AdvertiserRequired,
    AuthError,
    ChatApiClosed,
    RateLimited,
    Rejected,
    TransientError,
)
from p2pilot.exchange.requests import (
    RELEASE,
)
from p2pilot.records import (
    OrderStatus,
)
from p2pilot.simulator.server import SimulatorServer

from ..simclient import KEY, SECRET, control, fault, new_order

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    server = SimulatorServer(port=0, accounts={KEY: SECRET})
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def calls() -> list[CallInfo]:
    return []


@pytest.fixture
def client(sim: SimulatorServer, calls: list[CallInfo]) -> ExchangeClient:
    return ExchangeClient(
        account="main",
        api_key=KEY,
        api_secret=SECRET,
        base_url=sim.url,
        timeout=5,
        on_call=calls.append,
    )


# ---- errors ----------------------------------------------------------------------


def test_bad_secret_is_auth_error(sim: SimulatorServer) -> None:
    wrong = ExchangeClient(
        account="main", api_key=KEY, api_secret="not-the-secret", base_url=sim.url
    )
    with pytest.raises(AuthError) as caught:
        wrong.account_info()
    assert "not-the-secret" not in str(caught.value)


def test_rate_limit_reset_at_follows_header(sim: SimulatorServer, client: ExchangeClient) -> None:
    fault(sim, "rate_limit", count=1, reset_in_ms=1500)
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        client.pending_orders()
    expected = before + timedelta(milliseconds=1500)
    assert abs((caught.value.reset_at - expected).total_seconds()) < 1.0
    assert caught.value.ip_ban is False


@pytest.mark.serial  # asserts a wall-clock bound: not on a machine shared with the parallel phase
def test_rate_limit_with_past_reset_neither_crashes_nor_sleeps(
    sim: SimulatorServer, client: ExchangeClient
) -> None:
    fault(sim, "rate_limit_past", count=1)
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        client.pending_orders()
    assert time.monotonic() - started < 1.0
    assert caught.value.reset_at <= datetime.now(UTC)


def test_http_403_is_an_ip_ban(sim: SimulatorServer, client: ExchangeClient) -> None:
    fault(sim, "http_403", count=1)
    with pytest.raises(RateLimited) as caught:
        client.account_info()
    assert caught.value.ip_ban is True
    assert caught.value.reset_at >= datetime.now(UTC) + timedelta(minutes=9)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("http_429", None),
        ("http_500", None),
        ("empty_body", None),
        ("timestamp", 10002),
        ("server_error_code", None),
    ],
)
def test_transient_faults(
    sim: SimulatorServer, client: ExchangeClient, name: str, code: int | None
) -> None:
    fault(sim, name, count=1)
    with pytest.raises(TransientError) as caught:
        client.pending_orders()
    assert caught.value.outcome_unknown is False  # a read
    if code is not None:
        assert caught.value.code == code
    client.pending_orders()  # the fault was one-shot and the session still works


def test_http_500_on_a_write_leaves_outcome_unknown(
    sim: SimulatorServer, client: ExchangeClient
) -> None:
    order_id = new_order(sim)
    control(sim, "POST", f"orders/{order_id}/pay")
    fault(sim, "http_500", count=1, paths=[RELEASE])
    with pytest.raises(TransientError) as caught:
        client.release(order_id)
    assert caught.value.outcome_unknown is True


@pytest.mark.serial  # asserts a wall-clock bound: not on a machine shared with the parallel phase
def test_slow_response_times_out(sim: SimulatorServer) -> None:
    impatient = ExchangeClient(
        account="main", api_key=KEY, api_secret=SECRET, base_url=sim.url, timeout=0.5
    )
    fault(sim, "slow", count=1, delay_ms=2000)
    started = time.monotonic()
    with pytest.raises(TransientError):
        impatient.account_info()
    assert time.monotonic() - started < 1.9


def test_lost_response_on_release(sim: SimulatorServer, client: ExchangeClient) -> None:
    order_id = new_order(sim)
    control(sim, "POST", f"orders/{order_id}/pay")
    fault(sim, "lost_response", count=1, paths=[RELEASE])
    with pytest.raises(TransientError) as caught:
        client.release(order_id)
    assert caught.value.outcome_unknown is True
    assert client.order_detail(order_id).status is OrderStatus.COMPLETED


def test_permission_fault_means_advertiser_status(
    sim: SimulatorServer, client: ExchangeClient
) -> None:
    fault(sim, "permission", count=1)
    with pytest.raises(AdvertiserRequired) as caught:
        client.account_info()
    assert "advertiser" in str(caught.value)


def test_chat_closed(sim: SimulatorServer, client: ExchangeClient, calls: list[CallInfo]) -> None:
    order_id = new_order(sim)
    fault(sim, "chat_closed")
    with pytest.raises(ChatApiClosed):
        client.chat_messages(order_id)
    with pytest.raises(Rejected):
        client.send_chat_message(order_id=order_id, text="hi", msg_uuid="u-2")
    assert [c.outcome for c in calls[-2:]] == ["ChatApiClosed", "ChatApiClosed"]
    control(sim, "DELETE", "faults")
    assert all(m.order_id == order_id for m in client.chat_messages(order_id))
