"""Run the CLI the way an operator sees it: under a pseudo-terminal of a given size."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from tests import forkcli

SGR = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Screen:
    """What one command printed on a terminal: the raw bytes as text, and its exit code."""

    raw: str
    code: int | None

    @property
    def plain(self) -> str:
        """The text without colour codes (SGR), lines joined with ``\\n``."""
        return SGR.sub("", self.raw).replace("\r\n", "\n")

    @property
    def lines(self) -> list[str]:
        return self.plain.splitlines()

    def widest(self) -> int:
        return max((len(line.rstrip()) for line in self.lines), default=0)


def terminal_env(extra: dict[str, str] | None = None, *, colour: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    if not colour:
        env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def on_terminal(
    *args: str,
    columns: int,
    env: dict[str, str] | None = None,
    colour: bool = True,
    timeout: float = 60,
) -> Screen:
    """``p2pilot ARGS`` on a ``columns``-wide pseudo-terminal, until it exits (a fork of
    a process that imported p2pilot once: see ``tests/forkcli.py``)."""
    raw, code = forkcli.on_terminal(
        args, env=terminal_env(env, colour=colour), rows=60, columns=columns, timeout=timeout
    )
    return Screen(raw, code)
