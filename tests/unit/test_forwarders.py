"""The shapes phone forwarder apps post, read into one notification."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from p2pilot.evidence.forwarders import BadNotification, parse_notification, plausible_time

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TEXT = "Перевод 2 500р от Анна К. Баланс: 10 000р"
MS = int((NOW - timedelta(seconds=5)).timestamp() * 1000)


@pytest.mark.parametrize(
    ("document", "sender"),
    [
        # p2pilot's own shape
        ({"text": TEXT, "from": "900", "received_at": "2026-11-30T08:59:55+00:00"}, "900"),
        # "Incoming SMS to URL forwarder" (stamps in milliseconds, as strings)
        ({"from": "900", "text": TEXT, "sentStamp": str(MS), "receivedStamp": str(MS)}, "900"),
        # "SMS Gateway for Android" webhook
        (
            {
                "event": "sms:received",
                "payload": {
                    "message": TEXT,
                    "phoneNumber": "900",
                    "receivedAt": "2026-11-30T11:59:55.000+03:00",
                },
            },
            "900",
        ),
        # body/from with milliseconds as a number
        ({"body": TEXT, "from": "900", "timestamp": MS}, "900"),
        # sender as a number, text as "message"
        ({"message": TEXT, "sender": 900, "time": MS // 1000}, "900"),
        # a notification forwarder: the app is the sender
        ({"app": "ru.bank.app", "title": "Банк", "text": TEXT, "date": MS}, "ru.bank.app"),
    ],
)
def test_common_forwarder_shapes(document: dict[str, object], sender: str) -> None:
    posted = parse_notification(json.dumps(document).encode(), "application/json", now=NOW)
    assert posted.text.endswith(TEXT)
    assert posted.sender == sender
    assert posted.sent_at == NOW - timedelta(seconds=5)


def test_the_title_of_a_push_is_read_with_its_text() -> None:
    document = {"package": "ru.bank.app", "title": "+2 500 ₽", "text": "от Анна К."}
    posted = parse_notification(json.dumps(document).encode(), None, now=NOW)
    assert posted.text == "+2 500 ₽\nот Анна К."


def test_a_form_and_plain_text() -> None:
    form = "from=900&content=" + "%D0%9F%D0%B5%D1%80%D0%B5%D0%B2%D0%BE%D0%B4+500%D1%80"
    posted = parse_notification(form.encode(), "application/x-www-form-urlencoded", now=NOW)
    assert (posted.text, posted.sender) == ("Перевод 500р", "900")
    plain = parse_notification(TEXT.encode(), "text/plain; charset=utf-8", now=NOW)
    assert (plain.text, plain.sender, plain.sent_at) == (TEXT, None, None)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{", "body is not JSON"),
        (b"[1]", "must be a JSON object"),
        (b'{"from": "900"}', "no text"),
        (b'{"text": "   "}', "no text"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_what_is_not_a_notification(body: bytes, problem: str) -> None:
    with pytest.raises(BadNotification, match=problem):
        parse_notification(body, "application/json", now=NOW)


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-30T09:10:00+00:00",  # ten minutes ahead: a phone clock far off
        "2026-11-01T09:00:00+00:00",  # a month old
        "2026-11-30T09:00:00",  # no zone: the phone's local time, unknowable
        "yesterday",
        "99999999999999999",
    ],
)
def test_implausible_times_are_not_used(value: str) -> None:
    assert plausible_time(value, now=NOW) is None
