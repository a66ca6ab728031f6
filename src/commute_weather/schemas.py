"""Data contracts as pandera models. Column names are referenced through these classes everywhere else."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from commute_weather.kma.records import KST
from commute_weather.stations import KNOWN_STATIONS

PRECIPITATION_TYPES: tuple[str, ...] = ("none", "rain", "snow", "mixed")
TIMESTAMP_DTYPE = pd.DatetimeTZDtype("ns", KST)


class Observations(pa.DataFrameModel):
    """One row per station and hour (KST), the normalized table every source produces.

    precipitation_mm is the total over the reporting period that ends at observed_at: the past hour from
    April to October; from November to March KMA reports a 3-hour total only at 00, 03, ..., 21 h, so the
    other winter hours are NaN (unknown, never 0 and never an invented share of the 3-hour total).
    """

    station_id: Series[int] = pa.Field(isin=sorted(KNOWN_STATIONS))
    observed_at: Series[TIMESTAMP_DTYPE] = pa.Field()  # type: ignore[valid-type]
    temperature_c: Series[float] = pa.Field(ge=-40, le=45, nullable=True)
    dew_point_c: Series[float] = pa.Field(ge=-50, le=35, nullable=True)
    humidity_pct: Series[float] = pa.Field(ge=0, le=100, nullable=True)
    wind_speed_ms: Series[float] = pa.Field(ge=0, le=75, nullable=True)
    wind_dir_deg: Series[float] = pa.Field(ge=0, le=360, nullable=True)
    precipitation_mm: Series[float] = pa.Field(ge=0, le=300, nullable=True)
    precipitation_type: Series[str] = pa.Field(isin=PRECIPITATION_TYPES)
    snow_depth_cm: Series[float] = pa.Field(ge=0, le=300, nullable=True)
    pressure_hpa: Series[float] = pa.Field(ge=870, le=1085, nullable=True)
    cloud_cover_tenths: Series[float] = pa.Field(ge=0, le=10, nullable=True)
    visibility_m: Series[float] = pa.Field(ge=0, le=200_000, nullable=True)

    @pa.check("observed_at", name="on_the_hour")
    def _on_the_hour(cls, observed_at: pd.Series) -> pd.Series[bool]:
        on_hour: pd.Series[bool] = (observed_at.dt.minute == 0) & (observed_at.dt.second == 0)
        return on_hour

    @pa.dataframe_check(name="dew_point_not_above_temperature")
    def _dew_point(cls, df: pd.DataFrame) -> pd.Series[bool]:
        # Sensors round independently, so allow half a degree; NaN on either side is not a violation.
        ok = df[cls.dew_point_c] <= df[cls.temperature_c] + 0.5
        return ok | df[cls.dew_point_c].isna() | df[cls.temperature_c].isna()

    class Config:
        strict = True
        ordered = True
        unique = ["station_id", "observed_at"]
        name = "observations"


OBSERVATION_COLUMNS: tuple[str, ...] = tuple(Observations.to_schema().columns)
