"""The simulated exchange without a socket: a ``Transport`` that calls it in-process.

``ExchangeClient(account=..., transport=InProcessTransport(sim, api_key))`` is the
in-memory exchange: the same client, bodies, parsing and error mapping as in
production, with the simulator's endpoint functions answering in this thread. The
contract suite (``tests/contract``) holds both transports to the same answers, so
rule and job tests can run here and leave HTTP to the tests that are about HTTP.

What belongs to HTTP stays on the HTTP server: signatures, the ``_sim/faults``
faults (a dropped connection has no in-process meaning) and HTTP status codes. The
per-UID rate limit is kept (it is an answer, ``10006``), and every call is logged in
the simulator's request log as the server logs it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from p2pilot.exchange import requests as req
from p2pilot.exchange.errors import RouteNotFound
from p2pilot.exchange.failures import for_code
from p2pilot.exchange.transport import Answer, Kind
from p2pilot.simulator import api
from p2pilot.simulator.core import Simulator
from p2pilot.simulator.limits import LIMITS
from p2pilot.simulator.records import ExchangeRefusal, now_ms
from p2pilot.simulator.server import p2p_envelope


class InProcessTransport:
    """One account's calls, answered by the simulator's endpoint functions directly."""

    def __init__(self, sim: Simulator, api_key: str) -> None:
        if api_key not in sim.exchange.merchants:
            raise ValueError("the simulator has no account with this API key")
        self.sim = sim
        self.api_key = api_key
        self.base_url = "inprocess://simulator"

    def __repr__(self) -> str:
        return "InProcessTransport()"

    def send(self, endpoint: str, kind: Kind, body: req.Body) -> Answer:
        # Through JSON and back: the answer has exactly the types the wire would give.
        return self._answer(endpoint, kind, json.loads(json.dumps(body)))

    def upload(self, endpoint: str, data: bytes, filename: str) -> Answer:
        return self._answer(endpoint, "write", {"filename": filename})

    def _answer(self, endpoint: str, kind: Kind, body: req.Body) -> Answer:
        sim = self.sim
        entry: dict[str, Any] = {
            "time": time.time(),
            "path": endpoint,
            "api_key": self.api_key,
            "body": body,
        }
        handler = api.route(sim.exchange, endpoint)
        if handler is None:
            self._log(entry, 404, None)
            raise RouteNotFound("HTTP 404: the exchange has no such route", endpoint=endpoint)
        reset_ms = sim.limits.check(self.api_key, "write" if endpoint in api.WRITES else "read")
        if reset_ms is not None:
            self._log(entry, 200, 10006)
            headers = {"X-Bapi-Limit-Reset-Timestamp": str(reset_ms)}
            raise for_code(
                10006, "Too many visits!", endpoint=endpoint, write=kind == "write", headers=headers
            )
        try:
            result = handler(sim.exchange, sim.exchange.merchants[self.api_key], body)
        except ExchangeRefusal as exc:
            self._log(entry, 200, exc.code)
            write = kind == "write"
            raise for_code(exc.code, exc.message, endpoint=endpoint, write=write) from None
        self._log(entry, 200, 0)
        document = json.loads(json.dumps(p2p_envelope(endpoint, 0, "", result)))
        return document, {
            "X-Bapi-Limit": str(LIMITS[kind]),
            "X-Bapi-Limit-Status": "9",
            "X-Bapi-Limit-Reset-Timestamp": str(now_ms()),
        }

    def _log(self, entry: dict[str, Any], status: int, ret_code: int | None) -> None:
        entry.update(http_status=status, ret_code=ret_code)
        self.sim.log.add(entry)
