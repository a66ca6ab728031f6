"""Stage 1, ingest: one dataset's observations from its source to one normalized table.

    python -m commute_weather.pipeline.ingest --params params.yaml --dataset cheongju \
        --raw-dir data/raw/cheongju --out data/interim/cheongju/observations.parquet \
        --stats metrics/cheongju/ingest.json

Raw inputs are kept unmodified under raw-dir: typ01 bodies as <station>/<YYYY-MM>.txt for the `sample` and
`kma` sources and for `typ01` (a folder of such bodies that `commute-weather retrain` embedded, every station
and month of the dataset required), byte-identical copies of the exports for `csv` (those that hold a selected
row, under their path relative to the input folder). A `csv` input is a folder searched recursively; each
file's layout is told by its header: a data portal export (`portal`, any subset of columns beyond the required
ones) or an API Hub typ01 response saved as CSV (`api_csv`). Files of one layout that overlap (as consecutive
portal downloads do) are merged: an hour present in several files with identical values is kept once and
counted; an hour whose values differ stops ingest with both files, the hour and the columns named. Across
layouts `ingest.precedence` decides, and every overlap is counted per pair (hours, agreeing, overridden).
Hours missing between exports are reported (stats and summary), never filled.
"""

from __future__ import annotations

import argparse
import csv
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.progress import track

from commute_weather import io
from commute_weather.cli import StageError, console, run
from commute_weather.config import DatasetParams, IngestParams, KmaParams, QualityParams, load_params
from commute_weather.contracts.observations import Observations as Obs
from commute_weather.contracts.quality import REPAIR_RULES, apply_repairs, find_repairs, hour_key
from commute_weather.sources.kma.api_csv import is_api_csv, parse_api_csv
from commute_weather.sources.kma.client import KmaClient, auth_key_from_env, raw_month_path, sync_months
from commute_weather.sources.kma.portal_csv import (
    OPTIONAL_COSTS,
    VALUE_COLUMNS,
    WEATHER_CODES,
    decode,
    parse_portal_export,
)
from commute_weather.sources.kma.records import RECORD_COLUMNS
from commute_weather.sources.kma.typ01 import parse_typ01
from commute_weather.sources.merge import KEY, merge_sources
from commute_weather.sources.normalize import normalize
from commute_weather.sources.synthetic import generate, month_range

MAX_GAPS_LISTED = 5


def write_sample(params: DatasetParams, raw_dir: Path) -> list[Path]:
    assert params.seed is not None  # DatasetParams requires it for the sample source
    months = month_range(params.start_month, params.end_month)
    files = generate(params.stations, params.start_month, params.end_month, params.seed)
    paths = []
    for month_file in track(files, total=len(params.stations) * len(months), description="generating",
                            console=console):  # fmt: skip
        path = raw_month_path(raw_dir, month_file.station_id, month_file.month)
        io.write_text(path, month_file.text)
        paths.append(path)
    return paths


def fetch_kma(params: DatasetParams, kma: KmaParams, raw_dir: Path) -> list[Path]:
    client = KmaClient(
        auth_key=auth_key_from_env(),
        base_url=kma.base_url,
        timeout_s=kma.timeout_s,
        max_attempts=kma.max_attempts,
        backoff_s=kma.backoff_s,
    )
    months = month_range(params.start_month, params.end_month)
    with console.status("fetching from the KMA API Hub") as status:
        return sync_months(
            client, raw_dir, params.stations, months, on_month=lambda m: status.update(f"fetched {m}")
        )


def embedded_typ01(params: DatasetParams, raw_dir: Path) -> list[Path]:
    """The months of a `typ01` folder (<station>/<YYYY-MM>.txt, as `commute-weather retrain` embeds them)
    for the dataset's stations and months, copied unmodified under raw_dir like every other source."""
    months = month_range(params.start_month, params.end_month)
    wanted = [raw_month_path(params.input, s, m) for s in params.stations for m in months]
    missing = [p for p in wanted if not p.is_file()]
    if missing:
        listed = ", ".join(p.as_posix() for p in missing[:MAX_GAPS_LISTED])
        raise StageError(f"{params.input} lacks {len(missing)} station-months of the dataset: {listed}")
    for path in wanted:
        io.write_bytes(raw_dir / path.relative_to(params.input), path.read_bytes())
    return [raw_dir / path.relative_to(params.input) for path in wanted]


def read_typ01_files(paths: list[Path], raw_dir: Path) -> pd.DataFrame:
    records = [
        parse_typ01(path.read_text(encoding="cp949"), str(path)).assign(
            source_file=path.relative_to(raw_dir).as_posix()
        )
        for path in track(paths, description="parsing", console=console)
    ]
    return pd.concat(records, ignore_index=True)


# What a portal export's header names a record column (for the columns an export may leave out).
_PORTAL_COLUMN = {column: header for header, column in VALUE_COLUMNS.items()} | {
    "weather_codes": WEATHER_CODES
}
# Record columns no layout compares: derived or layout-specific bookkeeping.
_NOT_COMPARED = frozenset({"station_id", "observed_at", "snow_day_cm", "present_weather", "snow_new_3h_cm"})


def drop_self_contradictions(records: pd.DataFrame, name: str) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """An hour that one file holds twice with different values (after repairs) is dropped, both copies,
    and listed: the file contradicts itself and nothing says which copy is right (the API CSVs repeat each
    month's boundary hour; 8 of those copies differ, e.g. humidity 0 and 100). Conflicts between two files
    still stop ingest (merge.merge_exports): there the user can keep one version."""
    repeated = records.duplicated(KEY, keep=False)
    if not repeated.any():
        return records, []
    values = [c for c in records.columns if c not in KEY]
    copies = records.loc[repeated]
    # NaN-safe comparison of each copy with the first copy of its hour
    first = copies.groupby(KEY, sort=False)[values].transform("first")
    same = (copies[values] == first) | (copies[values].isna() & first.isna())
    bad_keys = copies.loc[~same.all(axis=1), KEY].drop_duplicates()
    listed = []
    for station_id, observed_at in bad_keys.itertuples(index=False):
        group = copies[(copies["station_id"] == station_id) & (copies["observed_at"] == observed_at)]
        differing = [c for c in values if len(set(group[c].astype(str))) > 1]
        listed.append(
            {"hour": hour_key(station_id, observed_at), "file": name,
             "values": {c: [None if pd.isna(v) else v for v in group[c].tolist()] for c in differing}}
        )  # fmt: skip
    bad = records.set_index(KEY).index.isin(pd.MultiIndex.from_frame(bad_keys))
    return records.loc[~bad].reset_index(drop=True), listed


@dataclass
class Export:
    """One input file: its path relative to the dataset's input folder, layout, records and absent columns."""

    name: str
    layout: str
    data: bytes
    records: pd.DataFrame
    absent: list[str]


def read_export(path: Path, name: str) -> Export:
    data = path.read_bytes()
    header = next(csv.reader([decode(data[:4096], str(path)).partition("\n")[0]]), [])
    if is_api_csv(header):
        return Export(name, "api_csv", data, parse_api_csv(data, str(path)), [])
    records, absent = parse_portal_export(data, str(path))
    return Export(name, "portal", data, records, absent)


def read_csv_exports(directory: Path) -> list[Export]:
    """Parse every *.csv under `directory` (recursively), in path order."""
    paths = sorted(p for p in directory.rglob("*.csv") if p.is_file())
    if not paths:
        raise StageError(f"no KMA CSV files (*.csv) in {directory} or its folders")
    return [read_export(path, path.relative_to(directory).as_posix()) for path in paths]


def combine_exports(
    exports: list[Export],
    params: DatasetParams,
    precedence: tuple[str, ...],
    quality: QualityParams,
    raw_dir: Path,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The selected stations' records from every export, merged by layout precedence, with what it took:
    per layout the files, rows read, duplicates collapsed and absent columns (listed once, with their
    cost), per pair of layouts the overlaps, and every repair a declared rule made (contracts/quality.py).
    Copies each export that holds a selected row to raw_dir."""
    used = [e for e in exports if e.records["station_id"].isin(params.stations).any()]
    if not used:
        found = sorted({int(s) for e in exports for s in e.records["station_id"].unique()})
        raise StageError(f"{params.input} holds no rows for stations {list(params.stations)}; it has {found}")
    by_layout: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    absent: dict[str, dict[str, list[str]]] = {}
    repairs: list[dict[str, Any]] = []
    contradictions: list[dict[str, Any]] = []
    for export in used:
        io.write_bytes(raw_dir / export.name, export.data)
        selected = export.records[export.records["station_id"].isin(params.stations)].reset_index(drop=True)
        # Repaired per file, before files are merged: a file's two copies of a boundary hour may differ
        # only by the damage a rule repairs.
        fixes = find_repairs(selected, quality)
        repairs += [
            {"hour": hour_key(hour.station_id, hour.observed_at), "file": export.name, "rule": r.rule,
             "column": r.column, "found": float(r.found), "repaired": float(r.repaired)}  # type: ignore[arg-type]
            for hour, r in zip(selected.loc[fixes.index].itertuples(), fixes.itertuples(), strict=True)
        ]  # fmt: skip
        selected, dropped = drop_self_contradictions(apply_repairs(selected, fixes), export.name)
        contradictions += dropped
        by_layout.setdefault(export.layout, []).append((export.name, selected))
        for header in export.absent:
            absent.setdefault(export.layout, {}).setdefault(header, []).append(export.name)
    compared = {
        layout: [
            c
            for c in RECORD_COLUMNS
            if c not in _NOT_COMPARED and _PORTAL_COLUMN.get(c) not in absent.get(layout, {})
        ]
        for layout in by_layout
    }
    records, collapsed, pairs = merge_sources(by_layout, precedence, compared)
    sources = {
        layout: {
            "files": len(files),
            "rows_read": int(sum(len(frame) for _, frame in files)),
            "duplicate_hours_collapsed": collapsed[layout],
            "rows_kept": int(records["source_file"].isin([name for name, _ in files]).sum()),
        }
        for layout, files in by_layout.items()
    }
    missing_data = [
        {"layout": layout, "column": header, "files": len(files), "cost": OPTIONAL_COSTS[header]}
        for layout, columns in absent.items()
        for header, files in columns.items()
    ]
    stats = {
        "sources": sources,
        "overlaps": pairs,
        "absent_columns": missing_data,
        "self_contradicting_hours_dropped": len(contradictions),
        "self_contradicting_hours": contradictions,
        "repaired_hours": len(repairs),
        "repaired_by_rule": {rule: sum(1 for r in repairs if r["rule"] == rule) for rule in REPAIR_RULES},
        "repair_rules": REPAIR_RULES,
        "repairs": repairs,
    }
    return records, stats


def gap_summary(observations: pd.DataFrame) -> dict[str, Any]:
    """Hours without a row between each station's first and last observation, and the longest gaps."""
    ordered = observations.sort_values(KEY)
    stamps = ordered[Obs.observed_at]
    step_h = stamps.diff().dt.total_seconds() / 3600
    is_gap = ordered[Obs.station_id].eq(ordered[Obs.station_id].shift()) & (step_h > 1)
    gaps = pd.DataFrame(
        {"station_id": ordered[Obs.station_id], "after": stamps.shift(), "hours": step_h - 1}
    )[is_gap]
    longest = gaps.sort_values(["hours", "after"], ascending=[False, True]).head(MAX_GAPS_LISTED)
    return {
        "missing_hours": int(gaps["hours"].sum()),
        "gaps": len(gaps),
        "longest_gaps": [
            {"station_id": int(g.station_id), "after": g.after.isoformat(), "hours": int(g.hours)}
            for g in longest.itertuples()
        ],
    }


def select(observations: pd.DataFrame, params: DatasetParams, origin: str) -> pd.DataFrame:
    """Keep the configured stations and months; an empty selection is an error, not an empty table."""
    months = observations[Obs.observed_at].dt.strftime("%Y-%m")
    keep = observations[Obs.station_id].isin(params.stations) & months.between(
        params.start_month, params.end_month
    )
    if not keep.any():
        found = sorted(observations[Obs.station_id].unique().tolist())
        raise StageError(
            f"{origin} holds no rows for stations {list(params.stations)} between {params.start_month} and "
            f"{params.end_month}; it has stations {found}, {months.min()} to {months.max()}"
        )
    selected: pd.DataFrame = observations.loc[keep].reset_index(drop=True)
    return selected


def ingest(
    params: DatasetParams, ingest_params: IngestParams, quality: QualityParams, raw_dir: Path
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The normalized observations and what ingest did to get them (rows, sources and their overlaps,
    duplicates collapsed, derived values, gaps)."""
    extra: dict[str, Any] = {}
    if params.source != "kma":
        # Copied anew from the input on every run: a copy of a file this run no longer reads (an input
        # folder or station list changed) must not stay behind in the output. Only the API's completed
        # months are kept between runs (dvc.yaml `persist`), so that they are not fetched again.
        shutil.rmtree(raw_dir, ignore_errors=True)
    if params.source == "csv":
        exports = read_csv_exports(params.input)
        records, extra = combine_exports(exports, params, ingest_params.precedence, quality, raw_dir)
        collapsed = sum(s["duplicate_hours_collapsed"] for s in extra["sources"].values())
    elif params.source == "typ01":
        records, collapsed = read_typ01_files(embedded_typ01(params, raw_dir), raw_dir), 0
    else:
        paths = (
            write_sample(params, raw_dir)
            if params.source == "sample"
            else fetch_kma(params, ingest_params.kma, raw_dir)
        )
        records, collapsed = read_typ01_files(paths, raw_dir), 0
    records = records.sort_values(KEY, kind="stable").reset_index(drop=True)
    normalized = normalize(records)
    derived = records["pressure_hpa"].isna() & normalized[Obs.pressure_hpa].notna()
    observations = normalized.assign(_derived=derived.to_numpy())
    observations = select(observations, params, str(params.input))
    stats = {
        "rows": len(observations),
        "stations": observations[Obs.station_id].nunique(),
        "first_hour": observations[Obs.observed_at].min().isoformat(),
        "last_hour": observations[Obs.observed_at].max().isoformat(),
        "duplicate_hours_collapsed": collapsed,
        **extra,
        "sea_level_pressure_derived_hours": int(observations.pop("_derived").sum()),
        **gap_summary(observations),
    }
    return observations, stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--dataset", required=True, help="a name under `datasets` in params.yaml")
    parser.add_argument("--raw-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        dataset = params.dataset(args.dataset)
        if dataset.source == "kma":
            auth_key_from_env()  # fail before anything is written
        observations, stats = ingest(dataset, params.ingest, params.validate_.quality, args.raw_dir)
        io.write_parquet(args.out, observations)
        io.write_json(args.stats, stats)
        console.print(
            f"ingest {args.dataset}: {stats['rows']:,} hourly rows, {stats['stations']} stations "
            f"({dataset.source}), {stats['first_hour'][:13]} to {stats['last_hour'][:13]}; "
            f"{stats['duplicate_hours_collapsed']:,} duplicate hours collapsed; {stats['missing_hours']:,} "
            f"hours missing in {stats['gaps']:,} gaps -> {args.out}"
        )

    run("ingest", body)


if __name__ == "__main__":
    main()
