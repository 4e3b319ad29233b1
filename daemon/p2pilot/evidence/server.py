"""The evidence listener: a Starlette app served by uvicorn in a thread of the daemon.

Uvicorn parses HTTP (h11: a bad ``Content-Length`` or request line is answered
400 before any of our code runs), caps concurrent connections (the excess is
answered 503) and logs through the stdlib logger, which the daemon routes into
its redacting JSON pipeline. Two limits are ours:

- a deadline per request: a client has ``request_timeout`` seconds from
  connecting (or from its previous answer, on a kept-alive connection) to send
  the whole request, headers and body; one that stalls or drips is cut off;
- the routes (``evidence/routes.py``) answer every mistake with a 4xx and one
  log line, and any failure with a 500 and one log line.

The server runs in a thread with its own event loop and installs no signal
handlers: the daemon owns SIGTERM/SIGHUP and stops it with :meth:`stop`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import h11
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from uvicorn.protocols.http.h11_impl import H11Protocol

from p2pilot.evidence.http import refusal
from p2pilot.logging import get_logger

log = get_logger("p2pilot.evidence.server")

REQUEST_TIMEOUT = 10.0  # seconds to send one whole request
MAX_CONNECTIONS = 64  # open at once; the next is answered 503
STOP_TIMEOUT = 5.0


def is_loopback(listen: str) -> bool:
    """Whether ``HOST:PORT`` is reachable only from this machine."""
    host = listen.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def exposure_warning(listen: str) -> str | None:
    """What to tell the operator when the listener is reachable beyond this machine."""
    if is_loopback(listen):
        return None
    return (
        f"[evidence] listen = {listen!r} is reachable from other machines; bind it to"
        " 127.0.0.1 and put a TLS proxy in front of it"
    )


def build_app(routes: Sequence[BaseRoute]) -> Starlette:
    """The ASGI app: ``routes``, and a JSON 4xx with one log line for unknown paths/methods."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return refusal(request, HTTPStatus(exc.status_code), str(exc.detail))

    return Starlette(routes=list(routes), exception_handlers={HTTPException: http_error})


def _deadline_protocol(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline on receiving each request.

    uvicorn times out only idle kept-alive connections, and every byte restarts
    that timer: a client dripping headers or a body holds its connection (and a
    slot under the cap) forever. This deadline is not restarted by data.
    """

    class DeadlineProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()  # the next request on this connection gets its own deadline

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(seconds, self._expired)

        def _expired(self) -> None:
            if self.transport.is_closing():
                return
            if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
                self._arm()  # the request is in: our side is still answering it
                return
            log.warning(
                "evidence.refused",
                status=int(HTTPStatus.REQUEST_TIMEOUT),
                reason=f"request not received within {seconds:g} s: connection cut off",
                peer=self.client[0] if self.client else None,
            )
            self.transport.close()

    return DeadlineProtocol


class EvidenceServer:
    """Serves ``routes`` on ``listen`` from a background thread, inside the daemon."""

    def __init__(
        self,
        listen: str,
        routes: Sequence[BaseRoute],
        *,
        request_timeout: float = REQUEST_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        host, _, port = listen.rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # Bound here, so a port in use fails the daemon's start, and port 0 is known at once.
        self._socket = socket.create_server((host, int(port)), family=family)
        self._listen = listen
        config = uvicorn.Config(
            build_app(routes),
            http=_deadline_protocol(request_timeout),
            loop="asyncio",
            lifespan="off",
            log_config=None,  # records go to the root logger: the daemon's JSON pipeline
            access_log=False,
            server_header=False,
            limit_concurrency=max_connections,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=int(STOP_TIMEOUT),
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """``http://HOST:PORT`` as bound."""
        host, port = self._socket.getsockname()[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def start(self) -> None:
        """Serve from a daemon thread; returns once the server accepts connections."""
        warning = exposure_warning(self._listen)
        if warning is not None:
            log.warning("evidence.exposed", listen=self._listen, hint=warning)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="evidence-http",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + STOP_TIMEOUT
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                raise RuntimeError("the evidence server did not start")
            time.sleep(0.01)
        if not self._server.started:
            raise RuntimeError("the evidence server did not start")
        log.info("evidence.listening", url=self.address)

    def stop(self) -> None:
        """Stop accepting, let running requests finish (bounded), close the socket."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT * 2)
        self._socket.close()

    def __enter__(self) -> EvidenceServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
