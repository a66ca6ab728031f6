"""The estimators and the one prediction path every consumer uses (train, evaluate, the service)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from commute_weather.config import ModelName, TrainParams

CATEGORICAL = ("station",)


def feature_matrix(frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """The models' input: the feature columns in the model's order. Models are fitted and called on arrays
    with columns chosen by position, which spares pandas' column lookups on every call (most of the cost
    of a one-row prediction)."""
    return frame[list(features)].to_numpy(dtype="float64")


def build_pipeline(name: ModelName, params: TrainParams, features: list[str]) -> Pipeline:
    categorical = [i for i, f in enumerate(features) if f in CATEGORICAL]
    numeric = [i for i, f in enumerate(features) if f not in CATEGORICAL]
    station = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    estimator: Any
    if name == "hist_gradient_boosting":
        hgb = params.hist_gradient_boosting
        # Trees split on NaN and on the station as a category natively: no column transformer (its
        # per-call cost is ~10% of a one-request prediction; the predictions are the same).
        boosting = HistGradientBoostingRegressor(
            learning_rate=hgb.learning_rate,
            max_iter=hgb.max_iter,
            max_leaf_nodes=hgb.max_leaf_nodes,
            min_samples_leaf=hgb.min_samples_leaf,
            l2_regularization=hgb.l2_regularization,
            categorical_features=categorical,  # station ids (< max_bins); unseen ones count as missing
            early_stopping=False,
            random_state=params.seed,
        )
        return Pipeline([("model", boosting)])
    if name == "random_forest":
        numeric_step = SimpleImputer(strategy="median")
        rf = params.random_forest
        estimator = RandomForestRegressor(
            n_estimators=rf.n_estimators,
            min_samples_leaf=rf.min_samples_leaf,
            max_features=rf.max_features,
            random_state=params.seed,
            n_jobs=-1,  # trees are seeded one by one: the forest is the same on any number of cores
        )
    else:
        numeric_step = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        estimator = Ridge(alpha=params.ridge.alpha)
    columns = ColumnTransformer(
        [("station", station, categorical), ("numeric", numeric_step, numeric)],
        verbose_feature_names_out=False,
    )
    return Pipeline([("columns", columns), ("model", estimator)])


def predict_scores(model: Pipeline, features: np.ndarray) -> np.ndarray:
    """Model scores clipped to the label's 0-100 range: the one prediction path for every consumer.
    `features` is a `feature_matrix`. The steps are applied directly because Pipeline.predict re-checks
    that every step is fitted on each call, ~2 ms of a one-row prediction; a loaded model is fitted."""
    transformed = features
    for _, step in model.steps[:-1]:
        transformed = step.transform(transformed)
    raw = model.steps[-1][1].predict(transformed)
    scores: np.ndarray = np.clip(np.asarray(raw, dtype="float64"), 0.0, 100.0)
    return scores


def rmse(actual: ArrayLike, predicted: ArrayLike) -> float:
    return float(np.sqrt(np.mean((np.asarray(actual) - np.asarray(predicted)) ** 2)))
