"""Per folder of data/external/kma (and Cheongju): what ingest and validate make of it alone, and how many of
the Seoul 2018 hours where the API CSV disagrees with the portal export (the reference) the checks catch.

    .venv/bin/python scripts/records_report.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from commute_weather.config import DatasetParams, load_params
from commute_weather.contracts.quality import apply_repairs, find_repairs
from commute_weather.pipeline.ingest import ingest, read_csv_exports
from commute_weather.pipeline.validate import run_contract
from commute_weather.sources.kma.api_csv import parse_api_csv
from commute_weather.sources.kma.portal_csv import parse_portal_export
from commute_weather.sources.merge import KEY
from commute_weather.sources.normalize import normalize
from commute_weather.stations import KNOWN_STATIONS

FOLDERS = {
    "seoul-108-portal-2013-2018": Path("data/external/kma/seoul-108-portal-2013-2018"),
    "api-hub-csv": Path("data/external/kma/api-hub-csv"),
    "all-stations-2022-08-week": Path("data/external/kma/all-stations-2022-08-week"),
    "cheongju": Path("data/external/cheongju"),
}
COMPARED = ["temperature_c", "dew_point_c", "humidity_pct", "wind_speed_ms", "precipitation_mm",
            "station_pressure_hpa"]  # fmt: skip


def folder_table(params) -> Table:  # type: ignore[no-untyped-def]
    table = Table(title="each folder alone: ingest and validate")
    columns = ("folder", "stations", "hours read", "duplicates merged", "overridden", "self-contradicting",
               "repaired (sign / PA)", "hours kept", "quarantined", "by check")  # fmt: skip
    for column in columns:
        table.add_column(column)
    for name, folder in FOLDERS.items():
        with tempfile.TemporaryDirectory() as raw:
            found = {int(s) for e in read_csv_exports(folder) for s in e.records["station_id"].unique()}
            stations = sorted(found & set(KNOWN_STATIONS))
            dataset = DatasetParams(source="csv", real=True, stations=tuple(stations), start_month="2013-01",
                                    end_month="2023-12", input=folder)  # fmt: skip
            observations, stats = ingest(dataset, params.ingest, params.validate_.quality, Path(raw))
        report = run_contract(observations, params.validate_)
        quality = report["quality"]
        read = sum(s["rows_read"] for s in stats["sources"].values())
        overridden = sum(p["overridden"] for p in stats["overlaps"])
        rules = stats["repaired_by_rule"]
        table.add_row(
            name, str(len(stations)), f"{read:,}", f"{stats['duplicate_hours_collapsed']:,}",
            f"{overridden:,}",
            str(stats["self_contradicting_hours_dropped"]),
            f"{rules['temperature_sign_flip']:,} / {rules['station_pressure_lost_leading_1000']:,}",
            f"{stats['rows']:,}", f"{quality['quarantined_hours']:,}",
            ", ".join(f"{k.split(':')[-1]} {v:,}" for k, v in quality["quarantined_by_check"].items()),
        )  # fmt: skip
    return table


def seoul_2018(params) -> str:  # type: ignore[no-untyped-def]
    portal = pd.concat(
        parse_portal_export(p.read_bytes(), str(p))[0]
        for p in sorted(FOLDERS["seoul-108-portal-2013-2018"].glob("*.csv"))
    ).drop_duplicates(KEY)
    path = FOLDERS["api-hub-csv"] / "2018" / "kma_2018_seoul.csv"
    api = parse_api_csv(path.read_bytes(), str(path)).drop_duplicates(KEY).reset_index(drop=True)
    both = api.merge(portal, on=KEY, suffixes=("", "_portal"))
    differ = pd.Series(False, index=both.index)
    by_column = {}
    for c in COMPARED:
        d = ~((both[c] == both[f"{c}_portal"]) | (both[c].isna() & both[f"{c}_portal"].isna()))
        by_column[c] = int(d.sum())
        differ |= d
    disagreeing = set(map(tuple, both.loc[differ, KEY].astype(str).to_numpy()))
    repairs = find_repairs(api, params.validate_.quality)
    repaired = set(map(tuple, api.loc[repairs.index, KEY].astype(str).to_numpy()))
    checked = normalize(apply_repairs(api, repairs).assign(source_file=path.name))
    report = run_contract(checked, params.validate_, completeness=False)
    quarantined = {(str(e["station_id"]), str(pd.Timestamp(e["observed_at"]).tz_convert("Asia/Seoul")))
                   for e in report["quality"]["quarantined"]}  # fmt: skip
    caught = disagreeing & (repaired | quarantined)
    fixed = api.loc[repairs.index].merge(portal, on=KEY, suffixes=("", "_portal"))
    right = sum(
        float(r.repaired) == fixed.iloc[i][f"{r.column}_portal"] for i, r in enumerate(repairs.itertuples())
    )
    return (
        f"Seoul 2018: {len(both):,} hours in both sources; {len(disagreeing):,} disagree ({by_column}); "
        f"the checks catch {len(caught):,} of them on the API CSV side ({len(disagreeing & repaired):,} "
        f"repaired, {len(disagreeing & quarantined - repaired):,} quarantined); {right:,} of "
        f"{len(repairs):,} repairs give exactly the portal's value; the checks flag "
        f"{len((repaired | quarantined) - disagreeing):,} hours on which the two agree."
    )


def main() -> None:
    params = load_params(Path("params.yaml"))
    console = Console(width=200)
    console.print(folder_table(params))
    console.print(seoul_2018(params))


if __name__ == "__main__":
    main()
