"""The HMAC scheme of webhooks and the evidence endpoint."""

from __future__ import annotations

import pytest

from p2pilot.signing import SignatureError, sign, signature_headers, verify

SECRET = "evidence-secret-42"
BODY = b'{"amount":"8145.00"}'


def test_a_fresh_signature_verifies() -> None:
    headers = signature_headers(SECRET, BODY, now=1_764_000_000)
    verify(SECRET, headers, BODY, now=1_764_000_100)
    verify(SECRET, {k.lower(): v for k, v in headers.items()}, BODY, now=1_764_000_000)


@pytest.mark.parametrize(
    ("secret", "body", "now", "reason"),
    [
        ("wrong-secret", BODY, 1_764_000_000, "does not match"),
        (SECRET, BODY + b" ", 1_764_000_000, "does not match"),
        (SECRET, BODY, 1_764_000_301, "replay window"),
        (SECRET, BODY, 1_763_999_699, "replay window"),
    ],
)
def test_tampering_and_replays_are_refused(secret: str, body: bytes, now: int, reason: str) -> None:
    headers = signature_headers(SECRET, BODY, now=1_764_000_000)
    with pytest.raises(SignatureError) as refused:
        verify(secret, headers, body, now=now)
    assert reason in str(refused.value)
    assert sign(SECRET, 1_764_000_000, BODY) not in str(refused.value)
    assert SECRET not in str(refused.value)


def test_missing_headers_are_refused() -> None:
    with pytest.raises(SignatureError, match="missing"):
        verify(SECRET, {}, BODY)


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("X-P2pilot-Timestamp", "²³", "malformed timestamp"),
        ("X-P2pilot-Timestamp", "9" * 5000, "malformed timestamp"),
        ("X-P2pilot-Timestamp", "-5", "malformed timestamp"),
        ("X-P2pilot-Signature", "v1=" + "é" * 64, "malformed signature"),
        ("X-P2pilot-Signature", "v1=abc", "malformed signature"),
    ],
)
def test_malformed_headers_are_a_signature_error_not_a_crash(
    header: str, value: str, reason: str
) -> None:
    headers = {**signature_headers(SECRET, BODY, now=1_764_000_000), header: value}
    with pytest.raises(SignatureError, match=reason):
        verify(SECRET, headers, BODY, now=1_764_000_000)
