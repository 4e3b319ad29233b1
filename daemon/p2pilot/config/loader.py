"""Find, read and validate the config file; every failure is one ``ConfigError``.

The error names the file, the key path (``accounts[0].api_secret``) and what is
wrong. Pydantic's errors are translated here into short operator-facing
problems; their input values are dropped, so secrets cannot leak through them.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from p2pilot.config.errors import ConfigError, ConfigIssue
from p2pilot.config.intake import intake_issues
from p2pilot.config.schema import Config
from p2pilot.config.values import CONFIG_ERROR, toml_type

ENV_VAR = "P2PILOT_CONFIG"
# Tried in order when neither --config nor $P2PILOT_CONFIG is given: the system
# service's path first, then a file in the working directory (a checkout, a test).
DEFAULT_PATHS: tuple[Path, ...] = (Path("/etc/p2pilot/p2pilot.toml"), Path("p2pilot.toml"))
MAX_CONFIG_BYTES = 4 * 1024 * 1024
MIN_SCRUB = 6  # shortest secret scrubbed from error messages
_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_POSITION = re.compile(r"\s*\(at (line \d+, column \d+|end of document)\)$")


def config_path_from(
    cli_value: str | None,
    *,
    environ: Mapping[str, str] | None = None,
    candidates: Sequence[Path] = DEFAULT_PATHS,
) -> Path:
    """The config path: ``--config``, else ``$P2PILOT_CONFIG``, else the first default that exists.

    The defaults are ``/etc/p2pilot/p2pilot.toml`` then ``./p2pilot.toml``; when
    neither exists the first is returned, so the error names the system path.
    """
    if cli_value:
        return Path(cli_value)
    from_env = (os.environ if environ is None else environ).get(ENV_VAR)
    if from_env:
        return Path(from_env)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return candidates[0] if candidates else Path("p2pilot.toml")


def load_config(path: str | Path) -> Config:
    """Read, parse and validate the TOML file at ``path``; raises ConfigError."""
    source = Path(path)
    return parse_config(read_toml(source), source=source)


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


def parse_config(data: Mapping[str, Any], *, source: str | Path = "<memory>") -> Config:
    """Validate an already parsed document; ``source`` names it in errors.

    Relative secret file paths are taken relative to ``source``'s directory.
    """
    source = Path(source)
    file = str(source)
    issues: tuple[ConfigIssue, ...] = ()
    config: Config | None = None
    secrets: list[str] = []  # filled by the secret validators as they resolve
    try:
        config = Config.model_validate(
            data, context={"base_dir": source.parent, "secrets": secrets}
        )
    except ValidationError as exc:
        issues = tuple(_issue(error) for error in exc.errors(include_url=False))
    except (RecursionError, MemoryError):
        issues = (ConfigIssue("", "the document is nested too deeply"),)
    except Exception as exc:
        # A validator let something escape; still one clean message, never a traceback.
        problem = f"internal error while checking the config ({type(exc).__name__})"
        issues = (ConfigIssue("", problem),)
    if config is not None:
        issues = tuple(cross_checks(config))
    if issues or config is None:
        # A secret pasted into the wrong key would otherwise be quoted back.
        issues = tuple(_scrub(issue, secrets) for issue in issues)
        first = issues[0] if issues else ConfigIssue("", "invalid config")
        raise ConfigError(file, first.key, first.problem, issues=issues)
    config._source = source
    return config


def _scrub(issue: ConfigIssue, secrets: Sequence[str]) -> ConfigIssue:
    key, problem = issue.key, issue.problem
    # Very short values ("demo", a test's "k") would blank out ordinary words of the
    # message; quoting back such a value reveals nothing anyway.
    for secret in sorted((s for s in secrets if len(s) >= MIN_SCRUB), key=len, reverse=True):
        key, problem = key.replace(secret, "***"), problem.replace(secret, "***")
    return ConfigIssue(key, problem)


def cross_checks(config: Config) -> list[ConfigIssue]:
    """Checks that span entries: unique names, references between sections."""
    issues: list[ConfigIssue] = []
    if not config.accounts:
        issues.append(ConfigIssue("accounts", "at least one [[accounts]] table is required"))
    seen: dict[str, int] = {}
    for index, entry in enumerate(config.accounts):
        if entry.name in seen:
            issues.append(
                ConfigIssue(
                    f"accounts[{index}].name",
                    f"duplicate account name {entry.name!r} (also accounts[{seen[entry.name]}])",
                )
            )
        seen.setdefault(entry.name, index)
    if config.polling.sweep < config.polling.orders:
        issues.append(ConfigIssue("polling.sweep", "must not be shorter than polling.orders"))
    rule_names: dict[str, int] = {}
    for index, rule in enumerate(config.rules):
        if rule.name in rule_names:
            issues.append(
                ConfigIssue(
                    f"rules[{index}].name",
                    f"duplicate rule name {rule.name!r} (also rules[{rule_names[rule.name]}])",
                )
            )
        rule_names.setdefault(rule.name, index)
        account = rule.if_.account
        if account is not None and account not in seen:
            issues.append(
                ConfigIssue(f"rules[{index}].if.account", f"no account named {account!r}")
            )
    issues.extend(intake_issues(config.evidence, set(seen)))
    return issues


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
