"""Release guards: each one can stop a release, and the table says which."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from p2pilot.records import OrderDetail, OrderStatus, Side, UserProfile
from p2pilot.rules.guards import (
    ApprovalPolicy,
    ReleaseLimits,
    all_hold,
    check_release,
    first_failure,
)
from p2pilot.rules.model import Conditions
from p2pilot.rules.verdict import EvidenceSummary, ReleaseInputs

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def detail(**changes: object) -> OrderDetail:
    base = OrderDetail(
        id="1991122334455667788",
        side=Side.SELL,
        status=OrderStatus.PAID,
        token="USDT",
        currency="RUB",
        amount=Decimal("8145.00"),
        price=Decimal("81.45"),
        quantity=Decimal("100.0000"),
        fee=None,
        counterparty_nickname="buyer_77",
        counterparty_user_id="60012345",
        counterparty_mask_id="s0c1",
        user_id="52700411",
        maker_user_id="52700411",
        item_id="1",
        seller_real_name="IVAN PETROV",
        buyer_real_name="OLEG S",
        payment_type=582,
        payment_terms=[],
        confirmed_payment=None,
        created_at=NOW,
        updated_at=NOW,
        paid_at=NOW,
        transfer_seconds_left=0,
        can_appeal=False,
        appeal_user_id="0",
        cancel_reason="",
        unread_count=0,
        raw={},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def profile(**changes: object) -> UserProfile:
    base = UserProfile(
        user_id="60012345",
        nickname="buyer_77",
        real_name="OLEG S",
        kyc_level="2",
        kyc_country="RUS",
        recent_rate=Decimal("97"),
        recent_finish_count=21,
        total_finish_count=58,
        account_create_days=402,
        first_trade_days=380,
        good_appraise_rate=Decimal("100"),
        auth_status=2,
        blocked="N",
        registered_at=None,
        is_online=True,
        raw={},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


LIMITS = ReleaseLimits(
    auto_release=True,
    max_amount={"RUB": Decimal("10000")},
    daily_limit={"RUB": Decimal("20000")},
    counterparty_daily_limit={"RUB": Decimal("15000")},
)
RISK = Conditions(
    counterparty_min_orders=20,
    counterparty_min_completion_rate=Decimal("90"),
    counterparty_min_account_days=30,
)


def inputs(**changes: object) -> ReleaseInputs:
    base = ReleaseInputs(
        stored_amount=Decimal("8145.00"),
        currency="RUB",
        fresh=detail(),
        released_today=Decimal("0"),
        released_today_counterparty=Decimal("0"),
        counterparty=profile(),
        evidence=EvidenceSummary("bank-1", Decimal("8145.00"), "Oleg Smirnov", "http"),
        kyc_name="OLEG S",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_everything_in_order_releases() -> None:
    results = check_release(LIMITS, RISK, inputs())
    assert all_hold(results)
    assert [r.name for r in results] == [
        "auto_release",
        "status_paid",
        "amount_unchanged",
        "not_in_appeal",
        "max_amount",
        "daily_limit",
        "counterparty_daily_limit",
        "counterparty_not_blocked",
        "not_blacklisted",
        "counterparty_min_orders",
        "counterparty_min_completion_rate",
        "counterparty_min_account_days",
        "payment_evidence",
        "payer_is_buyer",
        "account_paused",
        "not_held",
        "operator_approval",
    ]


@pytest.mark.parametrize(
    ("limits", "risk", "changes", "guard"),
    [
        (replace(LIMITS, auto_release=False), RISK, {}, "auto_release"),
        (LIMITS, RISK, {"paused": "account paused by alice (cli)"}, "account_paused"),
        (LIMITS, RISK, {"hold": "held by bob (console): disputed"}, "not_held"),
        (replace(LIMITS, approval=ApprovalPolicy("approve")), RISK, {}, "operator_approval"),
        (LIMITS, RISK, {"fresh": None}, "order_reread"),
        (LIMITS, RISK, {"fresh": detail(status=OrderStatus.AWAITING_PAYMENT)}, "status_paid"),
        (LIMITS, RISK, {"fresh": detail(amount=Decimal("8145.01"))}, "amount_unchanged"),
        (LIMITS, RISK, {"fresh": detail(appeal_user_id="60012345")}, "not_in_appeal"),
        (replace(LIMITS, max_amount={"RUB": Decimal("8144.99")}), RISK, {}, "max_amount"),
        (replace(LIMITS, max_amount={"RUB": Decimal("0")}), RISK, {}, "max_amount"),
        (replace(LIMITS, max_amount={"USD": Decimal("10000")}), RISK, {}, "max_amount"),
        (replace(LIMITS, daily_limit={"USD": Decimal("20000")}), RISK, {}, "daily_limit"),
        (LIMITS, RISK, {"released_today": Decimal("11855.01")}, "daily_limit"),
        (
            LIMITS,
            RISK,
            {"released_today_counterparty": Decimal("7000")},
            "counterparty_daily_limit",
        ),
        (LIMITS, RISK, {"counterparty": profile(total_finish_count=19)}, "counterparty_min_orders"),
        (
            LIMITS,
            RISK,
            {"counterparty": profile(recent_rate=Decimal("89.9"))},
            "counterparty_min_completion_rate",
        ),
        (
            LIMITS,
            RISK,
            {"counterparty": profile(account_create_days=29)},
            "counterparty_min_account_days",
        ),
        (LIMITS, RISK, {"counterparty": profile(blocked="Y")}, "counterparty_not_blocked"),
        (LIMITS, RISK, {"blacklisted": "#1 uid '60012345'"}, "not_blacklisted"),
        (
            LIMITS,
            RISK,
            # Third-party payment: the money came from someone who is not the buyer.
            {"evidence": EvidenceSummary("bank-1", Decimal("8145.00"), "Ivan Petrov", "http")},
            "payer_is_buyer",
        ),
        (
            LIMITS,
            RISK,
            {"evidence": EvidenceSummary("bank-1", Decimal("8145.00"), "", "http")},
            "payer_is_buyer",
        ),
        (LIMITS, RISK, {"kyc_name": ""}, "payer_is_buyer"),
    ],
)
def test_each_guard_stops_a_release(
    limits: ReleaseLimits, risk: Conditions, changes: dict[str, object], guard: str
) -> None:
    results = check_release(limits, risk, inputs(**changes))
    assert not all_hold(results)
    failing = [r.name for r in results if not r.ok]
    assert failing == [guard]
    failure = first_failure(results)
    assert failure is not None and failure.name == guard and failure.detail


def test_daily_limit_is_inclusive() -> None:
    results = check_release(LIMITS, RISK, inputs(released_today=Decimal("11855.00")))
    assert all_hold(results)


def test_without_the_profile_the_ban_flag_is_unknown_and_nothing_is_released() -> None:
    results = check_release(LIMITS, Conditions(), inputs(counterparty=None))
    assert [r.name for r in results if not r.ok] == ["counterparty_not_blocked"]
    with_risk = check_release(LIMITS, RISK, inputs(counterparty=None))
    assert [r.name for r in with_risk if not r.ok] == [
        "counterparty_not_blocked",
        "counterparty_profile",
    ]


def test_an_unpaid_order_is_refused_without_the_profile() -> None:
    unpaid = inputs(counterparty=None, fresh=detail(status=OrderStatus.AWAITING_PAYMENT))
    results = {r.name: r for r in check_release(LIMITS, Conditions(), unpaid)}
    assert not results["status_paid"].ok
    assert not results["counterparty_not_blocked"].ok
    assert results["counterparty_not_blocked"].detail == "not read: the order is not paid yet"


def test_no_evidence_fails_evidence_and_payer_and_names_held_evidence() -> None:
    held = ("evidence #4 sbp-777 (possible duplicate: evidence manual-X already paid order X)",)
    results = check_release(LIMITS, RISK, inputs(evidence=None, held=held))
    failing = {r.name: r.detail for r in results if not r.ok}
    assert set(failing) == {"payment_evidence", "payer_is_buyer"}
    assert failing["payment_evidence"] == "no matching payment evidence; held: " + held[0]


def test_the_operator_may_confirm_without_naming_the_payer() -> None:
    evidence = EvidenceSummary("manual-1", Decimal("8145.00"), "", "operator")
    assert all_hold(check_release(LIMITS, RISK, inputs(evidence=evidence)))


@pytest.mark.parametrize("flag", ["", "N", "n", "0"])
def test_bybit_not_blocked_flags(flag: str) -> None:
    assert all_hold(check_release(LIMITS, RISK, inputs(counterparty=profile(blocked=flag))))


def test_an_appeal_fails_both_status_and_appeal_guards() -> None:
    results = check_release(LIMITS, RISK, inputs(fresh=detail(status=OrderStatus.APPEAL)))
    assert [r.name for r in results if not r.ok] == ["status_paid", "not_in_appeal"]


def test_a_currency_without_limits_is_never_released_automatically() -> None:
    """16000 RUB, 15000 USD, 15000 KZT: each currency has its own limits, or none."""
    results = check_release(LIMITS, RISK, inputs(currency="KZT"))
    failing = {r.name: r.detail for r in results if not r.ok}
    assert failing == {
        "max_amount": "no release_max_amount for KZT: never released automatically",
        "daily_limit": "no release_daily_limit for KZT: never released automatically",
        "counterparty_daily_limit": "no release_counterparty_daily_limit for KZT:"
        " never released automatically",
    }
    # RUB released today does not use up USD's limit, and the other way round.
    limits = replace(
        LIMITS,
        max_amount={"RUB": Decimal("10000"), "USD": Decimal("10000")},
        daily_limit={"RUB": Decimal("20000"), "USD": Decimal("20000")},
        counterparty_daily_limit=None,
    )
    usd = check_release(limits, RISK, inputs(currency="USD", released_today=Decimal("0")))
    assert all_hold(usd)
    detail = next(r.detail for r in usd if r.name == "daily_limit")
    assert detail == "released today 0 + 8145.00 = 8145.00 <= release_daily_limit 20000 USD"


def test_limit_guards_store_their_value_and_limit_for_the_table() -> None:
    """`orders show` prints guard, value, limit, result: the figures travel in the JSON."""
    table = {
        r["guard"]: r
        for r in (g.to_json() for g in check_release(LIMITS, RISK, inputs(currency="KZT")))
    }
    assert (table["max_amount"]["value"], table["max_amount"]["limit"]) == ("8145.00 KZT", "none")
    rub = {r.name: r.to_json() for r in check_release(LIMITS, RISK, inputs())}
    assert rub["daily_limit"]["value"] == "8145.00 RUB"
    assert rub["daily_limit"]["limit"].endswith(" RUB") and rub["daily_limit"]["ok"]
    assert rub["status_paid"]["limit"] == "20 (paid)"
    # A guard that compares no figure carries only its sentence.
    assert set(rub["not_in_appeal"]) == {"guard", "ok", "detail"}


@pytest.mark.parametrize(
    ("policy", "amount", "needed"),
    [
        (ApprovalPolicy("approve"), "100", 1),
        (ApprovalPolicy("approve", approve_above={"RUB": Decimal("20000")}), "20000", 0),
        (ApprovalPolicy("approve", approve_above={"RUB": Decimal("20000")}), "20000.01", 1),
        (ApprovalPolicy("approve", approve_above={"USD": Decimal("500")}), "100", 1),
        (ApprovalPolicy("auto"), "900000", 0),
        (ApprovalPolicy("auto", approve_above={"RUB": Decimal("20000")}), "20001", 1),
        (ApprovalPolicy("auto", two_person_above={"RUB": Decimal("200000")}), "200000", 0),
        (ApprovalPolicy("auto", two_person_above={"RUB": Decimal("200000")}), "200001", 2),
        (ApprovalPolicy("approve", two_person_above={"RUB": Decimal("200000")}), "300000", 2),
    ],
)
def test_how_many_operators_approve(policy: ApprovalPolicy, amount: str, needed: int) -> None:
    assert policy.needed(Decimal(amount), "rub") == needed


def test_approvals_count_by_distinct_operators() -> None:
    limits = replace(
        LIMITS, approval=ApprovalPolicy("approve", two_person_above={"RUB": Decimal("5000")})
    )
    one = check_release(limits, RISK, inputs(approvers=("alice",)))
    assert not all_hold(one)
    assert one[-1].detail.startswith("waiting for 1 more approval(s): two operators above")
    both = check_release(limits, RISK, inputs(approvers=("alice", "bob")))
    assert all_hold(both) and both[-1].detail == "approved by alice, bob"
