"""The exchange client over real HTTP against the simulator: the error mapping of
every fault, signatures, timeouts and rate-limit headers. Every method's records
and request bodies are the contract suite's (``tests/contract/test_exchange.py``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType

import pytest
from pybit import _http_manager

from p2pilot.exchange.budget import RequestBudget
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

from ..simclient import KEY, SECRET, control, fault, http_client, new_order, simulator


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with simulator() as server:
        yield server


@pytest.fixture
def calls() -> list[CallInfo]:
    return []


@pytest.fixture
def client(sim: SimulatorServer, calls: list[CallInfo]) -> ExchangeClient:
    return http_client(sim, calls)


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


class Sleeps(ModuleType):
    """``time`` as pybit sees it, its sleeps recorded instead of slept."""

    def __init__(self) -> None:
        super().__init__("time")
        self.slept: list[float] = []

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def pybit_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every sleep pybit would take (its rate-limit and retry waits): none should happen."""
    spy = Sleeps()
    monkeypatch.setattr(_http_manager, "time", spy)
    return spy.slept


def test_rate_limit_with_past_reset_neither_crashes_nor_sleeps(
    sim: SimulatorServer, pybit_sleeps: list[float]
) -> None:
    # Whether it slept is asked of the sleeps themselves (pybit's and the budget's),
    # not of a stopwatch: the answer must not depend on how busy the machine is.
    budget_sleeps: list[float] = []
    client = ExchangeClient(
        account="main",
        api_key=KEY,
        api_secret=SECRET,
        base_url=sim.url,
        budget=RequestBudget(sleep=budget_sleeps.append),
    )
    fault(sim, "rate_limit_past", count=1)
    with pytest.raises(RateLimited) as caught:
        client.pending_orders()
    assert caught.value.reset_at <= datetime.now(UTC)
    assert pybit_sleeps == [] and budget_sleeps == []
    assert len(control(sim, "GET", "requests")) == 1  # no retry either


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


def release_meeting(sim: SimulatorServer, client: ExchangeClient, name: str) -> str:
    """A paid order whose release meets the fault ``name`` once: a write whose outcome
    the client cannot know."""
    order_id = new_order(sim)
    control(sim, "POST", f"orders/{order_id}/pay")
    fault(sim, name, count=1, paths=[RELEASE])
    with pytest.raises(TransientError) as caught:
        client.release(order_id)
    assert caught.value.outcome_unknown is True
    return order_id


def test_http_500_on_a_write_leaves_outcome_unknown(
    sim: SimulatorServer, client: ExchangeClient
) -> None:
    release_meeting(sim, client, "http_500")


def test_slow_response_times_out(sim: SimulatorServer, pybit_sleeps: list[float]) -> None:
    impatient = ExchangeClient(
        account="main", api_key=KEY, api_secret=SECRET, base_url=sim.url, timeout=0.5
    )
    # The answer comes, correct, after 5 s: a client that waited for it would return
    # it. Raising instead proves it gave up at its timeout, however busy the machine
    # (the 4.5 s between them is room for a starved thread, not a bound asserted).
    fault(sim, "slow", count=1, delay_ms=5000)
    with pytest.raises(TransientError):
        impatient.account_info()
    assert pybit_sleeps == []  # nor retried after a pause


def test_lost_response_on_release(sim: SimulatorServer, client: ExchangeClient) -> None:
    order_id = release_meeting(sim, client, "lost_response")
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
