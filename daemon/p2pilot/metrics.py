"""Prometheus metrics: what an operator graphs and alerts on.

One registry for the process (not prometheus-client's global one, so nothing
else leaks in). Code records through the small functions below; the HTTP
endpoint is ``[metrics] listen``, loopback by default. ``contrib/grafana-dashboard.json``
graphs these names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from p2pilot.exchange.client import CallInfo
from p2pilot.logging import get_logger

log = get_logger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0)

POLL_DURATION = Histogram(
    "p2pilot_poll_duration_seconds",
    "Wall time of one poll job tick.",
    ["account", "job"],
    registry=REGISTRY,
)
API_CALLS = Counter(
    "p2pilot_api_calls_total",
    "Exchange API calls by endpoint and result (ok or the error kind).",
    ["account", "endpoint", "result"],
    registry=REGISTRY,
)
RATE_LIMIT_HITS = Counter(
    "p2pilot_rate_limit_hits_total",
    "Calls refused for a rate limit: 'uid' (10006) or 'ip' (HTTP 403).",
    ["account", "scope"],
    registry=REGISTRY,
)
EVENTS = Counter(
    "p2pilot_events_total", "Outbox events handled, by type.", ["type"], registry=REGISTRY
)
ACTIONS = Counter(
    "p2pilot_actions_total",
    "Rule actions settled, by kind and final state.",
    ["kind", "state"],
    registry=REGISTRY,
)
ORDER_TO_REPLY = Histogram(
    "p2pilot_order_to_reply_seconds",
    "From the order's creation on the exchange to our reply being accepted.",
    registry=REGISTRY,
    buckets=LATENCY_BUCKETS,
)
TRIGGER_TO_RELEASE = Histogram(
    "p2pilot_event_to_release_seconds",
    "From the event that allowed a release (payment.received: the evidence) to the release.",
    ["trigger"],
    registry=REGISTRY,
    buckets=LATENCY_BUCKETS,
)
TELEGRAM_CALLS = Counter(
    "p2pilot_telegram_calls_total",
    "Bot API calls by method and result (ok, retry_after, error: retried; refused: final).",
    ["method", "result"],
    registry=REGISTRY,
)
TELEGRAM_ALERTS = Counter(
    "p2pilot_telegram_alerts_total",
    "Telegram alerts by event type and how (sent, edited, unchanged, refused).",
    ["type", "how"],
    registry=REGISTRY,
)
TELEGRAM_UP = Gauge(
    "p2pilot_telegram_up",
    "1 while the Bot API answers, 0 after a failed call (retrying).",
    registry=REGISTRY,
)
TELEGRAM_BACKLOG = Gauge(
    "p2pilot_telegram_backlog_events",
    "Outbox events past the Telegram bot's cursor (alerts not yet out).",
    registry=REGISTRY,
)


def record_call(info: CallInfo) -> None:
    """The exchange client's ``on_call`` hook."""
    API_CALLS.labels(info.account, info.endpoint, info.outcome).inc()
    if info.outcome == "RateLimited":
        RATE_LIMIT_HITS.labels(info.account, "ip" if info.ip_ban else "uid").inc()


def count_action(kind: str, state: str) -> None:
    """A ledger row reached ``state`` (pending again counts too: a retry is coming)."""
    ACTIONS.labels(kind, str(state)).inc()


class OldestPaidOrder(Collector):
    """The age of the oldest paid sell order still waiting for release, read at scrape time."""

    def __init__(self, read: Callable[[], datetime | None]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "p2pilot_oldest_paid_order_age_seconds",
            "Age of the oldest paid sell order awaiting release (0: none).",
        )
        try:
            since = self.read()
        except Exception:
            log.warning("metrics.oldest_paid_unavailable", exc_info=True)
            return
        age = (datetime.now(UTC) - since).total_seconds() if since is not None else 0.0
        gauge.add_metric([], max(0.0, age))
        yield gauge


def serve(listen: str, oldest_paid: Callable[[], datetime | None]) -> Callable[[], None] | None:
    """Start the endpoint; returns how to stop it, or None when it could not start."""
    host, _, port = listen.rpartition(":")
    collector = OldestPaidOrder(oldest_paid)
    REGISTRY.register(collector)
    try:
        server, thread = start_http_server(int(port), addr=host.strip("[]"), registry=REGISTRY)
    except OSError as exc:
        REGISTRY.unregister(collector)
        # Metrics are for watching; a taken port must not stop the desk.
        log.error("metrics.unavailable", listen=listen, error=str(exc))
        return None
    log.info("metrics.listening", listen=f"{host}:{server.server_port}")

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        REGISTRY.unregister(collector)

    return stop
