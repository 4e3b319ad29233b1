"""The simulator as Bybit's stand-in: auth, envelopes, business rules, scenario, control API.

Driven through pybit's own HTTP client (the code that will talk to Bybit) and,
for what pybit cannot express (a stale timestamp, a wrong key), raw requests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP

from p2pilot.simulator.core import Simulator
from p2pilot.simulator.server import SimulatorHTTPServer, SimulatorServer

from .simdesk import control, running_simulator

KEY, SECRET = "sim-key", "sim-secret"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with running_simulator({KEY: SECRET, "other-key": "other-secret"}) as server:
        yield server


@pytest.fixture
def pybit(sim: SimulatorServer) -> HTTP:
    session = HTTP(api_key=KEY, api_secret=SECRET, max_retries=1, retry_codes={-1})
    session.endpoint = sim.url
    return session


def signed_post(
    sim: SimulatorServer,
    path: str,
    body: bytes,
    *,
    key: str = KEY,
    secret: str = SECRET,
    timestamp: int | None = None,
) -> dict[str, Any]:
    stamp = str(timestamp if timestamp is not None else int(time.time() * 1000))
    signature = hmac.new(
        secret.encode(), (stamp + key + "5000").encode() + body, hashlib.sha256
    ).hexdigest()
    headers = {
        "X-BAPI-API-KEY": key,
        "X-BAPI-TIMESTAMP": stamp,
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": signature,
        "Content-Type": "application/json",
    }
    return requests.post(f"{sim.url}{path}", data=body, headers=headers, timeout=5).json()  # type: ignore[no-any-return]


def test_signature_is_checked_over_the_raw_body(sim: SimulatorServer) -> None:
    # pybit's spacing and \\u escapes are part of what is signed: any body signs.
    raw = b'{"message": "\\u041f\\u0440\\u0438\\u0432\\u0435\\u0442", "page": 1}'
    ok = signed_post(sim, "/v5/p2p/user/personal/info", raw)
    assert ok["ret_code"] == 0 and ok["time_now"].count(".") == 1
    wrong = signed_post(sim, "/v5/p2p/user/personal/info", raw, secret="not-it")
    assert wrong["retCode"] == 10004  # gateway refusals use the standard v5 envelope
    unknown = signed_post(sim, "/v5/p2p/user/personal/info", raw, key="nobody")
    assert unknown["retCode"] == 10003
    stale = signed_post(
        sim, "/v5/p2p/user/personal/info", raw, timestamp=int(time.time() * 1000) - 60_000
    )
    assert stale["retCode"] == 10002
    future = signed_post(
        sim, "/v5/p2p/user/personal/info", raw, timestamp=int(time.time() * 1000) + 5_000
    )
    assert future["retCode"] == 10002


def test_unknown_path_is_404(sim: SimulatorServer) -> None:
    response = requests.post(f"{sim.url}/v5/p2p/no/such/path", json={}, timeout=5)
    assert response.status_code == 404


def test_field_types_follow_the_reference(sim: SimulatorServer, pybit: HTTP) -> None:
    order_id = control(sim, "orders", side="sell", amount="8145", price="81.45")["id"]
    listed = pybit.get_pending_orders(page=1, size=10)
    assert set(listed) >= {"ret_code", "ret_msg", "result", "ext_code", "ext_info", "time_now"}
    (item,) = listed["result"]["items"]
    assert item["id"] == order_id and len(order_id) == 19 and order_id.isdigit()
    assert (item["amount"], item["price"], item["notifyTokenQuantity"]) == (
        "8145.00",
        "81.45",
        "100.0000",
    )
    assert isinstance(item["status"], int) and isinstance(item["side"], int)
    assert isinstance(item["createDate"], str) and len(item["createDate"]) == 13
    detail = pybit.get_order_details(orderId=order_id)["result"]
    assert detail["targetUserMaskId"] and detail["transferDate"] == "0"
    assert isinstance(pybit.get_user_payment_types()["result"], list)
    chat = pybit.get_chat_messages(orderId=order_id, size="30")["result"]
    assert isinstance(chat["result"], list)  # nested, as Bybit does it


def test_status_machine_and_who_may_act(sim: SimulatorServer, pybit: HTTP) -> None:
    sell = control(sim, "orders", side="sell", amount="500.00", price="81.00")["id"]
    buy = control(sim, "orders", side="buy", amount="500.00", price="80.00")["id"]
    with pytest.raises(InvalidRequestError):
        pybit.release_assets(orderId=sell)  # still 10: not paid yet
    with pytest.raises(InvalidRequestError):
        pybit.mark_as_paid(orderId=buy, paymentType="377", paymentId="-1")  # Balance refused
    with pytest.raises(InvalidRequestError) as numeric:
        pybit.mark_as_paid(orderId=buy, paymentType=582, paymentId="9120044")
    assert numeric.value.status_code == 10001  # ids must be strings
    pybit.mark_as_paid(orderId=buy, paymentType="582", paymentId="9120044")
    with pytest.raises(InvalidRequestError):
        pybit.release_assets(orderId=buy)  # we are the buyer here: only the seller releases
    control(sim, f"orders/{sell}/pay")
    assert pybit.release_assets(orderId=sell)["result"] is None
    with pytest.raises(InvalidRequestError):
        pybit.release_assets(orderId=sell)  # 50 is final
    statuses = {
        o["id"]: o["status"] for o in requests.get(f"{sim.url}/_sim/orders", timeout=5).json()
    }
    assert statuses == {sell: 50, buy: 20}
    with pytest.raises(InvalidRequestError):
        pybit.get_order_details(orderId="1999999999999999999")


def test_pages_cap_at_30_and_online_ads_want_strings(sim: SimulatorServer, pybit: HTTP) -> None:
    for _ in range(31):
        control(sim, "orders", side="sell", amount="500.00", price="81.00")
    with pytest.raises(InvalidRequestError) as too_big:
        pybit.get_orders(page=1, size=31)
    assert too_big.value.status_code == 10001
    first = pybit.get_orders(page=1, size=30)["result"]
    second = pybit.get_orders(page=2, size=30)["result"]
    assert first["count"] == 31 and len(first["items"]) == 30 and len(second["items"]) == 1
    with pytest.raises(InvalidRequestError) as ints:
        pybit.get_online_ads(tokenId="USDT", currencyId="RUB", side="1", page=1, size=10)
    assert ints.value.status_code == 10001
    book = pybit.get_online_ads(tokenId="USDT", currencyId="RUB", side="1", page="1", size="10")
    prices = [float(a["price"]) for a in book["result"]["items"]]
    assert prices == sorted(prices) and len(prices) >= 5  # sellers: cheapest first


def test_session_chat_holds_every_order_with_one_buyer(sim: SimulatorServer, pybit: HTTP) -> None:
    first = control(
        sim, "orders", side="sell", amount="500.00", price="81.00", counterparty="anna_k"
    )["id"]
    second = control(
        sim, "orders", side="sell", amount="700.00", price="81.00", counterparty="anna_k"
    )["id"]
    control(sim, f"orders/{first}/messages", text="first order paid")
    control(sim, f"orders/{second}/messages", text="second one too")
    mask = pybit.get_order_details(orderId=first)["result"]["targetUserMaskId"]
    assert pybit.get_order_details(orderId=second)["result"]["targetUserMaskId"] == mask
    session_id = pybit._submit_request(
        method="POST",
        path=f"{sim.url}/v5/p2p/chat/session/getSessionId",
        query={"userMaskId": mask},
        auth=True,
    )["result"]["sessionId"]
    listed = pybit._submit_request(
        method="POST",
        path=f"{sim.url}/v5/p2p/chat/message/listpage_v1",
        query={"sessionId": session_id, "limit": 30, "lastId": 0},
        auth=True,
    )
    assert set(listed) == {"ret_code", "ret_msg", "result"}  # the short envelope
    texts = {
        json.loads(m["message"])["content"]: m.get("orderId")
        for m in listed["result"]["messages"]
        if m["sendUserNickName"] == "anna_k"
    }
    # One conversation for both orders, and like Bybit's rows (§2.20) none names its order.
    assert texts == {"first order paid": None, "second one too": None}
    ids = [int(m["id"]) for m in listed["result"]["messages"]]
    assert ids == sorted(ids, reverse=True)  # newest first


def test_order_chat_can_be_closed_like_bybit_did(sim: SimulatorServer, pybit: HTTP) -> None:
    order_id = control(sim, "orders", side="sell", amount="500.00", price="81.00")["id"]
    control(sim, "chat/order_api", open=False)
    with pytest.raises(InvalidRequestError) as closed:
        pybit.get_chat_messages(orderId=order_id, size="30")
    assert closed.value.status_code == 912200387


def v1(pybit: HTTP, sim: SimulatorServer, path: str, **body: object) -> dict[str, Any]:
    """A signed call to a chat path pybit 5.17 does not wrap."""
    answer: dict[str, Any] = pybit._submit_request(
        method="POST", path=f"{sim.url}/v5/p2p/chat/{path}", query=body, auth=True
    )
    return answer


def test_removed_order_chat_answers_404_or_an_unknown_code(
    sim: SimulatorServer, pybit: HTTP
) -> None:
    order_id = control(sim, "orders", side="sell", amount="500.00", price="81.00")["id"]
    control(sim, "chat/order_api", open=False, answer="http_404")
    for call in (
        lambda: pybit.get_chat_messages(orderId=order_id, size="30"),
        lambda: pybit.send_chat_message(
            orderId=order_id, message="hi", contentType="str", msgUuid="u1"
        ),
    ):
        with pytest.raises(FailedRequestError) as gone:
            call()
        assert gone.value.status_code == 404
    control(sim, "chat", order_api="unknown_code")
    with pytest.raises(InvalidRequestError) as unknown:
        pybit.get_chat_messages(orderId=order_id, size="30")
    assert unknown.value.status_code == 912200999
    assert requests.get(f"{sim.url}/_sim/chat", timeout=5).json()["order_api"] == "unknown_code"
    # Session chat still answers, and nothing else was removed.
    assert pybit.get_order_details(orderId=order_id)["ret_code"] == 0
    bad = requests.post(f"{sim.url}/_sim/chat", json={"order_api": "gone"}, timeout=5)
    assert bad.status_code == 400


def test_session_messages_can_leave_the_order_lists_counter_alone(
    sim: SimulatorServer, pybit: HTTP
) -> None:
    order_id = control(
        sim, "orders", side="sell", amount="500.00", price="81.00", counterparty="vera_p"
    )["id"]
    control(sim, "chat", session_messages_on_order_list=False)
    control(sim, f"orders/{order_id}/messages", text="in the session", session=True)
    (row,) = pybit.get_pending_orders(page=1, size=30)["result"]["items"]
    assert row["unreadMsgCount"] == "0"
    assert pybit.get_order_details(orderId=order_id)["result"]["unreadMsgCount"] == "0"
    sessions = v1(pybit, sim, "session/list_v1", size=30)["result"]["chatSession"]
    assert [(s["sessionName"], s["unreadCount"]) for s in sessions] == [("vera_p", "1")]
    # A message in the order's own chat still counts there.
    control(sim, f"orders/{order_id}/messages", text="in the order chat", session=False)
    (row,) = pybit.get_pending_orders(page=1, size=30)["result"]["items"]
    assert row["unreadMsgCount"] == "1"


def test_session_list_pages_filters_and_refuses_large_pages(
    sim: SimulatorServer, pybit: HTTP
) -> None:
    for name in ("a_1", "b_2", "c_3"):
        order_id = control(
            sim, "orders", side="sell", amount="500.00", price="81.00", counterparty=name
        )["id"]
        if name != "b_2":
            control(sim, f"orders/{order_id}/messages", text=f"from {name}")
    listed = v1(pybit, sim, "session/list_v1", size=30)
    assert set(listed) == {"ret_code", "ret_msg", "result"}
    rows = listed["result"]["chatSession"]
    # Latest conversation first (b_2's order notice came after a_1's words); ids and
    # counts as strings.
    assert [r["sessionName"] for r in rows] == ["c_3", "b_2", "a_1"]
    assert all(isinstance(r["id"], str) and isinstance(r["unreadCount"], str) for r in rows)
    unread = v1(pybit, sim, "session/list_v1", size=30, readStatus=0)["result"]["chatSession"]
    assert [r["sessionName"] for r in unread] == ["c_3", "a_1"]
    read = v1(pybit, sim, "session/list_v1", size=30, readStatus=1)["result"]["chatSession"]
    assert [r["sessionName"] for r in read] == ["b_2"]
    first = v1(pybit, sim, "session/list_v1", size=2)["result"]["chatSession"]
    rest = v1(pybit, sim, "session/list_v1", size=2, lastId=int(first[-1]["id"]))["result"]
    assert [r["sessionName"] for r in first + rest["chatSession"]] == ["c_3", "b_2", "a_1"]
    with pytest.raises(InvalidRequestError) as too_big:
        v1(pybit, sim, "session/list_v1", size=50)
    assert too_big.value.status_code == 913100009


def test_listpage_v1_can_answer_empty_when_last_id_is_sent(
    sim: SimulatorServer, pybit: HTTP
) -> None:
    order_id = control(
        sim, "orders", side="sell", amount="500.00", price="81.00", counterparty="ilya_t"
    )["id"]
    control(sim, f"orders/{order_id}/messages", text="hello")
    session_id = v1(pybit, sim, "session/list_v1", size=30)["result"]["chatSession"][0]["sessionId"]
    control(sim, "chat", listpage_v1_empty_with_last_id=True)
    plain = v1(pybit, sim, "message/listpage_v1", sessionId=session_id, limit=30)
    assert len(plain["result"]["messages"]) == 2  # the notice and "hello"
    with_cursor = v1(pybit, sim, "message/listpage_v1", sessionId=session_id, limit=30, lastId=0)
    assert with_cursor["result"]["messages"] == []


def test_order_detail_can_lack_the_counterparty_mask_id(sim: SimulatorServer, pybit: HTTP) -> None:
    order_id = control(sim, "orders", side="sell", amount="500.00", price="81.00")["id"]
    assert "targetUserMaskId" in pybit.get_order_details(orderId=order_id)["result"]
    control(sim, "chat", detail_mask_id=False)
    detail = pybit.get_order_details(orderId=order_id)["result"]
    assert "targetUserMaskId" not in detail and detail["targetNickName"]


def test_request_log_and_reset(sim: SimulatorServer, pybit: HTTP) -> None:
    pybit.get_account_information()
    log = requests.get(f"{sim.url}/_sim/requests", timeout=5).json()
    assert [(e["path"], e["api_key"], e["http_status"], e["ret_code"]) for e in log] == [
        ("/v5/p2p/user/personal/info", KEY, 200, 0)
    ]
    assert log[0]["body"] == {}
    later = requests.get(f"{sim.url}/_sim/requests", params={"since": log[0]["seq"]}, timeout=5)
    assert later.json() == []
    control(sim, "orders", side="sell", amount="500.00", price="81.00")
    control(sim, "reset")
    assert requests.get(f"{sim.url}/_sim/orders", timeout=5).json() == []
    assert requests.get(f"{sim.url}/_sim/requests", timeout=5).json() == []


def test_merchants_see_only_their_own_orders(sim: SimulatorServer, pybit: HTTP) -> None:
    control(sim, "orders", side="sell", amount="500.00", price="81.00", api_key="other-key")
    assert pybit.get_orders(page=1, size=30)["result"]["count"] == 0


def _created(seed: int) -> list[tuple[str, str]]:
    server = SimulatorServer(port=0, scenario="busy", seed=seed, speed=20.0)
    server.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with server.exchange.lock:
                orders = sorted(server.exchange.orders.values(), key=lambda o: o.created_ms)
                if len(orders) >= 5:
                    return [(str(o.amount), o.counterparty.real_name) for o in orders[:5]]
            time.sleep(0.02)  # polling the scenario's progress, with a deadline
        raise AssertionError("the busy scenario created fewer than 5 orders in 10 s")
    finally:
        server.stop()


# Each move is due on the scenario's own clock (when the move that scheduled it was
# due), so a thread starved of CPU runs late but in the same order: no pacing here.
def test_scenario_is_repeatable_for_a_seed() -> None:
    assert _created(7) == _created(7)
    assert _created(7) != _created(8)


def test_the_per_ip_limit_bans_every_key_of_the_address() -> None:
    # Bybit: 600 requests in 5 s from one IP, then HTTP 403 for ten minutes, all keys.
    # Lowered to 6 here so the per-UID limit (10 reads a second) stays out of the way.
    keys = {KEY: SECRET, "other-key": "other-secret"}
    with running_simulator(keys, enforce_limits=True) as server:
        assert control(server, "limits", ip_limit=6)["ip_limit"] == 6
        sessions = []
        for key, secret in keys.items():
            session = HTTP(api_key=key, api_secret=secret, max_retries=1, retry_codes={-1})
            session.endpoint = server.url
            sessions.append(session)
        for _ in range(3):
            for session in sessions:
                assert session.get_account_information()["ret_code"] == 0
        for session in sessions:  # the seventh request of the 5 s, and the ban after it
            with pytest.raises(FailedRequestError) as banned:
                session.get_account_information()
            assert banned.value.status_code == 403
        statuses = [e["http_status"] for e in requests.get(f"{server.url}/_sim/requests").json()]
        assert statuses == [200] * 6 + [403, 403]
        control(server, "limits", lift_bans=True)
        assert sessions[1].get_account_information()["ret_code"] == 0


def test_a_client_that_hung_up_leaves_no_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    """Clients give up on slow answers all day (their timeout, the ``slow`` fault): the
    simulator's stderr stays quiet for them, and still shows any other failure."""
    server = SimulatorHTTPServer(("127.0.0.1", 0), Simulator({"k": "s"}))
    try:
        for failure in (BrokenPipeError(32, "Broken pipe"), ValueError("a bug")):
            try:
                raise failure
            except Exception:
                server.handle_error(None, ("127.0.0.1", 40000))
    finally:
        server.server_close()
    printed = capsys.readouterr().err
    assert "BrokenPipeError" not in printed
    assert "ValueError: a bug" in printed
