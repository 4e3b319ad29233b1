"""The shipped systemd units: systemd accepts them, and the daemon's says what the operator
relies on (tests/console/test_console_unit.py holds the console's to the daemon's)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNIT = SYSTEMD / "p2pilot.service"


def directives(path: Path = UNIT) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_unit_keeps_the_promises_the_readme_makes() -> None:
    d = directives()
    assert d["Type"] == ["notify"] and d["WatchdogSec"]
    assert d["Restart"] == ["on-failure"] and d["RestartPreventExitStatus"] == ["78"]
    assert d["DynamicUser"] == ["yes"] and d["StateDirectory"] == ["p2pilot"]
    assert d["ConfigurationDirectory"] == ["p2pilot"]
    assert len(d["LoadCredential"]) == 2
    # Keys arrive as credentials, never through the environment.
    assert not any("KEY" in v.upper() or "SECRET" in v.upper() for v in d.get("Environment", []))
    for option in ("ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert d[option] in (["strict"], ["yes"])
    assert d["NoNewPrivileges"] == ["yes"] and d["CapabilityBoundingSet"] == [""]
    assert "@system-service" in d["SystemCallFilter"]
    assert d["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
@pytest.mark.parametrize("name", ["p2pilot.service", "p2pilot-console.service"])
def test_systemd_analyze_verify_accepts_the_unit(name: str, tmp_path: Path) -> None:
    # verify also checks that ExecStart exists: point it at this venv's interpreter.
    text = (
        (SYSTEMD / name)
        .read_text(encoding="utf-8")
        .replace("/opt/p2pilot/bin/p2pilot --config", f"{sys.executable} -m p2pilot --config")
    )
    unit = tmp_path / name
    unit.write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert name not in result.stderr, result.stderr  # no warnings about it
