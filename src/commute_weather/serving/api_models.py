"""Request and response models of the HTTP service.

An observation's physical ranges and the dew-point rule come from schemas.RANGES, the source the
pandera contract (schemas.Observations) reads too, so the service accepts exactly what the pipeline accepts.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)

from commute_weather.config import Window
from commute_weather.contracts.observations import (
    DEW_POINT_MARGIN_C,
    OBSERVATION_COLUMNS,
    RANGES,
    dew_point_ok,
)
from commute_weather.stations import KNOWN_STATIONS

MAX_OBSERVATIONS = 24 * 7
MAX_BATCH = 1000
KST_OFFSET = dt.timedelta(hours=9)
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)
# A station id as the OpenAPI schema publishes it: the known stations (validated in code, so that the
# message lists them). Strict: "108", 108.0 and true are not station ids (pydantic's lax mode took them).
StationId = Annotated[int, Strict(), WithJsonSchema({"type": "integer", "enum": sorted(KNOWN_STATIONS)})]


class _ObservationBase(BaseModel):
    model_config = STRICT

    observed_at: AwareDatetime = Field(description="the hour observed, KST (+09:00), on the hour")
    precipitation_type: Literal["none", "rain", "snow", "mixed"] = "none"

    @field_validator("observed_at")
    @classmethod
    def _kst_hour(cls, value: dt.datetime) -> dt.datetime:
        if value.utcoffset() != KST_OFFSET:
            raise ValueError("must be in KST (UTC+09:00), like KMA observations")
        if (value.minute, value.second, value.microsecond) != (0, 0, 0):
            raise ValueError("must be on the hour")
        return value

    @model_validator(mode="after")
    def _dew_point_not_above_temperature(self) -> _ObservationBase:
        dew_point, temperature = getattr(self, "dew_point_c", None), getattr(self, "temperature_c", None)
        if not dew_point_ok(dew_point, temperature):
            raise ValueError(
                f"dew_point_c: {dew_point} C is above temperature_c {temperature} C (by more than "
                f"{DEW_POINT_MARGIN_C} C): physically impossible"
            )
        return self


# source_file is the pipeline's provenance (which input file), not something a client sends.
_NOT_MEASURED = {"station_id", "observed_at", "precipitation_type", "source_file"}
_MEASURED = [c for c in OBSERVATION_COLUMNS if c not in _NOT_MEASURED]
Observation: type[_ObservationBase] = create_model(
    "Observation",
    __base__=_ObservationBase,
    **{c: (float | None, Field(None, ge=RANGES[c][0], le=RANGES[c][1])) for c in _MEASURED},  # type: ignore[call-overload]
)


class ForecastRequest(BaseModel):
    model_config = STRICT

    station_id: StationId = Field(description="KMA station id, e.g. 108 Seoul")
    date: dt.date = Field(description="the commute's date (KST)")
    window: Window
    observations: list[Observation] = Field(
        min_length=1,
        max_length=MAX_OBSERVATIONS,
        description="the station's hourly observations up to issue time (window start - lead), oldest first",
    )

    @field_validator("station_id")
    @classmethod
    def _known(cls, value: int) -> int:
        if value not in KNOWN_STATIONS:
            raise ValueError(f"unknown KMA station; known: {sorted(KNOWN_STATIONS)}")
        return value

    @model_validator(mode="after")
    def _ordered_hours(self) -> ForecastRequest:
        times = [o.observed_at for o in self.observations]
        for i, (earlier, later) in enumerate(itertools.pairwise(times), start=1):
            if later <= earlier:
                kind = "duplicate" if later == earlier else "out of order"
                raise ValueError(f"observations[{i}].observed_at: {kind} hour {later.isoformat()}")
        return self


class Forecast(BaseModel):
    station_id: int
    station_seen: bool = Field(
        description="whether the model was trained on this station's rows; false: it places the station by "
        "its coordinates and altitude only (see /model for how such stations score)"
    )
    date: dt.date
    window: Window
    issue_at: dt.datetime = Field(description="the forecast uses observations up to this hour")
    score: float = Field(description="predicted comfort, 0-100")
    label: str = Field(description="excellent >= 80, good >= 60, fair >= 40, else poor")
    wet_probability: float = Field(
        ge=0, le=1, description="probability that it rains or snows during the commute window"
    )
    score_low: float = Field(description="lower end of the score's 80% interval (10th percentile)")
    score_high: float = Field(description="upper end of the score's 80% interval (90th percentile)")
    persistence_score: float | None = Field(description="the heuristic on the last hours: the baseline")
    observed_hours: int = Field(description="hours with an observation among those the features read")
    history_hours: int = Field(description="hours up to issue time the features read; send them all")
    model_version: str = Field(description="Git SHA the model was trained and packaged at")


class BatchRequest(BaseModel):
    model_config = STRICT

    requests: list[ForecastRequest] = Field(min_length=1, max_length=MAX_BATCH)


class LiveForecast(BaseModel):
    """`/forecast`: the next window that can be forecast; the forecast itself once its issue time passed."""

    station_id: int
    date: dt.date = Field(description="the commute's date (KST)")
    window: Window
    issue_at: dt.datetime = Field(description="when this window's forecast is issued (window start - lead)")
    issued: bool = Field(description="true when issue time has passed and `forecast` holds the forecast")
    forecast: Forecast | None = Field(description="null until issue time; ask again then")


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer has this shape."""

    error: str = Field(description="what is wrong, naming the field(s) when a field is the cause")
    fields: list[str] = Field(
        default_factory=list,
        description="paths of the offending fields, e.g. request.observations.3.humidity_pct",
    )


class StationCard(BaseModel):
    station_id: int
    name: str
    seen: bool = Field(description="the model was trained on this station's rows")
    test: dict[str, Any] | None = Field(
        description="the station's test-year figures (model, persistence, skill and its interval), if any"
    )


class ModelCard(BaseModel):
    tag: str
    git_sha: str
    model_sha256: str = Field(description="sha256 of the served model file, as evaluated (dvc.lock)")
    model: str
    features: list[str]
    train_rows: int
    metrics: dict[str, Any]
    gate: dict[str, Any]
    params: dict[str, Any]
    stations: list[StationCard] = Field(
        description="the stations answered: those trained on, and those with test figures"
    )
    unseen_stations: bool = Field(description="whether any other registry station is answered too")
