"""A local Telegram Bot API over real HTTP, for the bot's tests (never the internet).

Speaks what the bot uses, under ``/bot{TOKEN}/{method}`` as Telegram does:
getMe, getUpdates (long polling on the updates the test injects), sendMessage,
editMessageText, answerCallbackQuery. A test can script failures: a 429 with
``retry_after`` or a 5xx for the next calls of a method, or a whole outage.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

BOT_ID = 4242


@dataclass
class Fault:
    status: int
    retry_after: int | None = None


@dataclass
class BotApi:
    """The server's state: what the bot sent, and what the test injects."""

    token: str
    updates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    down: bool = False
    url: str = ""
    changed: threading.Condition = field(default_factory=threading.Condition)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _messages: Iterator[int] = field(default_factory=lambda: itertools.count(100))

    # -- what a test does ---------------------------------------------------------------

    def fail(self, method: str, status: int, *, retry_after: int | None = None, times: int = 1):  # type: ignore[no-untyped-def]
        """The next ``times`` calls of ``method`` answer ``status`` (429: with retry_after)."""
        with self.changed:
            self.faults.setdefault(method, []).extend([Fault(status, retry_after)] * times)

    def press(self, chat_id: int, user_id: int, username: str | None, data: str) -> str:
        """A user taps a button with ``data`` in ``chat_id``; returns the query's id."""
        query_id = f"q{next(self._ids)}"
        self._inject(
            {
                "callback_query": {
                    "id": query_id,
                    "from": _user(user_id, username),
                    "chat_instance": str(chat_id),
                    "data": data,
                    "message": {
                        "message_id": 1,
                        "date": int(time.time()),
                        "chat": _chat(chat_id),
                        "text": "an alert",
                    },
                }
            }
        )
        return query_id

    def write(self, chat_id: int, user_id: int, username: str | None, text: str) -> None:
        """A user writes ``text`` (a /command) in ``chat_id``."""
        self._inject(
            {
                "message": {
                    "message_id": next(self._messages),
                    "date": int(time.time()),
                    "chat": _chat(chat_id),
                    "from": _user(user_id, username),
                    "text": text,
                }
            }
        )

    def answer_to(self, query_id: str) -> str | None:
        """The text the bot answered a tap with, once it did."""
        with self.changed:
            found = [a for a in self.answers if a.get("callback_query_id") == query_id]
        return str(found[0].get("text")) if found else None

    def texts_to(self, chat_id: int) -> list[str]:
        with self.changed:
            return [str(m["text"]) for m in self.sent if int(m["chat_id"]) == chat_id]

    def buttons_sent(self, data: str) -> list[dict[str, Any]]:
        """sendMessage calls whose keyboard has a button with this callback data."""
        with self.changed:
            return [m for m in self.sent if data in _callback_data(m)]

    def _inject(self, update: dict[str, Any]) -> None:
        with self.changed:
            self.updates.append({"update_id": next(self._ids) + 1000, **update})
            self.changed.notify_all()

    # -- the Bot API ----------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.changed:
            self.calls.append((method, params))
            if self.down:
                return 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}
            pending = self.faults.get(method)
            if pending:
                fault = pending.pop(0)
                body: dict[str, Any] = {
                    "ok": False,
                    "error_code": fault.status,
                    "description": "Too Many Requests" if fault.status == 429 else "Internal",
                }
                if fault.retry_after is not None:
                    body["parameters"] = {"retry_after": fault.retry_after}
                return fault.status, body
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._get_updates(params)}
        with self.changed:
            result = self._answer(method, params)
            self.changed.notify_all()
        return 200, {"ok": True, "result": result}

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        with self.changed:
            while True:
                # Telegram forgets what is below the offset: those were confirmed.
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                left = deadline - time.monotonic()
                if self.updates or left <= 0:
                    return list(self.updates)
                self.changed.wait(timeout=left)

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {**_user(BOT_ID, "desk_bot"), "is_bot": True}
        if method == "sendMessage":
            message_id = next(self._messages)
            self.sent.append({**params, "message_id": message_id})
            return _message(message_id, params)
        if method == "editMessageText":
            self.edits.append(params)
            return _message(int(params["message_id"]), params)
        if method == "answerCallbackQuery":
            self.answers.append(params)
            return True
        return True


def _user(user_id: int, username: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}
    if username:
        user["username"] = username
    return user


def _chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "type": "private" if chat_id > 0 else "group"}


def _message(message_id: int, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": _chat(int(params["chat_id"])),
        "text": params.get("text", ""),
    }


def _callback_data(message: dict[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    return [str(b.get("callback_data")) for row in rows for b in row]


def _params(handler: BaseHTTPRequestHandler) -> dict[str, Any]:
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length).decode() if length else ""
    if "json" in (handler.headers.get("Content-Type") or ""):
        return dict(json.loads(raw or "{}"))
    params: dict[str, Any] = {}
    for key, value in parse_qsl(raw):
        try:
            params[key] = json.loads(value)  # Telegram's form fields: JSON-encoded values
        except ValueError:
            params[key] = value
    return params


@contextmanager
def bot_api(token: str) -> Iterator[BotApi]:
    """Serve a Bot API for ``token`` on loopback; ``api.url`` is the ``api_url`` to use."""
    api = BotApi(token)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            prefix = f"/bot{token}/"
            if not self.path.startswith(prefix):
                self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                return
            status, body = api.call(self.path[len(prefix) :], _params(self))
            self._reply(status, body)

        do_GET = do_POST

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            # The bot stopped and cancelled its long poll: nobody is left to answer.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        with api.changed:
            api.changed.notify_all()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
