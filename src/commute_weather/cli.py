"""What every command shares: one error boundary that turns expected failures into a readable message and
a non-zero exit, without a traceback (and so without any request URL or local state in it)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from rich.console import Console

from commute_weather.errors import ConfigurationError, ExpectedError

console = Console(stderr=True, highlight=False, soft_wrap=True)  # progress, notes and errors
results = Console(highlight=False, soft_wrap=True)  # what a command was asked for: tables, verdicts


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
