"""Data contracts as pandera models. Column names are referenced through these classes everywhere else.

The physical limits of an observation (RANGES, DEW_POINT_MARGIN_C) live here and only here: the pandera
contract and the service's request model (api_models.py) both read them, so the pipeline and the service
accept the same hours. (Here rather than in a module of their own: dvc.yaml lists this file as a dependency
of ingest and validate, so changing a limit reruns them.) Each range is wide enough for any plausible Korean
surface observation and narrow enough to catch unit and sentinel mix-ups.
"""

from __future__ import annotations

from typing import Any, Final

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from commute_weather.clock import KST
from commute_weather.stations import KNOWN_STATIONS

PRECIPITATION_TYPES: tuple[str, ...] = ("none", "rain", "snow", "mixed")

# column: (lowest, highest), both inclusive, in the normalized units
RANGES: Final[dict[str, tuple[float, float]]] = {
    "temperature_c": (-40, 45),
    "dew_point_c": (-50, 35),
    "humidity_pct": (0, 100),
    "wind_speed_ms": (0, 75),
    "wind_dir_deg": (0, 360),
    "precipitation_mm": (0, 300),
    "snow_depth_cm": (0, 300),
    "pressure_hpa": (870, 1085),
    # At the station's altitude: the highest ASOS field (Daegwallyeong, 772 m) sits near 920 hPa.
    "station_pressure_hpa": (800, 1085),
    "cloud_cover_tenths": (0, 10),
    "visibility_m": (0, 200_000),
}

# The dew point cannot exceed the air temperature; sensors round independently, so allow this much.
DEW_POINT_MARGIN_C: Final = 0.5


def dew_point_ok(dew_point_c: float | None, temperature_c: float | None) -> bool:
    """False only when both are known and the dew point is above the temperature plus the margin."""
    if dew_point_c is None or temperature_c is None:
        return True
    return dew_point_c <= temperature_c + DEW_POINT_MARGIN_C


TIMESTAMP_DTYPE = pd.DatetimeTZDtype("ns", KST)


def _measured(column: str) -> Any:
    """A measured quantity: nullable, within its physical range (RANGES, shared with the service)."""
    low, high = RANGES[column]
    return pa.Field(ge=low, le=high, nullable=True)


class Observations(pa.DataFrameModel):
    """One row per station and hour (KST), the normalized table every source produces.

    precipitation_mm is the total over the reporting period that ends at observed_at: the past hour from
    April to October; from November to March KMA reports a 3-hour total only at 00, 03, ..., 21 h, so the
    other winter hours are NaN (unknown, never 0 and never an invented share of the 3-hour total).
    """

    station_id: Series[int] = pa.Field(isin=sorted(KNOWN_STATIONS))
    observed_at: Series[TIMESTAMP_DTYPE] = pa.Field()  # type: ignore[valid-type]
    temperature_c: Series[float] = _measured("temperature_c")
    dew_point_c: Series[float] = _measured("dew_point_c")
    humidity_pct: Series[float] = _measured("humidity_pct")
    wind_speed_ms: Series[float] = _measured("wind_speed_ms")
    wind_dir_deg: Series[float] = _measured("wind_dir_deg")
    precipitation_mm: Series[float] = _measured("precipitation_mm")
    precipitation_type: Series[str] = pa.Field(isin=PRECIPITATION_TYPES)
    snow_depth_cm: Series[float] = _measured("snow_depth_cm")
    pressure_hpa: Series[float] = _measured("pressure_hpa")
    station_pressure_hpa: Series[float] = _measured("station_pressure_hpa")
    cloud_cover_tenths: Series[float] = _measured("cloud_cover_tenths")
    visibility_m: Series[float] = _measured("visibility_m")
    # Which input file delivered the hour (relative to the dataset's input): quarantine lists name it.
    source_file: Series[str] = pa.Field()

    @pa.check("observed_at", name="on_the_hour")
    def _on_the_hour(cls, observed_at: pd.Series) -> pd.Series[bool]:
        on_hour: pd.Series[bool] = (observed_at.dt.minute == 0) & (observed_at.dt.second == 0)
        return on_hour

    @pa.dataframe_check(name="dew_point_not_above_temperature")
    def _dew_point(cls, df: pd.DataFrame) -> pd.Series[bool]:
        # Sensors round independently, so allow a margin; NaN on either side is not a violation.
        ok = df[cls.dew_point_c] <= df[cls.temperature_c] + DEW_POINT_MARGIN_C
        return ok | df[cls.dew_point_c].isna() | df[cls.temperature_c].isna()

    class Config:
        strict = True
        ordered = True
        unique = ["station_id", "observed_at"]
        name = "observations"


OBSERVATION_COLUMNS: tuple[str, ...] = tuple(Observations.to_schema().columns)
