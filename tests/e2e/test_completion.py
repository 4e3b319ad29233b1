"""Shell completion (typer's): the script the README installs completes commands in bash and zsh."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

P2PILOT = str(Path(sys.executable).with_name("p2pilot"))


def test_bash_completion_script_completes_commands_and_options() -> None:
    # Sourced in a real bash, as `~/.bashrc` or /etc/bash_completion.d would.
    script = f"""
source <({P2PILOT} --show-completion)
complete_words() {{
  COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
  _p2pilot_completion {P2PILOT}; echo "${{COMPREPLY[@]}}"
}}
complete_words p2pilot ord
complete_words p2pilot orders sh
complete_words p2pilot payments list --unm
"""
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["orders", "show", "--unmatched"]


def test_zsh_completion_protocol_answers_with_descriptions() -> None:
    env = {**os.environ, "_P2PILOT_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "p2pilot pay"}
    done = subprocess.run(
        [P2PILOT], capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert '"payments":"Payment evidence."' in done.stdout
