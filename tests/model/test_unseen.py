"""Leave-one-station-out (pipeline.unseen): the model fitted without a station has really never seen it, and
the shipped model that did is scored on the same windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from commute_weather.forecast.features import feature_names
from commute_weather.forecast.model import feature_matrix, predict_scores
from commute_weather.forecast.split import assign_split
from commute_weather.pipeline.featurize import build_dataset
from commute_weather.pipeline.train import fit_as_shipped
from commute_weather.pipeline.unseen import leave_one_station_out
from tests.conftest import synthetic_observations

OFFSET_STATION, OFFSET = 131, 30.0


@pytest.fixture(scope="module")
def small(params):  # type: ignore[no-untyped-def]
    """Quick settings: a small boosting model, one dataset split like the defaults."""
    boosting = params.train.hist_gradient_boosting.model_copy(update={"max_iter": 40})
    train = params.train.model_copy(update={"hist_gradient_boosting": boosting})
    return params.model_copy(update={"train": train})


@pytest.fixture(scope="module")
def dataset(small) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Three synthetic stations; one of them (Cheongju) far less comfortable than its weather says: only a
    model that saw its rows can know that."""
    observations = synthetic_observations((108, 119, OFFSET_STATION), "2021-01", "2022-12", seed=5)
    rows, _ = build_dataset(observations, small)
    odd = rows["station_id"] == OFFSET_STATION
    return rows.assign(label=np.where(odd, rows["label"] - OFFSET, rows["label"]))


def test_a_left_out_station_is_one_the_model_never_saw(dataset: pd.DataFrame, small) -> None:  # type: ignore[no-untyped-def]
    split = assign_split(dataset["date"], small.split)
    fit_rows = dataset[split != "test"]
    shipped = fit_as_shipped("hist_gradient_boosting", fit_rows, split[split != "test"], small)
    result = leave_one_station_out(dataset, shipped, "hist_gradient_boosting", small, "sample")

    assert set(result["stations"]) == {"108", "119", str(OFFSET_STATION)}
    assert result["never_in_training"] == []
    odd = result["stations"][str(OFFSET_STATION)]
    # Without its rows the model forecasts Cheongju like its neighbours: about OFFSET too comfortable.
    assert odd["unseen_rmse"] > odd["seen_rmse"] + OFFSET / 2
    assert odd["unseen_vs_seen"]["verdict"] == "worsens"
    for usual in ("108", "119"):  # stations like the others lose little when left out
        figures = result["stations"][usual]
        assert figures["unseen_rmse"] < figures["seen_rmse"] + OFFSET / 4
    # the shipped model's figure is the shipped model's own forecast of those windows
    test = dataset[(split == "test") & dataset["persistence_score"].notna()]
    rows = test[test["station_id"] == OFFSET_STATION]
    seen = predict_scores(shipped, feature_matrix(rows, feature_names(small.featurize)))
    assert odd["seen_rmse"] == pytest.approx(float(np.sqrt(np.mean((seen - rows["label"]) ** 2))), abs=1e-4)


def test_a_station_first_seen_in_the_test_year_is_listed_as_never_trained_on(
    dataset: pd.DataFrame,
    small,  # type: ignore[no-untyped-def]
) -> None:
    split = assign_split(dataset["date"], small.split)
    late = (dataset["station_id"] == 119) & (split != "test")
    newcomer = dataset[~late]  # station 119's record starts in the test year
    split = assign_split(newcomer["date"], small.split)
    shipped = fit_as_shipped(
        "hist_gradient_boosting", newcomer[split != "test"], split[split != "test"], small
    )
    result = leave_one_station_out(newcomer, shipped, "hist_gradient_boosting", small, "sample")
    assert result["never_in_training"] == [119]
    assert set(result["stations"]) == {"108", str(OFFSET_STATION)}
