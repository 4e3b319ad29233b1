"""Wait until a simulator answers its health check (used by `make demo`)."""

from __future__ import annotations

import sys
import time

import requests


def wait_until_up(url: str, timeout: float) -> bool:
    """Poll ``{url}/_sim/health`` until it answers or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/_sim/health", timeout=1).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False


if __name__ == "__main__":
    target, limit = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    if not wait_until_up(target, limit):
        print(f"simulator at {target} did not come up within {limit:g}s", file=sys.stderr)
        sys.exit(1)
