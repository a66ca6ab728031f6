"""Behavioural tests of a trained model: directional expectations and invariances (Made-With-ML style)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from commute_weather.features import build_features, feature_names, issue_times
from commute_weather.featurize import build_dataset
from commute_weather.model import build_pipeline, feature_matrix, predict_scores
from tests.conftest import synthetic_observations


@pytest.fixture(scope="module")
def trained(params) -> tuple[Pipeline, pd.DataFrame, pd.DataFrame]:  # type: ignore[no-untyped-def]
    observations = synthetic_observations((108, 119), "2021-01", "2022-12", seed=11)
    dataset, _ = build_dataset(observations, params)
    model = build_pipeline("hist_gradient_boosting", params.train, feature_names(params.featurize))
    model.fit(
        feature_matrix(dataset, feature_names(params.featurize)),
        dataset["label"],
        model__wet=dataset["wet_window"],
    )
    probe = dataset.sample(120, random_state=0)[["station_id", "date", "window"]].reset_index(drop=True)
    return model, observations, probe


def predict(model: Pipeline, observations: pd.DataFrame, targets: pd.DataFrame, params: Any) -> np.ndarray:
    features = build_features(observations, targets, params.commute, params.featurize, params.comfort)
    return predict_scores(model, feature_matrix(features, feature_names(params.featurize)))


def hours_before_issue(
    observations: pd.DataFrame, targets: pd.DataFrame, params: Any, hours: int
) -> pd.Series:
    mask = pd.Series(False, index=observations.index)
    for station, issue in zip(targets["station_id"], issue_times(targets, params.commute), strict=True):
        mask |= (observations["station_id"] == station) & observations["observed_at"].between(
            issue - pd.Timedelta(hours=hours - 1), issue
        )
    return mask


def test_heavy_precipitation_before_issue_time_does_not_raise_the_score(trained, params) -> None:  # type: ignore[no-untyped-def]
    model, observations, probe = trained
    base = predict(model, observations, probe, params)
    wet = observations.copy()
    before = hours_before_issue(wet, probe, params, hours=6)
    cold = wet["temperature_c"] <= 1
    wet.loc[before, "precipitation_type"] = np.where(cold[before], "snow", "rain")
    wet.loc[before, "precipitation_mm"] = 8.0
    wet.loc[before, "humidity_pct"] = 98.0
    wet.loc[before, "cloud_cover_tenths"] = 10.0
    stormy = predict(model, wet, probe, params)
    assert stormy.mean() < base.mean() - 5, (stormy.mean(), base.mean())


@pytest.mark.parametrize("temperature", [-15.0, 38.0])
def test_temperature_far_outside_the_band_lowers_the_score(trained, params, temperature: float) -> None:  # type: ignore[no-untyped-def]
    model, observations, probe = trained
    base = predict(model, observations, probe, params)
    extreme = observations.copy()
    before = hours_before_issue(extreme, probe, params, hours=24)
    extreme.loc[before, "temperature_c"] = temperature
    extreme.loc[before, "dew_point_c"] = temperature - 5
    assert predict(model, extreme, probe, params).mean() < base.mean() - 5


def test_row_order_does_not_change_predictions(trained, params) -> None:  # type: ignore[no-untyped-def]
    model, observations, probe = trained
    shuffled = observations.sample(frac=1.0, random_state=3)
    np.testing.assert_array_equal(
        predict(model, shuffled, probe, params), predict(model, observations, probe, params)
    )


def test_predictions_stay_in_the_label_range(trained, params) -> None:  # type: ignore[no-untyped-def]
    model, observations, probe = trained
    scores = predict(model, observations, probe, params)
    assert ((scores >= 0) & (scores <= 100)).all()
