"""Features and labels for (station, date, window) targets: the one implementation (`issue_features`) that
featurize and the service both call, so training and serving cannot drift apart.

Observations are laid on a regular hourly grid: featurize puts each station's whole record on one
(`station_grids`), the service packs each request's last hours into its own block of one grid
(`history_grid`). A target's issue time is its window start minus `lead_hours`; every feature reads grid
positions at *offsets <= 0* from the issue hour (enforced in `_block`), so nothing observed after issue
time can reach a feature. Only the labels look inside the window. Missing hours are NaN on the grid and
features over them are NaN (the model handles NaN); windows with too few observed hours get no label
and are counted by the caller.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from commute_weather.clock import KST
from commute_weather.config import WINDOWS, ComfortParams, CommuteParams, FeaturizeParams, Window
from commute_weather.contracts.observations import PRECIPITATION_TYPES
from commute_weather.contracts.observations import Observations as Obs
from commute_weather.forecast.comfort import WindowWeather, comfort_label, comfort_score
from commute_weather.stations import registry

HOUR = pd.Timedelta(hours=1)
KEY_COLUMNS: tuple[str, ...] = ("station_id", "date", "window")
_NUMERIC = (
    Obs.temperature_c, Obs.dew_point_c, Obs.humidity_pct, Obs.wind_speed_ms, Obs.precipitation_mm,
    Obs.snow_depth_cm, Obs.pressure_hpa, Obs.cloud_cover_tenths, Obs.visibility_m,
)  # fmt: skip
GRID_COLUMNS: tuple[str, ...] = (*_NUMERIC, Obs.precipitation_type)  # what features read, per hour
_TYPE_CODE = {name: float(code) for code, name in enumerate(PRECIPITATION_TYPES)}
RAIN, SNOW, MIXED = (_TYPE_CODE[t] for t in ("rain", "snow", "mixed"))
# Where a station is, from the registry, in place of its id: a model fitted on some stations can place one
# it never saw (the id is a label with no order; coordinates and altitude say how near and how high it is).
STATION_DESCRIPTORS: tuple[str, ...] = ("latitude", "longitude", "altitude_m")


@dataclass(frozen=True, kw_only=True)
class Grid:
    """Hourly columns (one float array each, NaN where the hour has no observation) that features read at
    offsets from issue positions. `lookback` bounds how far back a read may reach: a grid that packs many
    short histories side by side (the service's requests) must never read one history from another."""

    columns: dict[str, np.ndarray]
    lookback: int | None = None


@dataclass(frozen=True, kw_only=True)
class StationGrid(Grid):
    """A station's whole record: position 0 is the hour `start`."""

    start: pd.Timestamp

    def positions(self, times: pd.Series) -> np.ndarray:
        return ((times - self.start) // HOUR).to_numpy(dtype="int64")


def station_grids(observations: pd.DataFrame) -> dict[int, StationGrid]:
    grids = {}
    for station_id, rows in observations.groupby(Obs.station_id, sort=True):
        times = rows[Obs.observed_at]
        start = times.min().floor("h")
        offsets = ((times - start) // HOUR).to_numpy(dtype="int64")
        size = int(offsets.max()) + 1
        columns = {}
        for name in _NUMERIC:
            grid = np.full(size, np.nan)
            grid[offsets] = rows[name].to_numpy(dtype="float64")
            columns[name] = grid
        kind = np.full(size, np.nan)
        kind[offsets] = rows[Obs.precipitation_type].map(_TYPE_CODE).to_numpy(dtype="float64")
        columns[Obs.precipitation_type] = kind
        grids[int(station_id)] = StationGrid(columns=columns, start=start)  # type: ignore[arg-type]
    return grids


def history_grid(histories: Sequence[Mapping[str, np.ndarray]], hours: int) -> tuple[Grid, np.ndarray]:
    """Short histories packed into one grid, each in its own block of `hours` positions ending at its issue
    hour; and those issue positions. A history gives `age_h` (whole hours before its issue time, 0 = the
    issue hour) and one array per observed column, `precipitation_type` as names. Hours older than the
    block are dropped: no feature reads them (the grid's lookback refuses any that would)."""
    size = len(histories) * hours
    columns = {name: np.full(size, np.nan) for name in GRID_COLUMNS}
    issue = np.arange(1, len(histories) + 1) * hours - 1
    for end, history in zip(issue, histories, strict=True):
        age = np.asarray(history["age_h"], dtype="int64")
        keep = (age >= 0) & (age < hours)
        at = end - age[keep]
        for name in _NUMERIC:
            columns[name][at] = np.asarray(history[name], dtype="float64")[keep]
        kinds = history[Obs.precipitation_type]
        columns[Obs.precipitation_type][at] = np.array([_TYPE_CODE[k] for k in kinds], dtype="float64")[keep]
    return Grid(columns=columns, lookback=hours - 1), issue


def _block(
    grid: Grid, name: str, issue: np.ndarray, offsets: np.ndarray, *, may_look_ahead: bool = False
) -> np.ndarray:
    """grid[name][issue + offset] for each target (rows) and offset (columns); NaN off the grid."""
    if not may_look_ahead and (offsets > 0).any():
        raise ValueError("a feature may only read hours at or before issue time")
    if grid.lookback is not None and len(offsets) and -offsets.min() > grid.lookback:
        raise ValueError(f"a feature reads {-offsets.min()} hours back; this grid holds {grid.lookback}")
    values = grid.columns[name]
    positions = issue[:, None] + offsets[None, :]
    inside = (positions >= 0) & (positions < len(values))
    return np.where(inside, values[np.clip(positions, 0, max(len(values) - 1, 0))], np.nan)


def window_weather(block: Callable[[str], np.ndarray]) -> tuple[WindowWeather, np.ndarray]:
    """Summaries of a window's hours, and how many of them have a temperature. `block(column)` gives the
    window's values, one row per target and one column per hour."""
    temperature, kind = block(Obs.temperature_c), block(Obs.precipitation_type)
    observed = (~np.isnan(kind)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = {code: (kind == code).sum(axis=1) / observed for code in (RAIN, SNOW, MIXED)}
    with _quiet_nan_reductions():
        weather = WindowWeather(
            median_temperature_c=_row_nanmedian(temperature),
            rain_share=share[RAIN],
            snow_share=share[SNOW],
            mixed_share=share[MIXED],
            precipitation_mm=np.nansum(block(Obs.precipitation_mm), axis=1),
            peak_wind_ms=np.nanmax(block(Obs.wind_speed_ms), axis=1),
            mean_humidity_pct=np.nanmean(block(Obs.humidity_pct), axis=1),
        )
    return weather, (~np.isnan(temperature)).sum(axis=1)


def _row_nanmedian(values: np.ndarray) -> np.ndarray:
    """np.nanmedian(values, axis=1) for short rows, without its masked-array path (~100 us a call)."""
    ordered = np.sort(values, axis=1)  # NaN sorts last
    count = (~np.isnan(ordered)).sum(axis=1)
    low = np.take_along_axis(ordered, np.maximum(count - 1, 0)[:, None] // 2, axis=1)[:, 0]
    high = np.take_along_axis(ordered, (count // 2)[:, None], axis=1)[:, 0]
    median: np.ndarray = np.where(count > 0, (low + high) / 2, np.nan)
    return median


def lookback_hours(commute: CommuteParams, featurize: FeaturizeParams) -> int:
    """How many hours before issue time the features read: the longest change, or yesterday's window."""
    return max(*featurize.horizons_h, 24 - commute.lead_hours)


@contextmanager
def _quiet_nan_reductions() -> Iterator[None]:
    """All-NaN slices are expected (missing hours) and give NaN; numpy's warnings about them are noise."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def issue_hour(window: Window, commute: CommuteParams) -> int:
    """Hours after the date's midnight (KST) when a window's forecast is issued; negative: the day before."""
    return commute.windows[window].start_hour - commute.lead_hours


def issue_times(targets: pd.DataFrame, commute: CommuteParams) -> pd.Series:
    hours = targets["window"].map({w: issue_hour(w, commute) for w in WINDOWS})
    return pd.to_datetime(targets["date"]).dt.tz_localize(KST) + pd.to_timedelta(hours, unit="h")


def issue_time(date: dt.date, window: Window, commute: CommuteParams) -> pd.Timestamp:
    """`issue_times` for one target (the service's requests)."""
    return pd.Timestamp(date).tz_localize(KST) + pd.Timedelta(hours=issue_hour(window, commute))


def day_of_year(issue_at: list[dt.datetime] | pd.Series) -> np.ndarray:
    """Day of the year (KST) of each issue time: what the seasonal features encode, for both paths."""
    return pd.DatetimeIndex(issue_at).day_of_year.to_numpy()


def feature_names(featurize: FeaturizeParams) -> list[str]:
    names = [*STATION_DESCRIPTORS, "is_evening", "day_of_year_sin", "day_of_year_cos"]
    names += [f"{c}_now" for c in _NUMERIC if c != Obs.precipitation_mm] + ["dew_point_depression_now"]
    for h in featurize.horizons_h:
        names += [
            f"temperature_mean_{h}h", f"temperature_min_{h}h", f"temperature_max_{h}h",
            f"temperature_change_{h}h", f"pressure_change_{h}h", f"humidity_mean_{h}h", f"wind_max_{h}h",
            f"cloud_mean_{h}h",
            f"precipitation_sum_{h}h", f"wet_share_{h}h", f"snow_share_{h}h", f"observed_share_{h}h",
            f"humidity_change_{h}h", f"cloud_change_{h}h", f"dew_point_depression_change_{h}h",
            f"visibility_change_{h}h",
        ]  # fmt: skip
    names += ["precipitation_type_now", "hours_since_wet", "pressure_anomaly"]
    return [*names, "persistence_score", "yesterday_window_score", "yesterday_window_wet"]


@dataclass(frozen=True)
class _Targets:
    """Targets with their issue times and the station grids they read: built once per call."""

    targets: pd.DataFrame
    issue_at: pd.Series
    grids: dict[int, StationGrid]


def _prepare(observations: pd.DataFrame, targets: pd.DataFrame, commute: CommuteParams) -> _Targets:
    targets = targets.reset_index(drop=True)
    return _Targets(targets, issue_times(targets, commute), station_grids(observations))


def build_features(
    observations: pd.DataFrame,
    targets: pd.DataFrame,
    commute: CommuteParams,
    featurize: FeaturizeParams,
    comfort: ComfortParams,
) -> pd.DataFrame:
    """One feature row per target (station_id, date, window), in the targets' order."""
    return _features(_prepare(observations, targets, commute), commute, featurize, comfort)


def build_features_and_labels(
    observations: pd.DataFrame,
    targets: pd.DataFrame,
    commute: CommuteParams,
    featurize: FeaturizeParams,
    comfort: ComfortParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features as of issue time, and labels from inside each window (NaN where fewer than
    `min_window_hours` hours have a temperature), from one set of station grids."""
    prepared = _prepare(observations, targets, commute)
    return _features(prepared, commute, featurize, comfort), _labels(prepared, commute, featurize, comfort)


def _features(
    prepared: _Targets, commute: CommuteParams, featurize: FeaturizeParams, comfort: ComfortParams
) -> pd.DataFrame:
    targets, issue_at, grids = prepared.targets, prepared.issue_at, prepared.grids
    parts = []
    for station_id, rows in targets.groupby("station_id", sort=False):
        grid = grids.get(int(station_id))  # type: ignore[arg-type]
        if grid is None:  # no observations at all: every feature is NaN
            columns = {c: np.full(1, np.nan) for c in GRID_COLUMNS}
            grid = StationGrid(columns=columns, start=issue_at.min())
        station_issue_at = issue_at.loc[rows.index]
        columns = issue_features(
            grid,
            grid.positions(station_issue_at),
            station_id=rows["station_id"].to_numpy(),
            window=rows["window"].to_numpy(),
            day_of_year=day_of_year(station_issue_at),
            commute=commute,
            featurize=featurize,
            comfort=comfort,
        )
        parts.append(pd.DataFrame(columns, index=rows.index))
    features = pd.concat(parts).sort_index() if parts else pd.DataFrame(columns=feature_names(featurize))
    features = features[feature_names(featurize)]
    return pd.concat([targets[list(KEY_COLUMNS)], features, issue_at.rename("issue_at")], axis=1)


def issue_features(
    grid: Grid,
    issue: np.ndarray,
    *,
    station_id: np.ndarray,
    window: np.ndarray,
    day_of_year: np.ndarray,
    commute: CommuteParams,
    featurize: FeaturizeParams,
    comfort: ComfortParams,
) -> dict[str, np.ndarray]:
    """Every feature (see `feature_names`) for targets at grid positions `issue`, as numpy arrays: no
    pandas in here, so one request costs well under a millisecond and a million rows stay vectorized."""
    out = station_descriptors(station_id)
    out["is_evening"] = (window == "evening").astype("float64")
    angle = 2 * np.pi * (np.asarray(day_of_year) - 1) / 365.25
    out["day_of_year_sin"], out["day_of_year_cos"] = np.sin(angle), np.cos(angle)
    # Each column is read once, as far back as any feature reaches; every feature slices that block.
    reach = lookback_hours(commute, featurize)
    past = {c: _block(grid, c, issue, np.arange(-reach, 1)) for c in GRID_COLUMNS}
    past["dew_point_depression"] = past[Obs.temperature_c] - past[Obs.dew_point_c]
    current = {c: block[:, -1] for c, block in past.items()}
    for c in _NUMERIC:
        if c != Obs.precipitation_mm:
            out[f"{c}_now"] = current[c]
    out["dew_point_depression_now"] = current[Obs.temperature_c] - current[Obs.dew_point_c]
    with _quiet_nan_reductions():
        for h in featurize.horizons_h:

            def over(name: str, h: int = h) -> np.ndarray:
                return past[name][:, -h:]  # the trailing h hours, issue hour included

            def change(name: str, h: int = h) -> np.ndarray:
                difference: np.ndarray = current[name] - past[name][:, -h - 1]
                return difference

            temperature, kind = over(Obs.temperature_c), over(Obs.precipitation_type)
            observed = (~np.isnan(kind)).sum(axis=1)
            out[f"temperature_mean_{h}h"] = np.nanmean(temperature, axis=1)
            out[f"temperature_min_{h}h"] = np.nanmin(temperature, axis=1)
            out[f"temperature_max_{h}h"] = np.nanmax(temperature, axis=1)
            out[f"temperature_change_{h}h"] = change(Obs.temperature_c)
            out[f"pressure_change_{h}h"] = change(Obs.pressure_hpa)
            out[f"humidity_mean_{h}h"] = np.nanmean(over(Obs.humidity_pct), axis=1)
            out[f"wind_max_{h}h"] = np.nanmax(over(Obs.wind_speed_ms), axis=1)
            out[f"cloud_mean_{h}h"] = np.nanmean(over(Obs.cloud_cover_tenths), axis=1)
            out[f"precipitation_sum_{h}h"] = np.nansum(over(Obs.precipitation_mm), axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"wet_share_{h}h"] = (kind > 0).sum(axis=1) / observed
                out[f"snow_share_{h}h"] = (kind == SNOW).sum(axis=1) / observed
            out[f"observed_share_{h}h"] = observed / h
            out[f"humidity_change_{h}h"] = change(Obs.humidity_pct)
            out[f"cloud_change_{h}h"] = change(Obs.cloud_cover_tenths)
            out[f"dew_point_depression_change_{h}h"] = change("dew_point_depression")
            out[f"visibility_change_{h}h"] = change(Obs.visibility_m)
        out |= _lookback_tendencies(past, reach)
    persistence, _ = window_weather(lambda c: past[c][:, -featurize.persistence_hours :])
    out["persistence_score"] = comfort_score(persistence, comfort)
    out["yesterday_window_score"] = np.full(len(issue), np.nan)
    out["yesterday_window_wet"] = np.full(len(issue), np.nan)
    for name in WINDOWS:
        mine = window == name
        offsets = commute.lead_hours - 24 + np.arange(commute.windows[name].hours)
        hours = reach + offsets[offsets <= 0]

        def yesterday_block(column: str, mine: np.ndarray = mine, hours: np.ndarray = hours) -> np.ndarray:
            values: np.ndarray = past[column][mine][:, hours]
            return values

        yesterday, _ = window_weather(yesterday_block)
        out["yesterday_window_score"][mine] = comfort_score(yesterday, comfort)
        shares = yesterday.rain_share + yesterday.snow_share + yesterday.mixed_share
        out["yesterday_window_wet"][mine] = np.where(np.isnan(shares), np.nan, shares > 0)
    return out


def station_descriptors(station_id: np.ndarray) -> dict[str, np.ndarray]:
    """Each target's station's registry descriptors (NaN for an id the registry does not hold: the
    contract and the service refuse those before they get here)."""
    known = registry()
    ids, which = np.unique(np.asarray(station_id, dtype="int64").ravel(), return_inverse=True)
    found = [known.get(int(s)) for s in ids]  # once per station, not per target
    return {
        name: np.array([np.nan if s is None else getattr(s, name) for s in found], dtype="float64")[which]
        for name in STATION_DESCRIPTORS
    }


def _lookback_tendencies(past: dict[str, np.ndarray], reach: int) -> dict[str, np.ndarray]:
    """Over the whole lookback: the precipitation type now, how long since it last rained or snowed
    (reach + 1: not within the lookback; NaN: no hour observed), and pressure against its lookback mean."""
    kind = past[Obs.precipitation_type]
    wet_hours = kind[:, ::-1] > 0
    since = np.where(wet_hours.any(axis=1), wet_hours.argmax(axis=1), reach + 1).astype("float64")
    pressure = past[Obs.pressure_hpa]
    return {
        "precipitation_type_now": kind[:, -1],
        "hours_since_wet": np.where(np.isnan(kind).all(axis=1), np.nan, since),
        "pressure_anomaly": pressure[:, -1] - np.nanmean(pressure, axis=1),
    }


def _labels(
    prepared: _Targets, commute: CommuteParams, featurize: FeaturizeParams, comfort: ComfortParams
) -> pd.DataFrame:
    targets, issue_at, grids = prepared.targets, prepared.issue_at, prepared.grids
    score = np.full(len(targets), np.nan)
    wet = np.zeros(len(targets), dtype=bool)
    for (station_id, window), rows in targets.groupby(["station_id", "window"], sort=False):
        grid = grids.get(int(station_id))  # type: ignore[call-overload]
        if grid is None:
            continue
        issue = grid.positions(issue_at.loc[rows.index])
        offsets = commute.lead_hours + np.arange(commute.windows[window].hours)  # type: ignore[index]
        read = partial(_block, grid, issue=issue, offsets=offsets, may_look_ahead=True)
        weather, hours = window_weather(read)
        labelled = hours >= featurize.min_window_hours
        score[rows.index] = np.where(labelled, comfort_score(weather, comfort), np.nan)
        wet[rows.index] = (
            np.nan_to_num(weather.rain_share + weather.snow_share + weather.mixed_share) > 0
        ) | (weather.precipitation_mm > 0)
    return targets[list(KEY_COLUMNS)].assign(
        label=score, label_class=comfort_label(score, comfort), wet_window=wet
    )


def all_targets(observations: pd.DataFrame) -> pd.DataFrame:
    """Every (station, date, window) for the dates each station has observations on."""
    dates = observations[Obs.observed_at].dt.tz_localize(None).dt.normalize()
    pairs = pd.DataFrame({"station_id": observations[Obs.station_id], "date": dates}).drop_duplicates()
    targets = pairs.merge(pd.DataFrame({"window": list(WINDOWS)}), how="cross")
    return targets.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)
