"""The one prediction path: the fitted Pipeline plus the params it was trained with.

evaluate scores precomputed feature rows with `predict_features`; the service builds feature rows from a
client's raw observations with `history_features`, through the same `issue_features` that featurize runs.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from commute_weather.config import ComfortParams, CommuteParams, FeaturizeParams
from commute_weather.forecast.comfort import comfort_label
from commute_weather.forecast.features import feature_names, history_grid, issue_features, lookback_hours
from commute_weather.forecast.model import feature_matrix, predict_forecast


@dataclass(frozen=True)
class Predictor:
    model: Pipeline
    commute: CommuteParams
    featurize: FeaturizeParams
    comfort: ComfortParams
    # The stations whose rows the model was fitted on (train's metadata), and whether it also answers for
    # registry stations it never saw (params serve.unseen_stations, recorded at packaging). An empty set:
    # a model saved before train recorded its stations, which answers for any registry station as it did.
    seen_stations: frozenset[int] = frozenset()
    answers_unseen: bool = True

    def answers_for(self, station_id: int) -> bool:
        return self.answers_unseen or station_id in self.seen_stations

    @classmethod
    def from_artifacts(cls, model_bytes: bytes, metadata: dict[str, Any]) -> Predictor:
        """Rebuild from the saved model and its metadata: the params come from training, not from
        whatever params.yaml says today, so a served model always computes its own features."""
        params = metadata["params"]
        seen = frozenset(int(s) for s in metadata.get("stations", []))
        return cls(
            model=pickle.loads(model_bytes),  # noqa: S301  (our own artifact, from the gate-approved store)
            commute=CommuteParams.model_validate(params["commute"]),
            featurize=FeaturizeParams.model_validate(params["featurize"]),
            comfort=ComfortParams.model_validate(params["comfort"]),
            seen_stations=seen,
            answers_unseen=bool(metadata.get("unseen_stations", not seen)),
        )

    @property
    def features(self) -> list[str]:
        return feature_names(self.featurize)

    @property
    def history_hours(self) -> int:
        """Hours up to and including issue time that the features read."""
        return lookback_hours(self.commute, self.featurize) + 1

    def predict_features(self, features: pd.DataFrame) -> pd.DataFrame:
        forecast = self.forecast(feature_matrix(features, self.features))
        return pd.DataFrame(
            {
                "score": forecast["score"],
                "label": comfort_label(forecast["score"], self.comfort),
                "wet_probability": forecast["wet_probability"],
                "score_low": forecast["score_low"],
                "score_high": forecast["score_high"],
                "persistence_score": features["persistence_score"].to_numpy(),
                "issue_at": features["issue_at"].to_numpy(),
            },
            index=features.index,
        )

    def forecast(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """For a feature matrix (e.g. `history_features`): `score`, `wet_probability` (of a wet commute
        window), and `score_low`..`score_high` (the score's 80% interval), one array each."""
        return predict_forecast(self.model, features)

    def history_features(
        self,
        histories: Sequence[Mapping[str, np.ndarray]],
        *,
        station_id: np.ndarray,
        window: np.ndarray,
        day_of_year: np.ndarray,
    ) -> np.ndarray:
        """The feature matrix for short observation histories, one per target, each ending at its issue
        hour (see features.history_grid): the service's path, through the same `issue_features` that
        featurize runs."""
        grid, issue = history_grid(histories, self.history_hours)
        columns = issue_features(
            grid, issue, station_id=station_id, window=window, day_of_year=day_of_year,
            commute=self.commute, featurize=self.featurize, comfort=self.comfort,
        )  # fmt: skip
        return np.column_stack([columns[name] for name in self.features])
