"""The merchant's bank, simulated: when a buyer pays, an SMS reaches the merchant's phone.

With ``p2pilot simulate --notify-url URL --notify-token TOKEN``, each payment a
simulated buyer makes is followed by the bank's SMS, posted to URL the way a
phone forwarder app would (``{"from", "text", "receivedStamp"}`` with
``Authorization: Bearer TOKEN``). The SMS names the payer in Cyrillic, as a
Russian bank does, while Bybit's KYC name is in Latin letters: the demo shows
the two being matched.

The text follows p2pilot's shipped example template ``ru-sms-transfer`` (sender
``900``), which ``config/demo.toml`` uses.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import requests

from p2pilot.logging import get_logger

log = get_logger(__name__)

SENDER = "900"
ATTEMPTS = 5
# The scenario's buyers (simulator/scenario.py NAMES) as a Russian bank writes them.
CYRILLIC = {
    "OLEG SIDOROV": "Олег Сидоров",
    "ANNA KUZNETSOVA": "Анна Кузнецова",
    "IVAN SMIRNOV": "Иван Смирнов",
    "MARIA POPOVA": "Мария Попова",
    "PAVEL ORLOV": "Павел Орлов",
    "ELENA VOLKOVA": "Елена Волкова",
    "DMITRY LEBEDEV": "Дмитрий Лебедев",
    "OLGA NOVIKOVA": "Ольга Новикова",
}


def rubles(amount: Decimal) -> str:
    """``8145.00`` as a Russian bank writes it: ``8 145,00``."""
    whole, _, cents = f"{amount:.2f}".partition(".")
    return f"{int(whole):,}".replace(",", " ") + f",{cents}"


def sms_text(amount: Decimal, payer: str, balance: Decimal) -> str:
    """The bank's SMS for an incoming transfer."""
    name = CYRILLIC.get(payer.upper(), payer)
    return f"СЧЁТ4821 Перевод {rubles(amount)}р от {name}. Баланс: {rubles(balance)}р"


class BankNotifier:
    """Posts the bank's SMS for each payment, in the background, with a few retries."""

    def __init__(self, url: str, token: str, *, sender: str = SENDER) -> None:
        self.url = url
        self._token = token
        self._sender = sender
        self._balance = Decimal("25300.40")
        self._lock = threading.Lock()

    def payment(self, amount: Decimal, payer: str) -> threading.Thread:
        """Send the SMS for ``amount`` from ``payer`` (a KYC name); returns the sending thread."""
        with self._lock:
            self._balance += amount
            text = sms_text(amount, payer, self._balance)
        thread = threading.Thread(target=self._send, args=(text,), name="sim-bank", daemon=True)
        thread.start()
        return thread

    def _send(self, text: str) -> None:
        document = {
            "from": self._sender,
            "text": text,
            "receivedStamp": str(int(time.time() * 1000)),
        }
        headers = {"Authorization": f"Bearer {self._token}"}
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = requests.post(self.url, json=document, headers=headers, timeout=10)
            except requests.RequestException as exc:
                log.warning("sim.bank_sms_failed", attempt=attempt, error=type(exc).__name__)
            else:
                if response.status_code < 500:
                    log.info("sim.bank_sms", status=response.status_code, url=self.url)
                    return
                log.warning("sim.bank_sms_failed", attempt=attempt, status=response.status_code)
            time.sleep(min(2**attempt, 10))  # the forwarder's own backoff, not a test wait
