"""Run an operator's program: an argv (never a shell), the event as JSON on stdin.

pending -> sent -> succeeded | failed. A program interrupted in ``sent`` may or
may not have done its work, and running it twice may not be harmless: unknown.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from p2pilot.rules.actions.base import ActionEnv, ActionRun, event_document
from p2pilot.rules.actions.webhook import encode
from p2pilot.rules.model import CommandAction
from p2pilot.store.ledger import ActionState

OUTPUT_LIMIT = 4096
# The daemon's environment may hold API keys; scripts get only these unless told otherwise.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "HOME", "TZ")


@dataclass(frozen=True, slots=True)
class CommandResult:
    ok: bool
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    error: str | None


def run_command(
    argv: Sequence[str],
    *,
    stdin_json: Mapping[str, object],
    timeout: float = 10.0,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> CommandResult:
    """Run ``argv`` with the event on stdin; kill its process group on timeout."""
    environment = (
        dict(env) if env is not None else {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    )
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        return CommandResult(False, None, "", "", False, f"cannot run {argv[0]}: {exc.strerror}")
    try:
        out, err = process.communicate(encode(stdin_json), timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return CommandResult(
            False, None, _text(out), _text(err), True, f"timed out after {timeout:g}s"
        )
    code = process.returncode
    return CommandResult(
        code == 0, code, _text(out), _text(err), False, None if code == 0 else f"exit code {code}"
    )


def _text(data: bytes | None) -> str:
    return (data or b"")[:OUTPUT_LIMIT].decode("utf-8", "replace")


class CommandHandler:
    """Runs ``command`` actions; an interrupted one is reported unknown, not rerun."""

    redo_pending = True

    def __init__(self, env: ActionEnv) -> None:
        self.steps = env.steps

    def execute(self, run: ActionRun[CommandAction]) -> None:
        action, record = run.action, run.record
        if run.account.dry_run:
            self.steps.dry_run(record, run.log, {"argv0": action.argv[0]})
            return
        self.steps.mark_sent(record, {"argv0": action.argv[0]})
        result = run_command(action.argv, stdin_json=event_document(run), timeout=action.timeout)
        self.steps.settle(
            record,
            ActionState.SUCCEEDED if result.ok else ActionState.FAILED,
            error=result.error,
            detail={"exit_code": result.exit_code, "timed_out": result.timed_out},
        )

    def reconcile(self, run: ActionRun[CommandAction]) -> None:
        self.steps.unknown_after_restart(run.record, run.log)
