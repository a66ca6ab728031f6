"""Stage 4, train: compare candidate models on the validation period, then fit the configured one on
training plus validation and save it with the metadata that explains it.

    python -m commute_weather.train --params params.yaml --dataset data/features/dataset.parquet \
        --model models/model.pkl --metadata models/metadata.json --selection metrics/model_selection.json
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path
from typing import Any, get_args

import pandas as pd
from sklearn.pipeline import Pipeline

from commute_weather import io
from commute_weather.cli import StageError, console, run
from commute_weather.config import ModelName, PipelineParams, load_params
from commute_weather.features import feature_names
from commute_weather.model import assign_split, build_pipeline, feature_matrix, predict_scores, rmse
from commute_weather.provenance import file_sha256, library_versions


def compare_candidates(dataset: pd.DataFrame, params: PipelineParams) -> dict[str, float]:
    """Validation RMSE of every candidate, each fitted on the training period only."""
    features = feature_names(params.featurize)
    train, validation = dataset[dataset["split"] == "train"], dataset[dataset["split"] == "validation"]
    scores = {}
    for name in get_args(ModelName):
        model = build_pipeline(name, params.train, features)
        model.fit(feature_matrix(train, features), train["label"])
        predicted = predict_scores(model, feature_matrix(validation, features))
        scores[name] = round(rmse(validation["label"].to_numpy(), predicted), 4)
    return scores


def fit_final(dataset: pd.DataFrame, params: PipelineParams) -> tuple[Pipeline, int]:
    features = feature_names(params.featurize)
    fit_rows = dataset[dataset["split"] != "test"]
    if len(fit_rows) < params.gate.min_train_rows:
        raise StageError(
            f"only {len(fit_rows):,} training rows before the test period; gate.min_train_rows is "
            f"{params.gate.min_train_rows:,}. Ingest more months or stations, or shorten split.test_days."
        )
    model = build_pipeline(params.train.model, params.train, features)
    return model.fit(feature_matrix(fit_rows, features), fit_rows["label"]), len(fit_rows)


MODEL_PARAMS = {"commute", "comfort", "featurize", "split", "train"}


def metadata(
    params: PipelineParams, dataset_path: Path, train_rows: int, selection: dict[str, float]
) -> dict[str, Any]:
    return {
        "model": params.train.model,
        "features": feature_names(params.featurize),
        "train_rows": train_rows,
        "validation_rmse": selection,
        "dataset_sha256": file_sha256(dataset_path),
        "libraries": library_versions(),
        "params": params.model_dump(mode="json", by_alias=True, include=MODEL_PARAMS),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--metadata", type=Path, required=True)
    parser.add_argument("--selection", type=Path, required=True)
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        dataset = pd.read_parquet(args.dataset)
        dataset["split"] = assign_split(dataset["date"], params.split)
        model, train_rows = fit_final(dataset, params)
        selection = compare_candidates(dataset, params)
        io.write_bytes(args.model, pickle.dumps(model, protocol=5))
        io.write_json(args.metadata, metadata(params, args.dataset, train_rows, selection))
        io.write_json(args.selection, {"validation_rmse": selection, "chosen": params.train.model})
        ranked = ", ".join(
            f"{name} {score:.3f}" for name, score in sorted(selection.items(), key=lambda kv: kv[1])
        )
        console.print(f"train: {params.train.model} on {train_rows:,} rows; validation RMSE: {ranked}")

    run("train", body)


if __name__ == "__main__":
    main()
