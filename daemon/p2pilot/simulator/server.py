"""The simulator over HTTP: Bybit's signed P2P endpoints plus a control API under /_sim/.

Authentication is checked like Bybit does, over the raw body bytes; gateway
refusals (10002, 10003, 10004, 10006) answer in the standard v5 envelope, P2P
results and business errors in the P2P envelope (reference §1.5).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from p2pilot.simulator import api
from p2pilot.simulator.bank import BankNotifier
from p2pilot.simulator.control import control
from p2pilot.simulator.core import Simulator
from p2pilot.simulator.faults import Fault, garble
from p2pilot.simulator.limits import LIMITS
from p2pilot.simulator.records import ExchangeRefusal, now_ms
from p2pilot.simulator.scenario import Scenario
from p2pilot.simulator.state import Exchange

STOP_POLL_SECONDS = 0.05
# What Bybit's CloudFront answers an address over the per-IP limit (reference 1.7).
IP_BANNED = b"<html><body><h1>403 Forbidden</h1>access too frequent</body></html>"


def v5_envelope(code: int, message: str) -> dict[str, Any]:
    return {"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}, "time": now_ms()}


def p2p_envelope(path: str, code: int, message: str, result: Any) -> dict[str, Any]:
    if path == "/v5/p2p/oss/upload_file":
        return {
            "result": result,
            "token": None,
            "ret_code": code,
            "ret_msg": "成功" if code == 0 else message,
        }
    if path in api.SHORT_ENVELOPE:
        return {"ret_code": code, "ret_msg": "" if code == 0 else message, "result": result}
    envelope = {
        "ret_code": code,
        "ret_msg": "SUCCESS" if code == 0 else message,
        "result": result if code == 0 else {},
        "ext_code": "",
        "ext_info": {} if code == 0 else {"fiat_error_config": ""},
        "time_now": f"{time.time():.6f}",
    }
    if path == "/v5/p2p/item/create":
        envelope["ext_map"] = {}
    return envelope


class Handler(BaseHTTPRequestHandler):
    server: SimulatorHTTPServer
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle on, the body waits for the
    # client's delayed ACK, 40 ms on every answer on loopback. Bybit has no such stall.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return  # the request log is the record; stderr stays quiet

    def do_GET(self) -> None:
        self._control("GET")

    def do_DELETE(self) -> None:
        self._control("DELETE")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/_sim/"):
            self._control("POST")
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self._p2p(path, raw)

    # -- control API ----------------------------------------------------------------------

    def _control(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            status, document = control(self.server.sim, method, parts.path, body, query)
        except ExchangeRefusal as exc:
            status, document = 409, {"error": exc.message, "code": exc.code}
        except (ValueError, KeyError, TypeError) as exc:
            status, document = 400, {"error": str(exc)}
        self._send(status, json.dumps(document).encode(), "application/json")

    # -- the P2P API ------------------------------------------------------------------------

    def _p2p(self, path: str, raw: bytes) -> None:
        sim = self.server.sim
        key = self.headers.get("X-BAPI-API-KEY", "")
        entry: dict[str, Any] = {"time": time.time(), "path": path, "api_key": key}
        try:
            entry["body"] = json.loads(raw) if raw and not path.endswith("upload_file") else None
        except ValueError:
            entry["body"] = None
        if not sim.limits.ip_allows(self.client_address[0]):
            self._answer(entry, 403, IP_BANNED, None, content_type="text/html")
            return
        handler = api.route(sim.exchange, path)
        if handler is None:
            self._answer(entry, 404, b'{"error":"not found"}', None)
            return
        refusal = self._authenticate(key, raw)
        if refusal is not None:
            self._answer(entry, 200, json.dumps(v5_envelope(*refusal)).encode(), refusal[0])
            return
        reset_ms = sim.limits.check(key, "write" if path in api.WRITES else "read")
        if reset_ms is not None:
            document = v5_envelope(10006, "Too many visits!")
            headers = {"X-Bapi-Limit-Reset-Timestamp": str(reset_ms)}
            self._answer(entry, 200, json.dumps(document).encode(), 10006, headers)
            return
        fault = sim.faults.take(path, key)
        if fault is not None and self._fault_before(fault, entry, path):
            return
        merchant = sim.exchange.merchants[key]
        try:
            body = (
                {"filename": _multipart_name(raw)}
                if path.endswith("upload_file")
                else (api.parse_json(raw))
            )
            result = handler(sim.exchange, merchant, body)
            code, message = 0, ""
        except ExchangeRefusal as exc:
            result, code, message = None, exc.code, exc.message
        if fault is not None and fault.name == "lost_response":
            entry.update(http_status=0, ret_code=code)
            sim.log.add(entry)
            self.close_connection = True
            self.connection.close()  # the state changed; the client never hears of it
            return
        if fault is not None and fault.name == "malformed_row" and code == 0:
            result = garble(result)
        document = p2p_envelope(path, code, message, result)
        self._answer(entry, 200, json.dumps(document).encode(), code)

    def _authenticate(self, key: str, raw: bytes) -> tuple[int, str] | None:
        merchant = self.server.sim.exchange.merchants.get(key)
        if merchant is None:
            return 10003, "API key is invalid."
        timestamp = self.headers.get("X-BAPI-TIMESTAMP", "")
        window = self.headers.get("X-BAPI-RECV-WINDOW", "5000")
        if not timestamp.isdigit() or not window.isdigit():
            return 10004, "error sign!"
        server_time = now_ms()
        if not server_time - int(window) <= int(timestamp) < server_time + 1000:
            return 10002, (
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{timestamp}],server_timestamp[{server_time}],"
                f"recv_window[{window}]"
            )
        signed = (timestamp + key + window).encode() + raw
        expected = hmac.new(merchant.secret.encode(), signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self.headers.get("X-BAPI-SIGN", "")):
            return 10004, "error sign! origin_string[...]"
        return None

    def _fault_before(self, fault: Fault, entry: dict[str, Any], path: str) -> bool:
        """Apply a fault that answers instead of the endpoint; True when it did."""
        name = fault.name
        if name == "slow":
            threading.Event().wait(fault.delay_ms / 1000)
            return False
        if name == "lost_response":
            return False
        if name in ("rate_limit", "rate_limit_past"):
            offset = fault.reset_in_ms if name == "rate_limit" else -60_000
            headers = {"X-Bapi-Limit-Reset-Timestamp": str(now_ms() + offset)}
            document = v5_envelope(10006, "Too many visits!")
            self._answer(entry, 200, json.dumps(document).encode(), 10006, headers)
            return True
        if name == "timestamp":
            document = v5_envelope(10002, "invalid request, please check your server timestamp")
            self._answer(entry, 200, json.dumps(document).encode(), 10002)
            return True
        codes = {
            "server_error_code": (10016, "Internal server error."),
            "permission": (912000014, "permission denied\t"),
            "chat_closed": (912200387, "chat open api close, pls chat with new open api"),
        }
        if name in codes:
            code, message = codes[name]
            document = p2p_envelope(path, code, message, None)
            self._answer(entry, 200, json.dumps(document).encode(), code)
            return True
        if name == "http_403":
            self._answer(entry, 403, IP_BANNED, None, content_type="text/html")
            return True
        if name in ("http_429", "http_500"):
            status = 429 if name == "http_429" else 500
            self._answer(entry, status, b'{"error":"try again later"}', None)
            return True
        if name == "empty_body":
            self._answer(entry, 200, b"", None)
            return True
        return False

    def _answer(
        self,
        entry: dict[str, Any],
        status: int,
        payload: bytes,
        ret_code: int | None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        entry.update(http_status=status, ret_code=ret_code)
        self.server.sim.log.add(entry)
        limit_headers = {
            "X-Bapi-Limit": str(LIMITS["write" if entry["path"] in api.WRITES else "read"]),
            "X-Bapi-Limit-Status": "9",
            "X-Bapi-Limit-Reset-Timestamp": str(now_ms()),
        }
        self._send(status, payload, content_type, {**limit_headers, **(headers or {})})

    def _send(
        self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _multipart_name(raw: bytes) -> str:
    marker = b'filename="'
    start = raw.find(marker)
    if start < 0:
        return "file.png"
    end = raw.find(b'"', start + len(marker))
    return raw[start + len(marker) : end].decode("utf-8", "replace")


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer (its timeout, the ``slow`` fault) is
        what a real exchange sees all day: no traceback on stderr for it."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class SimulatorServer:
    """A simulated exchange on loopback: ``start()`` in a thread, or ``serve_forever()``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        accounts: dict[str, str] | None = None,
        scenario: str | None = None,
        seed: int = 0,
        speed: float = 1.0,
        enforce_limits: bool = True,
        bank: BankNotifier | None = None,
    ) -> None:
        self.sim = Simulator(accounts or {"demo": "demo"}, enforce_limits=enforce_limits, bank=bank)
        self._http = SimulatorHTTPServer((host, port), self.sim)
        self._thread: threading.Thread | None = None
        self.scenario = Scenario(self.sim, scenario, seed=seed, speed=speed) if scenario else None

    @property
    def exchange(self) -> Exchange:
        return self.sim.exchange

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            # stop() waits for the loop to notice: the default half second is paid by
            # every test that starts a simulator, and by every demo shutdown.
            kwargs={"poll_interval": STOP_POLL_SECONDS},
            name="simulator-http",
            daemon=True,
        )
        self._thread.start()
        if self.scenario is not None:
            self.scenario.start()

    def serve_forever(self) -> None:
        if self.scenario is not None:
            self.scenario.start()
        self._http.serve_forever(poll_interval=STOP_POLL_SECONDS)

    def stop(self) -> None:
        if self.scenario is not None:
            self.scenario.stop()
        self._http.shutdown()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(5)


def numbered_accounts(api_key: str, api_secret: str, count: int) -> dict[str, str]:
    """The accounts ``simulate`` serves: one key, or ``count`` numbered from 1.

    ``demo``/``demo`` and 3 give ``demo1``/``demo1``, ``demo2``/``demo2`` and
    ``demo3``/``demo3``: a big desk's config can be written by a loop.
    """
    if count <= 0:
        return {api_key: api_secret}
    return {f"{api_key}{n}": f"{api_secret}{n}" for n in range(1, count + 1)}


def run(
    port: int,
    scenario: str,
    seed: int,
    speed: float,
    api_key: str,
    api_secret: str,
    bank: BankNotifier | None = None,
    accounts: int = 0,
) -> int:
    """``p2pilot simulate``: serve in the foreground until SIGINT or SIGTERM.

    Scenario ``none``: no buyer acts unless scripted through the control API.
    """
    server = SimulatorServer(
        port=port,
        accounts=numbered_accounts(api_key, api_secret, accounts),
        scenario=None if scenario == "none" else scenario,
        seed=seed,
        speed=speed,
        bank=bank,
    )

    def stop(_signum: int, _frame: object) -> None:
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    served = f"{accounts} accounts, " if accounts > 0 else ""
    print(
        f"p2pilot simulator on {server.url} ({served}scenario {scenario}, seed {seed})",
        file=sys.stderr,
    )
    server.serve_forever()
    return 0
