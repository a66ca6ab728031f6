"""The monitor's statistics: PSI and the coverage band."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from commute_weather.reporting.monitor import coverage_band, period, psi, same_season


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 5000)
    assert psi(reference, reference, bins=5) == pytest.approx(0, abs=1e-9)
    assert psi(reference, rng.normal(0, 1, 5000), bins=5) < 0.01
    assert psi(reference, rng.normal(1.5, 1, 5000), bins=5) > 1.0


def test_psi_noise_floor_matches_the_documented_bias() -> None:
    """No shift at all: PSI on 56 windows averages about (bins - 1)(1/n + 1/m), the floor the monitor adds."""
    rng = np.random.default_rng(1)
    reference = rng.normal(0, 1, 200)
    values = [psi(reference, rng.normal(0, 1, 56), bins=5) for _ in range(400)]
    floor = 4 * (1 / 56 + 1 / 200)
    assert np.mean(values) == pytest.approx(floor, rel=0.3)


def test_psi_counts_missing_values_as_their_own_bin() -> None:
    reference = np.arange(100, dtype="float64")
    current = reference.copy()
    current[:40] = np.nan
    assert psi(reference, current, bins=5) > 1.0


def test_coverage_band_is_the_binomial_acceptance_region() -> None:
    low, high = coverage_band(56, 0.01, 0.8)
    assert low < 0.8 < high
    assert (low, high) == pytest.approx((37 / 56, 52 / 56))
    narrow = coverage_band(5000, 0.01, 0.8)
    assert low < narrow[0] < 0.8 < narrow[1] < high


def test_period_ends_at_the_last_date_whose_evening_window_is_observed() -> None:
    stamps = pd.date_range("2023-03-01", "2023-03-22 20:00", freq="h", tz="Asia/Seoul")
    frame = pd.DataFrame({"observed_at": stamps})
    assert period(frame, 7) == (dt.date(2023, 3, 15), dt.date(2023, 3, 21))
    later = pd.DataFrame({"observed_at": pd.date_range(stamps[0], periods=len(stamps) + 1, freq="h")})
    assert period(later, 7)[1] == dt.date(2023, 3, 22)


def test_same_season_wraps_around_the_new_year() -> None:
    dates = pd.Series(pd.date_range("2021-01-01", "2021-12-31", freq="D"))
    rows = same_season(pd.DataFrame({"date": dates}), dt.date(2023, 1, 1), dt.date(2023, 1, 14))
    months = set(rows["date"].dt.month)
    assert months == {1, 12}
    # centre 7 January, reach 6.5 + 14 days: 1-27 January and 18-31 December
    assert len(rows) == 27 + 14
