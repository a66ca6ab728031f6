"""The one prediction path: the fitted Pipeline plus the params it was trained with.

evaluate scores precomputed feature rows with `predict_features`; the service builds feature rows from a
client's raw observations with `predict`, through the same `build_features` that featurize runs.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from commute_weather.comfort import comfort_label
from commute_weather.config import ComfortParams, CommuteParams, FeaturizeParams
from commute_weather.features import build_features, feature_names
from commute_weather.model import predict_scores


@dataclass(frozen=True)
class Predictor:
    model: Pipeline
    commute: CommuteParams
    featurize: FeaturizeParams
    comfort: ComfortParams

    @classmethod
    def from_artifacts(cls, model_bytes: bytes, metadata: dict[str, Any]) -> Predictor:
        """Rebuild from the saved model and its metadata: the params come from training, not from
        whatever params.yaml says today, so a served model always computes its own features."""
        params = metadata["params"]
        return cls(
            model=pickle.loads(model_bytes),  # noqa: S301  (our own artifact, from the gate-approved store)
            commute=CommuteParams.model_validate(params["commute"]),
            featurize=FeaturizeParams.model_validate(params["featurize"]),
            comfort=ComfortParams.model_validate(params["comfort"]),
        )

    @property
    def features(self) -> list[str]:
        return feature_names(self.featurize)

    @property
    def history_hours(self) -> int:
        """Hours up to and including issue time that the features read (the longest look-back is a
        change over the longest horizon, which reads one hour more than the horizon)."""
        return max(self.featurize.horizons_h) + 1

    def predict_features(self, features: pd.DataFrame) -> pd.DataFrame:
        scores = predict_scores(self.model, features[self.features])
        return pd.DataFrame(
            {
                "score": scores,
                "label": comfort_label(scores, self.comfort),
                "persistence_score": features["persistence_score"].to_numpy(),
                "issue_at": features["issue_at"].to_numpy(),
            },
            index=features.index,
        )

    def features_for(self, observations: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
        return build_features(observations, targets, self.commute, self.featurize, self.comfort)
