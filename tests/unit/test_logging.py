"""The logging pipeline: JSON lines, foreign records, redaction, tracebacks, console."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import structlog

from p2pilot.logging import add_secrets, configure_logging, get_logger

SECRET = "hunter2-SECRET-9f8e7d"
OTHER = "second-secret-0a1b2c"
LOCAL_MARKER = "LOCAL-ONLY-VALUE-7731"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    structlog.contextvars.clear_contextvars()


def setup(fmt: str = "json", level: str = "info", secrets: tuple[str, ...] = ()) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(level=level, fmt=fmt, secrets=secrets, stream=stream)
    return stream


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def explode() -> None:
    token = SECRET
    marker = LOCAL_MARKER  # a local that must never be rendered
    assert marker
    raise ValueError("bad token " + token)


# -- JSON lines ---------------------------------------------------------------------------


def test_json_lines_carry_the_contract_keys() -> None:
    stream = setup()
    log = get_logger("p2pilot.test")
    log.info("order.created", account="main", order_id="1900000000000000001")
    log.bind(account="desk").warning("job.failed", attempt=2)
    first, second = records(stream)
    assert list(first)[:4] == ["timestamp", "level", "event", "logger"]
    assert first["event"] == "order.created"
    assert first["level"] == "info"
    assert first["logger"] == "p2pilot.test"
    assert first["account"] == "main"
    assert first["order_id"] == "1900000000000000001"
    stamp = datetime.fromisoformat(first["timestamp"].replace("Z", "+00:00"))
    assert stamp.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert (second["level"], second["account"], second["attempt"]) == ("warning", "desk", 2)


def test_values_without_a_json_type_become_strings() -> None:
    stream = setup()
    get_logger("p2pilot.test").info(
        "rate.changed", price=Decimal("81.25"), at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    )
    (record,) = records(stream)
    assert record["price"] == "81.25"
    assert record["at"] == "2024-05-01T12:00:00+00:00"


def test_initial_values_and_level_filter() -> None:
    stream = setup(level="info")
    log = get_logger("p2pilot.jobs", account="main")
    log.debug("too.chatty")
    log.info("job.ok")
    (record,) = records(stream)
    assert (record["event"], record["account"]) == ("job.ok", "main")


def test_foreign_stdlib_records_go_through_the_same_pipeline() -> None:
    stream = setup(level="info")
    structlog.contextvars.bind_contextvars(account="ctx-account")
    logging.getLogger("pybit._http_manager").warning("retrying %s in %ds", "/v5/p2p/x", 2)
    logging.getLogger("alembic.runtime.migration").info("Running upgrade -> 0001")
    logging.getLogger("apscheduler.executors.default").info('Running job "orders"')
    logging.getLogger("sqlalchemy.engine.Engine").info("SELECT 1")
    logging.getLogger("urllib3.connectionpool").info("Starting new HTTPS connection")
    logging.getLogger("alembic.runtime.migration").warning("no revision here")
    pybit, alembic = records(stream)  # the libraries' INFO chatter stays out at "info"
    assert pybit["logger"] == "pybit._http_manager"
    assert (pybit["level"], pybit["event"]) == ("warning", "retrying /v5/p2p/x in 2s")
    assert pybit["account"] == "ctx-account"  # context binds reach foreign lines too
    assert "timestamp" in pybit
    assert (alembic["logger"], alembic["level"]) == ("alembic.runtime.migration", "warning")


def test_library_chatter_returns_at_debug() -> None:
    stream = setup(level="debug")
    logging.getLogger("apscheduler.executors.default").info('Running job "orders"')
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("pybit._http_manager").debug("Request -> GET")
    logging.getLogger("sqlalchemy.engine.Engine").info("SELECT 1")  # still tamed
    events = [record["event"] for record in records(stream)]
    assert events == ['Running job "orders"', "Context impl SQLiteImpl.", "Request -> GET"]


# -- redaction ---------------------------------------------------------------------------


def test_secrets_are_redacted_from_messages_values_and_structures() -> None:
    stream = setup(secrets=(SECRET, ""))
    log = get_logger("p2pilot.test").bind(header=f"X-BAPI-API-KEY: {SECRET}")
    log.info(
        f"event with {SECRET}",
        nested={"deep": [{"value": SECRET}, (1, f"x{SECRET}y")], SECRET: "as a key"},
        obj=RuntimeError(SECRET),
        url=f"https://h/?k={SECRET.replace('-', '%2D')}",
    )
    logging.getLogger("pybit").error("request failed: %s", {"sign": SECRET})
    output = stream.getvalue()
    assert SECRET not in output
    message, foreign = records(stream)
    assert message["event"] == "event with ***"
    assert message["header"] == "X-BAPI-API-KEY: ***"
    assert message["nested"] == {"deep": [{"value": "***"}, [1, "x***y"]], "***": "as a key"}
    assert message["obj"] == "RuntimeError('***')"
    assert foreign["event"] == "request failed: {'sign': '***'}"


def test_percent_encoded_secret_is_redacted() -> None:
    secret = "a b/c+d=e"
    stream = setup(secrets=(secret,))
    get_logger().info("sent", body="key=a%20b%2Fc%2Bd%3De", form="key=a+b%2Fc%2Bd%3De")
    assert "%2F" not in stream.getvalue()
    (record,) = records(stream)
    assert (record["body"], record["form"]) == ("key=***", "key=***")


def test_empty_secrets_are_ignored() -> None:
    stream = setup(secrets=("",))
    get_logger().info("plain text stays")
    assert records(stream)[0]["event"] == "plain text stays"


def test_add_secrets_applies_from_then_on() -> None:
    stream = setup(secrets=(SECRET,))
    log = get_logger("p2pilot.test")
    add_secrets([OTHER])
    log.info("both", a=SECRET, b=OTHER)
    (record,) = records(stream)
    assert (record["a"], record["b"]) == ("***", "***")


def test_reconfigure_replaces_the_secret_set() -> None:
    setup(secrets=(SECRET,))
    stream = setup(secrets=(OTHER,))
    get_logger().info("after reload", a=SECRET, b=OTHER)
    (record,) = records(stream)
    assert (record["a"], record["b"]) == (SECRET, "***")


def test_exception_tracebacks_are_redacted_and_show_no_locals() -> None:
    stream = setup(secrets=(SECRET,))
    log = get_logger("p2pilot.test")
    try:
        explode()
    except ValueError:
        log.exception("tick.failed", account="main")
    try:
        explode()
    except ValueError:
        logging.getLogger("apscheduler.executors.default").exception("Job raised")
    output = stream.getvalue()
    assert SECRET not in output
    assert LOCAL_MARKER not in output
    ours, foreign = records(stream)
    for record in (ours, foreign):
        assert record["exception"].startswith("Traceback (most recent call last):")
        assert "in explode" in record["exception"]
        assert record["exception"].rstrip().endswith("ValueError: bad token ***")
    assert ours["level"] == "error" and ours["account"] == "main"


# -- reconfiguration and formats ------------------------------------------------------------


def test_reconfiguring_moves_every_logger_to_the_new_stream() -> None:
    early = get_logger("p2pilot.early")  # made before any configuration, as at import time
    first = setup()
    early.info("one")
    second = setup()
    early.info("two")
    logging.getLogger("pybit").warning("three")
    assert [r["event"] for r in records(first)] == ["one"]
    assert [r["event"] for r in records(second)] == ["two", "three"]
    ours = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    ]
    assert len(ours) == 1


def test_console_format_is_human_readable_with_plain_tracebacks() -> None:
    stream = setup(fmt="console", secrets=(SECRET,))
    log = get_logger("p2pilot.test")
    log.info("order.paid", account="main", token=SECRET)
    try:
        explode()
    except ValueError:
        log.exception("tick.failed")
    output = stream.getvalue()
    first = output.splitlines()[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)
    assert "order.paid" in first and "account=main" in first and "token=***" in first
    assert "\x1b[" not in output  # no colours when the stream is not a terminal
    assert "Traceback (most recent call last):" in output
    assert "ValueError: bad token ***" in output
    assert SECRET not in output and LOCAL_MARKER not in output


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_console_lines_leave_empty_fields_out_and_json_keeps_them() -> None:
    stream = setup(fmt="console")
    get_logger("p2pilot.test").info("daemon.started", order_id=None, note="", jobs=4)
    (line,) = stream.getvalue().splitlines()
    assert "jobs=4" in line
    assert "account=" not in line and "order_id" not in line and "note" not in line
    piped = setup(fmt="json")
    get_logger("p2pilot.test").info("daemon.started", order_id=None)
    (record,) = records(piped)
    assert record["account"] is None and record["order_id"] is None  # the JSON contract


def test_console_colours_only_on_a_terminal_without_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = FakeTerminal()
    configure_logging(level="info", fmt="console", stream=terminal)
    get_logger().warning("job.failed")
    assert "\x1b[" in terminal.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    plain = FakeTerminal()
    configure_logging(level="info", fmt="console", stream=plain)
    get_logger().warning("job.failed")
    assert "job.failed" in plain.getvalue() and "\x1b[" not in plain.getvalue()


def test_auto_format_follows_the_stream() -> None:
    piped = setup(fmt="auto")
    get_logger().info("to.a.pipe")
    assert records(piped)[0]["event"] == "to.a.pipe"

    terminal = FakeTerminal()
    configure_logging(fmt="auto", stream=terminal)
    get_logger().info("to.a.terminal")
    line = terminal.getvalue()
    assert "to.a.terminal" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


@pytest.mark.parametrize(("level", "fmt"), [("loud", "json"), ("info", "xml")])
def test_bad_arguments_are_rejected(level: str, fmt: str) -> None:
    with pytest.raises(ValueError):
        configure_logging(level=level, fmt=fmt, stream=io.StringIO())
