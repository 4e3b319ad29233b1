"""The fault campaign: orders flow while everything that can fail does.

``p2pilot run`` polls the simulator (a separate process) twice a second while this
test plays buyers (new orders, payments, cancellations) and the operator (payment
confirmations), and in between switches on every simulator fault in turn (each
until the daemon has met it), SIGKILLs the daemon at random moments (restarting it
as systemd would), restarts PostgreSQL or holds SQLite's write lock from another
process. Then it checks what a merchant needs to be true:

- after each fault ends, the daemon polls again within two ticks: it is never
  silent for longer, counted in the polls of a second account of the same daemon
  that no fault touches (a metronome: a busy machine slows both alike, so the count
  does not depend on its speed);
- no event lost: every order's final status, amount and life events are stored;
- no action doubled: no order got a second release or greeting once one took effect;
- no release without its guards: only paid orders with confirmed payment were
  released, and every such order was;
- nothing stored is corrupted.

``P2PILOT_CAMPAIGN_SEED`` replays a run; the seed is printed with any failure.
``pytest -s`` prints, for each fault, the ticks and seconds until polling resumed and
the seconds until a new order was stored.

Both share the machine with the parallel phase: the PostgreSQL campaign restarts a
server of its own (``private_postgres``), not the one every other test uses.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import SQLAlchemyError

from p2pilot.evidence.intake import EvidenceError, record_evidence
from p2pilot.store import orders as stored_orders
from p2pilot.store.engine import Store
from tests import forkcli

from .conftest import API_KEY, API_SECRET, SimProcess, running_simulator, wait_for
from .private_postgres import private_postgres

TICK = 0.5  # polling.orders: the floor the config allows, so faults are met sooner
FAULT_WINDOW = 0.5  # seconds each fault stays on at least (and until the daemon met it)
# Metronome polls in the desk's longest silence after a fault: the runner skips at
# most one tick while failing (jobs/runner.py), and two ticks of the desk span at
# most three of the metronome's; one more for a metronome tick run late.
RECOVERY_TICKS = 4
# `simulate --accounts 2`: the first serves the desk (and every scripted order), the
# second the metronome, which no fault touches.
DESK_KEY, METRONOME_KEY = f"{API_KEY}1", f"{API_KEY}2"
CAMPAIGN_ENV = {
    "E2E_BYBIT_KEY1": DESK_KEY,
    "E2E_BYBIT_SECRET1": f"{API_SECRET}1",
    "E2E_BYBIT_KEY2": METRONOME_KEY,
    "E2E_BYBIT_SECRET2": f"{API_SECRET}2",
}

CONFIG = """
[database]
url = "{db_url}"

[logging]
level = "info"
format = "json"

[polling]
orders = "500ms"
sweep = "2s"
shutdown_timeout = "4s"

[metrics]
listen = "127.0.0.1:0"
{accounts}
[safety]
release_mode = "auto"
release_max_amount = { RUB = "1000000" }
release_daily_limit = { RUB = "100000000" }

[[rules]]
name = "greet"
on = "order.created"
if = { side = "sell" }
reply = "Hi {order.counterparty}, please pay {order.amount} {order.currency}"

[[rules]]
name = "auto-release"
on = ["order.paid", "payment.received"]
if = { payment_confirmed = true }
release = true
"""

PENDING = "/v5/p2p/order/pending/simplifyList"
RELEASE = "/v5/p2p/order/finish"
ORDER_SEND = "/v5/p2p/order/message/send"
SESSION_SEND = "/v5/p2p/chat/message/send_v1"
WRITES = [RELEASE, ORDER_SEND, SESSION_SEND]

# (label, fault, control body); every fault the simulator knows that the exchange
# can throw at a running desk (912000014, a revoked permission, needs a human).
FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("10006, reset in the future", {"fault": "rate_limit", "reset_in_ms": 1000}),
    ("10006, reset in the past", {"fault": "rate_limit_past"}),
    ("10002 timestamp", {"fault": "timestamp"}),
    ("10016 server error", {"fault": "server_error_code"}),
    ("HTTP 429", {"fault": "http_429"}),
    ("HTTP 500", {"fault": "http_500"}),
    ("empty body", {"fault": "empty_body"}),
    ("slow response", {"fault": "slow", "delay_ms": 1200}),
    ("slower than the timeout", {"fault": "slow", "delay_ms": 3500, "count": 2}),
    ("lost response after the write", {"fault": "lost_response", "paths": WRITES}),
    ("912200387 chat closed", {"fault": "chat_closed"}),
    ("garbled rows", {"fault": "malformed_row"}),
]


@dataclass
class Daemon:
    """``p2pilot run`` as systemd runs it: restarted after a kill, READY awaited."""

    config: Path
    log: Path
    notify: socket.socket
    notify_path: str
    process: forkcli.ForkedProcess | None = None
    kills: int = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = forkcli.spawn(
                ["--config", str(self.config), "run"],
                env={**os.environ, **CAMPAIGN_ENV, "NOTIFY_SOCKET": self.notify_path},
                output=out,
            )
        deadline = time.monotonic() + 60  # bounds the wait on a busy machine
        while time.monotonic() < deadline:
            try:
                if b"READY=1" in self.notify.recv(4096):
                    return
            except TimeoutError:
                pass
            assert self.alive(), f"the daemon died on start:\n{self.tail()}"
        raise AssertionError(f"no READY=1 within 60 s:\n{self.tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.alive(), f"the daemon had exited on its own:\n{self.tail()}"
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.kills += 1

    def stop(self) -> int:
        if not self.alive():
            return -1
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(20)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Desk:
    """Buyers and the operator: orders, payments, cancels and confirmations."""

    sim: SimProcess
    store: Store
    rng: random.Random
    created: dict[str, Decimal] = field(default_factory=dict)
    paid: set[str] = field(default_factory=set)
    cancelled: set[str] = field(default_factory=set)
    to_confirm: set[str] = field(default_factory=set)  # the operator will confirm these
    confirmed: set[str] = field(default_factory=set)
    refusals: dict[str, str] = field(default_factory=dict)  # the last reason, per order
    # False while another process holds SQLite's lock: the operator's writes would
    # wait out the busy timeout, order by order, as the daemon's do.
    confirming: bool = True

    sells: set[str] = field(default_factory=set)

    def new_order(self, side: str = "sell") -> str:
        amount = Decimal(self.rng.randint(10_000, 900_000)) / 100
        answer = self.sim.control("POST", "orders", side=side, amount=str(amount), price="81.37")
        order_id = str(answer["id"])  # type: ignore[index]
        self.created[order_id] = amount
        if side == "sell":
            self.sells.add(order_id)
        return order_id

    def step(self) -> None:
        """One moment of desk life: a new order, a payment, maybe a cancel, confirmations."""
        self.new_order(self.rng.choice(["sell", "sell", "sell", "buy"]))
        open_orders = sorted(set(self.created) - self.paid - self.cancelled)
        if open_orders and self.rng.random() < 0.7:
            order_id = self.rng.choice(open_orders)
            self.sim.control("POST", f"orders/{order_id}/pay")
            self.paid.add(order_id)
            if order_id in self.sells and self.rng.random() < 0.75:
                self.to_confirm.add(order_id)  # the rest stay unconfirmed: never released
        elif open_orders and self.rng.random() < 0.5:
            order_id = self.rng.choice(open_orders)
            self.sim.control("POST", f"orders/{order_id}/cancel")
            self.cancelled.add(order_id)
        if self.confirming:
            self.confirm_what_arrived()

    def confirm_what_arrived(self) -> None:
        """The operator confirms fiat for paid orders the daemon has stored (not before)."""
        for order_id in sorted(self.to_confirm - self.confirmed):
            now = datetime.now(UTC)
            try:
                result = record_evidence(
                    self.store,
                    amount=self.created[order_id],
                    currency="RUB",
                    payer_name="",
                    reference=f"campaign-{order_id}",
                    received_at=now,
                    source="operator",
                    now=now,
                    account="desk",
                    order_id=order_id,
                )
            except (EvidenceError, SQLAlchemyError) as exc:
                self.refusals[order_id] = str(exc)  # not stored yet, or the database is away
                continue
            if result.order_id is not None or "already" in result.reason:
                self.confirmed.add(order_id)
            else:
                self.refusals[order_id] = result.reason

    def run_for(self, seconds: float) -> None:
        """Keep the desk busy for ``seconds`` (the campaign's clock, not a wait)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.step()
            time.sleep(self.rng.uniform(0.4, 0.8))


@dataclass(frozen=True)
class Recovery:
    # Metronome polls in the desk's longest silence between the fault's end and its
    # first good poll: a busy tick (a backlog after a restart) is not a silent one.
    ticks: int
    allowed: int  # RECOVERY_TICKS, and the ticks the fault outlives its switch-off
    polling: float  # seconds to that poll, and to a new order stored: reported only
    stored: float


def stored(store: Store, order_id: str) -> bool:
    try:
        with store.transaction(read_only=True) as session:
            return stored_orders.get_order(session, order_id) is not None
    except SQLAlchemyError:
        return False


def requests_log(sim: SimProcess, since: int = 0) -> list[dict[str, Any]]:
    log = sim.control("GET", f"requests?since={since}")
    assert isinstance(log, list)
    return log


def polls(entries: list[dict[str, Any]], api_key: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["path"] == PENDING and e["api_key"] == api_key]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(0.5)
        yield sock, path


@pytest.fixture
def campaign_simulator(tmp_path: Path) -> Iterator[SimProcess]:
    """Its own ``simulate --accounts 2``: the desk's account and the metronome's."""
    with running_simulator(accounts=2, log=tmp_path / "simulator.log") as sim:
        yield sim


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_fault_campaign_on_sqlite(
    campaign_simulator: SimProcess, tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    Campaign.start(
        campaign_simulator, f"sqlite:///{tmp_path / 'p2pilot.db'}", tmp_path, notify_socket
    ).run()


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.postgres
def test_fault_campaign_on_postgresql(
    campaign_simulator: SimProcess, tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    # A server of its own: restarting the one every other test uses would break them.
    with private_postgres(keep_log=tmp_path / "postgresql.log") as server:
        Campaign.start(
            campaign_simulator, server.url, tmp_path, notify_socket, restart=server.restart
        ).run()


@dataclass
class Campaign:
    """One campaign: the daemon, the desk, the faults in turn, then the invariants."""

    sim: SimProcess
    db_url: str
    tmp_path: Path
    seed: int
    rng: random.Random
    daemon: Daemon
    store: Store
    desk: Desk
    recoveries: dict[str, Recovery] = field(default_factory=dict)
    seen: int = 0  # the simulator's log is read from here on
    restart_database: Callable[[], None] | None = None  # PostgreSQL's server restart

    @classmethod
    def start(
        cls,
        sim: SimProcess,
        db_url: str,
        tmp_path: Path,
        notify: tuple[socket.socket, str],
        *,
        restart: Callable[[], None] | None = None,
    ) -> Campaign:
        seed = int(os.environ.get("P2PILOT_CAMPAIGN_SEED", random.randrange(1 << 32)))
        print(f"campaign seed {seed}")  # shown with a failure, even one that hangs
        rng = random.Random(seed)
        config = tmp_path / "p2pilot.toml"
        accounts = "".join(
            f'\n[[accounts]]\nname = "{name}"\napi_key = {{ env = "E2E_BYBIT_KEY{n}" }}\n'
            f'api_secret = {{ env = "E2E_BYBIT_SECRET{n}" }}\nbase_url = "{sim.url}"\n'
            'timeout = "3s"\n'
            for n, name in ((1, "desk"), (2, "metronome"))
        )
        text = CONFIG.replace("{db_url}", db_url).replace("{accounts}", accounts)
        config.write_text(text, encoding="utf-8")
        daemon = Daemon(config, tmp_path / "daemon.log", *notify)
        daemon.start()
        store = Store(db_url)
        desk = Desk(sim, store, rng)
        return cls(sim, db_url, tmp_path, seed, rng, daemon, store, desk, restart_database=restart)

    def run(self) -> None:
        try:
            self.faults()
            self.settle()
            self.check()
        except BaseException as exc:
            # For the post-mortem: what the exchange saw, beside the daemon's log.
            (self.tmp_path / "requests.json").write_text(json.dumps(requests_log(self.sim)))
            (self.tmp_path / "failure.txt").write_text(
                f"{exc!r}\nseed {self.seed}\n{self.recoveries}"
            )
            exc.add_note(
                f"campaign seed {self.seed}; recoveries {self.recoveries}\n{self.daemon.tail()}"
            )
            raise
        finally:
            if self.daemon.alive():
                self.daemon.stop()
            self.store.dispose()
        self.report()

    def faults(self) -> None:
        """Every fault in turn, a SIGKILL after every fourth, the ban, the database's own."""
        self.desk.run_for(1)  # a healthy desk first
        # Every exchange fault on SQLite; on PostgreSQL, whose own fault is the server
        # restart, four of them (all with P2PILOT_CAMPAIGN_FULL=1): the daemon's
        # handling of an exchange fault does not depend on the database.
        sqlite = self.db_url.startswith("sqlite")
        full = sqlite or os.environ.get("P2PILOT_CAMPAIGN_FULL") == "1"
        rotation = self.rng.sample(FAULTS, len(FAULTS) if full else 4)
        for number, (label, body) in enumerate(rotation):
            self.exchange_fault(label, body)
            if number % 4 == 3:
                self.kill_at_random(f"SIGKILL after {label}")
        self.ip_ban()
        if sqlite:
            hold_sqlite_write_lock(self.db_url, self.desk)
            self.recovered("SQLite write lock held by another process")
        else:
            assert self.restart_database is not None
            self.desk.run_for(1)
            self.restart_database()
            self.recovered("PostgreSQL restarted")
        self.kill_at_random("SIGKILL at the end")

    def exchange_fault(self, label: str, body: dict[str, Any]) -> None:
        """The fault on while orders flow, until the daemon has met it, then its recovery."""
        fault = self.sim.control("POST", "faults", api_key=DESK_KEY, **body)
        fault_id = fault["id"]  # type: ignore[index]
        self.desk.run_for(FAULT_WINDOW)

        def met() -> bool:
            active = {f["id"]: f for f in self.sim.control("GET", "faults")}  # type: ignore[union-attr]
            if fault_id not in active or active[fault_id]["hits"] > 0:
                return True  # a counted fault leaves the list once used up
            self.desk.run_for(0.2)
            return False

        wait_for(met, timeout=60, interval=0)
        self.sim.control("DELETE", f"faults/{fault_id}")
        # A fault ends when its last answer is out: a slow one's in-flight answers
        # arrive later, and a 10006 told the daemon when to come back.
        lasting = body.get("delay_ms", 0) if body["fault"] == "slow" else 0
        lasting += body.get("reset_in_ms", 0)
        self.recovered(label, grace=lasting / 1000)

    def recovered(self, label: str, *, grace: float = 0.0) -> None:
        """How many ticks until the desk polled well again after the fault's end.

        ``grace``: how long the fault outlives its switch-off (a slow answer still on
        its way, a 10006 reset time the daemon was told to wait for).
        """
        end = time.time()
        probe = self.desk.new_order()

        def good_poll() -> dict[str, Any] | None:
            entries = polls(requests_log(self.sim, self.seen), DESK_KEY)
            good = [e for e in entries if e["time"] >= end and e["ret_code"] == 0]
            return min(good, key=lambda e: e["time"]) if good else None

        found = wait_for(good_poll, 60)  # bounds the wait; the ticks are what counts
        wait_for(lambda: stored(self.store, probe), timeout=60)
        took = time.time() - end
        entries = requests_log(self.sim, self.seen)
        calls = [e["time"] for e in entries if e["api_key"] == DESK_KEY]
        marks = [end, *(t for t in calls if end < t < found["time"]), found["time"]]
        beats = [e["time"] for e in polls(entries, METRONOME_KEY)]
        self.recoveries[label] = Recovery(
            ticks=max(sum(1 for t in beats if a <= t <= b) for a, b in itertools.pairwise(marks)),
            allowed=RECOVERY_TICKS + math.ceil(grace / TICK),
            polling=found["time"] - end,
            stored=took,
        )
        self.seen = entries[-1]["seq"]

    def kill_at_random(self, label: str) -> None:
        # Somewhere in the next tick or two, while orders are paid and released.
        self.desk.run_for(self.rng.uniform(0.1, 1.0))
        self.daemon.kill()
        self.desk.run_for(self.rng.uniform(0.0, 0.5))  # buyers go on while it is down
        self.daemon.start()  # returns on READY=1: the fault has ended
        self.recovered(label)

    def ip_ban(self) -> None:
        """HTTP 403: the daemon stops calling, every account, for the ban's 10 minutes;
        a restart (the operator's decision) resumes at once."""
        first = requests_log(self.sim)[-1]["seq"]
        self.sim.control("POST", "faults", fault="http_403", count=1, api_key=DESK_KEY)
        self.desk.run_for(1.5)
        after = requests_log(self.sim, first)
        banned = [e["seq"] for e in after if e["http_status"] == 403]
        assert len(banned) == 1, banned
        later = [e for e in after if e["seq"] > banned[0] and e["path"].startswith("/v5/")]
        for key in (DESK_KEY, METRONOME_KEY):  # at most the calls already in flight
            assert len([e for e in later if e["api_key"] == key]) <= 3, later
        self.kill_at_random("restart after a 403 ban")

    def settle(self) -> None:
        """The buyers stop; the daemon finishes what it can."""
        desk = self.desk
        try:
            wait_for(lambda: desk.confirm_what_arrived() or desk.to_confirm <= desk.confirmed, 30)
        except AssertionError:
            missing = {o: desk.refusals.get(o) for o in desk.to_confirm - desk.confirmed}
            raise AssertionError(f"not confirmed: {missing}") from None
        left = [""]

        def done() -> bool:
            left[0] = settled(self.sim, self.store, desk)
            return not left[0]

        try:
            wait_for(done, timeout=60, interval=0.5)
        except AssertionError:
            raise AssertionError(f"not settled: {left[0]}") from None

    def check(self) -> None:
        daemon = self.daemon
        assert daemon.alive(), daemon.tail()
        check_invariants(self.sim, self.store, self.desk, self.recoveries)
        if self.db_url.startswith("sqlite"):
            path = self.db_url.removeprefix("sqlite:///")
            with sqlite3.connect(path) as connection:
                assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert daemon.stop() == 0, daemon.tail()
        text = daemon.log.read_text()
        assert API_SECRET not in text and API_KEY not in text
        for line in text.splitlines():
            json.loads(line)  # structured to the end: no bare traceback on stdout

    def report(self) -> None:
        print(
            f"\ncampaign seed {self.seed}: {len(self.desk.created)} orders,"
            f" {self.daemon.kills} kills"
        )
        print("  polling again          new order stored  after")
        for label, took in sorted(self.recoveries.items(), key=lambda item: -item[1].ticks):
            print(
                f"  {took.ticks:2d}/{took.allowed:2d} ticks {took.polling:6.2f} s"
                f"  {took.stored:14.2f} s  {label}"
            )


def hold_sqlite_write_lock(db_url: str, desk: Desk) -> None:
    """Another process takes SQLite's write lock past the busy timeout, then lets go."""
    path = db_url.removeprefix("sqlite:///")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys\n"
            f"c = sqlite3.connect({path!r}, isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.readline()\n"
            "c.execute('ROLLBACK')\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        desk.confirming = False
        desk.run_for(6)  # longer than the daemon's 5 s busy timeout
    finally:
        desk.confirming = True
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(10) == 0


def settled(sim: SimProcess, store: Store, desk: Desk) -> str:
    """What the daemon still has to do: "" once every order is stored with the
    simulator's status, every event handled, no action open, every due release done."""
    truth = {o["id"]: o for o in sim.control("GET", "orders")}  # type: ignore[union-attr]
    try:
        with store.transaction(read_only=True) as session:
            for order_id in desk.created:
                view = stored_orders.get_order(session, order_id)
                if view is None:
                    return f"{order_id} not stored"
                if view.order.status != truth[order_id]["status"]:
                    return f"{order_id} stored {view.order.status}, is {truth[order_id]['status']}"
                if any(h.handled_at is None for h in view.history):
                    return f"{order_id} has unhandled events"
                if any(a["state"] in ("pending", "sent", "unknown") for a in view.actions):
                    return f"{order_id} has open actions: {view.actions}"
                if order_id in desk.confirmed and view.order.status == 20:
                    return f"{order_id} confirmed, not yet released"
    except SQLAlchemyError as exc:
        return f"database: {exc}"
    return ""


def check_invariants(
    sim: SimProcess, store: Store, desk: Desk, recoveries: dict[str, Recovery]
) -> None:
    slow = {label: r for label, r in recoveries.items() if r.ticks > r.allowed}
    assert not slow, f"not polling again within two ticks: {slow}"

    truth = {o["id"]: o for o in sim.control("GET", "orders")}  # type: ignore[union-attr]
    log = requests_log(sim)
    releases: dict[str, list[dict[str, Any]]] = {}
    greetings: dict[str, list[dict[str, Any]]] = {}
    for entry in log:
        order_id = (entry.get("body") or {}).get("orderId")
        if entry["path"] == RELEASE:
            releases.setdefault(order_id, []).append(entry)
        elif entry["path"] in (ORDER_SEND, SESSION_SEND):  # both name the order
            greetings.setdefault(order_id, []).append(entry)

    greeted = unverified = 0
    with store.transaction(read_only=True) as session:
        for order_id, amount in desk.created.items():
            view = stored_orders.get_order(session, order_id)
            assert view is not None, f"order {order_id} never stored"
            order = view.order.to_json()
            final = truth[order_id]["status"]
            # Nothing lost or corrupted: status and exact amount as the exchange has them.
            assert order["status"] == final, (order_id, order["status"], final)
            assert (
                Decimal(order["amount"]) == amount and order["amount"] == truth[order_id]["amount"]
            ), (order_id, order["amount"], truth[order_id]["amount"])
            kinds = [h.type for h in view.history]
            assert kinds.count("order.created") == 1, (order_id, kinds)
            final_event = {
                10: "order.created",
                20: "order.paid",
                40: "order.cancelled",
                50: "order.completed",
            }
            assert kinds.count(final_event[final]) == 1, (order_id, kinds)
            changes = [(h.type, h.from_status, h.to_status) for h in view.history]
            assert len(changes) == len(set(changes)), f"doubled event on {order_id}: {kinds}"

            # No action doubled: nothing after the release or greeting that took effect.
            for sent in (releases.get(order_id, []), greetings.get(order_id, [])):
                effective = [i for i, e in enumerate(sent) if e["ret_code"] == 0]
                assert len(effective) <= 1, (order_id, sent)
                assert not effective or effective[0] == len(sent) - 1, (order_id, sent)
            greets = [a for a in view.actions if a["rule"] == "greet"]
            states = [a["state"] for a in greets]
            assert states.count("succeeded") <= 1, (order_id, view.actions)
            greeted += states.count("succeeded")
            # A finished order whose chat could not be checked: the ledger says so.
            unverified += sum(1 for a in greets if "is unknown" in (a["error"] or ""))

            # No release without its guards: paid, payment confirmed before the release.
            done = [e for e in releases.get(order_id, []) if e["ret_code"] == 0]
            if order_id in desk.confirmed:
                assert final == 50 and len(done) == 1, (order_id, final, done)
                assert view.evidence is not None
                matched = datetime.fromisoformat(str(view.evidence["matched_at"]))
                assert matched.timestamp() <= done[0]["time"], (order_id, matched, done)
                (release,) = [
                    a for a in view.actions if a["kind"] == "release" and a["state"] == "succeeded"
                ]
                assert all(g["ok"] for g in release["detail"]["guards"]), release
            else:
                assert not releases.get(order_id), f"released without its guards: {order_id}"
                assert final != 50, order_id
    # Every greeting that reached a buyer is one the ledger knows succeeded.
    effective = sum(
        1 for order_id in desk.created for e in greetings.get(order_id, []) if e["ret_code"] == 0
    )
    assert greeted <= effective <= greeted + unverified, (effective, greeted, unverified)
    assert greeted >= len(desk.sells) // 2
