"""Behavioural tests of a trained model: directional expectations and invariances (Made-With-ML style)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from commute_weather.features import build_features, feature_names, issue_times
from commute_weather.featurize import build_dataset
from commute_weather.model import (
    WET_MONOTONIC,
    build_pipeline,
    feature_matrix,
    predict_forecast,
    predict_scores,
)
from commute_weather.predictor import Predictor
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


@pytest.fixture(scope="module")
def hurdle(params) -> Pipeline:  # type: ignore[no-untyped-def]
    """The hurdle candidate (P(wet) x score if wet + ...) fitted on two synthetic years."""
    observations = synthetic_observations((108, 119), "2021-01", "2022-12", seed=11)
    dataset, _ = build_dataset(observations, params)
    model = build_pipeline("hurdle", params.train, feature_names(params.featurize))
    features = feature_matrix(dataset, feature_names(params.featurize))
    return model.fit(features, dataset["label"], model__wet=dataset["wet_window"])


def history_features(params, steps: dict[str, tuple[float, float]]) -> np.ndarray:  # type: ignore[no-untyped-def]
    """One autumn-morning target whose lookback goes linearly from each column's first to last value (the
    other columns steady and mild, no precipitation): the service's feature path."""
    predictor = Predictor(
        model=None, commute=params.commute, featurize=params.featurize, comfort=params.comfort
    )  # type: ignore[arg-type]
    hours = predictor.history_hours
    steady = {
        "temperature_c": (16.0, 16.0),
        "dew_point_c": (8.0, 8.0),
        "humidity_pct": (60.0, 60.0),
        "wind_speed_ms": (2.0, 2.0),
        "precipitation_mm": (0.0, 0.0),
        "snow_depth_cm": (0.0, 0.0),
        "pressure_hpa": (1012.0, 1012.0),
        "cloud_cover_tenths": (5.0, 5.0),
        "visibility_m": (15000.0, 15000.0),
    }
    history: dict[str, Any] = {"age_h": np.arange(hours)[::-1], "precipitation_type": ["none"] * hours}
    for name, (first, last) in {**steady, **steps}.items():
        history[name] = np.linspace(first, last, hours)
    return predictor.history_features(
        [history], station_id=np.array([108]), window=np.array(["morning"]), day_of_year=np.array([280])
    )


def wet_probability(model: Pipeline, features: np.ndarray) -> float:
    return float(predict_forecast(model, features)["wet_probability"][0])


STEADY: dict[str, tuple[float, float]] = {}
MOISTENING = {
    "humidity_pct": (55.0, 97.0),
    "dew_point_c": (6.0, 15.5),
    "temperature_c": (17.0, 16.0),
    "pressure_hpa": (1016.0, 1003.0),
    "cloud_cover_tenths": (3.0, 10.0),
    "visibility_m": (20000.0, 3000.0),
}
DRY_HIGH = {
    "humidity_pct": (45.0, 35.0),
    "dew_point_c": (3.0, 0.0),
    "temperature_c": (15.0, 17.0),
    "pressure_hpa": (1022.0, 1028.0),
    "cloud_cover_tenths": (2.0, 0.0),
    "visibility_m": (20000.0, 25000.0),
}


def test_rising_humidity_falling_pressure_and_thickening_cloud_raise_p_wet(hurdle, params) -> None:  # type: ignore[no-untyped-def]
    steady = wet_probability(hurdle, history_features(params, STEADY))
    moistening = wet_probability(hurdle, history_features(params, MOISTENING))
    assert moistening > steady + 0.05, (moistening, steady)


def test_a_dry_high_pressure_history_lowers_p_wet(hurdle, params) -> None:  # type: ignore[no-untyped-def]
    steady = wet_probability(hurdle, history_features(params, STEADY))
    dry = wet_probability(hurdle, history_features(params, DRY_HIGH))
    assert dry < steady, (dry, steady)
    assert dry < 0.2


# wet_climatology is a column the model computes inside (fitted in fit()), not a feature one can sweep
@pytest.mark.parametrize(("feature", "sign"), sorted(set(WET_MONOTONIC.items()) - {("wet_climatology", 1)}))
def test_p_wet_is_monotone_in_each_constrained_feature(hurdle, params, feature: str, sign: int) -> None:  # type: ignore[no-untyped-def]
    """Wherever the physics gives a sign (model.WET_MONOTONIC), P(wet) never moves against it, from any
    starting point: sweep the feature over its range on real-looking rows, the others fixed."""
    names = feature_names(params.featurize)
    rows = np.vstack([history_features(params, STEADY), history_features(params, MOISTENING),
                      history_features(params, DRY_HIGH)])  # fmt: skip
    column = names.index(feature)
    sweep = np.linspace(-60.0, 60.0, 41) if feature != "hours_since_wet" else np.arange(0.0, 26.0)
    for row in rows:
        grid = np.repeat(row[None, :], len(sweep), axis=0)
        grid[:, column] = sweep
        p = predict_forecast(hurdle, grid)["wet_probability"]
        assert (sign * np.diff(p) >= -1e-12).all(), (feature, p)


def test_every_forecast_has_an_ordered_interval_around_its_score(hurdle, params) -> None:  # type: ignore[no-untyped-def]
    rows = np.vstack([history_features(params, s) for s in (STEADY, MOISTENING, DRY_HIGH)])
    forecast = predict_forecast(hurdle, rows)
    assert (forecast["score_low"] <= forecast["score"]).all()
    assert (forecast["score"] <= forecast["score_high"]).all()
    assert ((forecast["wet_probability"] >= 0) & (forecast["wet_probability"] <= 1)).all()


def test_the_wet_climatology_is_fitted_on_the_rows_given_to_fit_only(params) -> None:  # type: ignore[no-untyped-def]
    """The climatology feature is fitted inside fit(): forecasts never depend on the labels of the rows
    they are made for."""
    observations = synthetic_observations((108,), "2021-01", "2021-12", seed=5)
    dataset, _ = build_dataset(observations, params)
    names = feature_names(params.featurize)
    fit_rows, later = dataset.iloc[:500], dataset.iloc[500:]
    model = build_pipeline("hurdle", params.train, names)
    model.fit(feature_matrix(fit_rows, names), fit_rows["label"], model__wet=fit_rows["wet_window"])
    before = predict_forecast(model, feature_matrix(later, names))
    flipped = later.assign(wet_window=~later["wet_window"], label=100 - later["label"])
    after = predict_forecast(model, feature_matrix(flipped, names))
    for key in before:
        np.testing.assert_allclose(before[key], after[key], rtol=1e-12)  # a forest's parallel sums
