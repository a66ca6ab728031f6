"""What the HTTP service does, without HTTP: checks that a request can be forecast honestly, builds the
features with the pipeline's own code and answers. service.py only wires this into BentoML."""

from __future__ import annotations

import math

import pandas as pd

from commute_weather.api_models import Forecast, ForecastRequest
from commute_weather.config import Window
from commute_weather.features import issue_times
from commute_weather.kma.client import KmaClient
from commute_weather.kma.typ01 import parse_typ01
from commute_weather.normalize import normalize
from commute_weather.predictor import Predictor


class RequestError(ValueError):
    """A request that is well-formed but cannot be forecast; the message names the field."""


def issue_time(predictor: Predictor, request: ForecastRequest) -> pd.Timestamp:
    stamp: pd.Timestamp = issue_times(request.target_frame(), predictor.commute).iloc[0]
    return stamp


def check_history(predictor: Predictor, request: ForecastRequest, frame: pd.DataFrame, prefix: str) -> None:
    """Observations must stop at issue time and include the hours the persistence baseline reads."""
    issue = issue_time(predictor, request)
    latest = frame["observed_at"].iloc[-1]
    if latest > issue:
        raise RequestError(
            f"{prefix}observations: the last hour {latest.isoformat()} is after issue time "
            f"{issue.isoformat()}; a {request.window} forecast for {request.date} may only use hours up to it"
        )
    hours = predictor.featurize.persistence_hours
    recent = frame["observed_at"] > issue - pd.Timedelta(hours=hours)
    if frame.loc[recent, "temperature_c"].isna().all():
        raise RequestError(
            f"{prefix}observations: need a temperature in the {hours} hours up to issue time "
            f"{issue.isoformat()} (send the last {predictor.history_hours} hours: the features read them all)"
        )


def forecast(predictor: Predictor, requests: list[ForecastRequest], model_version: str) -> list[Forecast]:
    """Forecasts in request order; one model call for all of them."""
    frames = [r.observation_frame() for r in requests]
    for i, (request, frame) in enumerate(zip(requests, frames, strict=True)):
        check_history(predictor, request, frame, prefix=f"requests[{i}]." if len(requests) > 1 else "")
    features = pd.concat(
        [predictor.features_for(f, r.target_frame()) for f, r in zip(frames, requests, strict=True)],
        ignore_index=True,
    )
    results = predictor.predict_features(features)
    span = pd.Timedelta(hours=predictor.history_hours - 1)
    answers = []
    for request, frame, score, label, persistence, issue in zip(
        requests, frames, results["score"].tolist(), results["label"].tolist(),
        results["persistence_score"].tolist(), features["issue_at"], strict=True,
    ):  # fmt: skip
        answers.append(
            Forecast(
                station_id=request.station_id,
                date=request.date,
                window=request.window,
                issue_at=issue.to_pydatetime(),
                score=score,
                label=label,
                persistence_score=None if math.isnan(persistence) else persistence,
                observed_hours=int(frame["observed_at"].between(issue - span, issue).sum()),
                history_hours=predictor.history_hours,
                model_version=model_version,
            )
        )
    return answers


def warmup_request(predictor: Predictor) -> ForecastRequest:
    """A plausible request with every hour the features read, to run once at startup: the first real
    request should not pay for lazy imports and first-call setup (seconds on a small node)."""
    day = pd.Timestamp("2024-06-15")
    probe = ForecastRequest.model_construct(
        station_id=108, date=day.date(), window="morning", observations=[]
    )
    issue = issue_time(predictor, probe)
    hours = pd.date_range(end=issue, periods=predictor.history_hours, freq="h")
    mild = {"temperature_c": 18.0, "dew_point_c": 10.0, "humidity_pct": 60.0, "wind_speed_ms": 2.0}
    observations = [{"observed_at": t.isoformat(), **mild} for t in hours]
    return ForecastRequest.model_validate(
        {"station_id": 108, "date": day.date(), "window": "morning", "observations": observations}
    )


def next_window(predictor: Predictor, now: pd.Timestamp) -> tuple[pd.Timestamp, Window]:
    """The next commute window whose issue time has passed: the only one that can be forecast honestly."""
    for day in (now.normalize(), now.normalize() + pd.Timedelta(days=1)):
        for window, hours in predictor.commute.windows.items():
            start = day + pd.Timedelta(hours=hours.start_hour)
            if start - pd.Timedelta(hours=predictor.commute.lead_hours) <= now < start:
                return day, window
    raise RequestError(
        f"no commute window is issued at {now.isoformat()}: forecasts are issued "
        f"{predictor.commute.lead_hours} h before each window starts"
    )


def live_request(
    predictor: Predictor, client: KmaClient, station_id: int, now: pd.Timestamp
) -> ForecastRequest:
    """Fetch the station's latest hours from the KMA API and shape them as a request."""
    day, window = next_window(predictor, now)
    start = now.floor("h") - pd.Timedelta(hours=predictor.history_hours + 1)
    what = f"station {station_id} latest"
    observations = normalize(parse_typ01(client.fetch_range(station_id, start, now.floor("h"), what), what))
    probe = ForecastRequest.model_construct(
        station_id=station_id, date=day.date(), window=window, observations=[]
    )
    issue = issue_time(predictor, probe)
    usable = observations[observations["observed_at"] <= issue]
    records = usable.drop(columns=["station_id"]).to_dict(orient="records")
    return ForecastRequest.model_validate(
        {
            "station_id": station_id,
            "date": day.date(),
            "window": window,
            "observations": [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in records],
        }
    )
