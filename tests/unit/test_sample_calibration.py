"""The calibration statistics on small hand-built records whose right answers are known."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from commute_weather.clock import KST
from commute_weather.contracts.observations import OBSERVATION_COLUMNS
from commute_weather.contracts.observations import Observations as Obs
from commute_weather.sources import sample_calibration as cal
from tests.conftest import REPO, synthetic_observations


def observations(
    start: str, hours: int, station: int = 108, drop: tuple[int, ...] = (), **columns: object
) -> pd.DataFrame:
    """`hours` hourly rows from `start` (KST); columns default to dry, calm, 10 C, 1015 hPa."""
    frame = pd.DataFrame(
        {
            Obs.station_id: station,
            Obs.observed_at: pd.date_range(start, periods=hours, freq="h", tz=KST),
            Obs.temperature_c: 10.0,
            Obs.dew_point_c: 0.0,
            Obs.humidity_pct: 50.0,
            Obs.wind_speed_ms: 1.0,
            Obs.wind_dir_deg: 180.0,
            Obs.precipitation_mm: 0.0,
            Obs.precipitation_type: "none",
            Obs.snow_depth_cm: np.nan,
            Obs.pressure_hpa: 1015.0,
            Obs.station_pressure_hpa: np.nan,
            Obs.cloud_cover_tenths: 5.0,
            Obs.visibility_m: 20000.0,
            Obs.source_file: "test.csv",
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame.drop(index=list(drop)).loc[:, list(OBSERVATION_COLUMNS)].reset_index(drop=True)


def wet_types(flags: list[int]) -> list[str]:
    return ["rain" if f else "none" for f in flags]


def test_grid_makes_missing_hours_unknown_not_dry() -> None:
    grid = cal.hourly_grid(
        observations("2022-07-01", 5, drop=(2,), precipitation_type=wet_types([1, 0, 0, 0, 1]))
    )
    assert len(grid) == 5
    assert grid[cal.WET].tolist()[:2] == [1.0, 0.0]
    assert math.isnan(grid[cal.WET].iloc[2])


def test_wet_within_looks_three_to_five_hours_ahead() -> None:
    flags = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    grid = cal.hourly_grid(observations("2022-07-01", 10, precipitation_type=wet_types(flags)))
    ahead = cal.wet_within(grid).tolist()
    assert ahead[:5] == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert all(math.isnan(v) for v in ahead[5:])  # t+5 is past the end of the record


def test_a_missing_hour_ahead_is_unknown_unless_another_is_wet() -> None:
    flags = [0] * 10
    flags[7] = 1
    grid = cal.hourly_grid(observations("2022-07-01", 10, drop=(4,), precipitation_type=wet_types(flags)))
    ahead = cal.wet_within(grid)
    assert math.isnan(ahead.iloc[0]) and math.isnan(ahead.iloc[1])  # hour 4 unknown, the others dry
    assert ahead.iloc[2] == 1.0  # hours 5, 6, 7: 7 is wet
    assert ahead.iloc[3] == 1.0  # hours 6, 7, 8


def test_onset_from_dry_and_wet_persistence() -> None:
    # dry hours 0-5 then wet 6-9, then dry 10-19: dry hours with a wet hour 3-5 h later are 1, 2, 3, 4, 5
    flags = [0] * 6 + [1] * 4 + [0] * 10
    grid = cal.hourly_grid(observations("2022-07-01", 20, precipitation_type=wet_types(flags)))
    # dry hours whose t+3..t+5 are all known: 0-5 and 10-14 (11 hours); 5 of them see rain coming
    assert cal.onset_from_dry(grid) == pytest.approx(5 / 11)
    # wet hours 6..9: t+3 is wet only for 6
    assert cal.wet_persistence(grid) == pytest.approx(1 / 4)
    assert cal.wet_share(grid) == pytest.approx(4 / 20)


def test_spells_are_broken_by_missing_hours_and_stations() -> None:
    flags = [1, 1, 0, 1, 1, 1, 1, 0]
    one = observations("2022-07-01", 8, station=108, drop=(4,), precipitation_type=wet_types(flags))
    two = observations("2022-07-01", 3, station=112, precipitation_type=wet_types([1, 1, 1]))
    grid = cal.hourly_grid(pd.concat([one, two], ignore_index=True))
    # 108: [2], [1] (hour 3), [2] (hours 5-6); 112: [3]
    assert cal.mean_wet_spell_hours(grid) == pytest.approx((2 + 1 + 2 + 3) / 4)


def test_pressure_that_falls_before_rain_leads_it() -> None:
    rng = np.random.default_rng(0)
    wet = (rng.random(600) < 0.15).astype(int)
    # the pressure four hours ahead of each wet hour is low
    pressure = 1015.0 - 6.0 * np.roll(wet, -4) + rng.normal(0, 0.5, 600)
    grid = cal.hourly_grid(
        observations("2022-07-01", 600, precipitation_type=wet_types(wet.tolist()), pressure_hpa=pressure)
    )
    assert cal.pressure_lead_correlation(grid, window_h=49) < -0.4
    unrelated = cal.hourly_grid(
        observations("2022-07-01", 600, precipitation_type=wet_types(wet.tolist()),
                     pressure_hpa=1015.0 + rng.normal(0, 3.0, 600))
    )  # fmt: skip
    assert abs(cal.pressure_lead_correlation(unrelated, window_h=49)) < 0.1


def test_pressure_anomaly_removes_the_running_mean() -> None:
    ramp = np.linspace(1000.0, 1030.0, 200)
    grid = cal.hourly_grid(observations("2022-01-01", 200, pressure_hpa=ramp))
    anomaly = cal.pressure_anomaly(grid, window_h=21)
    # a straight line is its own centred mean where the whole window fits; at the ends half a window counts
    assert np.abs(anomaly.to_numpy()[10:190]).max() < 1e-9
    assert anomaly.iloc[0] < -0.5 and anomaly.iloc[-1] > 0.5
    assert anomaly.notna().all()


def test_diurnal_phase_range_and_morning_rise() -> None:
    temperature = np.tile(np.interp(np.arange(24), [0, 6, 15, 23], [4.0, 0.0, 12.0, 5.0]), 10)
    grid = cal.hourly_grid(observations("2022-04-01", 240, temperature_c=temperature))
    table = cal.diurnal_by_season(grid)
    assert list(table.index) == ["spring"]
    row = table.loc["spring"]
    assert row["min_hour"] == 6 and row["max_hour"] == 15
    assert row["daily_range_c"] == pytest.approx(12.0)
    early = np.interp([2, 3, 4], [0, 6], [4.0, 0.0]).mean()
    morning = np.interp([7, 8, 9], [6, 15], [0.0, 12.0]).mean()
    assert row["morning_rise_c"] == pytest.approx(morning - early)
    assert cal.morning_rise(grid) == pytest.approx(morning - early)
    afternoon = np.interp([13, 14, 15], [6, 15], [0.0, 12.0]).mean()
    evening = np.interp([18, 19, 20], [15, 23], [12.0, 5.0]).mean()
    assert cal.evening_drop(grid) == pytest.approx(evening - afternoon)


def test_summer_wet_share_by_hour() -> None:
    flags = np.zeros(24 * 4, dtype=int)
    flags[[15, 24 + 15, 2 * 24 + 15, 3 * 24 + 3]] = 1
    grid = cal.hourly_grid(observations("2022-07-01", 96, precipitation_type=wet_types(flags.tolist())))
    share = cal.wet_share_by_hour(grid)
    assert share.loc[15] == pytest.approx(0.75)
    assert share.loc[3] == pytest.approx(0.25)
    assert share.loc[10] == 0.0
    assert math.isnan(cal.wet_share_by_hour(grid, months=(1,)).loc[15])


def test_window_peak_wind_is_what_the_label_scores() -> None:
    wind = np.ones(48)
    wind[[7, 8, 9]] = [2.0, 6.0, 3.0]  # day 1 morning
    wind[4] = 2.5  # issue hour of the morning window (07 - 3 h)
    wind[24 + 19] = 8.0  # day 2 evening
    grid = cal.hourly_grid(observations("2022-05-01", 48, wind_speed_ms=wind))
    windows = cal.window_peak_wind(grid)
    morning = windows[windows["window"] == "07-09"]["peak"].tolist()
    evening = windows[windows["window"] == "18-20"]["peak"].tolist()
    assert morning == [6.0, 1.0] and evening == [1.0, 8.0]
    first = windows[windows["window"] == "07-09"].iloc[0]
    assert first["at_issue"] == 2.5 and first["mean"] == pytest.approx(11 / 3)
    stats = cal.wind_statistics(grid)
    assert stats["windows_over_threshold"] == pytest.approx(2 / 4)
    assert stats["window_peak_mean_ms"] == pytest.approx((6 + 1 + 1 + 8) / 4)


@pytest.mark.parametrize(
    ("sample", "real", "easier_if", "verdict"),
    [
        (-0.50, -0.28, "abs_higher", "EASIER"),
        (-0.20, -0.28, "abs_higher", "harder"),
        (-0.30, -0.28, "abs_higher", "close"),
        (0.05, 0.09, "lower", "EASIER"),
        (0.13, 0.09, "lower", "harder"),
        (0.8, 0.6, "higher", "EASIER"),
        (0.8, 0.6, None, "higher"),
        (math.nan, 0.6, None, "n/a"),
    ],
)
def test_verdict_says_which_way_the_sample_errs(
    sample: float, real: float, easier_if: cal.Direction, verdict: str
) -> None:
    statistic = cal.Statistic("g", "s", sample, real, 0.03, easier_if, "")
    assert statistic.verdict == verdict


def test_overlapping_exports_are_read_once() -> None:
    record = REPO / "data" / "external" / "cheongju"
    real = cal.read_real(
        [record / "OBS_ASOS_TIM_131_2022.csv", record / "OBS_ASOS_TIM_131_20220301-20230323.csv"]
    )
    assert not real.duplicated([Obs.station_id, Obs.observed_at]).any()
    assert len(real) == 8736 + 9288 - 7320
    assert real[Obs.observed_at].is_monotonic_increasing


def test_real_paths_expands_directories(tmp_path: Path) -> None:
    (tmp_path / "b.csv").write_text("")
    (tmp_path / "a.csv").write_text("")
    (tmp_path / "notes.txt").write_text("")
    assert [p.name for p in cal.real_paths([tmp_path])] == ["a.csv", "b.csv"]
    with pytest.raises(SystemExit, match="no such file"):
        cal.real_paths([tmp_path / "missing.csv"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no KMA portal CSV"):
        cal.real_paths([tmp_path / "empty"])


def test_sample_is_not_easier_than_the_real_record() -> None:
    """Real Cheongju 2021-01..2023-03 (make calibration): pressure lead -0.29, onset from dry 0.097,
    P(wet at t+3 | wet) 0.625, morning rise -0.10 C, 5-h autocorrelation of the humidity and temperature
    departures 0.73 and 0.88, of hourly rain amounts (1 h) 0.59. The sample must neither let the model see
    rain coming more easily nor hand persistence more short-lived noise than real weather does."""
    grid = cal.hourly_grid(synthetic_observations((108,), "2021-01", "2022-12", seed=20240101))
    assert cal.pressure_lead_correlation(grid) > -0.34
    assert cal.onset_from_dry(grid) > 0.085
    assert cal.wet_persistence(grid) > 0.57
    assert abs(cal.morning_rise(grid)) < 0.6
    assert cal.anomaly_autocorrelation(grid, Obs.humidity_pct) > 0.68
    assert cal.anomaly_autocorrelation(grid, Obs.temperature_c) > 0.85
    assert cal.intensity_persistence(grid) > 0.54
