"""Stage 6, unseen: what the shipped model does for a station it never saw (leave-one-station-out).

    python -m commute_weather.pipeline.unseen --params params.yaml --dataset-name network \
        --dataset data/features/network/dataset.parquet --model models/network/model.pkl \
        --metadata models/network/metadata.json --out metrics/network/unseen.json

For every station the model was trained on, the selected model (metadata `model`, no new selection) is fitted
exactly as train ships it, from the same periods, without that station's rows, and scored on the station's
test windows beside the shipped model, which saw the station. A station the training periods never held (its
record starts in the test year) is unseen by construction: its figures are the shipped model's, in
metrics.json `by_station` (`seen: false`). This is the figure a user of a station without history gets, and
the evidence serve.unseen_stations needs (packaging reads metrics.json; this file shows the same for stations
that do have history).
"""

from __future__ import annotations

import argparse
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from commute_weather import io
from commute_weather.cli import console, run
from commute_weather.config import ModelName, PipelineParams, load_params
from commute_weather.forecast.compare import against_persistence, rmse_change
from commute_weather.forecast.features import feature_names
from commute_weather.forecast.model import feature_matrix, predict_scores, rmse
from commute_weather.forecast.slices import slice_labels
from commute_weather.forecast.split import assign_split
from commute_weather.pipeline.train import fit_as_shipped
from commute_weather.stations import station_name


def station_figures(
    rows: pd.DataFrame, seen: np.ndarray, unseen: np.ndarray, params: PipelineParams
) -> dict[str, Any]:
    """One station's test windows: the model that saw it, the one that did not, persistence; the unseen
    model against persistence and against the seen one (paired intervals); wet/dry and winter mornings."""
    actual, persistence = rows["label"].to_numpy(), rows["persistence_score"].to_numpy()
    labels = slice_labels(rows)
    slices: dict[str, Any] = {}
    for name, mine in {
        "wet": labels["wetness"] == "wet",
        "dry": labels["wetness"] == "dry",
        "winter_mornings": (labels["season"] == "winter") & (rows["window"] == "morning"),
    }.items():
        mask = mine.to_numpy()
        slices[name] = {
            "rows": int(mask.sum()),
            **{
                f"{who}_rmse": round(rmse(actual[mask], values[mask]), 4)
                for who, values in (("seen", seen), ("unseen", unseen), ("persistence", persistence))
            },
        }
    return {
        "rows": len(rows),
        "seen_rmse": round(rmse(actual, seen), 4),
        "unseen_rmse": round(rmse(actual, unseen), 4),
        "persistence_rmse": round(rmse(actual, persistence), 4),
        "unseen_vs_persistence": against_persistence(
            rows["date"], actual, unseen, persistence, params.compare
        ),
        "unseen_vs_seen": rmse_change(rows["date"], actual, seen, unseen, params.compare),
        "slices": slices,
    }


def _left_out(
    name: ModelName, fit_rows: pd.DataFrame, split: pd.Series, station: int, test: pd.DataFrame,
    params: PipelineParams,
) -> np.ndarray:  # fmt: skip
    keep = fit_rows["station_id"] != station
    with threadpool_limits(limits=1, user_api="openmp"):  # see train.main
        model = fit_as_shipped(name, fit_rows[keep], split[keep], params)
    return predict_scores(model, feature_matrix(test, feature_names(params.featurize)))


def leave_one_station_out(
    dataset: pd.DataFrame, shipped: Any, name: ModelName, params: PipelineParams, dataset_name: str
) -> dict[str, Any]:
    split = assign_split(dataset["date"], params.split.for_dataset(dataset_name))
    fit_rows, split_fit = dataset[split != "test"], split[split != "test"]
    test = dataset[(split == "test") & dataset["persistence_score"].notna()]
    trained_on = sorted(int(s) for s in fit_rows["station_id"].unique())
    # Left out one at a time, each needs others to learn from: a one-station record has no such figure.
    tested = [s for s in trained_on if (test["station_id"] == s).any()] if len(trained_on) > 1 else []
    features = feature_names(params.featurize)
    # One station per process: each fit is single-threaded, so two run side by side on two cores.
    unseen = Parallel(n_jobs=min(len(tested), os.cpu_count() or 1) or 1)(
        delayed(_left_out)(name, fit_rows, split_fit, s, test[test["station_id"] == s], params)
        for s in tested
    )
    stations = {}
    for station, predicted in zip(tested, unseen, strict=True):
        rows = test[test["station_id"] == station]
        seen = predict_scores(shipped, feature_matrix(rows, features))
        stations[str(station)] = {
            "name": station_name(station),
            **station_figures(rows, seen, predicted, params),
        }
    never = sorted(int(s) for s in test["station_id"].unique() if int(s) not in trained_on)
    return {
        "model": name,
        "stations": stations,
        "never_in_training": never,
        "note": "unseen_*: the model fitted without the station's rows; seen_*: the shipped model. Stations "
        "in never_in_training were never in the training periods: metrics.json by_station has their figures.",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--dataset-name", required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--metadata", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        shipped = pickle.loads(args.model.read_bytes())  # noqa: S301  (train's own artifact)
        name = io.read_json(args.metadata)["model"]
        result = leave_one_station_out(
            pd.read_parquet(args.dataset), shipped, name, params, args.dataset_name
        )
        io.write_json(args.out, result)
        for f in result["stations"].values():
            interval = f["unseen_vs_persistence"]
            console.print(
                f"unseen: {f['name']}: without its rows {f['unseen_rmse']:.3f}, with {f['seen_rmse']:.3f}, "
                f"persistence {f['persistence_rmse']:.3f} (skill {interval['skill']:.3f} "
                f"[{interval['skill_low']:.3f}, {interval['skill_high']:.3f}])"
            )

    run("unseen", body)


if __name__ == "__main__":
    main()
