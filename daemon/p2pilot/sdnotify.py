"""systemd's notify protocol, without a C library: one datagram to ``$NOTIFY_SOCKET``.

``READY=1`` once config, migrations and the scheduler are up; ``STATUS=`` a one-line
summary; ``WATCHDOG=1`` only while the scheduler's own heartbeat is fresh, so a
wedged daemon is restarted by systemd rather than kept alive by a loyal thread;
``STOPPING=1`` on shutdown. Outside systemd (no ``NOTIFY_SOCKET``) nothing is sent.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

from p2pilot.logging import get_logger

log = get_logger(__name__)


class Notifier:
    """Sends notify messages to systemd; a no-op when not started by systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # An abstract socket is written "@name"; on the wire it starts with a NUL byte.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; False when not under systemd or it failed."""
        if not self._address:
            return False
        message = "\n".join(a.replace("\n", " ") for a in assignments).encode()
        try:
            with (
                self._lock,
                socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock,
            ):
                sock.sendto(message, self._address)
        except OSError as exc:
            log.warning("sdnotify.failed", error=str(exc))
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1", "STATUS=stopping")


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings systemd expects (half its timeout), or None."""
    env = os.environ if environ is None else environ
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (e.g. a wrapper that exec'd us)
    return int(usec) / 1_000_000 / 2


class Watchdog:
    """Pings systemd while the heartbeat is fresh; stays silent once it goes stale."""

    def __init__(
        self,
        notifier: Notifier,
        interval: float,
        heartbeat_age: Callable[[], float],
        status: Callable[[], str],
    ) -> None:
        self.notifier = notifier
        self.interval = interval
        self.heartbeat_age = heartbeat_age
        self.status = status
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stale_logged = False

    def beat(self) -> bool:
        """One check: ping if the scheduler's heartbeat is younger than two intervals."""
        age = self.heartbeat_age()
        if age > 2 * self.interval:
            if not self._stale_logged:
                log.error("watchdog.stale", heartbeat_age_s=round(age, 1))
                self._stale_logged = True
            return False
        self._stale_logged = False
        return self.notifier.send("WATCHDOG=1", f"STATUS={self.status()}")

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.interval):
                self.beat()

        self._thread = threading.Thread(target=loop, name="sd-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class Heartbeat:
    """Touched by a scheduler job; its age says whether the scheduler still runs jobs."""

    def __init__(self) -> None:
        self._at = time.monotonic()

    def touch(self) -> None:
        self._at = time.monotonic()

    def age(self) -> float:
        return time.monotonic() - self._at
