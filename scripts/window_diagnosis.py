"""Where the model loses to persistence, window by window: a dataset's test predictions joined to the state at
issue time (wet in the last 3 hours or not), for winter mornings and for wet windows.

    python scripts/window_diagnosis.py network
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

KEY = ["station_id", "date", "window"]


def rmse(actual: pd.Series, predicted: pd.Series) -> float:
    return float(np.sqrt(np.mean((actual - predicted) ** 2)))


def line(name: str, rows: pd.DataFrame, slice_error: float | None = None) -> str:
    bias = float((rows["model"] - rows["label"]).mean())
    text = (
        f"{name}: {len(rows)} windows, model {rmse(rows['label'], rows['model']):.2f} vs persistence "
        f"{rmse(rows['label'], rows['persistence']):.2f}, model bias {bias:+.2f}"
    )
    if slice_error is not None:
        share = float(((rows["model"] - rows["label"]) ** 2).sum()) / slice_error
        text += f", {share:.0%} of the slice's squared error"
    return text


def main(dataset: str) -> None:
    predictions = pd.read_parquet(f"data/predictions/{dataset}/test.parquet")
    state = pd.read_parquet(f"data/features/{dataset}/dataset.parquet", columns=[*KEY, "wet_share_3h"])
    rows = predictions.merge(state, on=KEY, how="left")
    wet_now = rows["wet_share_3h"] > 0
    for title, part in (
        ("winter mornings", rows[rows["date"].dt.month.isin([12, 1, 2]) & (rows["window"] == "morning")]),
        ("wet windows", rows[rows["wet_window"]]),
    ):
        error = float(((part["model"] - part["label"]) ** 2).sum())
        print(line(title, part))
        wet, now = part["wet_window"], wet_now.loc[part.index]
        print(line("  wet, already wet at issue", part[wet & now], error))
        print(line("  wet, dry at issue", part[wet & ~now], error))
        if (~wet).any():
            print(line("  dry", part[~wet], error))
    print(line("dry windows that were wet at issue (it clears)", rows[~rows["wet_window"] & wet_now]))


if __name__ == "__main__":
    main(sys.argv[1])
