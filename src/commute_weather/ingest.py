"""Stage 1, ingest: observations from the configured source to one normalized table.

    python -m commute_weather.ingest --params params.yaml --raw-dir data/raw \
        --out data/interim/observations.parquet

Raw inputs are kept unmodified under raw-dir/<source>/: typ01 bodies as <station>/<YYYY-MM>.txt for the
`sample` and `kma` sources, byte-identical copies of the exports in ingest.csv.dir for `csv`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from rich.progress import track

from commute_weather import io
from commute_weather.cli import StageError, console, run
from commute_weather.config import IngestParams, load_params
from commute_weather.kma.client import KmaClient, auth_key_from_env, raw_month_path, sync_months
from commute_weather.kma.portal_csv import parse_portal_csv
from commute_weather.kma.typ01 import parse_typ01
from commute_weather.normalize import normalize
from commute_weather.schemas import Observations as Obs
from commute_weather.synthetic import generate, month_range


def write_sample(params: IngestParams, raw_dir: Path) -> list[Path]:
    months = month_range(params.start_month, params.end_month)
    files = generate(params.stations, params.start_month, params.end_month, params.sample.seed)
    paths = []
    for month_file in track(files, total=len(params.stations) * len(months), description="generating",
                            console=console):  # fmt: skip
        path = raw_month_path(raw_dir, month_file.station_id, month_file.month)
        io.write_text(path, month_file.text)
        paths.append(path)
    return paths


def fetch_kma(params: IngestParams, raw_dir: Path) -> list[Path]:
    client = KmaClient(
        auth_key=auth_key_from_env(),
        base_url=params.kma.base_url,
        timeout_s=params.kma.timeout_s,
        max_attempts=params.kma.max_attempts,
        backoff_s=params.kma.backoff_s,
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


def read_csv_exports(directory: Path, raw_dir: Path) -> pd.DataFrame:
    """Parse every export in `directory`, keeping a byte-identical copy of each under raw_dir."""
    paths = sorted(p for p in directory.glob("*.csv") if p.is_file())
    if not paths:
        raise StageError(f"no KMA portal CSV exports (*.csv) in {directory}")
    records = []
    for path in paths:
        data = path.read_bytes()
        records.append(parse_portal_csv(data, str(path)))
        io.write_bytes(raw_dir / path.name, data)
    return pd.concat(records, ignore_index=True)


def select(observations: pd.DataFrame, params: IngestParams, origin: str) -> pd.DataFrame:
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


def ingest(params: IngestParams, raw_dir: Path) -> pd.DataFrame:
    source_dir = raw_dir / params.source
    if params.source == "csv":
        records = read_csv_exports(params.csv.dir, source_dir)
        origin = str(params.csv.dir)
    else:
        paths = (
            write_sample(params, source_dir) if params.source == "sample" else fetch_kma(params, source_dir)
        )
        records = read_typ01_files(paths)
        origin = str(source_dir)
    return select(
        normalize(records.sort_values(["station_id", "observed_at"], kind="stable")), params, origin
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--raw-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params).ingest
        if params.source == "kma":
            auth_key_from_env()  # fail before anything is written
        observations = ingest(params, args.raw_dir)
        io.write_parquet(args.out, observations)
        stations = observations[Obs.station_id].nunique()
        console.print(
            f"ingest: {len(observations):,} hourly rows, {stations} stations ({params.source}) -> {args.out}"
        )

    run("ingest", body)


if __name__ == "__main__":
    main()
