"""Fuzzing the whole client, pybit's HTTP layer included: a real HTTP server answers
each call with a garbled reference payload, an odd HTTP status or bytes that are not
JSON, and the client returns a record or raises its own ``ExchangeError``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from p2pilot.exchange.budget import HostBudget, RequestBudget
from p2pilot.exchange.client import ExchangeClient
from p2pilot.exchange.errors import ExchangeError
from p2pilot.records import Side
from tests.unit.test_parse_fuzz import payloads

CALLS: dict[str, Callable[[ExchangeClient], object]] = {
    "account_info": lambda c: c.account_info(),
    "counterparty_info": lambda c: c.counterparty_info(user_id="7", order_id="1"),
    "payment_methods": lambda c: c.payment_methods(),
    "orders": lambda c: c.orders(),
    "pending_orders": lambda c: c.pending_orders(),
    "order_detail": lambda c: c.order_detail("1"),
    "chat_messages": lambda c: c.chat_messages("1"),
    "session_messages": lambda c: c.session_messages("s-1"),
    "upload_chat_file": lambda c: c.upload_chat_file(data=b"%PDF", filename="a.pdf"),
    "my_ads": lambda c: c.my_ads(),
    "ad_detail": lambda c: c.ad_detail("1"),
    "online_ads": lambda c: c.online_ads(token="USDT", currency="RUB", side=Side.SELL),
    "remove_ad": lambda c: c.remove_ad("1"),
    "update_ad": lambda c: c.release("1"),  # the same empty success body as a release
}

bodies = st.one_of(
    payloads().filter(lambda case: case[0] in CALLS),
    st.tuples(st.sampled_from(sorted(CALLS)), st.binary(max_size=40)),
    st.tuples(st.sampled_from(sorted(CALLS)), st.sampled_from([b"", b"<html>403</html>"])),
)
statuses = st.sampled_from([200, 200, 200, 200, 400, 403, 404, 429, 500, 502, 503])


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(bodies, statuses, st.booleans())
def test_client_returns_a_record_or_raises_its_own_error(
    httpserver: HTTPServer, case: tuple[str, object], status: int, reset_header: bool
) -> None:
    name, body = case
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"X-Bapi-Limit-Reset-Timestamp": "99999999999999999999"} if reset_header else {}
    httpserver.clear()
    httpserver.expect_request(re.compile(".*")).respond_with_data(
        data, status=status, headers=headers, content_type="application/json"
    )
    budget = RequestBudget(
        reads_per_second=1000, writes_per_second=1000, host=HostBudget(None), sleep=lambda _: None
    )
    client = ExchangeClient(
        account="fuzz",
        api_key="fuzz-key",
        api_secret="fuzz-secret",
        base_url=httpserver.url_for("/").rstrip("/"),
        timeout=5,
        budget=budget,
    )
    try:
        CALLS[name](client)
    except ExchangeError as exc:
        assert "fuzz-secret" not in str(exc) and "fuzz-key" not in str(exc)
