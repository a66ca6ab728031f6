"""The commute comfort heuristic: one pure function for the label and for the persistence baseline.

Start at 100 and subtract, each penalty capped by its own maximum (coefficients in params.yaml `comfort`):
- temperature: per degree that the window's *median* temperature lies outside the comfortable band;
- wet hours: the share of the window's hours with precipitation falling, weighted by its type (snow
  costs more than rain; sleet and mixed in between);
- precipitation amount: per mm measured in the window;
- wind: per m/s that the window's *peak* wind exceeds the threshold;
- humidity: per percentage point that the window's *mean* humidity lies outside the band.
The result is clamped to 0-100. An unobserved quantity (NaN) costs nothing, except temperature: without
any temperature the score is undefined (NaN) and such windows are not labelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from commute_weather.config import ComfortParams

LABELS: tuple[str, ...] = ("excellent", "good", "fair", "poor")


@dataclass(frozen=True)
class WindowWeather:
    """Per-window summaries (arrays of equal length) that the heuristic scores."""

    median_temperature_c: np.ndarray
    rain_share: np.ndarray
    snow_share: np.ndarray
    mixed_share: np.ndarray
    precipitation_mm: np.ndarray
    peak_wind_ms: np.ndarray
    mean_humidity_pct: np.ndarray


def _outside(values: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    low, high = band
    distance: np.ndarray = np.maximum(low - values, 0) + np.maximum(values - high, 0)
    return distance


def _capped(amount: np.ndarray, per_unit: float, cap: float) -> np.ndarray:
    penalty: np.ndarray = np.minimum(np.nan_to_num(amount, nan=0.0) * per_unit, cap)
    return penalty


def penalties(weather: WindowWeather, p: ComfortParams) -> dict[str, np.ndarray]:
    wet = p.wet_penalty
    wet_share = (
        wet.rain * weather.rain_share + wet.snow * weather.snow_share + wet.mixed * weather.mixed_share
    )
    too_windy = np.maximum(weather.peak_wind_ms - p.wind_threshold_ms, 0)
    temperature_gap = _outside(weather.median_temperature_c, p.temp_band_c)
    humidity_gap = _outside(weather.mean_humidity_pct, p.humidity_band_pct)
    return {
        "temperature": _capped(temperature_gap, p.temp_penalty_per_c, p.temp_penalty_max),
        "wet": np.nan_to_num(wet_share),
        "precipitation": _capped(weather.precipitation_mm, p.precip_penalty_per_mm, p.precip_penalty_max),
        "wind": _capped(too_windy, p.wind_penalty_per_ms, p.wind_penalty_max),
        "humidity": _capped(humidity_gap, p.humidity_penalty_per_pct, p.humidity_penalty_max),
    }


def comfort_score(weather: WindowWeather, p: ComfortParams) -> np.ndarray:
    total = sum(penalties(weather, p).values())
    score: np.ndarray = np.clip(100.0 - total, 0.0, 100.0)
    return np.where(np.isnan(weather.median_temperature_c), np.nan, score)


def comfort_label(score: np.ndarray, p: ComfortParams) -> np.ndarray:
    bands = p.label_bands
    labels: np.ndarray = np.select(
        [score >= bands.excellent, score >= bands.good, score >= bands.fair, ~np.isnan(score)],
        list(LABELS),
        default="",
    )
    return labels
