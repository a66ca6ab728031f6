"""What the HTTP service does, without HTTP: checks that a request can be forecast honestly, builds the
features with the pipeline's own code and answers. service.py only wires this into BentoML."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from commute_weather.config import Window
from commute_weather.forecast import features
from commute_weather.forecast.comfort import comfort_label
from commute_weather.forecast.predictor import Predictor
from commute_weather.serving.api_models import Forecast, ForecastRequest, Observation, StationCard
from commute_weather.sources.kma.client import KmaClient
from commute_weather.sources.kma.typ01 import parse_typ01
from commute_weather.sources.normalize import normalize
from commute_weather.stations import KNOWN_STATIONS, station_name

HOUR = dt.timedelta(hours=1)


class RequestError(ValueError):
    """A request that is well-formed but cannot be forecast; the message names the field."""


def issue_time(predictor: Predictor, request: ForecastRequest) -> dt.datetime:
    stamp: dt.datetime = features.issue_time(request.date, request.window, predictor.commute).to_pydatetime()
    return stamp


def check_history(predictor: Predictor, request: ForecastRequest, issue: dt.datetime, prefix: str) -> None:
    """Observations must stop at issue time and include the hours the persistence baseline reads."""
    latest = request.observations[-1].observed_at
    if latest > issue:
        raise RequestError(
            f"{prefix}observations: the last hour {latest.isoformat()} is after issue time "
            f"{issue.isoformat()}; a {request.window} forecast for {request.date} may only use hours up to it"
        )
    hours = predictor.featurize.persistence_hours
    since = issue - hours * HOUR
    recent = [o for o in request.observations if o.observed_at > since]
    if all(o.temperature_c is None for o in recent):  # type: ignore[attr-defined]  # fields from the contract
        raise RequestError(
            f"{prefix}observations: need a temperature in the {hours} hours up to issue time "
            f"{issue.isoformat()} (send the last {predictor.history_hours} hours: the features read them all)"
        )


def history(request: ForecastRequest, issue: dt.datetime) -> dict[str, Any]:
    """The request's observations as `features.history_grid` takes them: ages in hours before issue time
    and one array per column."""
    observations = request.observations
    columns: dict[str, Any] = {
        "age_h": np.array([(issue - o.observed_at) // HOUR for o in observations], dtype="int64"),
        "precipitation_type": [o.precipitation_type for o in observations],
    }
    for name in features.GRID_COLUMNS:
        if name != "precipitation_type":
            columns[name] = np.array([getattr(o, name) for o in observations], dtype="float64")
    return columns


def check_station(predictor: Predictor, station_id: int, prefix: str = "") -> None:
    """The served model answers for the stations it was trained on (and any registry station only when
    packaged with serve.unseen_stations)."""
    if not predictor.answers_for(station_id):
        known = ", ".join(station_name(s) for s in sorted(predictor.seen_stations))
        raise RequestError(
            f"{prefix}station_id: the served model was not trained on station {station_id} and answers only "
            f"for the stations it was trained on: {known}"
        )


def station_cards(predictor: Predictor, metrics: dict[str, Any]) -> list[StationCard]:
    """/model's station list: every station trained on or scored on the test year, with its test figures
    (`seen` false: what the model does for a station it never saw)."""
    tested = metrics.get("by_station", {})
    ids = sorted(predictor.seen_stations | {int(s) for s in tested})
    figures = ("rows", "model_rmse", "persistence_rmse", "vs_persistence", "probabilistic")
    return [
        StationCard(
            station_id=s,
            name=KNOWN_STATIONS[s].name if s in KNOWN_STATIONS else str(s),
            seen=s in predictor.seen_stations,
            test={k: tested[str(s)][k] for k in figures if k in tested[str(s)]} if str(s) in tested else None,
        )
        for s in ids
    ]


def check_requests(predictor: Predictor, requests: list[ForecastRequest]) -> list[dt.datetime]:
    """Check every request (RequestError names the first bad one); their issue times."""
    issues = [issue_time(predictor, r) for r in requests]
    for i, (request, issue) in enumerate(zip(requests, issues, strict=True)):
        prefix = f"requests[{i}]." if len(requests) > 1 else ""
        check_station(predictor, request.station_id, prefix)
        check_history(predictor, request, issue, prefix)
    return issues


def forecast(predictor: Predictor, requests: list[ForecastRequest], model_version: str) -> list[Forecast]:
    """Forecasts in request order; one feature computation and one model call for all of them."""
    return forecast_checked(predictor, requests, check_requests(predictor, requests), model_version)


def forecast_checked(
    predictor: Predictor, requests: list[ForecastRequest], issues: list[dt.datetime], model_version: str
) -> list[Forecast]:
    """`forecast` for requests that passed `check_requests`, with the issue times it returned."""
    histories = [history(r, issue) for r, issue in zip(requests, issues, strict=True)]
    matrix = predictor.history_features(
        histories,
        station_id=np.array([r.station_id for r in requests]),
        window=np.array([r.window for r in requests]),
        day_of_year=features.day_of_year(issues),
    )
    predicted = predictor.forecast(matrix)
    labels = comfort_label(predicted["score"], predictor.comfort)
    persistence = matrix[:, predictor.features.index("persistence_score")]
    answers = []
    for request, issue, past, score, label, wet, low, high, baseline in zip(
        requests,
        issues,
        histories,
        predicted["score"].tolist(),
        labels.tolist(),
        predicted["wet_probability"].tolist(),
        predicted["score_low"].tolist(),
        predicted["score_high"].tolist(),
        persistence.tolist(),
        strict=True,
    ):
        age = past["age_h"]
        answers.append(
            Forecast(
                station_id=request.station_id,
                station_seen=request.station_id in predictor.seen_stations,
                date=request.date,
                window=request.window,
                issue_at=issue,
                score=score,
                label=label,
                wet_probability=wet,
                score_low=low,
                score_high=high,
                persistence_score=None if math.isnan(baseline) else baseline,
                observed_hours=int(((age >= 0) & (age < predictor.history_hours)).sum()),
                history_hours=predictor.history_hours,
                model_version=model_version,
            )
        )
    return answers


def warmup_request(predictor: Predictor) -> ForecastRequest:
    """A plausible request with every hour the features read, to run once at startup: the first real
    request should not pay for lazy imports and first-call setup (seconds on a small node)."""
    day = pd.Timestamp("2024-06-15")
    issue = features.issue_time(day.date(), "morning", predictor.commute)
    hours = pd.date_range(end=issue, periods=predictor.history_hours, freq="h")
    mild = {"temperature_c": 18.0, "dew_point_c": 10.0, "humidity_pct": 60.0, "wind_speed_ms": 2.0}
    observations = [{"observed_at": t.isoformat(), **mild} for t in hours]
    return ForecastRequest.model_validate(
        {
            "station_id": min(predictor.seen_stations, default=108),
            "date": day.date(),
            "window": "morning",
            "observations": observations,
        }
    )


def next_window(
    predictor: Predictor, now: pd.Timestamp, window: Window | None = None
) -> tuple[pd.Timestamp, Window, pd.Timestamp]:
    """The next commute window (of the given name, or any) that has not started at `now`: its date, name
    and issue time. Its forecast can be made honestly once issue time has passed, not before."""
    upcoming = []
    for day in (now.normalize(), now.normalize() + pd.Timedelta(days=1)):
        for name, hours in predictor.commute.windows.items():
            start = day + pd.Timedelta(hours=hours.start_hour)
            if start > now and window in (None, name):
                upcoming.append((start, day, name))
    start, day, name = min(upcoming)
    return day, name, start - pd.Timedelta(hours=predictor.commute.lead_hours)


def live_request(
    predictor: Predictor, client: KmaClient, station_id: int, now: pd.Timestamp, window: Window | None = None
) -> ForecastRequest:
    """Fetch the station's latest hours from the KMA API and shape them as a request for the next window,
    whose issue time must have passed."""
    day, window, issue = next_window(predictor, now, window)
    if issue > now:
        raise RequestError(f"window: the {window} forecast for {day.date()} is issued at {issue.isoformat()}")
    start = now.floor("h") - pd.Timedelta(hours=predictor.history_hours + 1)
    what = f"station {station_id} latest"
    observations = normalize(parse_typ01(client.fetch_range(station_id, start, now.floor("h"), what), what))
    return request_from_frame(
        station_id, day.date(), window, observations[observations["observed_at"] <= issue]
    )


def request_from_frame(
    station_id: int, date: dt.date, window: Window, observations: pd.DataFrame
) -> ForecastRequest:
    """A request from a station's normalized observations (the pipeline's frame, oldest first): the columns
    a client sends, without the pipeline's own (station_id is the request's, source_file provenance)."""
    sent = [c for c in observations.columns if c in Observation.model_fields]
    records = observations[sent].to_dict(orient="records")
    return ForecastRequest.model_validate(
        {
            "station_id": station_id,
            "date": date,
            "window": window,
            "observations": [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in records],
        }
    )
