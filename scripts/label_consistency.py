"""How much the comfort label changes when an export carries no weather codes (DESIGN: one label, whatever
the source). For each dataset with codes, the same hours are labelled twice: as delivered, and with the
weather codes (WW, and WMO present weather) removed, as a portal export without 현상번호 would deliver them.
Prints per dataset: windows, wet windows with and without codes, windows whose score changes, mean and
largest change.

    .venv/bin/python scripts/label_consistency.py [DATASET ...]   (default: cheongju network)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from commute_weather.config import load_params
from commute_weather.pipeline.featurize import build_dataset
from commute_weather.pipeline.ingest import combine_exports, read_csv_exports, select
from commute_weather.sources.merge import KEY
from commute_weather.sources.normalize import normalize


def main(names: list[str]) -> None:
    params = load_params(Path("params.yaml"))
    table = Table(title="the label with and without weather codes (same hours)")
    for column in ("dataset", "hours with a code", "windows", "wet (codes)", "wet (no codes)",
                   "score changed", "mean |change|", "max |change|"):  # fmt: skip
        table.add_column(column)
    for name in names:
        dataset = params.dataset(name)
        with tempfile.TemporaryDirectory() as raw:
            records, _ = combine_exports(
                read_csv_exports(dataset.input), dataset, params.ingest.precedence,
                params.validate_.quality, Path(raw),
            )  # fmt: skip
        records = records.sort_values(KEY, kind="stable").reset_index(drop=True)
        coded = records["weather_codes"].fillna("").ne("") | records["present_weather"].notna()
        labelled = {}
        for kind, frame in (
            ("codes", records),
            ("none", records.assign(weather_codes="", present_weather=np.nan)),
        ):
            observations = select(normalize(frame), dataset, str(dataset.input))
            labelled[kind], _ = build_dataset(observations, params)
        both = labelled["codes"].merge(
            labelled["none"], on=["station_id", "date", "window"], suffixes=("", "_none")
        )
        change = (both["label"] - both["label_none"]).abs()
        table.add_row(
            name, f"{coded.mean():.1%}", f"{len(both):,}", f"{int(both['wet_window'].sum()):,}",
            f"{int(both['wet_window_none'].sum()):,}", f"{(change > 0.5).mean():.1%}",
            f"{change.mean():.2f}", f"{change.max():.1f}",
        )  # fmt: skip
    Console().print(table)


if __name__ == "__main__":
    main(sys.argv[1:] or ["cheongju", "network"])
