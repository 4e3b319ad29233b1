"""``[telegram]``: defaults, errors (exit 78's FILE: KEY: problem), the token kept secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from p2pilot.config import ConfigError, load_config
from p2pilot.config.telegram import DEFAULT_ALERTS

TOKEN = "987654:TOKEN-7c1f-SECRET-value"
ACCOUNT = '[[accounts]]\nname = "main"\napi_key = "k"\napi_secret = "s"\n'


def write(tmp_path: Path, telegram: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(ACCOUNT + "[telegram]\n" + telegram, encoding="utf-8")
    return path


def test_off_by_default_and_sensible_alerts(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(ACCOUNT, encoding="utf-8")
    settings = load_config(path).telegram
    assert not settings.enabled
    assert settings.api_url == "https://api.telegram.org"
    assert tuple(settings.alerts) == DEFAULT_ALERTS
    assert "order.release_pending" in settings.alerts and "daemon.alert" in settings.alerts


def test_a_token_from_the_environment_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P2P_TELEGRAM_TOKEN", TOKEN)
    config = load_config(
        write(tmp_path, 'bot_token = { env = "P2P_TELEGRAM_TOKEN" }\nchats = [42, -100123]\n')
    )
    assert config.telegram.enabled and config.telegram.chats == [42, -100123]
    assert config.telegram.bot_token is not None
    assert config.telegram.bot_token.get_secret_value() == TOKEN
    shown = json.dumps(config.redacted())  # what check-config prints
    assert TOKEN not in shown and TOKEN not in repr(config)
    assert json.loads(shown)["telegram"]["bot_token"] == "***"


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ('chats = ["me"]\nbot_token = "x"\n', "telegram.chats[0]", "a chat id is a non-zero"),
        ("chats = [0]\n", "telegram.chats[0]", "a chat id is a non-zero"),
        ('bot_token = "x"\n', "telegram", "bot_token needs chats"),
        ("chats = [1]\n", "telegram", "chats need a bot_token"),
        ('bot_token = "x"\nchats = [1, 1]\n', "telegram.chats", "a chat is listed twice"),
        ('bot_token = "x"\nchats = [1]\nalerts = ["order.nope"]\n', "telegram.alerts[0]", ""),
        ('bot_token = "x"\nchats = [1]\napi_url = "ftp://x"\n', "telegram.api_url", ""),
        ('bot_token = "x"\nchats = [1]\ntoken = "x"\n', "telegram.token", ""),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, body: str, key: str, problem: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert (caught.value.file, caught.value.key) == (str(path), key)
    assert problem in caught.value.problem


def test_a_bad_config_never_shows_the_token(tmp_path: Path) -> None:
    path = write(tmp_path, f'bot_token = "{TOKEN}"\nchats = ["{TOKEN}"]\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert TOKEN not in str(caught.value) + repr(caught.value)
