"""The candidates as params.yaml configures them; the probabilistic scores evaluate reports and the
baselines they are measured against."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge

from commute_weather.forecast.features import feature_names
from commute_weather.forecast.model import (
    build_pipeline,
    probabilistic_scores,
    wet_climatology,
    wet_persistence,
)


def test_probabilistic_scores_by_hand() -> None:
    """Four windows, two wet: P(wet) 0.5 everywhere scores a Brier of 0.25; persistence (wet when the last
    3 hours were) is right twice and wrong twice, 0.5; the climatology 0.5 ties with the model. A label on
    either end of its interval counts as inside."""
    rows = pd.DataFrame({"wet_window": [True, False, True, False], "wet_share_3h": [1.0, 0.5, 0.0, 0.0],
                         "label": [10.0, 20.0, 30.0, 40.0]})  # fmt: skip
    forecast = {
        "wet_probability": np.full(4, 0.5),
        "score_low": np.array([10.0, 21.0, 0.0, 0.0]),  # label on the low end, above, -, below
        "score_high": np.array([15.0, 25.0, 30.0, 39.0]),  # -, -, label on the high end, -
    }
    scores = probabilistic_scores(rows, forecast, climatology=np.full(4, 0.5))
    assert scores == {
        "brier": 0.25,
        "brier_persistence": 0.5,
        "brier_climatology": 0.25,
        "brier_skill_vs_persistence": 0.5,
        "brier_skill_vs_climatology": 0.0,
        "interval_coverage": 0.5,
        "interval_mean_width": 19.5,
    }


def test_a_perfect_and_a_contrary_forecast() -> None:
    rows = pd.DataFrame({"wet_window": [True, False, False], "wet_share_3h": [0.0, 1.0, np.nan],
                         "label": [50.0, 60.0, 70.0]})  # fmt: skip
    wet = rows["wet_window"].to_numpy(dtype="float64")
    interval = {"score_low": rows["label"].to_numpy() - 1, "score_high": rows["label"].to_numpy() + 1}
    perfect = probabilistic_scores(rows, {"wet_probability": wet, **interval}, np.full(3, 1 / 3))
    assert (perfect["brier"], perfect["brier_skill_vs_persistence"]) == (0.0, 1.0)
    assert perfect["brier_skill_vs_climatology"] == 1.0
    assert (perfect["interval_coverage"], perfect["interval_mean_width"]) == (1.0, 2.0)
    contrary = probabilistic_scores(rows, {"wet_probability": 1 - wet, **interval}, np.full(3, 1 / 3))
    assert contrary["brier"] == 1.0
    assert contrary["brier_skill_vs_climatology"] < 0


def test_wet_persistence_is_wet_after_any_wet_hour_in_the_last_three() -> None:
    frame = pd.DataFrame({"wet_share_3h": [0.0, 1 / 3, 1.0, np.nan]})
    np.testing.assert_array_equal(wet_persistence(frame), [0.0, 1.0, 1.0, 0.0])


def test_wet_climatology_falls_back_to_the_station_then_to_all_rows() -> None:
    """Per station, month and window on the fit rows; a month the station has no rows for takes the
    station's share for that window; a station the fit rows do not have takes the share of all rows."""
    fit_rows = pd.DataFrame(
        {
            "station_id": [108, 108, 108, 108, 119],
            "date": pd.to_datetime(["2021-01-05", "2021-01-06", "2021-02-01", "2021-02-02", "2021-01-05"]),
            "window": ["morning", "morning", "morning", "evening", "morning"],
            "wet_window": [True, False, True, True, False],
        }
    )
    rows = pd.DataFrame(
        {
            "station_id": [108, 108, 108, 131],
            "date": pd.to_datetime(["2022-01-10", "2022-03-10", "2022-02-10", "2022-01-10"]),
            "window": ["morning", "morning", "evening", "morning"],
        }
    )
    np.testing.assert_allclose(wet_climatology(fit_rows, rows), [0.5, 2 / 3, 1.0, 0.6])


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_wet_climatology_of_a_dry_or_wet_record(share: float) -> None:
    fit_rows = pd.DataFrame({"station_id": [108] * 3, "date": pd.to_datetime(["2021-01-01"] * 3),
                             "window": ["morning"] * 3, "wet_window": [bool(share)] * 3})  # fmt: skip
    rows = fit_rows.assign(station_id=[108, 119, 131])
    np.testing.assert_array_equal(wet_climatology(fit_rows, rows), [share] * 3)


def test_skill_against_a_perfect_reference_is_zero_not_a_division_by_zero() -> None:
    rows = pd.DataFrame({"wet_window": [True, False], "wet_share_3h": [1.0, 0.0], "label": [50.0, 60.0]})
    forecast = {
        "wet_probability": np.array([0.9, 0.2]),
        "score_low": np.zeros(2),
        "score_high": np.full(2, 100.0),
    }
    scores = probabilistic_scores(rows, forecast, climatology=np.array([1.0, 0.0]))
    assert (scores["brier_persistence"], scores["brier_climatology"]) == (0.0, 0.0)
    assert (scores["brier_skill_vs_persistence"], scores["brier_skill_vs_climatology"]) == (0.0, 0.0)


def estimator(pipeline: Any) -> Any:
    """The last step of a (nested) Pipeline."""
    return pipeline.steps[-1][1]


def test_each_candidate_is_the_estimator_its_name_says_with_its_params_yaml_settings(params: Any) -> None:
    """`train.<candidate>` in params.yaml must reach the estimator DVC retrains when it changes: a setting
    that is dropped on the way makes `dvc params diff` report a change the model never saw."""
    names = feature_names(params.featurize)
    train, forecast = params.train, params.train.forecast
    built = {name: estimator(build_pipeline(name, train, names)) for name in ("hist_gradient_boosting",
             "random_forest", "ridge", "hurdle")}  # fmt: skip
    for forecaster in built.values():
        assert forecaster.wet_classifier == forecast.wet_classifier.model_dump(exclude={"monotonic"})
        assert (forecaster.monotonic, forecaster.recalibrate_wet) == (
            forecast.wet_classifier.monotonic, forecast.recalibrate_wet)  # fmt: skip
        assert (forecaster.climatology_days, forecaster.interval) == (
            forecast.climatology_days, forecast.interval)  # fmt: skip
        assert (forecaster.blend_persistence, forecaster.seed) == (forecast.blend_persistence, train.seed)
    boosting = estimator(built["hist_gradient_boosting"].score_model)
    assert isinstance(boosting, HistGradientBoostingRegressor)
    assert boosting.get_params() | train.hist_gradient_boosting.model_dump() == boosting.get_params()
    assert (boosting.random_state, boosting.early_stopping) == (train.seed, False)
    assert boosting.categorical_features == "from_dtype"  # float arrays: none (stations enter as descriptors)
    forest = estimator(built["random_forest"].score_model)
    assert isinstance(forest, RandomForestRegressor)
    assert forest.get_params() | train.random_forest.model_dump() == forest.get_params()
    assert forest.random_state == train.seed
    ridge = estimator(built["ridge"].score_model)
    assert isinstance(ridge, Ridge)
    assert ridge.alpha == train.ridge.alpha
    assert built["random_forest"].hurdle is None
    assert built["hurdle"].hurdle == train.hurdle.model_dump()
    for blend in (True, False):
        hurdle = train.model_copy(update={"hurdle": train.hurdle.model_copy(update={"blend_forest": blend})})
        score_model = estimator(build_pipeline("hurdle", hurdle, names)).score_model
        if blend:
            assert isinstance(estimator(score_model), RandomForestRegressor)
            assert estimator(score_model).n_estimators == train.hurdle.forest_trees
        else:
            assert score_model is None
