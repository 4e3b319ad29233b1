"""Fuzzing the exchange client's parsing: whatever the exchange sends, a record or
``MalformedResponse`` comes back, never a ``KeyError``, ``TypeError`` or the like.

Each example starts from a reference payload (reference §2), then deletes fields,
swaps values for other types, huge or negative numbers, unknown enum codes and
odd strings, and sometimes rewrites the envelope into the other style.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pilot.exchange import parse
from p2pilot.exchange import requests as paths
from p2pilot.exchange.errors import MalformedResponse
from p2pilot.records import Page

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference_payloads.json"
PAYLOADS: dict[str, Any] = json.loads(FIXTURES.read_text(encoding="utf-8"))

PARSERS: dict[str, Callable[[Any], object]] = {
    "account_info": parse.parse_user_profile,
    "counterparty_info": lambda p: parse.parse_user_profile(p, paths.COUNTERPARTY_INFO),
    "payment_methods": parse.parse_payment_terms,
    "orders": parse.parse_order_page,
    "pending_orders": lambda p: parse.parse_order_page(p, paths.PENDING_ORDERS),
    "order_detail": parse.parse_order_detail,
    "chat_messages": parse.parse_chat_messages,
    "session_messages": parse.parse_session_messages,
    "chat_session_list": parse.parse_chat_sessions,
    "upload_chat_file": parse.parse_uploaded_file,
    "my_ads": parse.parse_ad_page,
    "ad_detail": parse.parse_ad,
    "online_ads": parse.parse_online_ad_page,
    "create_ad": parse.parse_created_ad_id,
    "update_ad": lambda p: parse.check_action(p, paths.UPDATE_AD),
    "remove_ad": lambda p: parse.check_action(p, paths.REMOVE_AD),
}

Path_ = tuple[str | int, ...]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "0", "-1", "1e999", "NaN", "Infinity", "１２", " 12 ", "0x10", "1,5"]),
    st.sampled_from(["99", "123456789012345678901234567890", "-5", "2.5", "true", "null"]),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
# Codes no enum knows, and codes that are almost right.
unknown_codes = st.one_of(
    st.integers(min_value=-5, max_value=1000).map(lambda n: n * 7 + 3),
    st.integers(min_value=-5, max_value=1000).map(str),
)


def locations(value: Any, here: Path_ = ()) -> list[Path_]:
    """Every path to a value inside a JSON document, the root excluded."""
    found: list[Path_] = []
    children: list[tuple[str | int, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    for key, child in children:
        found.append((*here, key))
        found.extend(locations(child, (*here, key)))
    return found


def mutate(document: Any, where: Path_, how: str, replacement: Any) -> None:
    *parents, last = where
    holder = document
    for key in parents:
        holder = holder[key]
    if how == "delete":
        if isinstance(holder, dict):
            holder.pop(last, None)
        else:
            holder.pop(last)
    else:
        holder[last] = replacement


def other_envelope(document: Any) -> Any:
    """The same answer in the other envelope style (P2P ``ret_code`` ↔ v5 ``retCode``)."""
    if not isinstance(document, dict):
        return document
    if "ret_code" in document:
        return {
            "retCode": document.get("ret_code"),
            "retMsg": document.get("ret_msg"),
            "result": document.get("result"),
            "time": document.get("time_now"),
        }
    return {
        "ret_code": document.get("retCode"),
        "ret_msg": document.get("retMsg"),
        "result": document.get("result"),
        "ext_code": "",
        "time_now": "1700000000.000000",
    }


@st.composite
def payloads(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(st.sampled_from(sorted(PARSERS)))
    document = copy.deepcopy(PAYLOADS[name])
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        where = locations(document)
        if not where:
            break
        spot = draw(st.sampled_from(where))
        how = draw(st.sampled_from(["delete", "replace", "code", "huge"]))
        replacement: Any = None
        if how == "replace":
            replacement = draw(json_values)
        elif how == "code":
            replacement = draw(unknown_codes)
        elif how == "huge":
            replacement = draw(st.sampled_from([10**40, -(10**40), "9" * 60, "1e308", 2**63]))
        mutate(document, spot, how, replacement)
    if draw(st.booleans()):
        document = other_envelope(document)
    if draw(st.integers(min_value=0, max_value=20)) == 0:
        document = draw(json_values)  # not even an envelope
    return name, document


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads())
def test_parsers_return_a_record_or_raise_malformed_response(case: tuple[str, Any]) -> None:
    name, document = case
    try:
        record = PARSERS[name](document)
    except MalformedResponse as exc:
        assert exc.endpoint, "the error names the endpoint"
        assert str(exc).startswith("malformed response")
        return
    if isinstance(record, Page):
        assert all(isinstance(m, str) and m for m in record.unreadable)
        assert record.rows >= len(record.items)


def test_every_reference_payload_is_fuzzed() -> None:
    """A parser added without a fixture here would go unfuzzed: keep the map whole."""
    assert set(PARSERS) == {k for k in PAYLOADS if not k.startswith("_")}
