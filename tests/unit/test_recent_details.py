"""The order/info answers kept for a moment: ages, forgetting, and the bound."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

from p2pilot.exchange import parse
from p2pilot.exchange.recent import MAX_ENTRIES, ParsedRows, RecentDetails
from p2pilot.records import OrderDetail, OrderSummary

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference_payloads.json"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@functools.cache
def reference_detail() -> OrderDetail:
    return parse.parse_order_detail(json.loads(FIXTURES.read_text())["order_detail"])


def detail(order_id: str = "1001") -> OrderDetail:
    return dataclasses.replace(reference_detail(), id=order_id)


def test_an_answer_is_given_back_only_while_young_enough() -> None:
    clock = Clock()
    recent = RecentDetails(clock)
    recent.put(detail(), sent_at=clock.now)
    clock.now += 0.4
    kept = recent.get("1001", max_age=1.0)
    assert kept is not None and kept.detail.id == "1001" and abs(kept.age - 0.4) < 1e-9
    clock.now += 0.7
    assert recent.get("1001", max_age=1.0) is None
    assert recent.get("other", max_age=1.0) is None


def test_an_older_answer_never_replaces_a_newer_one() -> None:
    clock = Clock()
    recent = RecentDetails(clock)
    newer = dataclasses.replace(detail(), amount=detail().amount + 1)
    recent.put(newer, sent_at=100.5)
    recent.put(detail(), sent_at=100.0)  # its request left first, its answer came last
    clock.now = 101.0
    kept = recent.get("1001", max_age=10)
    assert kept is not None and kept.detail.amount == newer.amount


def test_forget_also_refuses_answers_to_requests_sent_before_it() -> None:
    clock = Clock()
    recent = RecentDetails(clock)
    sent_at = clock.now
    clock.now += 0.1
    recent.forget("1001")  # e.g. our release went out while that read was in flight
    recent.put(detail(), sent_at=sent_at)
    assert recent.get("1001", max_age=10) is None
    recent.put(detail(), sent_at=clock.now + 0.1)  # read after the forget: good again
    clock.now += 0.2
    assert recent.get("1001", max_age=10) is not None


def test_only_the_newest_orders_are_kept() -> None:
    clock = Clock()
    recent = RecentDetails(clock)
    for n in range(MAX_ENTRIES + 10):
        recent.put(detail(str(n)), sent_at=clock.now)
    assert recent.get("0", max_age=10) is None
    assert recent.get(str(MAX_ENTRIES + 9), max_age=10) is not None


def test_an_unchanged_list_row_is_not_parsed_again() -> None:
    payloads = json.loads(FIXTURES.read_text())
    page = payloads["orders"]
    rows: ParsedRows[OrderSummary] = ParsedRows()
    rows.new_pass()
    first = parse.parse_order_page(page, reuse=rows).items
    rows.new_pass()
    again = parse.parse_order_page(json.loads(json.dumps(page)), reuse=rows).items
    assert [a is b for a, b in zip(first, again, strict=True)] == [True] * len(first)

    moved = json.loads(json.dumps(page))
    moved["result"]["items"][0]["status"] = 50
    rows.new_pass()
    changed = parse.parse_order_page(moved, reuse=rows).items
    assert changed[0] is not first[0] and int(changed[0].status) == 50
    assert all(a is b for a, b in zip(first[1:], changed[1:], strict=True))

    rows.new_pass()
    rows.new_pass()  # two passes without the rows: forgotten
    assert parse.parse_order_page(page, reuse=rows).items[0] is not first[0]
