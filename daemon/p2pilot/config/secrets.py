"""Secrets in the config: where they come from, resolved once at load into ``SecretStr``.

A secret is written as one of::

    api_secret = { env = "BYBIT_API_SECRET" }      # an environment variable
    api_secret = { file = "/etc/p2pilot/secret" }  # a file (trailing newline dropped)
    api_secret = { credential = "bybit-secret" }   # systemd LoadCredential=
    api_secret = "demo"                            # inline: for the simulator only

Errors name the source (variable, file, credential) and never the value.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Annotated

from pydantic import PlainSerializer, PlainValidator, SecretStr, ValidationInfo

from p2pilot.config.values import invalid, toml_type

SOURCES = ("env", "file", "credential")
SHAPE_HINT = (
    'a secret is a string or one of { env = "NAME" }, { file = "/path" }, { credential = "name" }'
)
MAX_SECRET_BYTES = 64 * 1024  # a key file, not /dev/zero
REDACTED = "***"


def resolve_secret(value: object, info: ValidationInfo) -> SecretStr:
    """Turn a secret reference into its value; raises a config error naming the source."""
    resolved = _resolve(value, info)
    remember_secret(resolved.get_secret_value(), info)
    return resolved


def remember_secret(value: str, info: ValidationInfo) -> None:
    """Note a secret in the validation context, so the loader can scrub it from errors."""
    context = info.context if isinstance(info.context, dict) else {}
    seen = context.get("secrets")
    if isinstance(seen, list) and value:
        seen.append(value)


def _resolve(value: object, info: ValidationInfo) -> SecretStr:
    if isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        if not value:
            invalid("a secret cannot be empty")
        return SecretStr(value)
    if not isinstance(value, dict):
        invalid(f"{SHAPE_HINT}, got {toml_type(value)}")
    if len(value) != 1:
        invalid(SHAPE_HINT)
    ((kind, reference),) = value.items()
    if kind not in SOURCES:
        invalid(f"unknown secret source {kind!r}; {SHAPE_HINT}")
    if not isinstance(reference, str) or not reference:
        invalid(f"{kind} must be a non-empty string")
    context = info.context if isinstance(info.context, dict) else {}
    if kind == "env":
        return SecretStr(_from_env(reference))
    if kind == "file":
        base = context.get("base_dir")
        path = Path(reference)
        if not path.is_absolute() and isinstance(base, Path):
            path = base / path
        return SecretStr(_from_file(path, f"secret file {path}"))
    return SecretStr(_from_credential(reference))


def _from_env(name: str) -> str:
    if "=" in name or "\0" in name:
        invalid(f"invalid environment variable name {name!r}")
    text = os.environ.get(name)
    if text is None:
        invalid(f"environment variable {name} is not set")
    if not text:
        invalid(f"environment variable {name} is empty")
    return text


def _from_credential(name: str) -> str:
    if "/" in name or name in (".", "..") or "\0" in name:
        invalid(f"invalid credential name {name!r} (a LoadCredential= name, not a path)")
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        invalid(
            f"credential {name!r}: CREDENTIALS_DIRECTORY is not set "
            "(run under systemd with LoadCredential=, or use { file = ... })"
        )
    return _from_file(Path(directory) / name, f"credential {name!r} ({Path(directory) / name})")


def _from_file(path: Path, label: str) -> str:
    data: bytes | None = None
    try:
        # Non-blocking open and regular files only: a FIFO would block, /dev/zero never ends.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                data = handle.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        invalid(f"cannot read {label}: {exc.strerror or type(exc).__name__}")
    except ValueError:  # an embedded NUL in the path
        invalid("cannot read the secret file: its path contains a NUL character")
    if data is None:
        invalid(f"{label} is not a regular file")
    if len(data) > MAX_SECRET_BYTES:
        invalid(f"{label} is too large for a secret")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        invalid(f"{label} is not UTF-8 text")
    # Files written by editors and `echo` end with a newline that is not part of the key.
    text = text.rstrip("\r\n")
    if not text:
        invalid(f"{label} is empty")
    return text


def _redact(_value: SecretStr) -> str:
    return REDACTED


Secret = Annotated[
    SecretStr,
    PlainValidator(resolve_secret),
    PlainSerializer(_redact, return_type=str, when_used="json"),
]
