"""One record per station and hour from exports that overlap, as consecutive portal downloads do, and from
several sources (layouts) combined by a declared precedence."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from commute_weather.cli import StageError
from commute_weather.contracts.observations import Observations as Obs

KEY = [Obs.station_id, Obs.observed_at]


def merge_exports(
    exports: list[tuple[str, pd.DataFrame]], ignore: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, int]:
    """One record per station and hour from exports that may overlap. Returns the merged records and the
    number of duplicate rows collapsed. Duplicates must agree in every column but `ignore` (NaN equals
    NaN)."""
    if len(exports) == 1 and not exports[0][1].duplicated(KEY).any():
        return exports[0][1], 0
    tagged = pd.concat([frame.assign(_file=name) for name, frame in exports], ignore_index=True)
    tagged = tagged.sort_values([*KEY, "_file"], kind="stable").reset_index(drop=True)
    repeated = tagged.duplicated(KEY, keep="first")
    if repeated.any():
        values = [c for c in tagged.columns if c not in (*KEY, "_file", *ignore)]
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


def merge_sources(
    sources: dict[str, list[tuple[str, pd.DataFrame]]],
    precedence: tuple[str, ...],
    compared: dict[str, list[str]],
) -> tuple[pd.DataFrame, dict[str, int], list[dict[str, Any]]]:
    """One record per station and hour from several sources (layouts), each a list of (file, records).

    Within a source, overlapping files must agree (merge_exports; a conflict stops ingest). Across sources,
    `precedence` decides: where two give the same station and hour, the earlier source's row is kept whole.
    Every pair that overlaps is counted: hours in common, hours on which every value both sources report
    (`compared[source]`: the columns a source carries) agrees, hours the kept source overrides, and per
    column how many hours differ. Returns the records (with `source_file`), the duplicates collapsed per
    source, and the pair counts.
    """
    unknown = sorted(set(sources) - set(precedence))
    if unknown:
        raise StageError(f"sources {unknown} have no place in ingest.precedence {list(precedence)}")
    merged: dict[str, pd.DataFrame] = {}
    collapsed: dict[str, int] = {}
    for name in (n for n in precedence if n in sources):
        tagged = [(file, frame.assign(source_file=file)) for file, frame in sources[name]]
        records, collapsed[name] = merge_exports(tagged, ignore=("source_file",))
        merged[name] = records
    order = list(merged)
    pairs: list[dict[str, Any]] = []
    for i, winner in enumerate(order):
        for loser in order[i + 1 :]:
            pair = _overlap(
                merged[winner], merged[loser], [c for c in compared[winner] if c in compared[loser]]
            )
            if pair["hours"]:
                pairs.append({"kept": winner, "over": loser, **pair})
    combined = pd.concat([merged[name] for name in order], ignore_index=True)
    # Stable sort: within a station and hour the earlier source (higher precedence) comes first.
    combined = combined.sort_values(KEY, kind="stable")
    kept = combined.loc[~combined.duplicated(KEY, keep="first")].reset_index(drop=True)
    return kept, collapsed, pairs


def _overlap(first: pd.DataFrame, second: pd.DataFrame, columns: list[str]) -> dict[str, Any]:
    both = first.merge(second, on=KEY, suffixes=("", "__other"))
    differs = {
        column: ~(
            (both[column] == both[f"{column}__other"])
            | (both[column].isna() & both[f"{column}__other"].isna())
        )
        for column in columns
    }
    any_differs = np.zeros(len(both), dtype=bool)
    for mask in differs.values():
        any_differs |= mask.to_numpy()
    return {
        "hours": len(both),
        "agreeing": int((~any_differs).sum()),
        "overridden": int(any_differs.sum()),
        "compared_columns": columns,
        "differing_by_column": {c: int(m.sum()) for c, m in differs.items() if m.any()},
    }
