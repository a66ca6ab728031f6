"""How hard is the sample? Its weather statistics side by side with the real record's, measured the same way.

    python -m commute_weather.sources.sample_calibration --real data/external/cheongju \
        --out reports/calibration.json

generates the sample exactly as the default pipeline does (params.yaml `ingest`: stations, months, seed),
reads the real KMA portal exports (a directory of *.csv or files; overlapping exports are merged, identical
duplicate hours collapse), and prints, for both:
- predictability: how strongly the pressure anomaly leads rain, how often rain starts out of dry weather,
  how long wet spells last; the sample must not make a 3-hour forecast easier than the real record does;
- the daily cycle by season (phase and range), the hour-of-day share of wet hours in summer;
- the wind that the label scores (the peak hourly wind of a commute window) and how well it is known 3 h
  ahead;
- the monthly climate and the distributions of the main variables.
Each statistic is a pure function of a normalized observation table (tests/unit/test_sample_calibration.py).
"EASIER" means the difference flatters the model's skill over persistence: a predictor the model reads
that leads more strongly than in reality (pressure, cloud), a larger systematic change between the
persistence hours and the window (the daily cycles), or short-lived noise in what the label scores, which
persistence carries forward and the model averages out (low autocorrelations, short wet spells).
The same rows are written as JSON (atomically) for tracking.

Conventions shared by every statistic:
- each station is put on a complete hourly grid first, so "3 h later" is three hours later even across a
  missing hour (which then counts as unknown, never as dry);
- an hour is wet when precipitation is falling (`precipitation_type` is not "none"), the label's definition;
- the pressure anomaly is the sea-level pressure minus its centred 30-day (721 h) running mean, which
  removes the seasonal cycle and the slow drift but keeps synoptic systems;
- seasons are meteorological: DJF winter, MAM spring, JJA summer, SON autumn.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from commute_weather.clock import SEASONS
from commute_weather.config import load_params
from commute_weather.contracts.observations import Observations as Obs
from commute_weather.io import write_json
from commute_weather.sources.kma.portal_csv import parse_portal_csv
from commute_weather.sources.kma.typ01 import parse_typ01
from commute_weather.sources.merge import merge_exports
from commute_weather.sources.normalize import normalize
from commute_weather.sources.synthetic import generate

WET = "wet"
SEASON_ORDER: tuple[str, ...] = ("winter", "spring", "summer", "autumn")
ANOMALY_WINDOW_H = 721
LEAD_FIRST_H, LEAD_LAST_H = 3, 5
# The commute windows and the wind threshold of params.yaml, the label's defaults (start, end inclusive).
WINDOWS: tuple[tuple[int, int], ...] = ((7, 9), (18, 20))
LEAD_H = 3
WIND_THRESHOLD_MS = 5.0

Direction = Literal["higher", "lower", "abs_higher"] | None


# --- the grid --------------------------------------------------------------------------------------------


def hourly_grid(observations: pd.DataFrame) -> pd.DataFrame:
    """Each station on a complete hourly index (missing hours all NaN) plus `wet`: 1.0, 0.0 or NaN."""
    frames = []
    for station, group in observations.groupby(Obs.station_id, sort=True):
        hours = group.drop_duplicates(Obs.observed_at).set_index(Obs.observed_at).sort_index()
        full = pd.date_range(hours.index[0], hours.index[-1], freq="h")
        hours = hours.reindex(full).rename_axis(Obs.observed_at).reset_index()
        hours[Obs.station_id] = station
        frames.append(hours)
    grid = pd.concat(frames, ignore_index=True)
    kind = grid[Obs.precipitation_type]
    grid[WET] = kind.ne("none").astype(float).where(kind.notna())
    return grid


def _shifted(grid: pd.DataFrame, column: str, hours: int) -> pd.Series:
    """The value `hours` later (negative: earlier) at the same station."""
    shifted: pd.Series = grid.groupby(Obs.station_id, sort=False)[column].shift(-hours)
    return shifted


def wet_within(grid: pd.DataFrame, first_h: int = LEAD_FIRST_H, last_h: int = LEAD_LAST_H) -> pd.Series:
    """1 if any hour from t+first_h to t+last_h is wet, 0 if all are observed dry, else NaN."""
    future = pd.concat([_shifted(grid, WET, h) for h in range(first_h, last_h + 1)], axis=1)
    any_wet = future.eq(1.0).any(axis=1)
    all_known = future.notna().all(axis=1)
    return pd.Series(np.where(any_wet, 1.0, np.where(all_known, 0.0, np.nan)), index=grid.index)


def pressure_anomaly(grid: pd.DataFrame, window_h: int = ANOMALY_WINDOW_H) -> pd.Series:
    """Sea-level pressure minus its centred running mean over `window_h` hours (half of them present)."""
    mean = grid.groupby(Obs.station_id, sort=False)[Obs.pressure_hpa].transform(
        lambda s: s.rolling(window_h, center=True, min_periods=window_h // 2).mean()
    )
    anomaly: pd.Series = grid[Obs.pressure_hpa] - mean
    return anomaly


def _corr(a: pd.Series, b: pd.Series) -> float:
    both = a.notna() & b.notna()
    if both.sum() < 3 or a[both].std() == 0 or b[both].std() == 0:
        return math.nan
    return float(np.corrcoef(a[both], b[both])[0, 1])


def _mean(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.mean()) if len(values) else math.nan


# --- predictability of rain ------------------------------------------------------------------------------


def pressure_lead_correlation(grid: pd.DataFrame, window_h: int = ANOMALY_WINDOW_H) -> float:
    """Pearson correlation of the pressure anomaly now with "some hour wet 3-5 h later" (0/1)."""
    return _corr(pressure_anomaly(grid, window_h), wet_within(grid))


def pressure_tendency_correlation(grid: pd.DataFrame, hours: int = 3) -> float:
    """Correlation of the pressure change over the last `hours` with "some hour wet 3-5 h later"."""
    tendency = grid[Obs.pressure_hpa] - _shifted(grid, Obs.pressure_hpa, -hours)
    return _corr(tendency, wet_within(grid))


def lead_correlation(grid: pd.DataFrame, column: str) -> float:
    """Correlation of `column` now with "some hour wet 3-5 h later", among hours dry now."""
    dry = grid[WET].eq(0.0)
    return _corr(grid[column][dry], wet_within(grid)[dry])


def onset_from_dry(grid: pd.DataFrame) -> float:
    """P(some hour wet 3-5 h later | dry now): rain nobody sees coming from the current weather."""
    return _mean(wet_within(grid)[grid[WET].eq(0.0)])


def wet_persistence(grid: pd.DataFrame, lag_h: int = 3) -> float:
    """P(wet at t+lag | wet at t)."""
    return _mean(_shifted(grid, WET, lag_h)[grid[WET].eq(1.0)])


def wet_share(grid: pd.DataFrame) -> float:
    return _mean(grid[WET])


def _hourly_amounts(grid: pd.DataFrame) -> pd.Series:
    """Precipitation of wet hours from April to October, when KMA reports every hour (else NaN)."""
    hourly = grid[Obs.observed_at].dt.month.between(4, 10) & grid[WET].eq(1.0)
    amounts: pd.Series = grid[Obs.precipitation_mm].where(hourly)
    return amounts


def intensity_persistence(grid: pd.DataFrame, lag_h: int = 1) -> float:
    """Correlation of log(1 + mm) of a wet hour with that of the wet hour `lag_h` later (April-October):
    whether a heavy hour is followed by a heavy hour, which is what lets persistence score wet windows."""
    amounts = np.log1p(_hourly_amounts(grid))
    later: pd.Series = amounts.groupby(grid[Obs.station_id]).shift(-lag_h)
    return _corr(amounts, later)


def wet_hour_amount(grid: pd.DataFrame, quantile: float) -> float:
    """A quantile of the precipitation of wet hours, April-October (mm)."""
    amounts = _hourly_amounts(grid).dropna()
    return float(amounts.quantile(quantile)) if len(amounts) else math.nan


def mean_wet_spell_hours(grid: pd.DataFrame) -> float:
    """Mean length of runs of consecutive wet hours; a missing hour ends a run."""
    lengths: list[np.ndarray] = []
    for _, wet in grid.groupby(Obs.station_id, sort=False)[WET]:
        flags = wet.eq(1.0).to_numpy().astype(int)
        edges = np.diff(np.concatenate([[0], flags, [0]]))
        lengths.append(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))
    runs = np.concatenate(lengths) if lengths else np.array([])
    return float(runs.mean()) if len(runs) else math.nan


# --- daily cycle -----------------------------------------------------------------------------------------


def _season(grid: pd.DataFrame) -> pd.Series:
    season: pd.Series = grid[Obs.observed_at].dt.month.map(SEASONS)
    return season


def _peak_hour(values: pd.Series, *, lowest: bool) -> float:
    """The index (an hour of day) of the lowest or highest value; NaN when there is none."""
    known = values.dropna()
    if known.empty:
        return math.nan
    position = int(np.argmin(known.to_numpy()) if lowest else np.argmax(known.to_numpy()))
    return float(known.index.to_numpy()[position])


def diurnal_by_season(grid: pd.DataFrame) -> pd.DataFrame:
    """Per season: the hours of the mean daily minimum and maximum temperature, the mean daily range
    (max - min of the hourly values of days with at least 20 observed hours) and the morning rise (mean of
    07-09 h minus mean of 02-04 h, the same day)."""
    hour = grid[Obs.observed_at].dt.hour
    frame = grid.assign(season=_season(grid), hour=hour, date=grid[Obs.observed_at].dt.date)
    rows = {}
    for season, part in frame.groupby("season"):
        cycle = part.groupby("hour")[Obs.temperature_c].mean()
        days = part.groupby([Obs.station_id, "date"])[Obs.temperature_c]
        complete = days.count() >= 20
        daily_range = (days.max() - days.min())[complete]
        early = part[part["hour"].between(2, 4)].groupby([Obs.station_id, "date"])[Obs.temperature_c].mean()
        morning = part[part["hour"].between(7, 9)].groupby([Obs.station_id, "date"])[Obs.temperature_c].mean()
        rows[season] = {
            "min_hour": _peak_hour(cycle, lowest=True),
            "max_hour": _peak_hour(cycle, lowest=False),
            "daily_range_c": _mean(daily_range),
            "morning_rise_c": _mean(morning - early),
        }
    return pd.DataFrame(rows).T.reindex([s for s in SEASON_ORDER if s in rows])


def _daily_difference(grid: pd.DataFrame, later: tuple[int, int], earlier: tuple[int, int]) -> float:
    """Mean over all station-days of (mean temperature over the `later` hours) - (over the `earlier`)."""
    hour = grid[Obs.observed_at].dt.hour
    key = [grid[Obs.station_id], grid[Obs.observed_at].dt.date]
    temperature = grid[Obs.temperature_c]

    def mean_over(hours: tuple[int, int]) -> pd.Series:
        inside = hour.between(*hours)
        means: pd.Series = temperature[inside].groupby([k[inside] for k in key]).mean()
        return means

    return _mean(mean_over(later) - mean_over(earlier))


def morning_rise(grid: pd.DataFrame) -> float:
    """Mean over all days of (mean 07-09 h) - (mean 02-04 h): positive when the minimum is before 05 h."""
    return _daily_difference(grid, (7, 9), (2, 4))


def evening_drop(grid: pd.DataFrame) -> float:
    """Mean over all days of (mean 18-20 h) - (mean 13-15 h): the evening window against its issue hours."""
    return _daily_difference(grid, (18, 20), (13, 15))


def wet_share_by_hour(grid: pd.DataFrame, months: Sequence[int] = (6, 7, 8)) -> pd.Series:
    """Share of wet hours per hour of day (0-23) in the given months."""
    part = grid[grid[Obs.observed_at].dt.month.isin(months)]
    share: pd.Series = part.groupby(part[Obs.observed_at].dt.hour)[WET].mean().reindex(range(24))
    return share


# --- wind as the label sees it ---------------------------------------------------------------------------


def window_peak_wind(grid: pd.DataFrame, windows: Sequence[tuple[int, int]] = WINDOWS) -> pd.DataFrame:
    """One row per station, day and window: the peak and mean hourly wind inside the window, and the wind
    at issue time (window start - LEAD_H) as a forecaster sees it."""
    frames = []
    hour = grid[Obs.observed_at].dt.hour
    wind = grid[Obs.wind_speed_ms]
    at_issue = _shifted(grid, Obs.wind_speed_ms, -LEAD_H)
    for start, end in windows:
        inside = hour.between(start, end)
        keys = [grid[Obs.station_id][inside], grid[Obs.observed_at][inside].dt.date]
        grouped = wind[inside].groupby(keys)
        frame = pd.DataFrame({"peak": grouped.max(), "mean": grouped.mean(), "observed": grouped.count()})
        start_rows = hour.eq(start)
        issue = at_issue[start_rows].groupby(
            [grid[Obs.station_id][start_rows], grid[Obs.observed_at][start_rows].dt.date]
        )
        frame["at_issue"] = issue.first()
        frames.append(frame[frame["observed"] >= 2].assign(window=f"{start:02d}-{end:02d}"))
    return pd.concat(frames)


def anomaly_autocorrelation(grid: pd.DataFrame, column: str, lag_h: int = 5) -> float:
    """Correlation of a variable's departure from its station/month/hour-of-day mean with the departure
    `lag_h` hours later. Lower than real flatters the model: short-lived noise is what persistence carries
    forward and a model averages out."""
    hour = grid[Obs.observed_at].dt.hour
    month = grid[Obs.observed_at].dt.month
    departure = grid[column] - grid[column].groupby([grid[Obs.station_id], month, hour]).transform("mean")
    return _corr(departure, departure.groupby(grid[Obs.station_id]).shift(-lag_h))


def wind_statistics(grid: pd.DataFrame, threshold_ms: float = WIND_THRESHOLD_MS) -> dict[str, float]:
    windows = window_peak_wind(grid)
    hour = grid[Obs.observed_at].dt.hour
    wind = grid[Obs.wind_speed_ms]
    cycle = wind.groupby(hour).mean()
    departure = wind - wind.groupby([grid[Obs.station_id], grid[Obs.observed_at].dt.month, hour]).transform(
        "mean"
    )
    mean = _mean(wind)
    return {
        "hourly_mean_ms": mean,
        "p90_over_mean": float(wind.quantile(0.9)) / mean,
        "window_peak_over_mean": _mean(windows["peak"]) / _mean(windows["mean"]),
        "diurnal_range_over_mean": float(cycle.max() - cycle.min()) / mean,
        "pressure_anomaly_corr": _corr(pressure_anomaly(grid), wind),
        "hourly_p90_ms": float(wind.quantile(0.9)),
        "window_peak_mean_ms": _mean(windows["peak"]),
        "window_peak_minus_mean_ms": _mean(windows["peak"] - windows["mean"]),
        "windows_over_threshold": _mean(windows["peak"].gt(threshold_ms).astype(float)),
        "issue_to_peak_corr": _corr(windows["at_issue"], windows["peak"]),
        "diurnal_range_ms": float(cycle.max() - cycle.min()),
        "anomaly_autocorr_3h": _corr(departure, departure.groupby(grid[Obs.station_id]).shift(-3)),
    }


# --- the comparison --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statistic:
    group: str
    name: str
    sample: float
    real: float
    tolerance: float
    easier_if: Direction  # which way a difference makes the 3-hour forecast easier on the sample
    definition: str

    @property
    def verdict(self) -> str:
        if math.isnan(self.sample) or math.isnan(self.real):
            return "n/a"
        difference = self.sample - self.real
        if abs(difference) <= self.tolerance:
            return "close"
        if self.easier_if is None:
            return "higher" if difference > 0 else "lower"
        if self.easier_if == "abs_higher":
            easier = abs(self.sample) > abs(self.real)
        else:
            easier = (difference > 0) == (self.easier_if == "higher")
        return "EASIER" if easier else "harder"


@dataclass(frozen=True)
class _Spec:
    group: str
    name: str
    tolerance: float
    easier_if: Direction
    definition: str


SPECS: tuple[_Spec, ...] = (
    _Spec("rain", "pressure_lead_corr", 0.05, "abs_higher",
          "corr(pressure - its 30-day centred mean, any wet hour in t+3..t+5)"),
    _Spec("rain", "pressure_tendency_corr", 0.05, "abs_higher",
          "corr(3-h pressure change, any wet hour in t+3..t+5)"),
    _Spec("rain", "cloud_lead_corr", 0.05, "higher",
          "corr(cloud cover now, any wet hour in t+3..t+5), dry hours"),
    _Spec("rain", "humidity_lead_corr", 0.05, "higher",
          "corr(humidity now, any wet hour in t+3..t+5), dry hours"),
    _Spec("rain", "onset_from_dry", 0.01, "lower", "P(any wet hour in t+3..t+5 | dry at t)"),
    _Spec("rain", "wet_persistence_3h", 0.05, "lower",
          "P(wet at t+3 | wet at t) (lower: persistence fails more often on wet windows)"),
    _Spec("rain", "wet_spell_mean_h", 0.5, "lower", "mean length of consecutive wet hours"),
    _Spec("rain", "wet_hour_share", 0.015, None, "share of hours with precipitation falling"),
    _Spec("rain", "intensity_persistence_1h", 0.05, "lower",
          "corr(log(1+mm) of a wet hour, of the next wet hour), Apr-Oct (lower: persistence worse)"),
    _Spec("rain", "wet_hour_median_mm", 0.1, None, "median precipitation of wet hours, Apr-Oct"),
    _Spec("rain", "wet_hour_p90_mm", 0.5, None, "90th percentile precipitation of wet hours, Apr-Oct"),
    _Spec("persistence", "temperature_anomaly_autocorr_5h", 0.03, "lower",
          "5-h autocorrelation of temperature minus its station/month/hour mean"),
    _Spec("persistence", "humidity_anomaly_autocorr_5h", 0.03, "lower",
          "5-h autocorrelation of humidity minus its station/month/hour mean"),
    _Spec("persistence", "cloud_anomaly_autocorr_5h", 0.05, "lower",
          "5-h autocorrelation of cloud cover minus its station/month/hour mean"),
    _Spec("diurnal", "morning_rise_c", 0.5, "abs_higher",
          "mean temp 07-09 h minus 02-04 h, same day (morning window vs its persistence hours)"),
    _Spec("diurnal", "evening_drop_c", 0.5, "abs_higher",
          "mean temp 18-20 h minus 13-15 h, same day (evening window vs its persistence hours)"),
    *(
        spec
        for season in SEASON_ORDER
        for spec in (
            _Spec("diurnal", f"{season}_min_hour", 1.0, None, "hour of the lowest mean temperature"),
            _Spec("diurnal", f"{season}_max_hour", 1.0, None, "hour of the highest mean temperature"),
            _Spec("diurnal", f"{season}_daily_range_c", 1.0, "higher",
                  "mean daily max - min of the hourly temperatures"),
            _Spec("diurnal", f"{season}_morning_rise_c", 0.5, "abs_higher",
                  "mean temp 07-09 h minus 02-04 h"),
        )
    ),
    *(
        _Spec("summer wet share", f"jja_wet_{first:02d}-{first + 2:02d}h", 0.03, None,
              "JJA share of wet hours at these hours of the day")
        for first in range(0, 24, 3)
    ),
    _Spec("summer wet share", "jja_wet_peak", 0.03, None, "highest JJA wet share of one hour of the day"),
    _Spec("summer wet share", "jja_wet_peak_hour", 2.0, None, "the hour of day of that peak"),
    _Spec("wind", "hourly_mean_ms", 0.3, None, "mean hourly wind speed"),
    _Spec("wind", "hourly_p90_ms", 0.4, None, "90th percentile of the hourly wind speed"),
    _Spec("wind", "p90_over_mean", 0.1, None, "p90 / mean hourly wind (shape, not site level)"),
    _Spec("wind", "window_peak_over_mean", 0.05, None, "window peak / window mean wind (gustiness)"),
    _Spec("wind", "diurnal_range_over_mean", 0.15, "higher", "daily cycle range / mean wind"),
    _Spec("wind", "pressure_anomaly_corr", 0.05, "abs_higher", "corr(pressure anomaly, hourly wind)"),
    _Spec("wind", "window_peak_mean_ms", 0.3, None,
          "mean peak hourly wind of the commute windows (the label's wind)"),
    _Spec("wind", "window_peak_minus_mean_ms", 0.2, None, "window peak minus window mean: how gusty"),
    _Spec("wind", "windows_over_threshold", 0.03, None,
          f"share of windows whose peak exceeds {WIND_THRESHOLD_MS} m/s (penalised)"),
    _Spec("wind", "issue_to_peak_corr", 0.05, "lower",
          f"corr(wind at issue time, window peak {LEAD_H}-{LEAD_H + 2} h later)"),
    _Spec("wind", "diurnal_range_ms", 0.3, None, "max - min of the mean wind by hour of day"),
    _Spec("wind", "anomaly_autocorr_3h", 0.05, "lower",
          "3-h autocorrelation of wind minus its station/month/hour mean"),
)  # fmt: skip


def statistics_of(grid: pd.DataFrame) -> dict[str, float]:
    """Every statistic of SPECS for one hourly grid, by name."""
    values = {
        "pressure_lead_corr": pressure_lead_correlation(grid),
        "pressure_tendency_corr": pressure_tendency_correlation(grid),
        "cloud_lead_corr": lead_correlation(grid, Obs.cloud_cover_tenths),
        "humidity_lead_corr": lead_correlation(grid, Obs.humidity_pct),
        "onset_from_dry": onset_from_dry(grid),
        "wet_persistence_3h": wet_persistence(grid),
        "wet_spell_mean_h": mean_wet_spell_hours(grid),
        "wet_hour_share": wet_share(grid),
        "intensity_persistence_1h": intensity_persistence(grid),
        "wet_hour_median_mm": wet_hour_amount(grid, 0.5),
        "wet_hour_p90_mm": wet_hour_amount(grid, 0.9),
        "temperature_anomaly_autocorr_5h": anomaly_autocorrelation(grid, Obs.temperature_c),
        "humidity_anomaly_autocorr_5h": anomaly_autocorrelation(grid, Obs.humidity_pct),
        "cloud_anomaly_autocorr_5h": anomaly_autocorrelation(grid, Obs.cloud_cover_tenths),
        "morning_rise_c": morning_rise(grid),
        "evening_drop_c": evening_drop(grid),
    }
    for season, row in diurnal_by_season(grid).iterrows():
        for column in ("min_hour", "max_hour", "daily_range_c", "morning_rise_c"):
            values[f"{season}_{column}"] = float(row[column])
    by_hour = wet_share_by_hour(grid)
    for first in range(0, 24, 3):
        values[f"jja_wet_{first:02d}-{first + 2:02d}h"] = _mean(by_hour.loc[first : first + 2])
    values["jja_wet_peak"] = float(by_hour.max()) if by_hour.notna().any() else math.nan
    values["jja_wet_peak_hour"] = _peak_hour(by_hour, lowest=False)
    values.update(wind_statistics(grid))
    return values


def compare(sample: pd.DataFrame, real: pd.DataFrame) -> list[Statistic]:
    """Every statistic on both normalized observation tables."""
    ours, theirs = statistics_of(hourly_grid(sample)), statistics_of(hourly_grid(real))
    return [
        Statistic(s.group, s.name, ours.get(s.name, math.nan), theirs.get(s.name, math.nan), s.tolerance,
                  s.easier_if, s.definition)
        for s in SPECS
    ]  # fmt: skip


# --- climate (monthly means and distributions) -----------------------------------------------------------


def monthly_climate(observations: pd.DataFrame) -> pd.DataFrame:
    """Per calendar month, averaged over the stations and years present."""
    month = observations[Obs.observed_at].dt.month
    year = observations[Obs.observed_at].dt.year
    wet = observations[Obs.precipitation_type].ne("none")
    per_year = (
        observations.assign(month=month, year=year)
        .groupby([Obs.station_id, "year", "month"])
        .agg(
            precipitation=(Obs.precipitation_mm, "sum"),
            snow_hours=(Obs.precipitation_type, lambda s: int(s.eq("snow").sum())),
        )
    )
    by_month = per_year.groupby("month").mean()
    grouped = observations.assign(month=month, wet=wet).groupby("month")
    return pd.DataFrame(
        {
            "temperature_c": grouped[Obs.temperature_c].mean(),
            "precipitation_mm": by_month["precipitation"],
            "wet_hour_share": grouped["wet"].mean(),
            "snow_hours": by_month["snow_hours"],
            "humidity_pct": grouped[Obs.humidity_pct].mean(),
            "wind_ms": grouped[Obs.wind_speed_ms].mean(),
        }
    )


def distributions(observations: pd.DataFrame) -> pd.DataFrame:
    rows = {}
    for column in (
        Obs.temperature_c,
        Obs.humidity_pct,
        Obs.wind_speed_ms,
        Obs.pressure_hpa,
        Obs.visibility_m,
    ):
        values = observations[column].dropna()
        rows[column] = {
            "mean": values.mean(),
            "p10": values.quantile(0.1),
            "p50": values.median(),
            "p90": values.quantile(0.9),
            "missing": observations[column].isna().mean(),
        }
    return pd.DataFrame(rows).T


# --- inputs ----------------------------------------------------------------------------------------------


def real_paths(paths: Sequence[Path]) -> list[Path]:
    """Files as given; a directory stands for the *.csv files in it."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.glob("*.csv"))
        elif path.is_file():
            found.append(path)
        else:
            raise SystemExit(f"{path}: no such file or directory")
    if not found:
        raise SystemExit(f"no KMA portal CSV exports in {', '.join(map(str, paths))}")
    return found


def read_real(paths: Sequence[Path]) -> pd.DataFrame:
    """Normalized observations of the exports, overlapping exports merged as ingest merges them."""
    exports = [(p.name, parse_portal_csv(p.read_bytes(), str(p))) for p in real_paths(paths)]
    merged, _ = merge_exports(exports)
    return normalize(merged.sort_values([Obs.station_id, Obs.observed_at], kind="stable"))


def synthetic_observations(
    stations: tuple[int, ...], start_month: str, end_month: str, seed: int
) -> pd.DataFrame:
    files = generate(stations, start_month, end_month, seed)
    return normalize(
        pd.concat([parse_typ01(f.text, f"{f.station_id}/{f.month}") for f in files], ignore_index=True)
    )


# --- output ----------------------------------------------------------------------------------------------


def _number(value: float) -> float | None:
    return (
        None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)
    )


def _frame_json(frame: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    return {str(i): {str(c): _number(frame.loc[i, c]) for c in frame.columns} for i in frame.index}


def _statistics_table(statistics: list[Statistic]) -> Table:
    table = Table(title="Sample vs real: what makes a 3-hour commute forecast hard")
    for name, justify in (("group", "left"), ("statistic", "left"), ("sample", "right"), ("real", "right"),
                          ("sample is", "left"), ("definition", "left")):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    styles = {"EASIER": "bold red", "harder": "yellow", "close": "green"}
    for s in statistics:
        table.add_row(s.group, s.name, f"{s.sample:.3f}", f"{s.real:.3f}",
                      f"[{styles.get(s.verdict, '')}]{s.verdict}[/]" if s.verdict in styles else s.verdict,
                      s.definition)  # fmt: skip
    return table


def _side_by_side(title: str, sample: pd.DataFrame, real: pd.DataFrame) -> Table:
    table = Table(title=title)
    table.add_column("")
    for column in sample.columns:
        table.add_column(f"{column}\nsample | real", justify="right")
    for index in sample.index:
        cells = []
        for column in sample.columns:
            s = sample.loc[index, column]
            r = real.loc[index, column] if index in real.index else np.nan
            cells.append(f"{s:8.2f} | {r:8.2f}")
        table.add_row(str(index), *cells)
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--real", type=Path, nargs="+", required=True,
                        help="KMA portal ASOS hourly CSV exports, or directories of them")  # fmt: skip
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--dataset", default="sample",
                        help="the synthetic dataset: its stations, months and seed")  # fmt: skip
    parser.add_argument(
        "--stations",
        type=int,
        nargs="+",
        help="sample stations (default: those of params.yaml, what the pipeline trains on)",
    )
    parser.add_argument("--out", type=Path, help="write the comparison here as JSON")
    args = parser.parse_args(argv)
    ingest = load_params(args.params).dataset(args.dataset)
    if ingest.source != "sample" or ingest.seed is None:
        raise SystemExit(f"calibration: dataset {args.dataset!r} is not a synthetic sample")
    real = read_real(args.real)
    stations = tuple(args.stations) if args.stations else ingest.stations
    sample = synthetic_observations(stations, ingest.start_month, ingest.end_month, ingest.seed)
    statistics = compare(sample, real)
    sample_climate, real_climate = monthly_climate(sample), monthly_climate(real)
    sample_spread, real_spread = distributions(sample), distributions(real)

    console = Console(width=170)
    console.print(
        f"sample: stations {list(stations)}, {ingest.start_month}..{ingest.end_month}, "
        f"seed {ingest.seed}; real: {', '.join(p.name for p in real_paths(args.real))} "
        f"({len(real)} hours after merging)"
    )
    console.print(_statistics_table(statistics))
    console.print(_side_by_side("Climate by month", sample_climate, real_climate))
    console.print(_side_by_side("Distributions", sample_spread, real_spread))
    if args.out:
        write_json(
            args.out,
            {
                "sample": {"stations": list(stations), "start_month": ingest.start_month,
                           "end_month": ingest.end_month, "seed": ingest.seed},
                "real": {"files": [p.name for p in real_paths(args.real)], "hours": len(real)},
                "statistics": [
                    {**{k: v for k, v in asdict(s).items() if k not in ("sample", "real")},
                     "sample": _number(s.sample), "real": _number(s.real), "verdict": s.verdict}
                    for s in statistics
                ],
                "monthly_climate": {"sample": _frame_json(sample_climate), "real": _frame_json(real_climate)},
                "distributions": {"sample": _frame_json(sample_spread), "real": _frame_json(real_spread)},
            },
        )  # fmt: skip
        console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
