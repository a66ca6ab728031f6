"""Stage 1, ingest: one dataset's observations from its source to one normalized table.

    python -m commute_weather.pipeline.ingest --params params.yaml --dataset cheongju \
        --raw-dir data/raw/cheongju --out data/interim/cheongju/observations.parquet \
        --stats metrics/cheongju/ingest.json

Raw inputs are kept unmodified under raw-dir: typ01 bodies as <station>/<YYYY-MM>.txt for the `sample` and
`kma` sources, byte-identical copies of the exports for `csv`. Exports that overlap (as consecutive portal
downloads do) are merged: an hour present in several files with identical values is kept once and counted;
an hour whose values differ stops ingest with both files, the hour and the columns named. Hours missing
between exports are reported (stats and summary), never filled.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd
from rich.progress import track

from commute_weather import io
from commute_weather.cli import StageError, console, run
from commute_weather.config import DatasetParams, KmaParams, load_params
from commute_weather.contracts.observations import Observations as Obs
from commute_weather.sources.kma.client import KmaClient, auth_key_from_env, raw_month_path, sync_months
from commute_weather.sources.kma.portal_csv import parse_portal_csv
from commute_weather.sources.kma.typ01 import parse_typ01
from commute_weather.sources.merge import KEY, merge_exports
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


def read_typ01_files(paths: list[Path]) -> pd.DataFrame:
    records = [
        parse_typ01(path.read_text(encoding="cp949"), str(path))
        for path in track(paths, description="parsing", console=console)
    ]
    return pd.concat(records, ignore_index=True)


def read_csv_exports(directory: Path, raw_dir: Path) -> list[tuple[str, pd.DataFrame]]:
    """Parse every export in `directory`, keeping a byte-identical copy of each under raw_dir."""
    paths = sorted(p for p in directory.glob("*.csv") if p.is_file())
    if not paths:
        raise StageError(f"no KMA portal CSV exports (*.csv) in {directory}")
    records = []
    for path in paths:
        data = path.read_bytes()
        records.append((path.name, parse_portal_csv(data, str(path))))
        io.write_bytes(raw_dir / path.name, data)
    return records


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


def ingest(params: DatasetParams, kma: KmaParams, raw_dir: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The normalized observations and what ingest did to get them (rows, duplicates collapsed, gaps)."""
    collapsed = 0
    if params.source == "csv":
        records, collapsed = merge_exports(read_csv_exports(params.input, raw_dir))
    else:
        paths = (
            write_sample(params, raw_dir) if params.source == "sample" else fetch_kma(params, kma, raw_dir)
        )
        records = read_typ01_files(paths)
    observations = select(normalize(records.sort_values(KEY, kind="stable")), params, str(params.input))
    stats = {
        "rows": len(observations),
        "stations": observations[Obs.station_id].nunique(),
        "first_hour": observations[Obs.observed_at].min().isoformat(),
        "last_hour": observations[Obs.observed_at].max().isoformat(),
        "duplicate_hours_collapsed": collapsed,
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
        observations, stats = ingest(dataset, params.ingest.kma, args.raw_dir)
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
