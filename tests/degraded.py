"""A deliberately degraded copy of a fitted model, for the monitor's tests: every forecast (score and its
interval) 10 points higher than the real model's. A real pickled artifact, read by the real monitor."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from commute_weather.forecast.model import Forecaster

SHIFT = 10.0


class ShiftedForecaster(Forecaster):
    def forecast(self, x: np.ndarray) -> dict[str, np.ndarray]:
        out = super().forecast(x)
        shifted = {k: np.clip(out[k] + SHIFT, 0.0, 100.0) for k in ("score", "score_low", "score_high")}
        return {**out, **shifted}


def degrade(model_path: Path) -> None:
    """Rewrite the pickled Pipeline at model_path with its forecaster shifted by SHIFT points."""
    pipeline = pickle.loads(model_path.read_bytes())  # the test's own artifact
    pipeline.steps[-1][1].__class__ = ShiftedForecaster
    model_path.write_bytes(pickle.dumps(pipeline))
