"""The P(wet) part a candidate shares during model selection, and the wet-window climatology."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from commute_weather.config import PipelineParams
from commute_weather.forecast.model import feature_matrix, predict_forecast, wet_climatology_table
from commute_weather.pipeline.featurize import build_dataset
from commute_weather.pipeline.train import fit, forecaster
from tests.conftest import synthetic_observations


@pytest.fixture(scope="module")
def dataset(params: PipelineParams) -> pd.DataFrame:
    frame, _ = build_dataset(synthetic_observations((108,), "2021-01", "2021-12", seed=5), params)
    return frame


def test_a_candidate_taking_the_shared_wet_part_forecasts_as_if_it_fitted_its_own(
    dataset: pd.DataFrame, params: PipelineParams
) -> None:
    first = fit("ridge", dataset, params)
    alone = fit("hist_gradient_boosting", dataset, params)
    shared = fit("hist_gradient_boosting", dataset, params, wet_part=first)
    assert forecaster(shared).classifier_ is forecaster(first).classifier_  # not fitted again
    x = feature_matrix(dataset, forecaster(alone).features)
    for key, values in predict_forecast(alone, x).items():
        np.testing.assert_array_equal(predict_forecast(shared, x)[key], values, err_msg=key)


def test_a_wet_part_fitted_on_other_rows_is_refused(dataset: pd.DataFrame, params: PipelineParams) -> None:
    other = fit("ridge", dataset.iloc[: len(dataset) // 2], params)
    with pytest.raises(ValueError, match="other training rows"):
        fit("ridge", dataset, params, wet_part=other)
    forecast = params.train.forecast.model_copy(update={"climatology_days": 30.0})
    tweaked = params.model_copy(update={"train": params.train.model_copy(update={"forecast": forecast})})
    with pytest.raises(ValueError, match="other climatology_days"):
        fit("ridge", dataset, tweaked, wet_part=fit("ridge", dataset, params))


def test_the_climatology_is_the_kernel_weighted_wet_share_per_window() -> None:
    """Against the definition, window by window: sum_i k(d, day_i) wet_i + prior * share over
    sum_i k(d, day_i) + prior, with the circular Gaussian kernel."""
    rng = np.random.default_rng(0)
    day = rng.integers(1, 366, 500).astype("float64")
    evening = rng.integers(0, 2, 500).astype("float64")
    wet = (rng.random(500) < 0.2 + 0.3 * (np.abs(day - 200) < 40)).astype("float64")
    table = wet_climatology_table(day, evening, wet, 15.0)
    for row in (0, 1):
        mine = evening == row
        for d in (1.0, 100.0, 200.0, 366.0):
            distance = np.abs(d - day[mine])
            distance = np.minimum(distance, 365.25 - distance)
            k = np.exp(-0.5 * (distance / 15.0) ** 2)
            expected = (k @ wet[mine] + 10.0 * wet[mine].mean()) / (k.sum() + 10.0)
            assert table[row, int(d) - 1] == pytest.approx(expected, rel=1e-12)
    assert table[:, 199].mean() > table[:, 0].mean() + 0.1  # the wet season stands out


def test_a_change_candidate_follows_persistence_beyond_the_labels_it_saw(
    dataset: pd.DataFrame, params: PipelineParams
) -> None:
    """Trees forecast only within the labels they saw; fitted to the change from persistence, the same
    trees add their change to persistence, so a forecast can go below the lowest label of training."""
    rng = np.random.default_rng(3)
    # a world where the window is persistence give or take 2 points, seen only with persistence >= 40
    seen = dataset[dataset["persistence_score"] >= 40]
    rows = seen.assign(label=np.clip(seen["persistence_score"] + rng.normal(0, 2, len(seen)), 0, 100))
    lowest = rows["label"].min()
    assert lowest > 25
    level = fit("hist_gradient_boosting", rows, params)
    change = fit("hist_gradient_boosting_change", rows, params)
    unseen = rows.assign(persistence_score=10.0).iloc[:200]  # far below anything seen in training
    x = feature_matrix(unseen, forecaster(level).features)
    assert forecaster(change).target_change
    assert not forecaster(level).target_change
    assert predict_forecast(level, x)["score"].min() >= lowest - 1e-9
    assert np.median(predict_forecast(change, x)["score"]) < lowest - 10
