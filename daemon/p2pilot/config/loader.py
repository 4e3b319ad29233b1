"""Find, read and validate the config file; every failure is one ``ConfigError``.

The error names the file, the key path (``accounts[0].api_secret``) and what is
wrong. ``reading.py`` reads the TOML and turns pydantic's errors into short
operator-facing problems; the checks across entries (unique names, references
between sections) are here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from p2pilot.config.errors import ConfigError, ConfigIssue
from p2pilot.config.intake import MailboxConfig, SourceConfig, TemplateConfig
from p2pilot.config.reading import ENV_VAR, read_toml, validation_issues
from p2pilot.config.schema import Config, EvidenceConfig

# Tried in order when neither --config nor $P2PILOT_CONFIG is given: the system
# service's path first, then a file in the working directory (a checkout, a test).
DEFAULT_PATHS: tuple[Path, ...] = (Path("/etc/p2pilot/p2pilot.toml"), Path("p2pilot.toml"))
MIN_SCRUB = 6  # shortest secret scrubbed from error messages


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
        issues = validation_issues(exc)
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


def _repeated_name(
    first: dict[str, int], section: str, index: int, name: str, noun: str = "name"
) -> list[ConfigIssue]:
    """Note where ``name`` first stands in ``section``; an issue when it stood there before."""
    if name not in first:
        first[name] = index
        return []
    also = f"{section}[{first[name]}]"
    return [ConfigIssue(f"{section}[{index}].name", f"duplicate {noun} {name!r} (also {also})")]


def cross_checks(config: Config) -> list[ConfigIssue]:
    """Checks that span entries: unique names, references between sections."""
    issues: list[ConfigIssue] = []
    if not config.accounts:
        issues.append(ConfigIssue("accounts", "at least one [[accounts]] table is required"))
    seen: dict[str, int] = {}
    for index, entry in enumerate(config.accounts):
        issues += _repeated_name(seen, "accounts", index, entry.name, "account name")
    if config.polling.sweep < config.polling.orders:
        issues.append(ConfigIssue("polling.sweep", "must not be shorter than polling.orders"))
    rule_names: dict[str, int] = {}
    for index, rule in enumerate(config.rules):
        issues += _repeated_name(rule_names, "rules", index, rule.name, "rule name")
        account = rule.if_.account
        if account is not None and account not in seen:
            issues.append(
                ConfigIssue(f"rules[{index}].if.account", f"no account named {account!r}")
            )
    issues.extend(intake_issues(config.evidence, set(seen)))
    return issues


def intake_issues(evidence: EvidenceConfig, accounts: set[str]) -> list[ConfigIssue]:
    """Checks across entries: unique names and tokens, mailboxes naming known templates."""
    issues = _name_issues(evidence, accounts) + _token_issues(evidence)
    issues += _mailbox_issues(evidence)
    if evidence.sources and not evidence.templates:
        issues.append(
            ConfigIssue("evidence.sources", "notifications need [[evidence.templates]] to be read")
        )
    if evidence.sources and evidence.listen is None:
        issues.append(
            ConfigIssue("evidence.listen", "[[evidence.sources]] post to [evidence] listen: set it")
        )
    return issues


def _name_issues(evidence: EvidenceConfig, accounts: set[str]) -> list[ConfigIssue]:
    """Names unique within each section; an entry's account one that is configured."""
    issues: list[ConfigIssue] = []
    sections: tuple[tuple[str, Sequence[SourceConfig | TemplateConfig | MailboxConfig]], ...] = (
        ("sources", evidence.sources),
        ("templates", evidence.templates),
        ("mailboxes", evidence.mailboxes),
    )
    for section, entries in sections:
        seen: dict[str, int] = {}
        for index, entry in enumerate(entries):
            issues += _repeated_name(seen, f"evidence.{section}", index, entry.name)
            account = getattr(entry, "account", None)
            if account is not None and account not in accounts:
                issues.append(
                    ConfigIssue(
                        f"evidence.{section}[{index}].account", f"no account named {account!r}"
                    )
                )
    return issues


def _token_issues(evidence: EvidenceConfig) -> list[ConfigIssue]:
    """Every source with a token of its own."""
    issues: list[ConfigIssue] = []
    tokens: dict[str, int] = {}
    for index, source in enumerate(evidence.sources):
        token = source.token.get_secret_value()
        if token in tokens:
            # The token is what tells sources apart: two sharing one cannot be told apart.
            issues.append(
                ConfigIssue(
                    f"evidence.sources[{index}].token",
                    f"same token as evidence.sources[{tokens[token]}]",
                )
            )
        tokens.setdefault(token, index)
    return issues


def _mailbox_issues(evidence: EvidenceConfig) -> list[ConfigIssue]:
    """Every mailbox with templates to read receipts with, each one that exists."""
    issues: list[ConfigIssue] = []
    names = {t.name for t in evidence.templates}
    for index, mailbox in enumerate(evidence.mailboxes):
        for position, name in enumerate(mailbox.templates):
            if name not in names:
                issues.append(
                    ConfigIssue(
                        f"evidence.mailboxes[{index}].templates[{position}]",
                        f"no [[evidence.templates]] named {name!r}",
                    )
                )
        if not names:
            issues.append(
                ConfigIssue(
                    f"evidence.mailboxes[{index}]",
                    "a mailbox needs at least one [[evidence.templates]] to read receipts",
                )
            )
    return issues
