"""Stage 4, train: validation selects the model, which is then fitted on training plus validation and saved
with the metadata that explains it.

    python -m commute_weather.train --params params.yaml --dataset data/features/cheongju/dataset.parquet \
        --model models/cheongju/model.pkl --metadata models/cheongju/metadata.json \
        --selection metrics/cheongju/model_selection.json

Selection (params `train.selection`): every candidate is fitted on the training period and scored on the
validation period; the default `train.model` is kept unless another candidate's validation RMSE is lower
by more than `min_rmse_gain`. Test rows never reach this stage's decisions: they are dropped first.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from commute_weather import io
from commute_weather.cli import StageError, console, run
from commute_weather.config import ModelName, PipelineParams, SelectionParams, load_params
from commute_weather.features import feature_names
from commute_weather.model import build_pipeline, feature_matrix, predict_scores, rmse
from commute_weather.provenance import file_digest, library_versions
from commute_weather.split import assign_split, check_periods, periods


def fit(name: ModelName, rows: pd.DataFrame, params: PipelineParams) -> Pipeline:
    features = feature_names(params.featurize)
    model = build_pipeline(name, params.train, features).fit(feature_matrix(rows, features), rows["label"])
    estimator = model.steps[-1][1]
    if "n_jobs" in estimator.get_params():
        # Fitted on every core (each tree seeded: the same forest on any number); predictions on one: a
        # forest's per-tree sums, added across threads, come out in a different order each run (last-bit
        # differences in every output downstream), and a one-row forecast pays the threads' start-up.
        estimator.set_params(n_jobs=1)
    return model


def compare_candidates(
    train: pd.DataFrame, validation: pd.DataFrame, params: PipelineParams
) -> dict[str, Any]:
    """Every candidate fitted on `train` and scored on `validation`, beside persistence on the same rows."""
    scorable = validation[validation["persistence_score"].notna()]
    actual = scorable["label"].to_numpy()
    persistence = rmse(actual, scorable["persistence_score"].to_numpy())
    matrix = feature_matrix(scorable, feature_names(params.featurize))
    candidates = {}
    for name in params.train.selection.candidates:
        predicted = predict_scores(fit(name, train, params), matrix)
        score = rmse(actual, predicted)
        candidates[name] = {
            "rmse": round(score, 4),
            "skill_vs_persistence": round(1 - score / persistence, 4),
        }
    return {"rows": len(scorable), "persistence_rmse": round(persistence, 4), "candidates": candidates}


def choose(
    default: ModelName, rmse_by_model: dict[str, float], rule: SelectionParams
) -> tuple[ModelName, str]:
    """The selection rule: the default unless the best other candidate beats it by more than the margin."""
    best = min(rule.candidates, key=lambda name: (rmse_by_model[name], name != default))
    gain = rmse_by_model[default] - rmse_by_model[best]
    if best != default and gain > rule.min_rmse_gain:
        return best, f"{best} beats the default {default} by {gain:.3f} > {rule.min_rmse_gain} RMSE"
    if best == default:
        return default, f"the default {default} has the lowest validation RMSE"
    return default, (
        f"{best} is better by only {gain:.3f} <= {rule.min_rmse_gain} RMSE (within validation noise): "
        f"keep the default {default}"
    )


def select_and_fit(dataset: pd.DataFrame, params: PipelineParams) -> tuple[Pipeline, dict[str, Any]]:
    """Validation picks the model; the pick is fitted on training plus validation. Returns the model and the
    selection record (metrics/<dataset>/model_selection.json)."""
    split = assign_split(dataset["date"], params.split)
    check_periods(dataset["date"], split, params.split)
    fit_rows = dataset[split != "test"]  # test rows go no further than this line
    split = split[fit_rows.index]
    if len(fit_rows) < params.gate.min_train_rows:
        raise StageError(
            f"only {len(fit_rows):,} training rows before the test period; gate.min_train_rows is "
            f"{params.gate.min_train_rows:,}. Ingest more months or stations, or shorten split.test_days."
        )
    train, validation = fit_rows[split == "train"], fit_rows[split == "validation"]
    comparison = compare_candidates(train, validation, params)
    rmse_by_model = {name: c["rmse"] for name, c in comparison["candidates"].items()}
    chosen, reason = choose(params.train.model, rmse_by_model, params.train.selection)
    first_day, last_day = periods(dataset["date"], params.split).dates("validation", dataset["date"].min())
    record = {
        "validation": {
            "first_day": str(first_day.date()),
            "last_day": str(last_day.date()),
            **comparison,
        },
        "rule": params.train.selection.model_dump(mode="json"),
        "default": params.train.model,
        "chosen": chosen,
        "reason": reason,
        "fit_rows": len(fit_rows),
    }
    return fit(chosen, fit_rows, params), record


MODEL_PARAMS = {"commute", "comfort", "featurize", "split", "train"}


def metadata(params: PipelineParams, dataset_path: Path, selection: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": selection["chosen"],
        "features": feature_names(params.featurize),
        "train_rows": selection["fit_rows"],
        "validation_rmse": {name: c["rmse"] for name, c in selection["validation"]["candidates"].items()},
        "dataset_sha256": file_digest(dataset_path),
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
        model, selection = select_and_fit(pd.read_parquet(args.dataset), params)
        io.write_bytes(args.model, pickle.dumps(model, protocol=5))
        io.write_json(args.metadata, metadata(params, args.dataset, selection))
        io.write_json(args.selection, selection)
        validation = selection["validation"]
        ranked = ", ".join(
            f"{name} {c['rmse']:.3f}"
            for name, c in sorted(validation["candidates"].items(), key=lambda kv: kv[1]["rmse"])
        )
        console.print(
            f"train: validation RMSE {ranked} (persistence {validation['persistence_rmse']:.3f}); "
            f"{selection['reason']}; fitted on {selection['fit_rows']:,} rows"
        )

    run("train", body)


if __name__ == "__main__":
    main()
