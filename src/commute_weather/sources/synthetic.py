"""The offline `sample` source: a deterministic generator of Seoul-area hourly weather written as typ01 text.

It is built so that the default pipeline exercises the same parser and the same forecasting difficulties as
real data, not so that the model looks good. `make calibration` measures it beside the embedded real
Cheongju record (sources.sample_calibration); the constants below cite what they were matched to.
- seasonal cycles calibrated to Seoul normals (FORMAT.md: monthly temperature and precipitation); a daily
  temperature cycle with the real phase (minimum near sunrise, maximum at 15-16 h, fast evening cooling)
  and the real daily range by season;
- multi-day weather regimes shared by nearby stations (a slow "storm" process plus a temperature anomaly);
- pressure that leads rain only as weakly as in the real record: synoptic rain follows the storm process
  (which sets the pressure) in part, a frontal-rain process and local noise that the pressure does not
  show decide the rest; convective showers on summer afternoons start out of dry weather;
- persistence as in real weather of what the label scores: rain intensity, humidity and temperature
  departures, wind; short-lived noise would flatter the model against persistence;
- wind with a strong afternoon maximum over calm nights and hour-to-hour gusts;
- a monsoon peak of rain in July-August, snow and sleet in winter with a snow cover that melts;
- the real reporting quirks: 3-hour winter precipitation totals, sentinels, missing fields and missing
  hours, an outage of several hours per station and year.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.special import gammaincinv, ndtr, ndtri

from commute_weather.clock import KST
from commute_weather.contracts.quality import sea_level_pressure
from commute_weather.sources.kma.typ01 import format_typ01
from commute_weather.sources.normalize import WINTER_MONTHS, WINTER_REPORT_EVERY_H
from commute_weather.stations import KNOWN_STATIONS, Station

# Seoul, from FORMAT.md: monthly mean temperature 2023 and precipitation normals 1991-2020 (Jan-Dec).
MONTHLY_TEMPERATURE_C = np.array([-1.5, 2.3, 9.8, 13.8, 19.5, 23.4, 26.7, 27.2, 23.6, 15.8, 6.9, 1.1])
MONTHLY_PRECIPITATION_MM = np.array(
    [16.8, 28.2, 36.9, 72.9, 103.6, 129.5, 414.4, 348.2, 141.5, 52.2, 51.1, 22.6]
)
# Share of hours with precipitation falling, by month (monsoon peak in July).
MONTHLY_WET_FRACTION = np.array([0.08, 0.08, 0.09, 0.1, 0.12, 0.15, 0.22, 0.23, 0.13, 0.11, 0.1, 0.09])
DIURNAL_RANGE_C = np.array([9.0, 9.5, 13.0, 14.0, 13.2, 9.7, 7.3, 7.9, 9.5, 11.3, 10.7, 9.0])
DEW_DEPRESSION_C = np.array([10.0, 10.5, 12.0, 12.0, 10.0, 8.0, 5.5, 5.5, 7.5, 9.0, 9.5, 10.0])
WIND_SCALE_MS = np.array([2.4, 2.5, 2.8, 2.9, 2.5, 2.2, 2.2, 2.1, 2.0, 2.0, 2.2, 2.3])
# Korea's most humid summer hours reach dew points of about 28-29 C. Without a ceiling, hot anomalies
# over long ranges gave 35 C and more, which the data contract (rightly) rejects.
MAX_DEW_POINT_C = 29.0
RAIN_LAG_H = 5
# Air-mass dryness and cloud change over hours: real humidity departures from the mean daily cycle keep a
# correlation of about 0.73 over 5 h. Short-memory noise here would flatter the model, which averages it
# out, against persistence, which carries it forward.
DRYNESS_MEMORY_H = 24.0
CLOUD_MEMORY_H = 4.0
AFTER_RAIN_MEMORY_H = 2.0
# Synoptic rain: weights of the storm process (seen in the pressure), a shared frontal-rain process and
# local noise (unit variance together). The storm weight sets how strongly the pressure anomaly leads rain.
RAIN_STORM_WEIGHT = 0.55
RAIN_FRONT_WEIGHT = 0.65
RAIN_LOCAL_WEIGHT = 0.52
FRONT_MEMORY_H = 24.0
RAIN_LOCAL_MEMORY_H = 14.0
INTENSITY_SHAPE = 0.3
INTENSITY_MEMORY_H = 2.5
# Convective showers: the share of hours with a shower peaks at SHOWER_PEAK_SHARE at SHOWER_PEAK_H in
# high summer (SHOWER_SEASON by month), falling off over SHOWER_SPREAD_H hours either side.
SHOWER_SEASON = np.array([0.0, 0.0, 0.05, 0.15, 0.35, 0.7, 1.0, 1.0, 0.6, 0.2, 0.05, 0.0])
SHOWER_PEAK_SHARE = 0.11
SHOWER_PEAK_H = 14.0
SHOWER_SPREAD_H = 3.0
SHOWER_FLOOR = 0.1
SHOWER_DAY_WEIGHT = 0.7
SHOWER_LOCAL_WEIGHT = 0.71
SHOWER_MEMORY_H = 1.5
INSTABILITY_MEMORY_H = 24.0
# The daily temperature cycle: minimum near sunrise (about 07 h in January, 05:30 in July), maximum at
# 15:30, a steep rise, and a night cooling that is fast in the evening and slows towards dawn.
MIN_HOUR_MEAN = 6.0
MIN_HOUR_SWING = 1.0
MAX_HOUR = 15.5
NIGHT_COOLING_RATE = 1.0
# Wind: the afternoon boost over calm nights (between WIND_RISE_H and WIND_RISE_H + WIND_DAY_H).
WIND_RISE_H = 8.5
WIND_DAY_H = 14.0
WIND_DAY_BOOST = 1.1
WIND_STORM_GAIN = 0.2
WIND_MEMORY_H = 10.0
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
    front: np.ndarray
    instability: np.ndarray


def shared_weather(times: pd.DatetimeIndex, seed: int) -> SharedWeather:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    n = len(times) + RAIN_LAG_H
    storm, anomaly = _ar1(rng, n, STORM_MEMORY_H), _ar1(rng, n, ANOMALY_MEMORY_H)
    # Drawn after the first two, so that those stay what they were for the same seed.
    front, instability = _ar1(rng, n, FRONT_MEMORY_H), _ar1(rng, n, INSTABILITY_MEMORY_H)
    return SharedWeather(storm=storm, anomaly=anomaly, front=front, instability=instability)


def _diurnal_shape(times: pd.DatetimeIndex) -> np.ndarray:
    """About -1 at the daily minimum (near sunrise), +1 at the maximum (mid-afternoon), daily mean 0: a cosine
    rise by day, an exponential cooling by night (fast after sunset, slow towards dawn)."""
    day = times.day_of_year.to_numpy()
    t_min = MIN_HOUR_MEAN + MIN_HOUR_SWING * np.cos(2 * np.pi * (day - 15) / 365.25)
    shape = _raw_diurnal_shape(times.hour.to_numpy().astype(float), t_min)
    # Centre each day's cycle so that the monthly mean temperatures stay the normals.
    mean = _raw_diurnal_shape(np.arange(24.0)[None, :], t_min[:, None]).mean(axis=1)
    centred: np.ndarray = shape - mean
    return centred


def _raw_diurnal_shape(hour: np.ndarray, t_min: np.ndarray) -> np.ndarray:
    rise = MAX_HOUR - t_min
    since_min = (hour - t_min) % 24
    x = np.clip((since_min - rise) / (24 - rise), 0, 1)
    k = NIGHT_COOLING_RATE
    night = -1 + 2 * (np.exp(-k * x) - np.exp(-k)) / (1 - np.exp(-k))
    shape: np.ndarray = np.where(since_min <= rise, -np.cos(np.pi * np.minimum(since_min / rise, 1)), night)
    return shape


def _shower_hour_shape(hour: np.ndarray) -> np.ndarray:
    distance = (hour - SHOWER_PEAK_H + 12) % 24 - 12
    shape: np.ndarray = SHOWER_FLOOR + (1 - SHOWER_FLOOR) * np.exp(-0.5 * (distance / SHOWER_SPREAD_H) ** 2)
    return shape


def _shower_share(times: pd.DatetimeIndex) -> np.ndarray:
    """Share of hours with a convective shower, by season and hour of day."""
    hour = times.hour.to_numpy().astype(float)
    share: np.ndarray = SHOWER_PEAK_SHARE * _seasonal(SHOWER_SEASON, times) * _shower_hour_shape(hour)
    return share


def _seasonal_shower_mean(times: pd.DatetimeIndex) -> np.ndarray:
    """The daily mean of `_shower_share` on each hour's date."""
    day_mean = float(_shower_hour_shape(np.arange(24, dtype=float)).mean())
    mean: np.ndarray = SHOWER_PEAK_SHARE * _seasonal(SHOWER_SEASON, times) * day_mean
    return mean


def _precipitation(
    times: pd.DatetimeIndex, station: Station, shared: SharedWeather, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Whether precipitation falls each hour, and how much (mm). Two kinds:
    - synoptic rain: the storm process (which also lowers the pressure) crossing a monthly threshold
      RAIN_LAG_H later, but only partly: a shared frontal-rain process and local noise, which the pressure
      does not show, decide as much, so the pressure leads rain as weakly as in the real record;
    - convective showers: short, local, mostly on summer afternoons, out of a dry hour, invisible in the
      pressure; a shared day-to-day instability makes some days showery at every station.
    """
    n = len(times)
    synoptic = (
        RAIN_STORM_WEIGHT * shared.storm[:n]
        + RAIN_FRONT_WEIGHT * shared.front[:n]
        + RAIN_LOCAL_WEIGHT * _ar1(rng, n, RAIN_LOCAL_MEMORY_H)
    )
    shower_share = _shower_share(times)
    wet_fraction = np.clip(_seasonal(MONTHLY_WET_FRACTION, times) * station.precip_factor, 0.01, 0.5)
    # Both kinds together give the month's wet fraction (the two are independent).
    synoptic_fraction = np.clip(1 - (1 - wet_fraction) / (1 - _seasonal_shower_mean(times)), 0.005, 0.5)
    threshold = _normal_quantile(1 - synoptic_fraction)
    convective = SHOWER_DAY_WEIGHT * shared.instability[:n] + SHOWER_LOCAL_WEIGHT * _ar1(
        rng, n, SHOWER_MEMORY_H
    )
    shower = convective > _normal_quantile(1 - np.clip(shower_share, 1e-6, 0.5))
    wet = (synoptic > threshold) | shower
    mean_rate = _seasonal(MONTHLY_PRECIPITATION_MM / (MONTHLY_WET_FRACTION * 730.5), times)
    # Heavier the deeper the storm (the excess over the threshold averages about 0.4, hence the 1.25);
    # showers are brief but intense.
    deepening = np.where(shower, 1.3, (1 + 0.6 * np.clip(synoptic - threshold, 0, None)) / 1.25)
    # Heavy hours follow heavy hours (real: log-amount correlation 0.5 from one wet hour to the next): a
    # gamma(INTENSITY_SHAPE) of mean 1 through a Gaussian copula over a short-memory process, so that many
    # wet hours bring a trace and a few bring most of the month's total.
    draw = _gamma_of_normal(_ar1(rng, n, INTENSITY_MEMORY_H))
    intensity = draw * mean_rate * station.precip_factor * deepening
    amount = np.where(wet, np.maximum(np.round(intensity, 1), 0.1), 0.0)
    return wet, amount


def station_fields(
    times: pd.DatetimeIndex, station_id: int, shared: SharedWeather, seed: int
) -> dict[str, np.ndarray]:
    """KMA-unit values for one station over `times` (NaN where the API would send a sentinel)."""
    station = KNOWN_STATIONS[station_id]
    rng = np.random.default_rng(np.random.SeedSequence([seed, station_id]))
    n = len(times)
    month_idx = times.month.to_numpy() - 1
    hour = times.hour.to_numpy()

    storm_now = shared.storm[RAIN_LAG_H:]
    wet, amount = _precipitation(times, station, shared, rng)
    storm_lagged = shared.storm[:n]

    # Cloud follows the storm process and thickens ahead of frontal rain; it is overcast when it rains.
    cloud = np.clip(
        np.round(
            5
            + 3.2 * (0.45 * storm_lagged + 0.3 * storm_now + 0.35 * shared.front[:n])
            + 1.6 * _ar1(rng, n, CLOUD_MEMORY_H)
        ),
        0,
        10,
    )
    cloud = np.where(wet, np.maximum(cloud, 9), cloud)

    # How recently it rained (1 while raining, then decaying): rain-cooled, moist air lingers for hours.
    decay = np.exp(-1.0 / AFTER_RAIN_MEMORY_H)
    recent = np.minimum(lfilter([1.0], [1.0, -decay], wet.astype(float)), 1.0)

    # Temperature: seasonal normal, daily cycle damped by cloud, a shared multi-day anomaly, rain cooling.
    season_std = np.where(np.isin(month_idx + 1, list(WINTER_MONTHS)), 3.8, 2.2)
    diurnal = _diurnal_shape(times) * 0.5 * _seasonal(DIURNAL_RANGE_C, times)
    temperature = (
        _seasonal(MONTHLY_TEMPERATURE_C, times)
        + station.temp_offset_c
        + diurnal * (1 - 0.55 * cloud / 10)
        + season_std * (0.9 * shared.anomaly[:n] + 0.44 * _ar1(rng, n, 24.0))
        - 1.5 * recent
    )
    depression = np.clip(
        _seasonal(DEW_DEPRESSION_C, times) * (1.15 - 0.6 * cloud / 10) * (1 + 0.35 * diurnal / 5)
        + 1.2 * _ar1(rng, n, DRYNESS_MEMORY_H),
        0.2,
        None,
    ) * np.exp(0.15 * _ar1(rng, n, DRYNESS_MEMORY_H / 2) + 0.27 * _ar1(rng, n, 48.0))
    # Near saturation while it rains; afterwards the air dries over hours (wet ground, low cloud), so the
    # humidity does not fall back to its dry-weather value the hour the rain stops.
    rain_depression = 0.2 + 1.3 * _normal_cdf(_ar1(rng, n, 6.0))
    depression = np.where(wet, rain_depression, recent * rain_depression + (1 - recent) * depression)
    dew_point = np.minimum(temperature - depression, MAX_DEW_POINT_C)
    humidity = np.clip(
        100 * _saturation(dew_point) / _saturation(temperature) + station.humidity_offset_pct, 5, 100
    )
    # The station's humidity offset moves the dew point with it: a real sensor pair agrees within rounding
    # (Magnus, contracts/quality.py), and validate quarantines an hour where they do not.
    dew_point = _dew_point(temperature, humidity)

    # Sea-level pressure: seasonal (high in winter), falling ahead of rain, semi-diurnal tide.
    day = times.day_of_year.to_numpy()
    pressure = (
        1015.5 + 9.5 * np.cos(2 * np.pi * (day - 15) / 365.25)
        - 7.5 * storm_now + 2.5 * _ar1(rng, n, 48.0) + 0.8 * np.cos(2 * np.pi * (hour - 10) / 12)
    )  # fmt: skip

    # Wind: Weibull speeds with a strong daily cycle (calm nights, a mixing maximum mid-afternoon), somewhat
    # stronger with storms; NW in winter, SW in summer. Weibull(k=2) through a Gaussian copula keeps the
    # hour-to-hour persistence; a short-memory term gives the hour-to-hour gustiness the label's window peak
    # picks up.
    afternoon = np.clip(np.sin(np.pi * (hour - WIND_RISE_H) / WIND_DAY_H), 0, None)
    daily = (1 + WIND_DAY_BOOST * afternoon) / (1 + WIND_DAY_BOOST * WIND_DAY_H / 24 * 2 / np.pi)
    stormy = 1 + WIND_STORM_GAIN * np.clip(storm_now, 0, None)
    weibull = np.sqrt(-np.log(_normal_cdf(-(0.92 * _ar1(rng, n, WIND_MEMORY_H) + 0.39 * _ar1(rng, n, 1.0)))))
    speed = np.round(weibull * _seasonal(WIND_SCALE_MS, times) * station.wind_factor * daily * stormy, 1)
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
        # Station pressure: sea-level pressure brought up to the station's altitude, as KMA reduces it.
        "PA": np.round(pressure / sea_level_pressure(1.0, temperature, station.altitude_m), 1),
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


@cache
def _gamma_table() -> tuple[np.ndarray, np.ndarray]:
    z = np.linspace(-8.0, 8.0, 4001)
    values: np.ndarray = gammaincinv(INTENSITY_SHAPE, np.clip(ndtr(z), 1e-15, 1 - 1e-15)) / INTENSITY_SHAPE
    return z, values


def _gamma_of_normal(z: np.ndarray) -> np.ndarray:
    """Gamma(INTENSITY_SHAPE) of mean 1 at the normal quantile of `z` (interpolated from a table: fast)."""
    knots, values = _gamma_table()
    result: np.ndarray = np.interp(z, knots, values)
    return result


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    result: np.ndarray = ndtr(z)
    return result


def _dew_point(temperature: np.ndarray, humidity_pct: np.ndarray) -> np.ndarray:
    """The dew point a temperature and relative humidity imply (Magnus, inverted)."""
    gamma = np.log(humidity_pct / 100) + 17.625 * temperature / (243.04 + temperature)
    result: np.ndarray = 243.04 * gamma / (17.625 - gamma)
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
