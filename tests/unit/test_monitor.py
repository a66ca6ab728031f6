"""The monitor's statistics (PSI, the coverage band), its plot, and the live datasets' params rule."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from commute_weather.cli import StageError
from commute_weather.config import PipelineParams
from commute_weather.forecast.predictor import Predictor
from commute_weather.reporting.monitor import (
    coverage_band,
    forecast_plot,
    issue_forecasts,
    period,
    psi,
    same_season,
)
from tests.conftest import synthetic_observations


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 5000)
    assert psi(reference, reference, bins=5) == pytest.approx(0, abs=1e-9)
    assert psi(reference, rng.normal(0, 1, 5000), bins=5) < 0.01
    assert psi(reference, rng.normal(1.5, 1, 5000), bins=5) > 1.0


def test_psi_noise_floor_matches_the_documented_bias() -> None:
    """No shift at all: PSI on 56 windows averages about (bins - 1)(1/n + 1/m), the floor the monitor adds."""
    rng = np.random.default_rng(1)
    reference = rng.normal(0, 1, 200)
    values = [psi(reference, rng.normal(0, 1, 56), bins=5) for _ in range(400)]
    floor = 4 * (1 / 56 + 1 / 200)
    assert np.mean(values) == pytest.approx(floor, rel=0.3)


def test_psi_counts_missing_values_as_their_own_bin() -> None:
    reference = np.arange(100, dtype="float64")
    current = reference.copy()
    current[:40] = np.nan
    assert psi(reference, current, bins=5) > 1.0


def test_coverage_band_is_the_binomial_acceptance_region() -> None:
    low, high = coverage_band(56, 0.01, 0.8)
    assert low < 0.8 < high
    assert (low, high) == pytest.approx((37 / 56, 52 / 56))
    narrow = coverage_band(5000, 0.01, 0.8)
    assert low < narrow[0] < 0.8 < narrow[1] < high


def test_period_ends_at_the_last_date_whose_evening_window_is_observed() -> None:
    stamps = pd.date_range("2023-03-01", "2023-03-22 20:00", freq="h", tz="Asia/Seoul")
    frame = pd.DataFrame({"observed_at": stamps})
    assert period(frame, 7) == (dt.date(2023, 3, 15), dt.date(2023, 3, 21))
    later = pd.DataFrame({"observed_at": pd.date_range(stamps[0], periods=len(stamps) + 1, freq="h")})
    assert period(later, 7)[1] == dt.date(2023, 3, 22)


def test_same_season_wraps_around_the_new_year() -> None:
    dates = pd.Series(pd.date_range("2021-01-01", "2021-12-31", freq="D"))
    rows = same_season(pd.DataFrame({"date": dates}), dt.date(2023, 1, 1), dt.date(2023, 1, 14))
    months = set(rows["date"].dt.month)
    assert months == {1, 12}
    # centre 7 January, reach 6.5 + 14 days: 1-27 January and 18-31 December
    assert len(rows) == 27 + 14


def test_the_plot_draws_every_window_at_its_start_with_interval_and_persistence(
    params: PipelineParams,
) -> None:
    rows = pd.DataFrame(
        {
            "station_id": [131, 131],
            "date": pd.to_datetime(["2023-03-21", "2023-03-21"]),
            "window": ["morning", "evening"],
            "label": [80.0, 60.0],
            "score": [75.0, 65.0],
            "score_low": [70.0, 55.0],
            "score_high": [85.0, 75.0],
            "persistence_score": [90.0, None],
        }
    )
    spec = forecast_plot(rows, params.commute, "title")
    values = spec["data"]["values"]
    assert [v["time"] for v in values] == ["2023-03-21T07:00:00", "2023-03-21T18:00:00"]
    assert values[1]["persistence"] is None and values[0]["what happened"] == 80.0
    band, lines = spec["spec"]["layer"]
    assert band["encoding"]["y"]["field"] == "low" and band["encoding"]["y2"]["field"] == "high"
    assert lines["transform"][0]["fold"] == ["model", "persistence", "what happened"]


def live_params(params: PipelineParams, dataset: dict[str, Any]) -> dict[str, Any]:
    raw = params.model_dump(mode="json", by_alias=True)
    live = {"stations": [108], "start_month": "2024-01", "end_month": "latest", "input": "data/external/live"}
    raw["retrain"]["live"] = {"live": live}
    raw["datasets"]["live"] = dataset
    return raw


def test_a_dataset_under_a_live_datasets_name_must_be_its_embedded_months(params: PipelineParams) -> None:
    embedded = {"source": "typ01", "real": True, "stations": [108], "start_month": "2024-01",
                "end_month": "2024-06", "input": "data/external/live"}  # fmt: skip
    PipelineParams.model_validate(live_params(params, embedded))  # what a merged retraining PR holds
    other = {**embedded, "source": "csv", "input": "data/external/kma"}  # another record of the same name
    with pytest.raises(ValidationError, match=r"retrain.live.live and datasets.live differ"):
        PipelineParams.model_validate(live_params(params, other))


def test_the_monitor_scores_only_stations_the_service_answers_for(params: PipelineParams) -> None:
    observations = synthetic_observations((119,), "2024-03", "2024-03")
    served = Predictor(
        model=None,  # type: ignore[arg-type]  # never called: no window gets that far
        commute=params.commute, featurize=params.featurize, comfort=params.comfort,
        seen_stations=frozenset({108}), answers_unseen=False,
    )  # fmt: skip
    with pytest.raises(StageError, match="a station the served model does not answer for"):
        issue_forecasts(served, observations, dt.date(2024, 3, 10), dt.date(2024, 3, 12), "v1")
