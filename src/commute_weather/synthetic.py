"""The offline `sample` source: a deterministic generator of Seoul-area hourly weather written as typ01 text.

It is built so that the default pipeline exercises the same parser and the same forecasting difficulties as
real data, not so that the model looks good:
- seasonal and daily cycles calibrated to Seoul normals (FORMAT.md: monthly temperature and precipitation);
- multi-day weather regimes shared by nearby stations (a slow "storm" process plus a temperature anomaly);
- pressure that falls hours *before* rain arrives (the storm process leads precipitation by `RAIN_LAG_H`);
- a monsoon peak of rain in July-August, snow and sleet in winter with a snow cover that melts;
- the real reporting quirks: 3-hour winter precipitation totals, sentinels, missing fields and missing
  hours, an outage of several hours per station and year.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.special import ndtr, ndtri

from commute_weather.kma.records import KST
from commute_weather.kma.typ01 import format_typ01
from commute_weather.normalize import WINTER_MONTHS, WINTER_REPORT_EVERY_H
from commute_weather.stations import KNOWN_STATIONS

# Seoul, from FORMAT.md: monthly mean temperature 2023 and precipitation normals 1991-2020 (Jan-Dec).
MONTHLY_TEMPERATURE_C = np.array([-1.5, 2.3, 9.8, 13.8, 19.5, 23.4, 26.7, 27.2, 23.6, 15.8, 6.9, 1.1])
MONTHLY_PRECIPITATION_MM = np.array(
    [16.8, 28.2, 36.9, 72.9, 103.6, 129.5, 414.4, 348.2, 141.5, 52.2, 51.1, 22.6]
)
# Share of hours with precipitation falling, by month (monsoon peak in July).
MONTHLY_WET_FRACTION = np.array([0.08, 0.09, 0.1, 0.09, 0.08, 0.11, 0.2, 0.18, 0.1, 0.08, 0.08, 0.09])
DIURNAL_RANGE_C = np.array([8.5, 9.0, 9.5, 10.0, 9.5, 8.0, 6.0, 6.5, 8.0, 9.5, 9.0, 8.5])
DEW_DEPRESSION_C = np.array([10.0, 10.5, 12.0, 12.0, 10.0, 7.5, 4.5, 4.5, 6.5, 9.0, 9.5, 10.0])
WIND_SCALE_MS = np.array([2.4, 2.5, 2.8, 2.9, 2.5, 2.2, 2.2, 2.1, 2.0, 2.0, 2.2, 2.3])
# Korea's most humid summer hours reach dew points of about 28-29 C. Without a ceiling, hot anomalies
# over long ranges gave 35 C and more, which the data contract (rightly) rejects.
MAX_DEW_POINT_C = 29.0
RAIN_LAG_H = 5
WIND_MEMORY_H = 4.0
STORM_MEMORY_H = 30.0
ANOMALY_MEMORY_H = 60.0
MISSING_FIELD_RATE = 0.002
MISSING_HOUR_RATE = 0.0015


@dataclass(frozen=True)
class MonthFile:
    station_id: int
    month: str  # YYYY-MM
    text: str


def month_range(start_month: str, end_month: str) -> list[str]:
    return [p.strftime("%Y-%m") for p in pd.period_range(start_month, end_month, freq="M")]


def _ar1(rng: np.random.Generator, n: int, memory_h: float) -> np.ndarray:
    """A unit-variance AR(1) series whose correlation decays over `memory_h` hours."""
    phi = np.exp(-1.0 / memory_h)
    noise = rng.standard_normal(n) * np.sqrt(1 - phi**2)
    series: np.ndarray = lfilter([1.0], [1.0, -phi], noise)
    return series


def _seasonal(monthly: np.ndarray, times: pd.DatetimeIndex) -> np.ndarray:
    """Interpolate mid-month values smoothly over the year (wrapping December to January)."""
    day = times.day_of_year.to_numpy() - 1 + times.hour.to_numpy() / 24.0
    mids = (np.arange(12) + 0.5) * 365.25 / 12
    knots = np.concatenate([[mids[-1] - 365.25], mids, [mids[0] + 365.25]])
    values: np.ndarray = np.interp(day, knots, np.concatenate([[monthly[-1]], monthly, [monthly[0]]]))
    return values


@dataclass(frozen=True)
class SharedWeather:
    """Regimes common to all stations: nearby stations see the same fronts and cold spells."""

    storm: np.ndarray
    anomaly: np.ndarray


def shared_weather(times: pd.DatetimeIndex, seed: int) -> SharedWeather:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    n = len(times) + RAIN_LAG_H
    return SharedWeather(storm=_ar1(rng, n, STORM_MEMORY_H), anomaly=_ar1(rng, n, ANOMALY_MEMORY_H))


def station_fields(
    times: pd.DatetimeIndex, station_id: int, shared: SharedWeather, seed: int
) -> dict[str, np.ndarray]:
    """KMA-unit values for one station over `times` (NaN where the API would send a sentinel)."""
    station = KNOWN_STATIONS[station_id]
    rng = np.random.default_rng(np.random.SeedSequence([seed, station_id]))
    n = len(times)
    month_idx = times.month.to_numpy() - 1
    hour = times.hour.to_numpy()

    # Precipitation: the storm process (plus local noise) crossing a monthly threshold, RAIN_LAG_H later.
    storm_now = shared.storm[RAIN_LAG_H:]
    storm_lagged = 0.92 * shared.storm[:n] + 0.39 * _ar1(rng, n, 10.0)
    wet_fraction = np.clip(_seasonal(MONTHLY_WET_FRACTION, times) * station.precip_factor, 0.01, 0.5)
    threshold = _normal_quantile(1 - wet_fraction)
    wet = storm_lagged > threshold
    mean_rate = _seasonal(MONTHLY_PRECIPITATION_MM / (MONTHLY_WET_FRACTION * 730.5), times)
    # Heavier the deeper the storm; the excess over the threshold averages about 0.4, hence the 1.25.
    deepening = (1 + 0.6 * np.clip(storm_lagged - threshold, 0, None)) / 1.25
    intensity = rng.gamma(0.7, 1.0, n) / 0.7 * mean_rate * station.precip_factor * deepening
    amount = np.where(wet, np.round(intensity, 1), 0.0)

    # Cloud follows the storm process; it is overcast when it rains.
    cloud = np.clip(
        np.round(5 + 3.2 * (0.6 * storm_lagged + 0.4 * storm_now) + 1.6 * _ar1(rng, n, 3.0)), 0, 10
    )
    cloud = np.where(wet, np.maximum(cloud, 9), cloud)

    # Temperature: seasonal normal, daily cycle damped by cloud, a shared multi-day anomaly, rain cooling.
    season_std = np.where(np.isin(month_idx + 1, list(WINTER_MONTHS)), 3.8, 2.2)
    diurnal = -np.cos(2 * np.pi * (hour - 3) / 24) * 0.5 * _seasonal(DIURNAL_RANGE_C, times)
    temperature = (
        _seasonal(MONTHLY_TEMPERATURE_C, times)
        + station.temp_offset_c
        + diurnal * (1 - 0.55 * cloud / 10)
        + season_std * (0.9 * shared.anomaly[:n] + 0.44 * _ar1(rng, n, 12.0))
        - np.where(wet, 1.5, 0.0)
    )
    depression = np.clip(
        _seasonal(DEW_DEPRESSION_C, times) * (1.15 - 0.6 * cloud / 10) * (1 + 0.35 * diurnal / 5)
        + 1.5 * _ar1(rng, n, 8.0),
        0.2,
        None,
    ) * np.exp(0.25 * _ar1(rng, n, 6.0) + 0.27 * _ar1(rng, n, 36.0))
    depression = np.where(wet, rng.uniform(0.2, 1.5, n), depression)
    dew_point = np.minimum(temperature - depression, MAX_DEW_POINT_C)
    humidity = np.clip(
        100 * _saturation(dew_point) / _saturation(temperature) + station.humidity_offset_pct, 5, 100
    )

    # Sea-level pressure: seasonal (high in winter), falling ahead of rain, semi-diurnal tide.
    day = times.day_of_year.to_numpy()
    pressure = (
        1015.5 + 9.5 * np.cos(2 * np.pi * (day - 15) / 365.25)
        - 7.5 * storm_now + 2.5 * _ar1(rng, n, 48.0) + 0.8 * np.cos(2 * np.pi * (hour - 10) / 12)
    )  # fmt: skip

    # Wind: Weibull speeds, stronger with storms and in the afternoon; NW in winter, SW in summer.
    gust = 1 + 0.35 * np.clip(storm_now, 0, None) + 0.25 * np.sin(2 * np.pi * (hour - 8) / 24)
    # Weibull(k=2) speeds through a Gaussian copula, so that wind keeps its hour-to-hour persistence.
    weibull = np.sqrt(-np.log(_normal_cdf(-_ar1(rng, n, WIND_MEMORY_H))))
    speed = np.round(weibull * _seasonal(WIND_SCALE_MS, times) * station.wind_factor * gust, 1)
    summer = np.cos(2 * np.pi * (day - 200) / 365.25)
    direction = np.round(((290 - 60 * np.clip(summer, 0, 1) + rng.normal(0, 45, n)) % 360) / 10)
    direction = np.where(direction == 0, 36, direction)
    calm = speed < 0.3
    speed = np.where(calm, 0.0, speed)
    direction = np.where(calm, 0, direction)

    kind = _precipitation_kind(wet, temperature, rng)
    snow_new = np.where(kind == "snow", amount * 1.1, np.where(kind == "mixed", amount * 0.3, 0.0))
    depth = _snow_depth(snow_new, temperature)

    visibility = np.exp(np.log(2100) + 0.45 * _ar1(rng, n, 6.0)) * (
        1 - 0.75 * np.clip((humidity - 70) / 30, 0, 1)
    )
    visibility = np.where(kind == "snow", visibility * 0.15, np.where(wet, visibility * 0.45, visibility))
    mist = ~wet & (humidity >= 90)
    haze = ~wet & ~mist & (rng.random(n) < np.where(np.isin(month_idx, [2, 3, 4]), 0.08, 0.02))
    weather_codes = np.select(
        [kind == "snow", kind == "mixed", wet & (amount < 0.5), wet, mist, haze],
        ["05", "06", "02", "01", "19", "40"],
        "",
    )
    weather_codes = np.where(
        wet & (humidity >= 95), np.char.add("19", weather_codes.astype(str)), weather_codes
    )
    present = np.select(
        [kind == "snow", kind == "mixed", wet & (amount >= 4), wet, mist],
        [np.where(amount >= 2, 73, 71), 68, 65, np.where(amount >= 1, 63, 61), 10],
        np.nan,
    ).astype(float)

    fields = {
        "WD": direction.astype(float),
        "WS": speed,
        "PA": np.round(pressure - 8.5, 1),
        "PS": np.round(pressure, 1),
        "TA": np.round(temperature, 1),
        "TD": np.round(dew_point, 1),
        "HM": np.round(humidity, 0),
        "PV": np.round(6.112 * _saturation(dew_point), 1),
        "CA_TOT": cloud,
        "VS": np.round(np.clip(visibility, 5, 6000)),
        "WC": present,
        "WW": weather_codes.astype(object),
        "IX": np.where(weather_codes != "", 1.0, 2.0),
    }
    fields.update(_reported_precipitation(times, amount, wet, snow_new, depth))
    _drop_fields_at_random(fields, rng)
    return fields


def _normal_quantile(p: np.ndarray) -> np.ndarray:
    result: np.ndarray = ndtri(p)
    return result


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    result: np.ndarray = ndtr(z)
    return result


def _saturation(temperature: np.ndarray) -> np.ndarray:
    """Magnus formula, relative units (hPa / 6.112)."""
    result: np.ndarray = np.exp(17.625 * temperature / (243.04 + temperature))
    return result


def _precipitation_kind(wet: np.ndarray, temperature: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sleet_band = (temperature > 0.3) & (temperature <= 2.0)
    # Whether near-freezing precipitation falls as sleet changes over hours, not from one hour to the next.
    sleet = sleet_band & (_ar1(rng, len(wet), 6.0) > -0.25)
    kind = np.where(temperature <= 0.3, "snow", np.where(sleet, "mixed", "rain"))
    return np.where(wet, kind, "none")


def _snow_depth(snow_new: np.ndarray, temperature: np.ndarray) -> np.ndarray:
    depth = np.zeros_like(snow_new)
    current = 0.0
    # Settling and sublimation take ~1 cm a day even in frost; above 0 degrees it melts fast.
    melt = 0.2 * np.clip(temperature + 1.0, 0, None) + 0.04
    for i, (new, loss) in enumerate(zip(snow_new, melt, strict=True)):
        current = max(0.0, current + new - loss)
        depth[i] = current
    return depth


def _reported_precipitation(
    times: pd.DatetimeIndex, amount: np.ndarray, wet: np.ndarray, snow_new: np.ndarray, depth: np.ndarray
) -> dict[str, np.ndarray]:
    """RN, SD_* and IR as KMA reports them: hourly in summer, 3-hour totals at 00, 03, ... in winter."""
    winter = np.isin(times.month.to_numpy(), list(WINTER_MONTHS))
    report_hour = times.hour.to_numpy() % WINTER_REPORT_EVERY_H == 0

    def trailing(values: np.ndarray) -> np.ndarray:
        padded = np.concatenate([np.zeros(WINTER_REPORT_EVERY_H - 1), values])
        sums: np.ndarray = np.lib.stride_tricks.sliding_window_view(padded, WINTER_REPORT_EVERY_H).sum(axis=1)
        return sums

    wet_3h = trailing(wet.astype(float)) > 0
    rain = np.where(winter, np.where(report_hour & wet_3h, np.round(trailing(amount), 1), np.nan),
                    np.where(wet, amount, np.nan))  # fmt: skip
    snow_3h = np.where(report_hour & (trailing(snow_new) > 0), np.round(trailing(snow_new), 1), np.nan)
    day = pd.Series(snow_new, index=times).groupby(times.date).cumsum().to_numpy()
    return {
        "RN": rain,
        "SD_HR3": snow_3h,
        "SD_DAY": np.where(day > 0, np.round(day, 1), np.nan),
        "SD_TOT": np.where(depth >= 0.05, np.round(depth, 1), np.nan),
        "IR": np.where(~np.isnan(rain), 1.0, np.where(winter & ~report_hour, 4.0, 3.0)),
    }


def _drop_fields_at_random(fields: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    for name in ("TA", "TD", "HM", "WS", "PS", "CA_TOT", "VS"):
        lost = rng.random(len(fields[name])) < MISSING_FIELD_RATE
        fields[name] = np.where(lost, np.nan, fields[name])
    # A humidity sensor fault loses the dew point with it.
    fields["TD"] = np.where(np.isnan(fields["HM"]), np.nan, fields["TD"])
    fields["WD"] = np.where(np.isnan(fields["WS"]), np.nan, fields["WD"])


def _kept_hours(times: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """Rows the station actually reported: scattered lost hours plus one outage of 4-18 h a year."""
    keep = rng.random(len(times)) >= MISSING_HOUR_RATE
    for year in np.unique(times.year):
        positions = np.flatnonzero(times.year == year)
        start = int(rng.integers(positions[0], max(positions[0] + 1, positions[-1] - 24)))
        keep[start : start + int(rng.integers(4, 19))] = False
    return keep


def generate(stations: tuple[int, ...], start_month: str, end_month: str, seed: int) -> Iterator[MonthFile]:
    """Yield one typ01 body per station and month, in station then month order."""
    months = month_range(start_month, end_month)
    times = pd.date_range(
        pd.Timestamp(f"{months[0]}-01"), pd.Period(months[-1], "M").end_time.floor("h"), freq="h", tz=KST
    )
    shared = shared_weather(times, seed)
    for station_id in stations:
        fields = station_fields(times, station_id, shared, seed)
        keep = _kept_hours(times, np.random.default_rng(np.random.SeedSequence([seed, station_id, 1])))
        labels = times.strftime("%Y-%m")
        for month in months:
            rows = keep & (labels == month)
            month_fields = {name: values[rows] for name, values in fields.items()}
            yield MonthFile(station_id, month, format_typ01(month_fields, times[rows], station_id))
