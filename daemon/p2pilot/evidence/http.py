"""What every endpoint of the evidence listener shares: reading a body, refusing, answering.

An endpoint raises :class:`Refused` for anything the client got wrong; the
:func:`endpoint` wrapper turns it into a JSON answer with that status and one
``evidence.refused`` log line, and any other exception into a 500 and one
``evidence.failed`` line (with its traceback, through the redacting JSON log,
never raw on stderr).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from p2pilot.logging import get_logger

log = get_logger("p2pilot.evidence.server")

MAX_BODY = 64 * 1024
Handler = Callable[[Request], Awaitable[Response]]


class Refused(Exception):
    """The request cannot be taken; ``reason`` is safe to send back and to log."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def reply(status: HTTPStatus, document: Any) -> JSONResponse:
    """A JSON answer; an error answer also closes the connection (the client misbehaved)."""
    headers = {"Connection": "close"} if status >= 400 else None
    return JSONResponse(document, status_code=status, headers=headers)


def peer(request: Request) -> str | None:
    """The client's address, for log lines."""
    return request.client.host if request.client is not None else None


def refusal(request: Request, status: HTTPStatus, reason: str) -> JSONResponse:
    """Log one ``evidence.refused`` line and answer ``{"error": reason}``."""
    log.warning(
        "evidence.refused",
        status=int(status),
        reason=reason,
        method=request.method,
        path=request.url.path,
        peer=peer(request),
    )
    return reply(status, {"error": reason})


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, at most ``limit`` bytes; Refused(400/413) when missing or too large.

    The declared length is checked before anything is read (the HTTP layer has
    already refused one that is not a number), and the bytes are counted as they
    come, so a chunked body cannot exceed the limit either.
    """
    declared = request.headers.get("content-length")
    if declared is not None and not (declared.isascii() and declared.isdigit()):
        raise Refused(HTTPStatus.BAD_REQUEST, "Content-Length is not a number")
    if (declared is not None and len(declared) > 12) or int(declared or 0) > limit:
        raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body larger than {limit} bytes")
        chunks.append(chunk)
    if size == 0:
        raise Refused(HTTPStatus.BAD_REQUEST, "body missing")
    return b"".join(chunks)


def endpoint(handler: Handler) -> Handler:
    """Wrap an endpoint so that nothing it raises escapes as a traceback or a bare 500."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except Refused as refused:
            return refusal(request, refused.status, refused.reason)
        except ClientDisconnect:
            # Gone (or cut off by the request deadline, which logged it): no one to answer.
            return Response(status_code=HTTPStatus.BAD_REQUEST)
        except Exception:
            log.exception("evidence.failed", path=request.url.path, peer=peer(request))
            return reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "not stored"})

    guarded.__name__ = getattr(handler, "__name__", type(handler).__name__)
    return guarded
