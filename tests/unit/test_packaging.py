"""The wheel holds every package: pyproject's explicit list keeps up with the tree.

An editable install (what ``make`` uses) finds any package; a wheel carries only
those listed, so a package missing from the list breaks a real install alone.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_is_in_the_wheel() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(settings["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT / "daemon").parts)
        for init in (ROOT / "daemon" / "p2pilot").rglob("__init__.py")
    }
    found |= {"p2pilot.migrations", "p2pilot.migrations.versions"}
    assert found == listed
