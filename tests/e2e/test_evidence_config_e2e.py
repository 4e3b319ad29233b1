"""``[evidence]`` settings the operator must hear about: exposure and a short hook secret."""

from __future__ import annotations

from pathlib import Path

from .conftest import cli

HOOK_SECRET = "hook-secret-0123456789abcdef"


def config_with(tmp_path: Path, listen: str, secret: str) -> Path:
    path = tmp_path / "p2pilot.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "p.db"}"\n'
        '[[accounts]]\nname = "main"\napi_key = "demo"\napi_secret = "demo"\n'
        f'[evidence]\nlisten = "{listen}"\nsecret = "{secret}"\n',
        encoding="utf-8",
    )
    return path


def test_check_config_warns_when_the_hook_listens_beyond_loopback(tmp_path: Path) -> None:
    result = cli(
        "--config", str(config_with(tmp_path, "0.0.0.0:8766", HOOK_SECRET)), "check-config"
    )
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr and "reachable from other machines" in result.stderr
    assert HOOK_SECRET not in result.stdout + result.stderr


def test_check_config_is_quiet_on_loopback(tmp_path: Path) -> None:
    result = cli("--config", str(config_with(tmp_path, "[::1]:8766", HOOK_SECRET)), "check-config")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr


def test_a_short_hook_secret_is_a_config_error(tmp_path: Path) -> None:
    path = config_with(tmp_path, "127.0.0.1:8766", "x" * 15)
    for args in (("check-config",), ("run", "--once")):
        result = cli("--config", str(path), *args)
        assert result.returncode == 78, result.stderr
        assert f"{path}: evidence.secret: the hook secret must be at least 16" in result.stderr
        assert "x" * 15 not in result.stderr
