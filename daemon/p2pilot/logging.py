"""Structured logs: one pipeline for structlog and stdlib loggers, secrets redacted.

Every record — ours through structlog, and those of apscheduler, SQLAlchemy,
alembic, pybit, urllib3 — goes through a single root handler whose
``ProcessorFormatter`` renders either JSON lines (``timestamp``, ``level``,
``event``, ``logger`` and bound keys such as ``account`` and ``order_id``; what
``p2pilot logs`` parses) or human-readable console lines. The last step before
rendering replaces every loaded secret, wherever it occurs, with ``***``;
tracebacks are plain text and never show local variables.

``configure_logging`` may be called again (a reload): it swaps the handler and
the secrets; loggers already handed out keep working, because the structlog side
of the pipeline never changes.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import PurePath
from typing import Any, TextIO
from urllib.parse import quote, quote_plus
from uuid import UUID

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "***"
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMATS = ("json", "console", "auto")
LEADING_KEYS = ("timestamp", "level", "event", "logger")
# Libraries whose INFO/DEBUG chatter would drown the daemon's own lines.
QUIET_LOGGERS = {
    "sqlalchemy.engine": logging.WARNING,
    "sqlalchemy.pool": logging.WARNING,
    "urllib3": logging.WARNING,
    "uvicorn": logging.WARNING,  # "Started server process", "Uvicorn running on ..."
}
# Libraries that narrate their work at INFO: "Running job ...", "Context impl
# SQLiteImpl.", "setup plugin ...". Their INFO lines are chatter to an operator, so
# they show only when the operator asks for debug.
CHATTY_LOGGERS = ("apscheduler", "alembic", "pybit")


class SecretRedactor:
    """Replaces every known secret in the strings of an event dict with ``***``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str]) -> None:
        """Add secrets (empty strings are ignored)."""
        with self._lock:
            self._secrets.update(_variants(values))
            self._rebuild()

    def replace(self, values: Iterable[str]) -> None:
        """Forget the current secrets and use ``values``."""
        with self._lock:
            self._secrets = _variants(values)
            self._rebuild()

    def _rebuild(self) -> None:
        if not self._secrets:
            self._pattern = None
            return
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced."""
        pattern = self._pattern  # one read: add() may swap it meanwhile
        return text if pattern is None else pattern.sub(REDACTED, text)

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        """The processor: redact, make values JSON-able, put the fixed keys first."""
        clean = {self.scrub(str(k)): self._clean(v) for k, v in event_dict.items()}
        ordered = {k: clean.pop(k) for k in LEADING_KEYS if k in clean}
        ordered.update(clean)
        return ordered

    def _clean(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if depth > 20:
            return REDACTED  # pathological nesting: do not risk printing it
        if isinstance(value, Mapping):
            return {self.scrub(str(k)): self._clean(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._clean(v, depth + 1) for v in value]
        return self.scrub(_text(value))


def _variants(values: Iterable[str]) -> set[str]:
    """Each secret as written and URL-encoded (as it appears in a logged URL or form body)."""
    found: set[str] = set()
    for value in values:
        if isinstance(value, str) and value:
            found.update({value, quote(value, safe=""), quote_plus(value)})
    return found


def _text(value: object) -> str:
    """A readable string for a value JSON has no type for."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return str(value.name).lower()
    if isinstance(value, Decimal | UUID | PurePath):
        return str(value)
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


_redactor = SecretRedactor()
_lock = threading.Lock()
_handler: logging.Handler | None = None

# Runs in the calling thread for structlog loggers (the part that never changes).
_STRUCTLOG_CHAIN: list[Processor] = [
    structlog.stdlib.filter_by_level,
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    structlog.stdlib.PositionalArgumentsFormatter(),
    structlog.processors.StackInfoRenderer(),
    structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
]
# Brings a foreign (stdlib) record to the same shape.
_FOREIGN_CHAIN: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
]


def _setup_structlog() -> None:
    structlog.configure(
        processors=_STRUCTLOG_CHAIN,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
        # Not cached: a logger made at import time must follow later reconfiguration.
        cache_logger_on_first_use=False,
    )


_setup_structlog()


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:
        return False


def _json_dumps(obj: Any, **kwargs: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def _with_account(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # Every line names its account (null for the daemon's own), so filters never guess.
    event_dict.setdefault("account", None)
    return event_dict


def _without_empty(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # A console line is read by eye: `account=None order_id=` is noise there. JSON
    # lines keep every key, so filters never guess.
    return {
        k: v for k, v in event_dict.items() if v is not None and v != "" and v != [] and v != {}
    }


def _colors(stream: TextIO) -> bool:
    return _is_tty(stream) and not os.environ.get("NO_COLOR")


def _formatter(fmt: str, stream: TextIO) -> structlog.stdlib.ProcessorFormatter:
    renderer: Processor
    console = not (fmt == "json" or (fmt == "auto" and not _is_tty(stream)))
    if not console:
        renderer = structlog.processors.JSONRenderer(serializer=_json_dumps)
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=_colors(stream),
            exception_formatter=structlog.dev.plain_traceback,
        )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_FOREIGN_CHAIN,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become plain text (no locals) here, *before* redaction, so
            # a secret in an exception message or a source line is scrubbed too.
            structlog.processors.format_exc_info,
            _without_empty if console else _with_account,
            _redactor,
            renderer,
        ],
    )


def configure_logging(
    *,
    level: str = "info",
    fmt: str = "auto",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Send all logging to ``stream`` (stderr by default) as JSON lines or console text.

    ``fmt`` is "json", "console" or "auto" (console on a terminal). ``secrets``
    replaces the set of values redacted from every line. Safe to call again.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; use one of {', '.join(FORMATS)}")
    global _handler
    target = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(target)
    handler.setFormatter(_formatter(fmt, target))
    with _lock:
        _setup_structlog()
        _redactor.replace(secrets)
        root = logging.getLogger()
        if _handler is not None:
            root.removeHandler(_handler)
        root.addHandler(handler)
        _handler = handler
        root.setLevel(LEVELS[level])
        for name, quiet in QUIET_LOGGERS.items():
            logging.getLogger(name).setLevel(quiet)
        chatty = logging.DEBUG if level == "debug" else logging.WARNING
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(chatty)


def add_secrets(values: Iterable[str]) -> None:
    """Redact these values too, from now on (e.g. a secret learned after startup)."""
    _redactor.add(values)


def redact(text: str) -> str:
    """``text`` with every loaded secret replaced by ``***`` (for output outside logs)."""
    return _redactor.scrub(text)


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger routed through the stdlib pipeline, with ``initial`` keys bound."""
    # Lazy: the logger is assembled at each call from the current configuration.
    args = (name,) if name is not None else ()
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(*args, **initial)
    return logger
