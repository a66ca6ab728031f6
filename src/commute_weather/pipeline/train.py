"""Stage 4, train: validation selects the model, which is then fitted on training plus validation and saved
with the metadata that explains it.

    python -m commute_weather.pipeline.train --params params.yaml \
        --dataset data/features/cheongju/dataset.parquet \
        --model models/cheongju/model.pkl --metadata models/cheongju/metadata.json \
        --selection metrics/cheongju/model_selection.json

Selection (params `train.selection`): every candidate is fitted on the training period and scored on the
validation period; the default `train.model` is kept unless another candidate's validation RMSE is lower
by more than `min_rmse_gain` and the paired block-bootstrap interval of that difference (params `compare`)
lies wholly below zero. Test rows never reach this stage's decisions: they are dropped first.
model_selection.json reports each candidate's RMSE difference from the default and from persistence on the
validation windows with its interval.
"""

from __future__ import annotations

import argparse
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from commute_weather import io
from commute_weather.cli import StageError, console, run
from commute_weather.config import ModelName, PipelineParams, SelectionParams, load_params
from commute_weather.forecast.compare import rmse_change, selection_intervals
from commute_weather.forecast.features import feature_names
from commute_weather.forecast.model import (
    Forecaster,
    build_pipeline,
    feature_matrix,
    predict_forecast,
    probabilistic_scores,
    rmse,
    wet_climatology,
)
from commute_weather.forecast.split import assign_split, check_periods, periods
from commute_weather.provenance import file_digest, library_versions


def fit(
    name: ModelName, rows: pd.DataFrame, params: PipelineParams, wet_part: Pipeline | None = None
) -> Pipeline:
    """`name` fitted on `rows`; with `wet_part` (another candidate fitted on the same rows) it takes that
    one's P(wet) classifier and wet climatology rather than fitting equal ones."""
    features = feature_names(params.featurize)
    model = build_pipeline(name, params.train, features)
    shared = {} if wet_part is None else {"model__wet_part": forecaster(wet_part)}
    return model.fit(feature_matrix(rows, features), rows["label"], model__wet=rows["wet_window"], **shared)


def forecaster(model: Pipeline) -> Forecaster:
    step: Forecaster = model.steps[-1][1]
    return step


def calibrate(model: Pipeline, rows: pd.DataFrame, params: PipelineParams) -> Pipeline:
    """Fit the model's calibration (P(wet), persistence weight, interval) on `rows`: validation rows only."""
    x = feature_matrix(rows, feature_names(params.featurize))
    forecaster(model).calibrate(x, rows["label"].to_numpy(), rows["wet_window"].to_numpy())
    return model


def cross_calibrated(
    model: Pipeline, validation: pd.DataFrame, params: PipelineParams
) -> dict[str, np.ndarray]:
    """Forecasts of the validation rows whose calibration never saw them: the validation period's first
    half calibrated on its second and vice versa, so that the validation figures of calibrated outputs
    (Brier, coverage, the persistence blend) are out of sample."""
    features = feature_names(params.featurize)
    order = np.argsort(validation["date"].to_numpy(), kind="stable")
    halves = np.array_split(order, 2)
    out: dict[str, np.ndarray] = {}
    for mine, other in ((halves[0], halves[1]), (halves[1], halves[0])):
        calibrate(model, validation.iloc[other], params)
        part = predict_forecast(model, feature_matrix(validation.iloc[mine], features))
        for key, values in part.items():
            out.setdefault(key, np.full(len(validation), np.nan))[mine] = values
    return out


def compare_candidates(
    train: pd.DataFrame, validation: pd.DataFrame, params: PipelineParams
) -> tuple[dict[str, Any], dict[str, Pipeline], Callable[[str, str], dict[str, Any]]]:
    """Every candidate fitted on `train` and scored on `validation`, beside persistence on the same rows;
    the candidates, calibrated on the whole validation period; and a paired comparison of two candidates
    on those windows (for `choose`). The figures are cross-calibrated (see `cross_calibrated`): out of
    sample for the fit and for the calibration."""
    scorable = validation[validation["persistence_score"].notna()]
    actual = scorable["label"].to_numpy()
    persistence = rmse(actual, scorable["persistence_score"].to_numpy())
    climatology = wet_climatology(train, scorable)
    candidates: dict[str, dict[str, Any]] = {}
    models: dict[str, Pipeline] = {}
    first: Pipeline | None = None
    scores: dict[str, np.ndarray] = {}
    for name in params.train.selection.candidates:
        model = fit(name, train, params, wet_part=first)
        first = first or model
        predicted = cross_calibrated(model, scorable, params)
        scores[name] = predicted["score"]
        score = rmse(actual, predicted["score"])
        candidates[name] = {
            "rmse": round(score, 4),
            "skill_vs_persistence": round(1 - score / persistence, 4),
            **probabilistic_scores(scorable, predicted, climatology),
        }
        models[name] = calibrate(model, scorable, params)
        candidates[name]["calibration"] = forecaster(models[name]).calibration()
    record: dict[str, Any] = {"rows": len(scorable), "persistence_rmse": round(persistence, 4)}
    record["candidates"] = candidates
    record["intervals"] = selection_intervals(
        scorable["date"], actual, scores, scorable["persistence_score"], params.train.model, params.compare
    )

    def versus(first: str, other: str) -> dict[str, Any]:
        """`other`'s validation RMSE minus `first`'s with its paired interval, kept in the record."""
        change = rmse_change(scorable["date"], actual, scores[first], scores[other], params.compare)
        record["intervals"].setdefault("between_winners", {})[f"{other} - {first}"] = change
        return change

    return record, models, versus


def choose(
    default: ModelName,
    rmse_by_model: dict[str, float],
    vs_default: dict[str, dict[str, Any]],
    rule: SelectionParams,
    versus: Callable[[str, str], dict[str, Any]] | None = None,
) -> tuple[ModelName, str]:
    """The selection rule: the default unless another candidate beats it by more than the margin with a
    paired interval of the difference (`vs_default`: compare.selection_intervals) wholly below zero. Of
    several such winners, the first in `rule.candidates`' order, unless a later one is detectably better
    than it (`versus(a, b)`: the interval of b's RMSE minus a's): a point difference between two winners
    that the intervals cannot tell apart does not decide. Without `versus`, the lowest RMSE."""
    best = min(rule.candidates, key=lambda name: (rmse_by_model[name], name != default))
    if best == default:
        return default, f"the default {default} has the lowest validation RMSE"

    def gain(name: str) -> float:
        return rmse_by_model[default] - rmse_by_model[name]

    def interval(name: str) -> str:
        return f"95% interval {vs_default[name]['low']:+.3f} to {vs_default[name]['high']:+.3f}"

    winners = [n for n in rule.candidates if gain(n) > rule.min_rmse_gain and vs_default[n]["high"] < 0]
    if winners:
        if versus is None:
            chosen = min(winners, key=lambda name: rmse_by_model[name])
            among = ""
        else:
            chosen = winners[0]
            for other in winners[1:]:
                if versus(chosen, other)["high"] < 0:
                    chosen = other
            among = (
                f"; of the winners {', '.join(winners)}, the first in the candidates' order that no other "
                "beats detectably"
                if len(winners) > 1
                else ""
            )
        return chosen, (
            f"{chosen} beats the default {default} by {gain(chosen):.3f} > {rule.min_rmse_gain} RMSE "
            f"({interval(chosen)}){among}"
        )
    if gain(best) <= rule.min_rmse_gain:
        return default, (
            f"{best} is better by only {gain(best):.3f} <= {rule.min_rmse_gain} RMSE: "
            f"keep the default {default}"
        )
    return default, (
        f"{best} is better by {gain(best):.3f} RMSE but the difference is not detectable ({interval(best)}): "
        f"keep the default {default}"
    )


def select_and_fit(
    dataset: pd.DataFrame, params: PipelineParams, name: str | None = None
) -> tuple[Pipeline, dict[str, Any]]:
    """Validation picks the model; the pick is fitted on training plus validation. Returns the model and the
    selection record (metrics/<dataset>/model_selection.json). `name`: the dataset's own split settings
    (split.by_dataset), if it has any."""
    periods_params = params.split.for_dataset(name)
    split = assign_split(dataset["date"], periods_params)
    check_periods(dataset["date"], split, periods_params)
    fit_rows = dataset[split != "test"]  # test rows go no further than this line
    split = split[fit_rows.index]
    if len(fit_rows) < params.gate.min_train_rows:
        raise StageError(
            f"only {len(fit_rows):,} training rows before the test period; gate.min_train_rows is "
            f"{params.gate.min_train_rows:,}. Ingest more months or stations, or shorten split.test_days."
        )
    train, validation = fit_rows[split == "train"], fit_rows[split == "validation"]
    comparison, calibrated, versus = compare_candidates(train, validation, params)
    rmse_by_model = {name: c["rmse"] for name, c in comparison["candidates"].items()}
    chosen, reason = choose(
        params.train.model, rmse_by_model, comparison["intervals"]["vs_default"], params.train.selection,
        versus,
    )  # fmt: skip
    first_day, last_day = periods(dataset["date"], periods_params).dates("validation", dataset["date"].min())
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
        "stations": sorted(int(s) for s in fit_rows["station_id"].unique()),
    }
    return refit(chosen, fit_rows, calibrated[chosen], params), record


def refit(name: ModelName, fit_rows: pd.DataFrame, calibrated: Pipeline, params: PipelineParams) -> Pipeline:
    """`name` fitted on training plus validation rows. The refit saw the validation rows, so its own
    predictions there are in sample: it takes the calibration of `calibrated` (the same candidate fitted on
    training rows, calibrated on the validation rows)."""
    final = fit(name, fit_rows, params)
    forecaster(final).use_calibration(forecaster(calibrated))
    return final


def fit_as_shipped(
    name: ModelName, fit_rows: pd.DataFrame, split: pd.Series, params: PipelineParams
) -> Pipeline:
    """The model train ships for `name`, without selection: fitted on the training rows, calibrated on the
    validation rows (`split` labels each of `fit_rows`), refitted on both."""
    train, validation = fit_rows[split == "train"], fit_rows[split == "validation"]
    scorable = validation[validation["persistence_score"].notna()]
    return refit(name, fit_rows, calibrate(fit(name, train, params), scorable, params), params)


MODEL_PARAMS = {"commute", "comfort", "featurize", "split", "train"}


def metadata(params: PipelineParams, dataset_path: Path, selection: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": selection["chosen"],
        "features": feature_names(params.featurize),
        "train_rows": selection["fit_rows"],
        "stations": selection["stations"],
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
    parser.add_argument("--dataset-name", help="its name under `datasets` (for split.by_dataset)")
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        # Gradient boosting on one OpenMP thread: its threads wait for each other at every split, and on a
        # shared 2-core machine that waiting dominates (Cheongju's selection: 10.6 s on one thread, 82 s on
        # two, side by side under the same load). The fitted trees are the same; forests still use every
        # core through joblib.
        with threadpool_limits(limits=1, user_api="openmp"):
            model, selection = select_and_fit(pd.read_parquet(args.dataset), params, args.dataset_name)
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
