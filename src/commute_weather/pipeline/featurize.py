"""Stage 3, featurize: one row per station, date and window with features (as of issue time), the label
(from inside the window) and the persistence baseline.

    python -m commute_weather.pipeline.featurize --params params.yaml \
        --observations data/interim/cheongju/observations.parquet \
        --validation reports/cheongju/validation.json --out data/features/cheongju/dataset.parquet \
        --stats metrics/cheongju/featurize.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from commute_weather import io
from commute_weather.cli import StageError, console, run
from commute_weather.config import PipelineParams, load_params
from commute_weather.contracts.quality import clean_observations
from commute_weather.forecast.features import all_targets, build_features_and_labels


def build_dataset(observations: pd.DataFrame, params: PipelineParams) -> tuple[pd.DataFrame, dict[str, int]]:
    """Features joined with labels; rows without a label are dropped and counted."""
    targets = all_targets(observations)
    features, labels = build_features_and_labels(
        observations, targets, params.commute, params.featurize, params.comfort
    )
    dataset = pd.concat([features, labels.drop(columns=["station_id", "date", "window"])], axis=1)
    labelled = dataset["label"].notna()
    stats = {
        "targets": len(dataset),
        "rows": int(labelled.sum()),
        "dropped_unlabelled": int((~labelled).sum()),
    }
    return dataset.loc[labelled].reset_index(drop=True), stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--observations", type=Path, required=True)
    parser.add_argument("--validation", type=Path, required=True, help="the validate stage's report")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        if io.read_json(args.validation).get("status") != "passed":
            raise StageError(f"{args.validation} does not say 'passed': fix the data before featurizing")
        report = io.read_json(args.validation)
        # Quarantined hours reach neither features nor labels: removed here, so a window that needs one
        # uses the hours left or is dropped (counted in dropped_unlabelled).
        observations, removed = clean_observations(pd.read_parquet(args.observations), report)
        dataset, stats = build_dataset(observations, params)
        stats |= removed
        io.write_parquet(args.out, dataset)
        io.write_json(args.stats, stats)
        dropped, minimum = stats["dropped_unlabelled"], params.featurize.min_window_hours
        console.print(
            f"featurize: {stats['rows']:,} labelled windows ({dropped:,} dropped: fewer than {minimum} "
            f"observed hours) -> {args.out}"
        )

    run("featurize", body)


if __name__ == "__main__":
    main()
