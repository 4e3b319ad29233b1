"""The console's systemd unit: hardened as the daemon's, sharing its user.

tests/unit/test_systemd_unit.py has systemd verify both units."""

from __future__ import annotations

from tests.unit.test_systemd_unit import SYSTEMD, directives

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
