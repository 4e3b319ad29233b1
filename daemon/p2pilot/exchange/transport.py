"""How a call reaches the exchange: the ``Transport`` port, and pybit over HTTP.

The client (``client.py``) builds each request body, paces it, parses the answer and
tells its caller what happened; a transport only carries the body to one endpoint
and brings back the decoded answer. Production uses ``PybitTransport``, the only
code in p2pilot that calls pybit. The simulator offers the same port in-process
(``p2pilot.simulator.inprocess``), so the whole client runs without a socket.

pybit is tamed so it never sleeps or retries inside our threads: ``max_retries=1``,
``force_retry=False``, a ``retry_codes`` set holding only a sentinel no response can
carry (an empty set would bring back pybit's defaults, including the 10006 path that
crashes on a past reset header) and ``retry_delay=0``. Waiting and retrying belong to
the callers, guided by the error family in ``errors.py``.

``log_requests`` stays off (it logs the API key and signature), and the handler
pybit attaches to its own logger when the root logger has none is removed.
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.request
from collections.abc import Mapping
from typing import Any, Literal, Protocol

import requests
from pybit.unified_trading import HTTP

from p2pilot.exchange import requests as req
from p2pilot.exchange.failures import exchange_error

Kind = Literal["read", "write"]
Answer = tuple[Any, Mapping[str, Any] | None]

PYBIT_LOGGER = "pybit._http_manager"
# A code no response can carry (the exchange's codes are ints): keeps pybit's retry set
# non-empty without ever matching, so pybit never sleeps in our threads.
NO_RETRY_CODES = frozenset({"p2pilot:never-retry"})
_construct_lock = threading.Lock()

# The pybit 5.17 method for each endpoint it wraps; the rest go through its signed
# request directly (``PybitTransport._post``).
PYBIT_METHODS: Mapping[str, str] = {
    req.ACCOUNT_INFO: "get_account_information",
    req.PAYMENT_METHODS: "get_user_payment_types",
    req.COUNTERPARTY_INFO: "get_counterparty_info",
    req.PENDING_ORDERS: "get_pending_orders",
    req.ORDERS: "get_orders",
    req.ORDER_DETAIL: "get_order_details",
    req.RELEASE: "release_assets",
    req.MARK_PAID: "mark_as_paid",
    req.CHAT_MESSAGES: "get_chat_messages",
    req.SEND_CHAT_MESSAGE: "send_chat_message",
    req.MY_ADS: "get_ads_list",
    req.AD_DETAIL: "get_ad_details",
    req.CREATE_AD: "post_new_ad",
    req.UPDATE_AD: "update_ad",
    req.REMOVE_AD: "remove_ad",
    req.ONLINE_ADS: "get_online_ads",
}


class Transport(Protocol):
    """Carries one call to one account's exchange and returns its decoded answer.

    The contract every implementation keeps (``tests/contract`` checks it):

    * ``send`` returns the response document exactly as the exchange's JSON decodes
      (envelope included, numbers still strings where the exchange sends strings)
      and the response headers, or None when the transport has none. It returns only
      for ``retCode``/``ret_code`` 0.
    * Anything else raises from the family in ``errors.py``, mapped by code as
      ``failures.py`` maps it: never a foreign exception, never a message holding a
      key, a secret or a signature. A ``write`` that may have taken effect raises
      ``TransientError`` with ``outcome_unknown`` set.
    * It never sleeps, retries or paces: the client's budget and its callers do.
    * It is safe to call from several threads at once.
    """

    base_url: str

    def send(self, endpoint: str, kind: Kind, body: req.Body) -> Answer:
        """POST or GET ``body`` to ``endpoint`` (a path from ``requests.py``), signed."""
        ...

    def upload(self, endpoint: str, data: bytes, filename: str) -> Answer:
        """Upload one file (multipart) to ``endpoint``, signed; a write."""
        ...


class PybitTransport:
    """The exchange over HTTP through pybit's ``HTTP`` session (one per account)."""

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        base_url: str | None = None,
        testnet: bool = False,
        timeout: float = 10.0,
        recv_window: int = 5000,
    ) -> None:
        self._secrets = (api_key, api_secret)
        self.session = _new_session(
            testnet=testnet,
            api_key=api_key,
            api_secret=api_secret,
            timeout=timeout,
            recv_window=recv_window,
            max_retries=1,
            retry_delay=0,
            force_retry=False,
            retry_codes=set(NO_RETRY_CODES),
            log_requests=False,
            return_response_headers=True,
        )
        if base_url:
            # pybit has no base_url argument; every call formats f"{endpoint}{path}".
            self.session.endpoint = base_url.rstrip("/")
        self.base_url: str = self.session.endpoint

    def __repr__(self) -> str:
        return f"PybitTransport(base_url={self.base_url!r})"

    def send(self, endpoint: str, kind: Kind, body: req.Body) -> Answer:
        method = PYBIT_METHODS.get(endpoint)
        if method is None:
            return self._mapped(endpoint, kind, lambda: self._post(endpoint, body))
        return self._mapped(endpoint, kind, lambda: getattr(self.session, method)(**body))

    def upload(self, endpoint: str, data: bytes, filename: str) -> Answer:
        return self._mapped(
            endpoint,
            "write",
            lambda: self.session.upload_chat_file(upload_file=bytes(data), filename=filename),
        )

    def _post(self, path: str, body: req.Body) -> Any:
        """POST to a path pybit 5.17 does not wrap, through pybit's own signed request."""
        return self.session._submit_request(
            method="POST", path=f"{self.session.endpoint}{path}", query=body, auth=True
        )

    def _mapped(self, endpoint: str, kind: Kind, call: Any) -> Answer:
        try:
            response = call()
        except Exception as exc:
            mapped = exchange_error(
                exc, endpoint=endpoint, write=kind == "write", secrets=self._secrets
            )
            if mapped is None:
                raise
            raise mapped from exc
        if isinstance(response, tuple) and response:
            return response[0], response[-1]
        return response, None


def _new_session(**settings: Any) -> Any:
    """A pybit HTTP session, without the StreamHandler pybit may attach to its logger."""
    logger = logging.getLogger(PYBIT_LOGGER)
    with _construct_lock:
        before = list(logger.handlers)
        session = HTTP(**settings)
        for handler in list(logger.handlers):
            if handler not in before:
                logger.removeHandler(handler)
    logger.propagate = True
    _read_environment_once(session.client)
    return session


def _read_environment_once(http: requests.Session) -> None:
    """Stop requests re-reading proxy settings from the environment on every call.

    That lookup walks ``os.environ`` per request: a third of an idle orders tick's
    CPU on a desk with a thousand open orders (bench/tick_cpu.py). With no proxy
    configured there is nothing to re-read; a CA bundle named in the environment
    is kept. With a proxy set, requests keeps doing it, as it must.
    """
    if urllib.request.getproxies():
        return
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        http.verify = bundle
    http.trust_env = False
