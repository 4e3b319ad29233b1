"""The console's systemd unit: systemd accepts it, hardened as the daemon's, sharing its user."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"
UNIT = SYSTEMD / "p2pilot-console.service"
HARDENING = (
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "NoNewPrivileges",
    "CapabilityBoundingSet",
    "SystemCallFilter",
    "RestrictAddressFamilies",
    "MemoryDenyWriteExecute",
    "ProtectProc",
    "UMask",
)


def directives(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_console_unit_is_hardened_like_the_daemons() -> None:
    console = directives(UNIT)
    daemon = directives(SYSTEMD / "p2pilot.service")
    for option in HARDENING:
        assert console[option] == daemon[option], option
    # One dynamic user for both: the console opens the daemon's SQLite file.
    assert console["DynamicUser"] == ["yes"] and console["User"] == ["p2pilot"]
    assert console["StateDirectory"] == daemon["StateDirectory"]
    assert "console --wait" in console["ExecStart"][0]
    assert console["RestartPreventExitStatus"] == ["78"]
    assert any(c.startswith("console-session:") for c in console["LoadCredential"])
    assert not any("SECRET" in v.upper() for v in console.get("Environment", []))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify_accepts_the_console_unit(tmp_path: Path) -> None:
    text = UNIT.read_text(encoding="utf-8").replace(
        "/opt/p2pilot/bin/p2pilot --config", f"{sys.executable} -m p2pilot --config"
    )
    unit = tmp_path / "p2pilot-console.service"
    unit.write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "p2pilot-console.service" not in result.stderr, result.stderr
