"""What every command shares: one error boundary that turns expected failures into a readable message and
a non-zero exit, without a traceback (and so without any request URL or local state in it)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from rich.console import Console

from commute_weather.errors import ConfigurationError, ExpectedError


def _results_width() -> int | None:
    """Rich lays tables out for 80 columns when stdout is not a terminal (a CI log, `make run > file`), and
    the summary's selection and per-station tables then wrap every cell over three lines; they need ~150.
    A terminal's own width, or COLUMNS when set, still decides."""
    return None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160


console = Console(stderr=True, highlight=False, soft_wrap=True)  # progress, notes and errors
results = Console(highlight=False, soft_wrap=True, width=_results_width())  # what was asked for: tables


class StageError(ExpectedError, RuntimeError):
    """A stage cannot produce a trustworthy output; the message says why and what to change."""


EXIT_FAILED = 1
EXIT_CONFIG = 2


def run(stage: str, body: Callable[[], None]) -> None:
    try:
        body()
    except ConfigurationError as exc:
        console.print(f"[bold red]{stage}: configuration error:[/] {exc}")
        sys.exit(EXIT_CONFIG)
    except (ExpectedError, FileNotFoundError) as exc:
        console.print(f"[bold red]{stage} failed:[/] {exc}")
        sys.exit(EXIT_FAILED)
