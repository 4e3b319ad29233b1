"""The host budget check: a desk's configured polling against Bybit's per-IP limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from p2pilot.config import ConfigError, load_config
from p2pilot.runtime.hostfit import host_fit


def desk_config(tmp_path: Path, accounts: int, orders: str, budget: int = 500) -> Path:
    lines = [
        f'[polling]\norders = "{orders}"\nsweep = "30s"\nads = "2m"\n',
        f"[host]\nrequests_per_5s = {budget}\n",
    ]
    for n in range(1, accounts + 1):
        lines.append(
            f'[[accounts]]\nname = "desk{n}"\napi_key = "k{n}"\napi_secret = "s{n}"\n'
            'base_url = "http://127.0.0.1:8765"\n'
        )
    path = tmp_path / "p2pilot.toml"
    path.write_text("\n".join(lines))
    return path


def test_a_small_desk_fits(tmp_path: Path) -> None:
    fit = host_fit(load_config(desk_config(tmp_path, 10, "1s")))
    assert fit.fits
    assert fit.advice() is None
    assert fit.demand == pytest.approx(10 * (5 + 5 / 30 + 5 / 120))


def test_a_desk_over_the_budget_is_told_the_interval_that_fits(tmp_path: Path) -> None:
    fit = host_fit(load_config(desk_config(tmp_path, 100, "1s")))
    assert not fit.fits  # 100 polls a second is 500 per 5 s: all of it, nothing for orders
    assert fit.fitting_interval is not None
    seconds = fit.fitting_interval.total_seconds()
    slower = load_config(desk_config(tmp_path, 100, f"{seconds:g}s"))
    assert host_fit(slower).fits
    faster = load_config(desk_config(tmp_path, 100, f"{seconds - 0.1:g}s"))
    assert not host_fit(faster).fits  # the advice is the shortest interval that fits
    advice = fit.advice()
    assert advice is not None and f'polling.orders = "{seconds:g}s"' in advice


def test_too_many_accounts_for_any_interval(tmp_path: Path) -> None:
    fit = host_fit(load_config(desk_config(tmp_path, 200, "5s", budget=10)))
    assert not fit.fits
    assert fit.fitting_interval is None
    assert "run fewer accounts" in (fit.advice() or "")


def test_the_budget_cannot_exceed_bybits_limit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(desk_config(tmp_path, 1, "5s", budget=700))
    assert "host.requests_per_5s" in str(err.value)
