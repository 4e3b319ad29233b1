"""Named crash points for crash-safety tests.

``crash_point("release.after_sent")`` kills the process on the spot (SIGKILL,
no cleanup, no flush) when ``P2PILOT_CRASH_AT`` names that point. Without the
variable, which only the test suite sets, it does nothing.
"""

from __future__ import annotations

import os
import signal

ENV = "P2PILOT_CRASH_AT"


def crash_point(name: str) -> None:
    """Die here if the test suite asked for it."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
