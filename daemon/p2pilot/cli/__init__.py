"""The ``p2pilot`` command line: one module per command group.

``main`` is the console script's entry point (``p2pilot = "p2pilot.cli:main"``).
"""

from p2pilot.cli.main import main, run_cli

__all__ = ["main", "run_cli"]
