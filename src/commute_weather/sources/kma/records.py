"""The record frame both KMA readers produce: KMA observations in SI units with sentinels already NaN,
before the derived columns (precipitation type, the winter precipitation rule) are applied."""

from __future__ import annotations

import pandas as pd

RECORD_COLUMNS: tuple[str, ...] = (
    "station_id",
    "observed_at",
    "temperature_c",
    "dew_point_c",
    "humidity_pct",
    "wind_speed_ms",
    "wind_dir_deg",
    "precipitation_mm",  # as reported; NaN where nothing was reported
    "snow_new_3h_cm",  # SD_HR3 / 3시간신적설
    "snow_day_cm",  # SD_DAY (typ01 only)
    "snow_depth_cm",
    "pressure_hpa",  # sea-level pressure: comparable across stations
    "station_pressure_hpa",  # at the station's altitude (typ01 PA, 현지기압): checks pressure_hpa
    "cloud_cover_tenths",
    "visibility_m",
    "weather_codes",  # domestic WW codes, 2-digit codes concatenated; "" when none
    "present_weather",  # WMO 4677 present weather (typ01 WC); NaN when absent
)


def finish_records(records: pd.DataFrame) -> pd.DataFrame:
    """Order by station and time, the order every later step relies on."""
    return records.sort_values(["station_id", "observed_at"], kind="stable").reset_index(drop=True)
