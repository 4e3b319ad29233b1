"""The config file: TOML in, a validated, frozen ``Config`` with secrets resolved out.

``load_config(path)`` is the one entry point; any problem is a ``ConfigError``
whose message names the file, the key and what is wrong. See
``config/p2pilot.example.toml`` for every key with its default.
"""

from p2pilot.config.errors import ConfigError, ConfigIssue
from p2pilot.config.loader import DEFAULT_PATHS, config_path_from, load_config, parse_config
from p2pilot.config.reading import ENV_VAR, key_path, read_toml
from p2pilot.config.rules import (
    ACTION_NAMES,
    EVENT_NAMES,
    CommandConfig,
    MarkPaidConfig,
    NotifyConfig,
    ReplyConfig,
    RuleConditions,
    RuleConfig,
    WebhookConfig,
)
from p2pilot.config.schema import (
    AccountConfig,
    Config,
    DatabaseConfig,
    LoggingConfig,
    PollingConfig,
    RateConfig,
    SafetyConfig,
    masked_url,
)
from p2pilot.config.values import format_duration, parse_decimal, parse_duration

__all__ = [
    "ACTION_NAMES",
    "DEFAULT_PATHS",
    "ENV_VAR",
    "EVENT_NAMES",
    "AccountConfig",
    "CommandConfig",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "DatabaseConfig",
    "LoggingConfig",
    "MarkPaidConfig",
    "NotifyConfig",
    "PollingConfig",
    "RateConfig",
    "ReplyConfig",
    "RuleConditions",
    "RuleConfig",
    "SafetyConfig",
    "WebhookConfig",
    "config_path_from",
    "format_duration",
    "key_path",
    "load_config",
    "masked_url",
    "parse_config",
    "parse_decimal",
    "parse_duration",
    "read_toml",
]
