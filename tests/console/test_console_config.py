"""``[console]`` in the config: defaults, and each mistake as a config error (exit 78)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from p2pilot.config import ConfigError, parse_config
from tests.e2e.conftest import cli

SECRET = "a-session-secret-of-forty-characters-0000"
# hash_password("operator-password"), written out: hashing it here cost every test
# process a tenth of a second of CPU while collecting.
HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$9esqpfqj5eT5rb2fPXaRtg$"
    "0Xs2Eyb/8nHq6MY1ndZM0oqetGpLGncA05peyPgI5kA"
)


def with_console(console: dict[str, Any]) -> dict[str, Any]:
    return {"accounts": [{"name": "desk", "api_key": "k", "api_secret": "s"}], "console": console}


def problem(console: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(with_console(console))
    return str(caught.value)


def test_defaults_listen_on_loopback() -> None:
    config = parse_config(with_console({}))
    assert config.console.listen == "127.0.0.1:8088"
    assert config.console.users == [] and config.console.secure_cookie == "auto"


def test_the_session_secret_is_a_secret() -> None:
    config = parse_config(
        with_console(
            {"session_secret": SECRET, "users": [{"name": "alice", "password_hash": HASH}]}
        )
    )
    assert SECRET in config.secret_values()  # redacted from every log line
    assert SECRET not in str(config.redacted())


@pytest.mark.parametrize(
    ("console", "expected"),
    [
        ({"users": [{"name": "alice", "password_hash": HASH}]}, "session_secret"),
        ({"session_secret": "short"}, "at least 32 characters"),
        (
            {"session_secret": SECRET, "users": [{"name": "alice", "password_hash": "hunter2"}]},
            "argon2 hash",
        ),
        (
            {
                "session_secret": SECRET,
                "users": [
                    {"name": "alice", "password_hash": HASH},
                    {"name": "alice", "password_hash": HASH},
                ],
            },
            "listed twice",
        ),
        ({"listen": "8088"}, "HOST:PORT"),
        ({"secure_cookie": "sometimes"}, "must be one of"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_mistakes_are_config_errors(console: dict[str, Any], expected: str) -> None:
    message = problem(console)
    assert expected in message
    assert "hunter2" not in message  # a password pasted by mistake is not repeated


def test_a_bad_console_section_exits_78(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[console]\nsession_secret = "short"\n', encoding="utf-8")
    served = cli("--config", str(path), "console")
    assert served.returncode == 78
    assert "console.session_secret" in served.stderr
