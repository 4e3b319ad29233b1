"""Read a TOML file, and say what pydantic found wrong in it as ``key: problem``.

Shared by the config loader and by ``load_templates`` (a template collection is
read the same way). Pydantic's input values are dropped from every problem, so
secrets cannot leak through them.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from p2pilot.config.errors import ConfigError, ConfigIssue
from p2pilot.config.values import CONFIG_ERROR, toml_type

ENV_VAR = "P2PILOT_CONFIG"
MAX_CONFIG_BYTES = 4 * 1024 * 1024
_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_POSITION = re.compile(r"\s*\(at (line \d+, column \d+|end of document)\)$")


def read_toml(source: Path) -> dict[str, Any]:
    """The TOML document at ``source`` as a dict; raises ConfigError."""
    file = str(source)
    try:
        with source.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            file, "", f"config file not found (pass --config PATH or set {ENV_VAR})"
        ) from None
    except OSError as exc:
        raise ConfigError(file, "", f"cannot read config file: {_os_reason(exc)}") from None
    except ValueError:
        raise ConfigError(file, "", "cannot read config file: invalid path") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(file, "", "config file is too large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(file, "", f"not UTF-8 text (byte {exc.start})") from None
    try:
        # Some Windows editors start UTF-8 files with a byte order mark.
        return tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", _toml_problem(str(exc))) from None
    except RecursionError:
        raise ConfigError(file, "", "invalid TOML: nested too deeply") from None
    except Exception as exc:  # tomllib raises ValueError for e.g. a 5000-digit integer
        raise ConfigError(file, "", f"invalid TOML: {str(exc)[:120]}") from None


def _toml_problem(message: str) -> str:
    position = _TOML_POSITION.search(message)
    if position is None:
        return f"invalid TOML: {message}"
    reason = message[: position.start()]
    return f"invalid TOML at {position.group(1)}: {reason[:1].lower()}{reason[1:]}"


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


# -- pydantic errors -> "key: problem" ---------------------------------------------------


def key_path(loc: Sequence[int | str]) -> str:
    """``("accounts", 0, "api_key")`` as ``accounts[0].api_key``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if _KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
        out += f".{text}" if out else text
    return out


def validation_issues(exc: ValidationError) -> tuple[ConfigIssue, ...]:
    """Each of pydantic's errors as a ``key: problem`` the operator can act on."""
    return tuple(_issue(error) for error in exc.errors(include_url=False))


def _issue(error: ErrorDetails) -> ConfigIssue:
    return ConfigIssue(key_path(error["loc"]), _problem(error))


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "bool_type": "true or false",
    "list_type": "an array",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dict_type": "a table",
}


def _problem(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == CONFIG_ERROR:
        return str(ctx.get("message", error["msg"]))
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing (this key is required)"
    if kind in _EXPECTED:
        got = toml_type(error.get("input"))
        if kind == "int_type" and isinstance(error.get("input"), float):
            return f"expected an integer, got a float (write {_int_hint(error.get('input'))})"
        return f"expected {_EXPECTED[kind]}, got {got}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind == "too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else error["msg"]
    if kind == "invalid_key":
        return "keys must be strings"
    message = error["msg"].removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def _int_hint(value: object) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return "a whole number"
