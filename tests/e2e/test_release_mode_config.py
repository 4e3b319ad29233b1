"""``[safety] release_mode`` and its old name, as ``check-config`` tells the operator."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import cli


def config_with(tmp_path: Path, safety: str) -> Path:
    path = tmp_path / "p2pilot.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "p.db"}"\n'
        '[[accounts]]\nname = "main"\napi_key = "demo"\napi_secret = "demo"\n'
        f"[safety]\n{safety}",
        encoding="utf-8",
    )
    return path


def test_the_old_auto_release_loads_as_a_mode_with_a_warning_naming_the_new_key(
    tmp_path: Path,
) -> None:
    for legacy, mode in (("true", "auto"), ("false", "shadow")):
        path = config_with(tmp_path, f"auto_release = {legacy}\n")
        result = cli("--config", str(path), "check-config")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["safety"]["release_mode"] == mode
        assert (
            f"p2pilot: warning: [safety] auto_release is deprecated:"
            f" write release_mode = '{mode}' instead" in result.stderr
        )


def test_both_keys_are_a_config_error(tmp_path: Path) -> None:
    path = config_with(tmp_path, 'release_mode = "approve"\nauto_release = true\n')
    result = cli("--config", str(path), "check-config")
    assert result.returncode == 78
    assert "safety: set release_mode only: auto_release is its old name" in result.stderr


def test_release_mode_with_thresholds_loads_quietly(tmp_path: Path) -> None:
    path = config_with(
        tmp_path,
        'release_mode = "approve"\napprove_above = { RUB = "20000" }\n'
        'two_person_above = { rub = "200000" }\n',
    )
    result = cli("--config", str(path), "check-config")
    assert result.returncode == 0, result.stderr
    safety = json.loads(result.stdout)["safety"]
    assert (safety["release_mode"], safety["approve_above"], safety["two_person_above"]) == (
        "approve",
        {"RUB": "20000"},
        {"RUB": "200000"},
    )
    assert "warning" not in result.stderr
