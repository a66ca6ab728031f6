from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from commute_weather.clock import KST
from commute_weather.sources.kma.records import RECORD_COLUMNS
from commute_weather.sources.normalize import normalize, type_from_present_weather, type_from_weather_codes


@pytest.mark.parametrize(
    ("codes", "expected"),
    [("", "none"), ("19", "none"), ("1901", "rain"), ("05", "snow"), ("190605", "mixed"), ("0105", "mixed"),
     ("5", "snow"), ("4019", "none"), ("10", "snow"), ("02", "rain")],
)  # fmt: skip
def test_weather_codes(codes: str, expected: str) -> None:
    assert type_from_weather_codes(codes) == expected


@pytest.mark.parametrize(
    ("code", "expected"), [(np.nan, "none"), (21, "none"), (61, "rain"), (71, "snow"), (68, "mixed")]
)
def test_present_weather(code: float, expected: str) -> None:
    assert type_from_present_weather(code) == expected


def records(
    times: list[str], precipitation: list[float], temperature: float = 5.0, codes: str = ""
) -> pd.DataFrame:
    n = len(times)
    frame = pd.DataFrame({c: np.full(n, np.nan) for c in RECORD_COLUMNS})
    frame["station_id"] = 108
    frame["observed_at"] = pd.to_datetime(times).tz_localize(KST)
    frame["precipitation_mm"] = precipitation
    frame["temperature_c"] = temperature
    frame["snow_depth_cm"] = 0.0
    frame["weather_codes"] = codes
    return frame


def test_winter_amount_between_reports_is_unknown_and_empty_report_is_zero() -> None:
    out = normalize(
        records(["2024-01-05 01:00", "2024-01-05 02:00", "2024-01-05 03:00"], [np.nan, np.nan, np.nan])
    )
    assert out["precipitation_mm"].isna().tolist() == [True, True, False]
    assert out["precipitation_mm"].iloc[2] == 0.0


def test_summer_empty_hour_means_no_precipitation() -> None:
    out = normalize(records(["2024-07-05 01:00", "2024-07-05 02:00"], [np.nan, 2.5]))
    assert out["precipitation_mm"].tolist() == [0.0, 2.5]


def test_measured_precipitation_without_code_is_typed_by_temperature() -> None:
    warm = normalize(records(["2024-07-05 01:00"], [1.0], temperature=20.0))
    cold = normalize(records(["2024-12-05 03:00"], [1.0], temperature=-1.0))
    assert warm["precipitation_type"].iloc[0] == "rain"
    assert cold["precipitation_type"].iloc[0] == "snow"
