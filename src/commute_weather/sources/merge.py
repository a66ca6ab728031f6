"""One record per station and hour from exports that overlap, as consecutive portal downloads do."""

from __future__ import annotations

import numpy as np
import pandas as pd

from commute_weather.cli import StageError
from commute_weather.contracts.observations import Observations as Obs

KEY = [Obs.station_id, Obs.observed_at]


def merge_exports(exports: list[tuple[str, pd.DataFrame]]) -> tuple[pd.DataFrame, int]:
    """One record per station and hour from exports that may overlap. Returns the merged records and the
    number of duplicate rows collapsed. Duplicates must agree in every column (NaN equals NaN)."""
    if len(exports) == 1:
        return exports[0][1], 0
    tagged = pd.concat([frame.assign(_file=name) for name, frame in exports], ignore_index=True)
    tagged = tagged.sort_values([*KEY, "_file"], kind="stable").reset_index(drop=True)
    repeated = tagged.duplicated(KEY, keep="first")
    if repeated.any():
        values = [c for c in tagged.columns if c not in (*KEY, "_file")]
        groups = tagged.groupby(KEY, sort=False)
        first, first_file = groups[values].transform("first"), groups["_file"].transform("first")
        # transform("first") skips NaN, so a column conflicts when it differs from the group's first value
        # in value or in missingness.
        same = (tagged[values] == first) | (tagged[values].isna() & first.isna())
        conflict = ~same.all(axis=1)
        if conflict.any():
            at = int(np.flatnonzero(conflict.to_numpy())[0])
            row = tagged.iloc[at]
            columns = [c for c, ok in zip(values, same.iloc[at], strict=True) if not ok]
            raise StageError(
                f"exports {first_file.iloc[at]} and {row['_file']} disagree on station "
                f"{row[Obs.station_id]} at {row[Obs.observed_at]:%Y-%m-%d %H:%M} in {columns} "
                f"({int(conflict.sum()):,} conflicting rows in all): keep one version of the overlap"
            )
    merged = tagged.loc[~repeated].drop(columns="_file").reset_index(drop=True)
    return merged, int(repeated.sum())
