"""Stage 5, evaluate: the model and both baselines on the same test rows, slices, plot data, permutation
importance and the quality gate.

    python -m commute_weather.pipeline.evaluate --params params.yaml --dataset-name cheongju \
        --dataset data/features/cheongju/dataset.parquet --model models/cheongju/model.pkl \
        --metadata models/cheongju/metadata.json --metrics metrics/cheongju/metrics.json \
        --gate metrics/cheongju/gate.json --plots reports/cheongju/plots \
        --predictions data/predictions/cheongju/test.parquet

Baselines: persistence (the comfort heuristic on the last hours before issue time) and climatology (mean
label per station, month and window, fitted on the rows before the test period). Rows where persistence is
undefined (no temperature in its hours) are excluded from every score, so all three are compared on
identical rows.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import parallel_config
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from commute_weather import io
from commute_weather.cli import StageError, console, run
from commute_weather.config import CompareParams, PipelineParams, load_params
from commute_weather.forecast.compare import against_persistence
from commute_weather.forecast.features import feature_names
from commute_weather.forecast.gate import evaluate_gate, gate_table
from commute_weather.forecast.model import feature_matrix, probabilistic_scores, rmse, wet_climatology
from commute_weather.forecast.predictor import Predictor
from commute_weather.forecast.slices import slice_labels
from commute_weather.forecast.split import assign_split, check_periods

PREDICTORS = ("model", "persistence", "climatology")


def climatology(fit_rows: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Mean label per station, month and window on fit_rows, falling back to station and window, then all."""
    month = fit_rows["date"].dt.month
    fine = fit_rows.groupby([fit_rows["station_id"], month.rename("month"), fit_rows["window"]])[
        "label"
    ].mean()
    coarse = fit_rows.groupby(["station_id", "window"])["label"].mean()
    keys = pd.MultiIndex.from_arrays([rows["station_id"], rows["date"].dt.month, rows["window"]])
    values = fine.reindex(keys).to_numpy()
    fallback = coarse.reindex(pd.MultiIndex.from_arrays([rows["station_id"], rows["window"]])).to_numpy()
    values = np.where(np.isnan(values), fallback, values)
    filled: np.ndarray = np.where(np.isnan(values), fit_rows["label"].mean(), values)
    return filled


def scores(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    residual = predicted - actual
    total = float(np.sum((actual - actual.mean()) ** 2))
    return {
        "rmse": round(rmse(actual, predicted), 4),
        "mae": round(float(np.mean(np.abs(residual))), 4),
        "bias": round(float(np.mean(residual)), 4),
        "r2": round(1 - float(np.sum(residual**2)) / total, 4) if total > 0 else 0.0,
    }


def slice_rmse(test: pd.DataFrame, by: pd.Series, params: CompareParams) -> dict[str, dict[str, Any]]:
    """Each slice's RMSE per predictor and the model against persistence with its paired interval."""
    out: dict[str, dict[str, Any]] = {}
    for value, rows in test.groupby(by, sort=True):
        out[str(value)] = {f"{p}_rmse": round(rmse(rows["label"], rows[p]), 4) for p in PREDICTORS}
        out[str(value)]["rows"] = len(rows)
        out[str(value)]["vs_persistence"] = against_persistence(
            rows["date"], rows["label"], rows["model"], rows["persistence"], params
        )
    return out


def by_station(test: pd.DataFrame, fit_rows: pd.DataFrame, params: PipelineParams) -> dict[str, Any]:
    """Every station's own figures on its test windows: RMSE of the model and both baselines, the model
    against persistence with its paired block-bootstrap interval (the gate's per-station check reads it),
    season and wet/dry slices, P(wet) and interval scores, and whether the station has a full test year
    (gate.station_full_year_days scored dates), and whether the model was fitted on any of its rows (`seen`:
    false is what a user of a station without history gets)."""
    out: dict[str, Any] = {}
    labels = slice_labels(test)
    seen = set(fit_rows["station_id"].unique())
    for station, rows in test.groupby("station_id", sort=True):
        actual = rows["label"].to_numpy()
        days = int(rows["date"].nunique())
        out[str(station)] = {
            "rows": len(rows),
            "days": days,
            "seen": station in seen,
            "full_test_year": days >= params.gate.station_full_year_days,
            **{f"{p}_rmse": round(rmse(actual, rows[p]), 4) for p in PREDICTORS},
            "vs_persistence": against_persistence(
                rows["date"], actual, rows["model"], rows["persistence"], params.compare
            ),
            "probabilistic": probabilistic_scores(
                rows,
                {c: rows[c].to_numpy() for c in ("wet_probability", "score_low", "score_high")},
                wet_climatology(fit_rows, rows),
            ),
            "slices": {
                kind: slice_rmse(rows, labels[kind].loc[rows.index], params.compare)
                for kind in ("season", "wetness")
            },
        }
    return out


def evaluate(
    dataset: pd.DataFrame, predictor: Predictor, params: PipelineParams, name: str | None = None
) -> tuple[dict[str, Any], pd.DataFrame]:
    split_params = params.split.for_dataset(name)
    dataset = dataset.assign(split=assign_split(dataset["date"], split_params))
    check_periods(dataset["date"], dataset["split"], split_params)
    fit_rows, test = dataset[dataset["split"] != "test"], dataset[dataset["split"] == "test"]
    scorable = test["persistence_score"].notna()
    test = test[scorable].copy()
    if test.empty:
        raise StageError("no test rows with a defined persistence baseline: is split.test_days too small?")
    forecast = predictor.predict_features(test)
    test["model"] = forecast["score"]
    for column in ("wet_probability", "score_low", "score_high"):
        test[column] = forecast[column]
    test["persistence"] = test["persistence_score"]
    test["climatology"] = climatology(fit_rows, test)
    actual = test["label"].to_numpy()
    metrics: dict[str, Any] = {p: scores(actual, test[p].to_numpy()) for p in PREDICTORS}
    metrics["skill_vs_persistence"] = round(1 - metrics["model"]["rmse"] / metrics["persistence"]["rmse"], 4)
    metrics["skill_vs_climatology"] = round(1 - metrics["model"]["rmse"] / metrics["climatology"]["rmse"], 4)
    metrics["probabilistic"] = probabilistic_scores(
        test, {c: test[c].to_numpy() for c in ("wet_probability", "score_low", "score_high")},
        wet_climatology(fit_rows, test),
    )  # fmt: skip
    labels = slice_labels(test)
    metrics["slices"] = {
        kind: slice_rmse(test, labels[kind], params.compare) for kind in ("window", "season", "wetness")
    }
    metrics["by_station"] = by_station(test, fit_rows, params)
    metrics["rows"] = {
        "train": len(fit_rows),
        "test": len(test),
        "test_excluded_no_persistence": int((~scorable).sum()),
    }
    return metrics, test


def plot_data(test: pd.DataFrame, metrics: dict[str, Any]) -> dict[str, pd.DataFrame]:
    residual = test["model"] - test["label"]
    by_month = test.assign(month=test["date"].dt.month, residual=residual).groupby("month")
    # One row, so one bar, per slice and predictor: bars sharing a label would be drawn stacked.
    rows = [
        {"slice": f"{kind}={name} {p}", "predictor": p, "rmse": values[f"{p}_rmse"]}
        for kind, groups in metrics["slices"].items()
        for name, values in groups.items()
        for p in PREDICTORS
    ]
    return {
        "predictions.csv": pd.DataFrame(
            {"actual": test["label"].round(3), "predicted": test["model"].round(3)}
        ),
        "residuals_by_month.csv": by_month["residual"].agg(["mean", "std"]).round(4).reset_index(),
        "rmse_by_slice.csv": pd.DataFrame(rows),
        "reliability.csv": reliability(test),
    }


def reliability(test: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """The reliability diagram of P(wet): per tenth of predicted probability (empty bins left out), the
    mean prediction, the observed share of wet windows and the count."""
    p = test["wet_probability"].to_numpy()
    band = np.minimum((p * bins).astype("int64"), bins - 1)
    frame = pd.DataFrame({"bin": band, "predicted": p, "observed": test["wet_window"].astype("float64")})
    table = frame.groupby("bin").agg(
        predicted=("predicted", "mean"), observed=("observed", "mean"), count=("observed", "size")
    )
    return table.round(4).reset_index()


def importance(model: Pipeline, test: pd.DataFrame, params: PipelineParams) -> pd.DataFrame:
    features = feature_names(params.featurize)
    settings = params.evaluate.importance
    # A few hundred predictions of up to 2,000 rows: OpenMP's per-tree thread start-up costs more than it
    # saves there (2x slower on 2 cores), while two single-threaded predictions side by side use both cores.
    # The permutations are seeded per feature, so the result does not depend on the threads.
    with threadpool_limits(limits=1), parallel_config(backend="threading", n_jobs=os.cpu_count()):
        result = permutation_importance(
            model, feature_matrix(test, features), test["label"], scoring="neg_root_mean_squared_error",
            n_repeats=settings.repeats, max_samples=min(settings.max_windows, len(test)),
            random_state=params.train.seed,
        )  # fmt: skip
    frame = pd.DataFrame(
        {
            "feature": features,
            "rmse_increase": result.importances_mean.round(4) + 0.0,  # + 0.0: no "-0.0" in the file
            "std": result.importances_std.round(4) + 0.0,
        }
    )
    return frame.sort_values("rmse_increase", ascending=False, kind="stable").reset_index(drop=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset-name", required=True, help="a name under `datasets` in params.yaml")
    for name in ("params", "dataset", "model", "metadata", "metrics", "gate", "plots", "predictions"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        real = params.dataset(args.dataset_name).real
        model_metadata = io.read_json(args.metadata)
        predictor = Predictor.from_artifacts(args.model.read_bytes(), model_metadata)
        metrics, test = evaluate(pd.read_parquet(args.dataset), predictor, params, args.dataset_name)
        metrics["dataset"] = {"name": args.dataset_name, "real": real, "model": model_metadata["model"]}
        for name, frame in plot_data(test, metrics).items():
            io.write_bytes(args.plots / name, frame.to_csv(index=False).encode())
        io.write_bytes(
            args.plots / "feature_importance.csv",
            importance(predictor.model, test, params).to_csv(index=False).encode(),
        )
        keep = ["station_id", "date", "window", "issue_at", "label", "wet_window", "model", "wet_probability",
                "score_low", "score_high", "persistence", "climatology"]  # fmt: skip
        io.write_parquet(args.predictions, test[keep].reset_index(drop=True))
        io.write_json(args.metrics, metrics)
        gate = evaluate_gate(metrics, params.gate, reference=None)
        io.write_json(args.gate, gate)
        console.print(gate_table(gate))

    run("evaluate", body)


if __name__ == "__main__":
    main()
