"""``p2pilot ARGS`` as a process, without paying the interpreter's imports each time.

Starting ``python -m p2pilot`` costs about half a second of CPU before the command
runs (SQLAlchemy, pydantic, typer, structlog...), and the end-to-end tests run
hundreds of commands. This module keeps, per test run, one server that has
imported p2pilot once (started by the xdist controller, or else by the first test
process that needs it); each command is a ``fork()`` of it that then becomes what
``python -m p2pilot ARGS`` would be after its imports: its own environment, working
directory, argv, stdin, stdout and stderr from and to files of the caller,
and the end of a normal interpreter exit (non-daemon threads joined, atexit,
flushing), short of tearing down the modules. Exit codes, signals (a crash point's
SIGKILL) and output are the process's own.

What it does not run is the entry module itself: the tests that are about the
process as systemd starts it (``tests/e2e/test_systemd_e2e.py``) and a few others
still go through ``python -m p2pilot``.

Each request brings a socket of its own, on which its child's pid and then its exit
code come back, so commands and long-lived processes (``spawn``: the daemons and
consoles the tests start) run side by side. The server forks a small waiter per
request, which forks the command and waits for it; the server itself never waits.

Run as ``python tests/forkcli.py FD``: the server, taking clients on the listening
socket FD until its stdin ends.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import gc
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, NoReturn

_MESSAGE = 1 << 20  # a request: argv and environment, far under a mebibyte
SOCKET_ENV = "FORKCLI_SOCKET"  # where the server of this process and its children listens
_channel: socket.socket | None = None  # this process's connection to it


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    cwd: str | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``p2pilot ARGS`` as a forked process: like ``subprocess.run(..., capture_output=True,
    text=True)`` of ``python -m p2pilot ARGS``, and ``TimeoutExpired`` after ``timeout``.

    ``input``: the process's stdin (else it reads nothing).
    """
    request = {"args": list(args), "env": dict(env), "cwd": cwd or os.getcwd()}
    with (
        tempfile.TemporaryFile() as stdin,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        stdin.write((input or "").encode())
        stdin.seek(0)
        process = _fork(request, [stdin.fileno(), out.fileno(), err.fileno()])
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise subprocess.TimeoutExpired(["p2pilot", *args], timeout) from None
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", errors="replace")
        stderr = err.read().decode("utf-8", errors="replace")
    return subprocess.CompletedProcess(["p2pilot", *args], code, stdout, stderr)


def on_terminal(
    args: Sequence[str], *, env: Mapping[str, str], rows: int, columns: int, timeout: float
) -> tuple[str, int]:
    """``p2pilot ARGS`` on a pseudo-terminal of that size (its controlling terminal, as
    under pexpect): everything it wrote there, and its exit code."""
    request = {"args": list(args), "env": dict(env), "cwd": os.getcwd(), "terminal": True}
    master, slave = os.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        process = _fork(request, [slave] * 3)
        os.close(slave)
        screen, code = _read_terminal(master, process, time.monotonic() + timeout)
        if code is None:
            process.kill()
            process.wait()
            raise subprocess.TimeoutExpired(["p2pilot", *args], timeout)
    finally:
        os.close(master)
    return screen.decode("utf-8", errors="replace"), code


def _read_terminal(
    master: int, process: ForkedProcess, deadline: float
) -> tuple[bytes, int | None]:
    """Read the terminal until the child exited and closed it; (what it wrote, its exit
    code), the code None when the deadline passed first."""
    screen, code, closed = b"", None, False
    while not closed or code is None:
        waiting = ([] if closed else [master]) + ([process.reply] if code is None else [])
        ready, _, _ = select.select(waiting, [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return screen, None
        if master in ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every end of the terminal's slave side is closed
                chunk = b""
            screen += chunk
            closed = not chunk
        if process.reply in ready:
            code = process.wait()
    return screen, code


def p2pilot(
    *args: str, env: Mapping[str, str] | None = None, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``p2pilot ARGS`` with this process's environment plus ``env``."""
    return run(args, env={**os.environ, **(env or {})}, timeout=timeout, input=input)


def spawn(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, output: IO[Any]
) -> ForkedProcess:
    """Start ``p2pilot ARGS`` (say a daemon) and return at once, as ``subprocess.Popen``
    would with ``stdout=output, stderr=STDOUT`` and no stdin; ``env``: the whole
    environment (this process's by default)."""
    request = {"args": list(args), "env": dict(os.environ if env is None else env)}
    request["cwd"] = os.getcwd()
    with open(os.devnull, "rb") as nothing:
        return _fork(request, [nothing.fileno(), output.fileno(), output.fileno()])


class ForkedProcess:
    """A process the server forked, handled as ``subprocess.Popen`` handles its child:
    ``pid``, ``poll``, ``wait``, ``send_signal``, ``terminate``, ``kill``, ``returncode``.

    Not the caller's child: its exit code comes over ``reply`` from the waiter that is.
    """

    def __init__(self, args: Sequence[str], reply: socket.socket) -> None:
        self.args = ["p2pilot", *args]
        self.reply = reply
        self.returncode: int | None = None
        self.pid = int(self._answer(None)["pid"])

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        if self.returncode is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.wait(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit code; ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        if self.returncode is None:
            try:
                answer = self._answer(timeout)
            except (TimeoutError, BlockingIOError):
                raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
            self.returncode = int(answer["returncode"])
            self.reply.close()
        return self.returncode

    def send_signal(self, number: int) -> None:
        if self.returncode is None:  # as Popen: never a pid the system may have reused
            os.kill(self.pid, number)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _answer(self, timeout: float | None) -> dict[str, Any]:
        self.reply.settimeout(timeout)
        data = self.reply.recv(_MESSAGE)
        if not data:
            raise RuntimeError(f"the p2pilot fork server lost {self.args}")
        answer: dict[str, Any] = json.loads(data)
        return answer


def _fork(request: dict[str, Any], files: list[int]) -> ForkedProcess:
    """Hand the server a request, the child's stdin, stdout and stderr, and the socket
    its answers come back on."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with theirs:
        socket.send_fds(_connected(), [json.dumps(request).encode()], [*files, theirs.fileno()])
    return ForkedProcess(request["args"], ours)


def start_server() -> None:
    """Start the server, unless this process has one already or inherited one.

    Its socket's path goes into the environment, so the processes started after this
    (a test run's xdist workers) share it: one server preloading p2pilot, 1.6 s of
    CPU, instead of one a worker. It ends when this process does.
    """
    if os.environ.get(SOCKET_ENV):
        return
    folder = tempfile.mkdtemp(prefix="forkcli-")
    path = os.path.join(folder, "server")
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
        listener.bind(path)
        listener.listen(64)  # a client connects and asks at once; the server answers once loaded
        process = subprocess.Popen(
            [sys.executable, __file__, str(listener.fileno())],
            pass_fds=[listener.fileno()],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
    os.environ[SOCKET_ENV] = path
    atexit.register(_stop, process, folder)


def _connected() -> socket.socket:
    global _channel
    if _channel is None:
        start_server()
        _channel = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        _channel.connect(os.environ[SOCKET_ENV])
    return _channel


def _stop(process: subprocess.Popen[bytes], folder: str) -> None:
    assert process.stdin is not None
    process.stdin.close()  # the server reads the end of its stdin and exits
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    shutil.rmtree(folder, ignore_errors=True)


# -- the server ------------------------------------------------------------------------


def _preload() -> None:
    """Import what ``python -m p2pilot`` and its commands import (not the migrations:
    Alembic loads those from their files on each run, as it would in the process)."""
    import importlib
    import pkgutil

    import p2pilot

    for module in pkgutil.walk_packages(p2pilot.__path__, "p2pilot."):
        if "__main__" not in module.name and not module.name.startswith("p2pilot.migrations"):
            importlib.import_module(module.name)
    from sqlalchemy.orm import configure_mappers

    from p2pilot.cli.main import command

    command()  # what each command would build first: the click command from ``app``
    configure_mappers()  # what each command's first query would do: 0.02 s of CPU
    # A thread would not survive the fork: the children must start from one.
    assert threading.active_count() == 1, threading.enumerate()


def _serve(listener: socket.socket) -> dict[str, Any] | None:
    """Take clients and their requests, and fork a waiter per request, which forks the
    command; the request, in the command; None in the server when its starter ended."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the system reaps the waiters
    clients: list[socket.socket] = []
    while True:
        ready, _, _ = select.select([0, listener, *clients], [], [])
        if 0 in ready and not os.read(0, 1):
            return None
        if listener in ready:
            clients.append(listener.accept()[0])
        for client in [c for c in clients if c in ready]:
            try:
                data, fds, _, _ = socket.recv_fds(client, _MESSAGE, 4)
            except ConnectionResetError:
                data, fds = b"", []
            if not data:  # that client ended
                clients.remove(client)
                client.close()
                continue
            if os.fork() == 0:
                for each in (listener, *clients):
                    each.close()
                request: dict[str, Any] = json.loads(data)
                if _wait_for_command(request, fds[:3], socket.socket(fileno=fds[3])):
                    return request
            for fd in fds:
                os.close(fd)


def _wait_for_command(request: dict[str, Any], files: list[int], reply: socket.socket) -> bool:
    """In the waiter: fork the command and report its pid and exit code on ``reply``.
    True in the command; the waiter itself ends here."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # its own child, to wait for
    pid = os.fork()
    if pid == 0:
        reply.close()
        _become(request, files)
        return True
    for fd in set(files):
        os.close(fd)
    reply.send(json.dumps({"pid": pid}).encode())
    _, status = os.waitpid(pid, 0)
    reply.send(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode())
    os._exit(0)  # nothing of the server's (atexit, buffers) is the waiter's to run


def _become(request: dict[str, Any], fds: list[int]) -> None:
    """Turn this fork into ``python -m p2pilot ARGS`` as the caller would have started it."""
    import p2pilot

    if request.get("terminal"):
        os.setsid()  # a session of its own, the terminal its controlling one
    for target, fd in zip((0, 1, 2), fds, strict=True):
        os.dup2(fd, target)
    for fd in set(fds):
        os.close(fd)
    if request.get("terminal"):
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    os.chdir(request["cwd"])
    sys.argv = [os.path.join(os.path.dirname(p2pilot.__file__), "__main__.py"), *request["args"]]
    sys.path.insert(0, request["cwd"])  # what ``-m`` puts first


def _run_and_exit(main: Callable[[], object]) -> NoReturn:
    """Run the command and end the process as the interpreter would: its exit code (or
    traceback), non-daemon threads joined, atexit run, stdout and stderr flushed.

    What it skips is the interpreter's teardown of every module after that, which
    touches, and so copies from the server page by page, every object imported before
    the fork: 0.06 s of CPU on each of the suite's hundreds of commands, more than the
    command itself.
    """
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except BaseException as error:  # as the interpreter: the traceback, then exit 1
        sys.excepthook(type(error), error, error.__traceback__)
        code = 1
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    """What the interpreter makes of ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.path.pop(0)  # this file's folder (tests/) is no part of ``python -m p2pilot``
    _listener = socket.socket(fileno=int(sys.argv[1]))
    _preload()
    # Out of the collector's sight: a child's first collection would otherwise walk
    # (and so copy, page by page) every object imported here, 0.4 s of CPU.
    gc.freeze()
    if _serve(_listener) is not None:
        from p2pilot.cli.main import main

        _run_and_exit(main)
