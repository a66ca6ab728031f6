"""The slices a test period is scored on: window, season, wet or dry, station. One definition, read by the
evaluate stage (RMSE per slice in metrics.json) and by the paired comparison (an interval per slice), so a
slice in the report's table and its interval are the same windows."""

from __future__ import annotations

import pandas as pd

from commute_weather.clock import SEASONS


def slice_labels(rows: pd.DataFrame) -> dict[str, pd.Series]:
    """Each window's slice of each kind, by kind: `window`, `season` (of `date`), `wetness` (wet or dry,
    when rows carry `wet_window`) and `station` (the station_id as text)."""
    labels = {"window": rows["window"], "season": rows["date"].dt.month.map(SEASONS)}
    if "wet_window" in rows:
        labels["wetness"] = rows["wet_window"].map({True: "wet", False: "dry"})
    labels["station"] = rows["station_id"].astype(str)
    return labels
