"""One HMAC-SHA256 scheme for outgoing webhooks and incoming payment evidence.

Signed bytes: ``f"{timestamp}.".encode() + body`` (timestamp in Unix seconds);
headers ``X-P2pilot-Timestamp`` and ``X-P2pilot-Signature: v1=<hex>``. A request
older or newer than the replay window is refused even with a good signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-P2pilot-Timestamp"
SIGNATURE_HEADER = "X-P2pilot-Signature"
REPLAY_WINDOW = 300.0
# Checked before any conversion: "²³".isdigit() is true and int() refuses it; a
# 5000-digit stamp exceeds int()'s limit; compare_digest raises on non-ASCII text.
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_SIGNATURE = re.compile(r"v1=[0-9a-fA-F]{64}", re.ASCII)


class SignatureError(ValueError):
    """A request's signature is missing, stale or wrong (never says what was expected)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"v1={sign(secret, timestamp, body)}",
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    window: float = REPLAY_WINDOW,
) -> None:
    """Raise SignatureError unless the headers sign ``body`` with ``secret`` within the window."""
    stamp = _header(headers, TIMESTAMP_HEADER)
    signature = _header(headers, SIGNATURE_HEADER)
    if not stamp or not signature:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if not _TIMESTAMP.fullmatch(stamp):
        raise SignatureError("malformed timestamp (Unix seconds, ASCII digits)")
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > window:
        raise SignatureError(f"timestamp outside the {int(window)} s replay window")
    if not signature.startswith("v1="):
        raise SignatureError("unsupported signature version (expected v1=...)")
    if not _SIGNATURE.fullmatch(signature):
        raise SignatureError("malformed signature (expected v1= and 64 hex digits)")
    expected = sign(secret, int(stamp), body)
    if not hmac.compare_digest(expected, signature[3:].lower()):
        raise SignatureError("signature does not match")
