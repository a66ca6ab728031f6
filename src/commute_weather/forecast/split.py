"""The time split: the last `test_days` of dates are the test set, the `validation_days` before them the
validation set (it selects the model and carries every threshold's justification), everything earlier is
training. Nothing is shuffled across these boundaries.

A period that comes out empty or too small (a short record, a gap over a boundary) stops the stage with a
message naming the period and its dates instead of failing later inside an estimator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from commute_weather.config import SplitParams
from commute_weather.errors import ExpectedError

PERIODS = ("train", "validation", "test")


class SplitError(ExpectedError, ValueError):
    """A split period is empty or too small to fit or score on."""


@dataclass(frozen=True)
class Periods:
    """First and last day of each period, inclusive."""

    validation_start: pd.Timestamp
    test_start: pd.Timestamp
    last: pd.Timestamp

    def dates(self, period: str, first: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
        day = pd.Timedelta(days=1)
        return {
            "train": (first, self.validation_start - day),
            "validation": (self.validation_start, self.test_start - day),
            "test": (self.test_start, self.last),
        }[period]


def periods(dates: pd.Series, params: SplitParams) -> Periods:
    last = dates.max()
    test_start = last - pd.Timedelta(days=params.test_days - 1)
    return Periods(test_start - pd.Timedelta(days=params.validation_days), test_start, last)


def assign_split(dates: pd.Series, params: SplitParams) -> pd.Series:
    bounds = periods(dates, params)
    split = np.where(
        dates >= bounds.test_start, "test", np.where(dates >= bounds.validation_start, "validation", "train")
    )
    return pd.Series(split, index=dates.index, name="split")


def check_periods(dates: pd.Series, split: pd.Series, params: SplitParams) -> None:
    """Raise SplitError naming every period with fewer than `params.min_period_rows` rows."""
    if dates.empty:
        raise SplitError("the dataset has no labelled windows to split")
    bounds = periods(dates, params)
    counts = split.value_counts()
    short = []
    for period in PERIODS:
        rows = int(counts.get(period, 0))
        if rows < params.min_period_rows:
            start, end = bounds.dates(period, dates.min())
            short.append(f"{period} {start:%Y-%m-%d} to {end:%Y-%m-%d} has {rows:,} windows")
    if short:
        raise SplitError(
            f"{'; '.join(short)} (split.min_period_rows is {params.min_period_rows:,}). The data cover "
            f"{dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}: ingest more months, or shorten "
            "split.test_days / split.validation_days"
        )
