"""The estimators and the one prediction path every consumer uses (train, evaluate, the service).

Every candidate is a `Forecaster`: its score model (one regressor, or the hurdle: P(wet) x score if wet +
(1 - P(wet)) x score if dry), a classifier for P(wet window) that every candidate carries, a wet-window
climatology fitted inside `fit` (training rows only), and what `calibrate` fits on validation rows only:
Platt scaling of P(wet), a weight on persistence, and the score interval (validation residual quantiles
per band of P(wet)).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from commute_weather.config import CHANGE_SUFFIX, ModelName, TrainParams

# The physics' sign of P(wet) in a predictor (+1 rises with it, -1 falls), for monotonic constraints:
# moister, cloudier air, falling pressure and rain already falling make a wet window more likely.
WET_MONOTONIC = {
    "humidity_pct_now": 1,
    "cloud_cover_tenths_now": 1,
    "dew_point_depression_now": -1,
    "pressure_change_3h": -1,
    "pressure_change_6h": -1,
    "pressure_change_12h": -1,
    "humidity_change_3h": 1,
    "humidity_change_6h": 1,
    "cloud_change_3h": 1,
    "cloud_change_6h": 1,
    "wet_share_3h": 1,
    "precipitation_sum_3h": 1,
    "wet_climatology": 1,
    "dew_point_depression_change_3h": -1,
    "dew_point_depression_change_6h": -1,
    "pressure_anomaly": -1,
    "hours_since_wet": -1,
}
PWET_BANDS = (0.15, 0.5)  # the interval's residual quantiles are fitted per band of P(wet)
MIN_BAND_ROWS = 30  # a band with fewer validation rows uses the quantiles of all rows


def feature_matrix(frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """The models' input: the feature columns in the model's order. Models are fitted and called on arrays
    with columns chosen by position, which spares pandas' column lookups on every call (most of the cost
    of a one-row prediction)."""
    return frame[list(features)].to_numpy(dtype="float64")


def build_pipeline(name: ModelName, params: TrainParams, features: list[str]) -> Pipeline:
    """The candidate `name` as a one-step Pipeline around its `Forecaster`. A name ending in `_change` is
    the same model fitted to the change from persistence."""
    forecast = params.forecast
    target_change = name.endswith(CHANGE_SUFFIX)
    name = name.removesuffix(CHANGE_SUFFIX)  # type: ignore[assignment]
    return Pipeline(
        [
            (
                "model",
                Forecaster(
                    score_model=_score_model(name, params),
                    # Plain dicts, not params objects: a pydantic object's pickle holds a set (fields set),
                    # whose order changes between processes, and model bytes must repeat.
                    hurdle=params.hurdle.model_dump() if name == "hurdle" else None,
                    wet_classifier=forecast.wet_classifier.model_dump(exclude={"monotonic"}),
                    monotonic=forecast.wet_classifier.monotonic,
                    recalibrate_wet=forecast.recalibrate_wet,
                    climatology_days=forecast.climatology_days,
                    interval=forecast.interval,
                    blend_persistence=forecast.blend_persistence,
                    features=tuple(features),
                    seed=params.seed,
                    target_change=target_change,
                ),
            )
        ]
    )


def _score_model(name: ModelName, params: TrainParams) -> Pipeline | None:
    """The candidate's one regressor; for the hurdle, the forest it is averaged with (or none)."""
    if name != "hurdle":
        return _regressor(name, params)
    if not params.hurdle.blend_forest:
        return None
    trees = {"n_estimators": params.hurdle.forest_trees}
    forest = params.model_copy(update={"random_forest": params.random_forest.model_copy(update=trees)})
    return _regressor("random_forest", forest)


def _boosting(cls: Any, p: dict[str, Any], seed: int, **extra: Any) -> Any:
    """A boosting model from HistGradientBoostingParams as a dict."""
    return cls(
        learning_rate=p["learning_rate"],
        max_iter=p["max_iter"],
        max_leaf_nodes=p["max_leaf_nodes"],
        min_samples_leaf=p["min_samples_leaf"],
        l2_regularization=p["l2_regularization"],
        early_stopping=False,
        random_state=seed,
        **extra,
    )


def _regressor(name: ModelName, params: TrainParams) -> Pipeline:
    estimator: Any
    if name == "hist_gradient_boosting":
        # Trees split on NaN natively: no column transformer (its per-call cost is ~10% of a one-request
        # prediction; the predictions are the same).
        boosting = _boosting(
            HistGradientBoostingRegressor, params.hist_gradient_boosting.model_dump(), params.seed
        )
        return Pipeline([("model", boosting)])
    prepare: Any
    if name == "random_forest":
        prepare = SimpleImputer(strategy="median")
        rf = params.random_forest
        estimator = RandomForestRegressor(
            n_estimators=rf.n_estimators,
            min_samples_leaf=rf.min_samples_leaf,
            max_features=rf.max_features,
            random_state=params.seed,
            n_jobs=-1,  # trees are seeded one by one: the forest is the same on any number of cores
        )
    else:
        prepare = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        estimator = Ridge(alpha=params.ridge.alpha)
    return Pipeline([("prepare", prepare), ("model", estimator)])


def _apply(model: Pipeline, features: np.ndarray) -> np.ndarray:
    """A fitted regression Pipeline's raw predictions. The steps are applied directly because
    Pipeline.predict re-checks that every step is fitted on each call, ~2 ms of a one-row prediction."""
    transformed = features
    for _, step in model.steps[:-1]:
        transformed = step.transform(transformed)
    raw: np.ndarray = np.asarray(model.steps[-1][1].predict(transformed), dtype="float64")
    return raw


def predict_forecast(model: Pipeline, features: np.ndarray) -> dict[str, np.ndarray]:
    """The one prediction path for every consumer: `score` (clipped to the label's 0-100 range),
    `wet_probability` and the interval `score_low`..`score_high`. `features` is a `feature_matrix`."""
    forecaster: Forecaster = model.steps[-1][1]
    return forecaster.forecast(features)


def predict_scores(model: Pipeline, features: np.ndarray) -> np.ndarray:
    """`predict_forecast`'s scores."""
    return predict_forecast(model, features)["score"]


def _logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-4, 1 - 1e-4)
    out: np.ndarray = np.log(clipped / (1 - clipped))
    return out


def wet_climatology_table(
    day: np.ndarray, evening: np.ndarray, wet: np.ndarray, width_days: float
) -> np.ndarray:
    """Share of wet windows per window (row 0 morning, 1 evening) and day of year (1..366), smoothed with a
    circular Gaussian kernel of `width_days` and shrunk towards the window's overall share."""
    days = np.arange(1, 367, dtype="float64")
    table = np.empty((2, len(days)))
    for row in (0, 1):
        mine = evening == row
        share = wet[mine].mean() if mine.any() else wet.mean()
        # Windows on the same day of year weigh the same: sum them per day first, so the kernel matrix is
        # 366 x (days seen), not 366 x windows (1 GB at 16x the real record's size).
        seen, which = np.unique(day[mine], return_inverse=True)
        wet_windows = np.bincount(which, weights=wet[mine], minlength=len(seen))
        windows = np.bincount(which, minlength=len(seen)).astype("float64")
        distance = np.abs(days[:, None] - seen[None, :])
        distance = np.minimum(distance, 365.25 - distance)
        weight = np.exp(-0.5 * (distance / width_days) ** 2)
        prior = 10.0  # pseudo-windows at the overall share: a quiet stretch of days is not "never wet"
        table[row] = (weight @ wet_windows + prior * share) / (weight @ windows + prior)
    return table


def _fingerprint(x: np.ndarray, wet: np.ndarray) -> str:
    """Identifies the rows a model was fitted on (to share its P(wet) part only with a fit on the same)."""
    digest = hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=16)
    digest.update(np.ascontiguousarray(wet).tobytes())
    return digest.hexdigest()


class Forecaster(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """A score model plus P(wet window) and an interval for the score; see the module docstring."""

    def __init__(
        self,
        *,
        score_model: Pipeline | None,
        hurdle: Any,
        wet_classifier: Any,
        monotonic: bool,
        recalibrate_wet: bool,
        climatology_days: float,
        interval: float,
        blend_persistence: bool,
        features: tuple[str, ...],
        seed: int,
        target_change: bool = False,
    ) -> None:
        self.score_model = score_model
        self.hurdle = hurdle
        self.wet_classifier = wet_classifier
        self.monotonic = monotonic
        self.recalibrate_wet = recalibrate_wet
        self.climatology_days = climatology_days
        self.interval = interval
        self.blend_persistence = blend_persistence
        self.features = features
        self.seed = seed
        self.target_change = target_change

    # -- columns this model reads by position
    def _col(self, name: str) -> int:
        return self.features.index(name)

    def _with_climatology(self, x: np.ndarray) -> np.ndarray:
        index = np.clip(np.rint(self._day(x)).astype("int64"), 1, 366) - 1
        evening = (x[:, self._col("is_evening")] > 0.5).astype("int64")
        return np.column_stack([x, self.climatology_[evening, index]])

    def _baseline(self, x: np.ndarray) -> np.ndarray:
        """What the score model's output is added to: persistence for a change target (the training mean
        where persistence is undefined), 0 for a level target."""
        if not self.target_change:
            return np.zeros(len(x))
        persistence = x[:, self._col("persistence_score")]
        filled: np.ndarray = np.where(np.isnan(persistence), self.level_mean_, persistence)
        return filled

    def _day(self, x: np.ndarray) -> np.ndarray:
        angle = np.arctan2(x[:, self._col("day_of_year_sin")], x[:, self._col("day_of_year_cos")])
        day: np.ndarray = np.mod(angle, 2 * np.pi) * 365.25 / (2 * np.pi) + 1
        return day

    def fit(
        self, x: np.ndarray, y: np.ndarray, wet: np.ndarray | None = None, wet_part: Forecaster | None = None
    ) -> Forecaster:
        """Fit on training rows. `wet` (the windows' wet_window labels) is required: it is what P(wet) and
        the hurdle learn. `wet_part`: another candidate fitted on the same rows, whose wet-window
        climatology and P(wet) classifier this one takes instead of fitting equal ones again (they do not
        depend on the score model: model selection fits them once for all candidates)."""
        if wet is None:
            raise ValueError("Forecaster.fit needs the wet_window labels (fit(..., model__wet=...))")
        x, y, wet = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64"), np.asarray(wet, bool)
        self.wet_rows_ = _fingerprint(x, wet)
        if wet_part is not None:
            self._take_wet_part(wet_part)
        else:
            self.climatology_ = wet_climatology_table(
                self._day(x), x[:, self._col("is_evening")], wet.astype("float64"), self.climatology_days
            )
            names = [*self.features, "wet_climatology"]
            constraints = [WET_MONOTONIC.get(f, 0) if self.monotonic else 0 for f in names]
            self.classifier_ = _boosting(
                HistGradientBoostingClassifier, self.wet_classifier, self.seed,
                monotonic_cst=constraints,
            ).fit(self._with_climatology(x), wet)  # fmt: skip
        xc = self._with_climatology(x)
        self.level_mean_ = float(np.mean(y))
        y_score, y = y, y - self._baseline(x)  # the score models' target; y_score for the interval
        if self.hurdle is not None:
            self.wet_model_ = _boosting(HistGradientBoostingRegressor, self.hurdle["wet"], self.seed)
            self.dry_model_ = _boosting(HistGradientBoostingRegressor, self.hurdle["dry"], self.seed)
            self.wet_model_.fit(xc[wet], y[wet])
            self.dry_model_.fit(xc[~wet], y[~wet])
            if self.score_model is not None:  # blended with this model (the weight: `calibrate`)
                self.score_model.fit(x, y)
        else:
            assert self.score_model is not None
            self.score_model.fit(x, y)
        if self.score_model is not None and hasattr(self.score_model.steps[-1][1], "n_jobs"):
            # Fitted on every core; predicts on one: for a one-row forecast joblib's thread start-up costs
            # 3x the 120 trees (25 vs 8 ms on 2 busy cores). The predictions are the same.
            self.score_model.steps[-1][1].n_jobs = 1
        # Until `calibrate` sees validation rows: no recalibration, no persistence, in-sample residuals.
        self.platt_ = (1.0, 0.0)
        self.persistence_weight_ = 0.0
        self.blend_weight_ = 0.5
        score, p = self._raw(x)
        self.interval_ = self._interval_table(score, y_score, p)
        return self

    def _take_wet_part(self, other: Forecaster) -> None:
        """`fit`'s wet_part: refused unless `other` was fitted with the same settings on the same rows."""
        settings = ("wet_classifier", "monotonic", "climatology_days", "features", "seed")
        differ = [name for name in settings if getattr(self, name) != getattr(other, name)]
        if getattr(other, "wet_rows_", None) != self.wet_rows_:
            differ.append("training rows")
        if differ:
            raise ValueError(f"wet_part was fitted with other {', '.join(differ)}: fit this one's own")
        self.climatology_, self.classifier_ = other.climatology_, other.classifier_

    def _raw(self, x: np.ndarray, blend: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The score before the persistence blend, and the recalibrated P(wet)."""
        if blend is not None:
            self.blend_weight_, kept = blend, self.blend_weight_
            try:
                return self._raw(x)
            finally:
                self.blend_weight_ = kept
        xc = self._with_climatology(x)
        a, b = self.platt_
        p = 1 / (1 + np.exp(-(a * _logit(self.classifier_.predict_proba(xc)[:, 1]) + b)))
        if self.hurdle is not None:
            score = p * self.wet_model_.predict(xc) + (1 - p) * self.dry_model_.predict(xc)
            if self.score_model is not None:
                w = self.blend_weight_
                score = (1 - w) * score + w * _apply(self.score_model, x)
        else:
            assert self.score_model is not None
            score = _apply(self.score_model, x)
        return score + self._baseline(x), p

    def _blend(self, score: np.ndarray, x: np.ndarray, weight: float) -> np.ndarray:
        persistence = x[:, self._col("persistence_score")]
        blended = np.where(np.isnan(persistence), score, (1 - weight) * score + weight * persistence)
        out: np.ndarray = np.clip(blended, 0.0, 100.0)
        return out

    def _interval_table(self, score: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Residual quantiles (low, high) per band of P(wet); bands with few rows use all rows'."""
        tail = (1 - self.interval) / 2
        residual = y - score
        pooled = np.quantile(residual, [tail, 1 - tail])
        band = np.digitize(p, PWET_BANDS)
        table = np.empty((len(PWET_BANDS) + 1, 2))
        for i in range(len(table)):
            mine = residual[band == i]
            table[i] = np.quantile(mine, [tail, 1 - tail]) if len(mine) >= MIN_BAND_ROWS else pooled
        # Rounded: a forest's predictions differ in the last bits between runs (parallel sums), and the
        # table is part of the model's bytes, which must be the same for the same inputs.
        rounded: np.ndarray = np.round(table, 6)
        return rounded

    def calibrate(self, x: np.ndarray, y: np.ndarray, wet: np.ndarray) -> Forecaster:
        """Fit on validation rows (never training or test rows): Platt scaling of P(wet), the weight on
        persistence (0 to 1 in steps of 0.05, least RMSE) and the interval's residual quantiles. Each only
        when its param asks for it, except the interval."""
        x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
        self.platt_ = (1.0, 0.0)
        self.blend_weight_ = 0.5
        if self.recalibrate_wet:
            raw = _logit(self.classifier_.predict_proba(self._with_climatology(x))[:, 1])
            platt = LogisticRegression(C=1e4).fit(raw[:, None], np.asarray(wet, bool))
            self.platt_ = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        weights = np.round(np.arange(0, 1.0001, 0.05), 2)
        if self.hurdle is not None and self.score_model is not None:
            hurdle, forest = self._raw(x, 0.0)[0], self._raw(x, 1.0)[0]
            errors = [rmse(y, np.clip((1 - w) * hurdle + w * forest, 0, 100)) for w in weights]
            self.blend_weight_ = float(weights[int(np.argmin(errors))])
        score, p = self._raw(x)
        if self.blend_persistence:
            errors = [rmse(y, self._blend(score, x, w)) for w in weights]
            self.persistence_weight_ = float(weights[int(np.argmin(errors))])
        self.interval_ = self._interval_table(self._blend(score, x, self.persistence_weight_), y, p)
        return self

    def calibration(self) -> dict[str, Any]:
        return {
            "platt": [round(v, 4) for v in self.platt_],
            "persistence_weight": self.persistence_weight_,
            "blend_weight": self.blend_weight_,
            "interval": np.round(self.interval_, 4).tolist(),
        }

    def use_calibration(self, other: Forecaster) -> Forecaster:
        """Take `other`'s validation-fitted calibration (the same candidate fitted on training rows only)."""
        self.platt_ = other.platt_
        self.persistence_weight_ = other.persistence_weight_
        self.blend_weight_ = other.blend_weight_
        self.interval_ = other.interval_.copy()
        return self

    def forecast(self, x: np.ndarray) -> dict[str, np.ndarray]:
        x = np.asarray(x, dtype="float64")
        raw, p = self._raw(x)
        score = self._blend(raw, x, self.persistence_weight_)
        low, high = self.interval_[np.digitize(p, PWET_BANDS)].T
        return {
            "score": score,
            "wet_probability": p,
            "score_low": np.clip(score + low, 0.0, 100.0),
            "score_high": np.clip(score + high, 0.0, 100.0),
        }

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.forecast(x)["score"]

    def predict_wet(self, x: np.ndarray) -> np.ndarray:
        return self.forecast(x)["wet_probability"]


def rmse(actual: ArrayLike, predicted: ArrayLike) -> float:
    return float(np.sqrt(np.mean((np.asarray(actual) - np.asarray(predicted)) ** 2)))


def wet_persistence(frame: pd.DataFrame) -> np.ndarray:
    """The persistence forecast of a wet window: 1 when the last 3 hours before issue time were wet."""
    out: np.ndarray = (frame["wet_share_3h"].to_numpy(dtype="float64") > 0).astype("float64")
    return out


def wet_climatology(fit_rows: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Share of wet windows per station, month and window on fit_rows, falling back to station and window,
    then all of fit_rows: the climatology reference of the Brier skill."""
    wet = fit_rows["wet_window"].astype("float64")
    fine = wet.groupby([fit_rows["station_id"], fit_rows["date"].dt.month, fit_rows["window"]]).mean()
    coarse = wet.groupby([fit_rows["station_id"], fit_rows["window"]]).mean()
    keys = pd.MultiIndex.from_arrays([rows["station_id"], rows["date"].dt.month, rows["window"]])
    values = fine.reindex(keys).to_numpy()
    fallback = coarse.reindex(pd.MultiIndex.from_arrays([rows["station_id"], rows["window"]])).to_numpy()
    values = np.where(np.isnan(values), fallback, values)
    filled: np.ndarray = np.where(np.isnan(values), wet.mean(), values)
    return filled


def probabilistic_scores(
    rows: pd.DataFrame, forecast: dict[str, np.ndarray], climatology: np.ndarray
) -> dict[str, float]:
    """Brier score of P(wet) and its skill against persistence and climatology; the score interval's
    coverage and mean width, on `rows` (with `label` and `wet_window`)."""
    wet = rows["wet_window"].to_numpy(dtype="float64")
    label = rows["label"].to_numpy(dtype="float64")
    brier = float(np.mean((forecast["wet_probability"] - wet) ** 2))
    persistence = float(np.mean((wet_persistence(rows) - wet) ** 2))
    reference = float(np.mean((climatology - wet) ** 2))
    inside = (label >= forecast["score_low"]) & (label <= forecast["score_high"])
    return {
        "brier": round(brier, 4),
        "brier_persistence": round(persistence, 4),
        "brier_climatology": round(reference, 4),
        "brier_skill_vs_persistence": round(1 - brier / persistence, 4) if persistence > 0 else 0.0,
        "brier_skill_vs_climatology": round(1 - brier / reference, 4) if reference > 0 else 0.0,
        "interval_coverage": round(float(inside.mean()), 4),
        "interval_mean_width": round(float(np.mean(forecast["score_high"] - forecast["score_low"])), 4),
    }
