"""sd_notify against a real datagram socket: what is sent, when, and silence when wedged."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from p2pilot.sdnotify import Notifier, Watchdog, watchdog_interval


@pytest.fixture
def systemd_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's notify socket."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    yield sock, path
    sock.close()


def received(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def nothing_waiting(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(4096)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(2)
    return False


def test_ready_status_and_stopping_reach_the_socket(
    systemd_socket: tuple[socket.socket, str],
) -> None:
    sock, path = systemd_socket
    notifier = Notifier({"NOTIFY_SOCKET": path})
    assert notifier.ready("1 account(s) polling")
    assert received(sock) == ["READY=1", "STATUS=1 account(s) polling"]
    assert notifier.status("line one\nline two")  # STATUS is one line
    assert received(sock) == ["STATUS=line one line two"]
    assert notifier.stopping()
    assert received(sock) == ["STOPPING=1", "STATUS=stopping"]


def test_abstract_socket_names_are_understood() -> None:
    name = f"p2pilot-test-{id(object())}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready("ok")
        assert received(sock)[0] == "READY=1"


def test_outside_systemd_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.ready("x") is False and notifier.stopping() is False


def test_watchdog_pings_only_while_the_heartbeat_is_fresh(
    systemd_socket: tuple[socket.socket, str],
) -> None:
    sock, path = systemd_socket
    age = [0.0]
    dog = Watchdog(Notifier({"NOTIFY_SOCKET": path}), 1.0, lambda: age[0], lambda: "busy")
    assert dog.beat()
    assert received(sock) == ["WATCHDOG=1", "STATUS=busy"]
    age[0] = 5.0  # the scheduler stopped running jobs: let systemd restart us
    assert dog.beat() is False
    assert nothing_waiting(sock)
    age[0] = 0.5
    assert dog.beat()
    assert received(sock)[0] == "WATCHDOG=1"


def test_watchdog_interval_is_half_the_timeout_and_for_this_process_only() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
