"""Turn KMA records (either reader) into the normalized observation table of DESIGN section 1.

Two rules live here because both KMA formats need them:
- the winter precipitation rule: from November to March precipitation is a 3-hour total reported at 00,
  03, ..., 21 h. At those hours an empty value means nothing fell (0); at the other hours the amount is
  unknown (NaN). From April to October every hour reports, and empty means nothing fell.
- the precipitation type: from the domestic WW codes, then the WMO present-weather code, then (when some
  precipitation was measured but no code says what it was) new snow, then temperature.
And one derivation: an export without sea-level pressure (the portal lets users leave it out) gets it from
station pressure, temperature and the station's altitude (contracts.quality.sea_level_pressure), where
those are known. On the portal exports that carry both (Cheongju 2021-2023, 19,440 hours; all 94 stations
for a week of 2022-08, 13,531 hours) the reduction is within 0.2 hPa of KMA's value at Cheongju and within
1.6 hPa at the highest station (Daegwallyeong, 772 m); every pressure feature is a change or an anomaly,
which a constant offset does not move.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from commute_weather.contracts.observations import OBSERVATION_COLUMNS, RANGES, TIMESTAMP_DTYPE, Observations
from commute_weather.contracts.quality import altitudes, sea_level_pressure

WINTER_MONTHS = frozenset({11, 12, 1, 2, 3})
WINTER_REPORT_EVERY_H = 3
SNOW_MAX_TEMPERATURE_C = 1.0

_SNOW_CODES = frozenset({"05", "10", "11"})
_SLEET_CODES = frozenset({"06"})
_RAIN_CODES = frozenset({"01", "02", "04"})


def precipitation_reported(observed_at: pd.Series) -> np.ndarray:
    """True where KMA reports a precipitation amount for the period ending at that hour."""
    winter = observed_at.dt.month.isin(WINTER_MONTHS).to_numpy()
    on_report_hour = (observed_at.dt.hour % WINTER_REPORT_EVERY_H == 0).to_numpy()
    reported: np.ndarray = ~winter | on_report_hour
    return reported


@cache
def type_from_weather_codes(codes: str) -> str:
    """Precipitation type of a concatenated WW string such as '190605' (mist + sleet + snow)."""
    if not codes:
        return "none"
    if len(codes) % 2:  # re-saved CSVs lose the leading zero: '5' is '05'
        codes = "0" + codes
    parts = {codes[i : i + 2] for i in range(0, len(codes), 2)}
    snow, rain = bool(parts & _SNOW_CODES), bool(parts & _RAIN_CODES)
    if parts & _SLEET_CODES or (snow and rain):
        return "mixed"
    if snow:
        return "snow"
    if rain:
        return "rain"
    return "none"


def type_from_present_weather(code: float) -> str:
    """WMO 4677 present weather: 50-67 drizzle/rain, 68-69 rain and snow, 70-79 snow, 80-99 showers.
    20-29 describe the past hour, not the present, and do not count."""
    if np.isnan(code) or code < 50:
        return "none"
    if 68 <= code <= 69 or 83 <= code <= 84:
        return "mixed"
    if 70 <= code <= 79 or 85 <= code <= 86:
        return "snow"
    return "rain"


def precipitation_types(records: pd.DataFrame) -> np.ndarray:
    """Vectorised over rows; codes are looked up once per distinct value (there are few)."""
    ww = records["weather_codes"].fillna("").astype(str).str.strip()
    from_ww = ww.map(type_from_weather_codes).to_numpy(dtype=object)
    distinct_wc, row_wc = np.unique(records["present_weather"].to_numpy(dtype="float64"), return_inverse=True)
    from_wc = np.array([type_from_present_weather(c) for c in distinct_wc], dtype=object)[row_wc]
    kind = np.where(from_ww != "none", from_ww, from_wc)

    # Measured precipitation with no code: new snow says snow, else the temperature decides.
    grouped_day_snow = records.groupby("station_id", sort=False)["snow_day_cm"].diff()
    new_snow = (records["snow_new_3h_cm"].fillna(0) > 0) | (grouped_day_snow.fillna(0) > 0)
    cold = records["temperature_c"].le(SNOW_MAX_TEMPERATURE_C)
    measured = records["precipitation_mm"].fillna(0) > 0
    fallback = np.where((new_snow | cold).to_numpy(), "snow", "rain")
    return np.where((kind == "none") & measured.to_numpy(), fallback, kind)


def derived_sea_level_pressure(records: pd.DataFrame) -> pd.Series:
    """Sea-level pressure as reported, else reduced from an in-range station pressure where possible."""
    low, high = RANGES["station_pressure_hpa"]
    station = records["station_pressure_hpa"]
    usable = station.between(low, high)
    reduced = sea_level_pressure(
        station.where(usable), records["temperature_c"], altitudes(records["station_id"])
    )
    derived: pd.Series = records["pressure_hpa"].fillna(reduced)
    return derived


def normalize(records: pd.DataFrame) -> pd.DataFrame:
    """Records (sorted by station and time) to the Observations table; validation is a separate stage.
    `source_file` (which input delivered each hour) is kept when the records carry it."""
    if "source_file" not in records:
        records = records.assign(source_file="")
    reported = precipitation_reported(records["observed_at"])
    precipitation = records["precipitation_mm"].where(reported)
    precipitation = precipitation.where(~(reported & precipitation.isna()), 0.0)
    observations = records.assign(
        precipitation_mm=precipitation,
        precipitation_type=precipitation_types(records),
        pressure_hpa=derived_sea_level_pressure(records),
        observed_at=records["observed_at"].astype(TIMESTAMP_DTYPE),
        station_id=records["station_id"].astype("int64"),
    )
    observations[Observations.precipitation_type] = observations[Observations.precipitation_type].astype(str)
    observations[Observations.source_file] = observations[Observations.source_file].astype(str)
    return observations.loc[:, list(OBSERVATION_COLUMNS)].reset_index(drop=True)
