"""What every stage CLI shares: one error boundary that turns expected failures into a readable message
and a non-zero exit, without a traceback (and so without any request URL or local state in it)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from rich.console import Console

from commute_weather.config import ParamsError
from commute_weather.kma.errors import KmaApiError, KmaFormatError, MissingAuthKeyError
from commute_weather.split import SplitError

console = Console(stderr=True, highlight=False, soft_wrap=True)  # progress, notes and errors
results = Console(highlight=False, soft_wrap=True)  # what a command was asked for: tables, verdicts


class StageError(RuntimeError):
    """A stage cannot produce a trustworthy output; the message says why and what to change."""


EXPECTED_ERRORS = (
    ParamsError,
    KmaApiError,
    KmaFormatError,
    MissingAuthKeyError,
    StageError,
    SplitError,
    FileNotFoundError,
)
EXIT_FAILED = 1
EXIT_CONFIG = 2


def run(stage: str, body: Callable[[], None]) -> None:
    try:
        body()
    except (ParamsError, MissingAuthKeyError) as exc:
        console.print(f"[bold red]{stage}: configuration error:[/] {exc}")
        sys.exit(EXIT_CONFIG)
    except EXPECTED_ERRORS as exc:
        console.print(f"[bold red]{stage} failed:[/] {exc}")
        sys.exit(EXIT_FAILED)
