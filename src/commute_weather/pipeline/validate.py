"""Stage 2, validate: the observation contract, checked lazily so one run reports every failing check.

    python -m commute_weather.pipeline.validate --params params.yaml \
        --observations data/interim/cheongju/observations.parquet --report reports/cheongju/validation.json

writes a JSON report (every check, its failure count and example rows) and exits non-zero when the data
break the contract, so `dvc repro` stops before bad data reaches a model. Two kinds of check:
- structural (types, one row per station and hour, known stations, completeness per station-month): any
  failure fails the stage;
- value checks on single hours (physical ranges, dew point not above temperature, and the cross-field and
  temporal checks of contracts/quality.py): a failing hour is quarantined, listed with its file, station,
  hour, checks and values under `quality.quarantined`, and removed by featurize before any feature or label
  reads it. The stage fails only when a station-month's quarantined share passes
  `validate.max_quarantined_share`. (Repairs by a declared rule happen in ingest, per file, and are
  listed in metrics/<d>/ingest.json; the repaired values are checked here like any other.)
A station-month holding only the first or last day of its month (an export that ends at 00-01 h of the
next month's first day) is a stub, listed as such, not an incomplete month.

    python -m commute_weather.pipeline.validate --source kma --limit 10 [--dataset NAME]

is the live smoke check: it fetches the latest observations of the served dataset's stations (or NAME's)
from the KMA API Hub and validates the newest rows (completeness is not judged on a few hours).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from rich.table import Table

from commute_weather import io
from commute_weather.cli import StageError, console, run
from commute_weather.clock import KST
from commute_weather.config import PipelineParams, ValidateParams, load_params
from commute_weather.contracts.observations import RANGES
from commute_weather.contracts.observations import Observations as Obs
from commute_weather.contracts.quality import (
    CHECK_COLUMNS,
    QUALITY_CHECKS,
    hour_key,
    quality_schema,
)
from commute_weather.sources.kma.client import KmaClient, auth_key_from_env
from commute_weather.sources.kma.typ01 import parse_typ01
from commute_weather.sources.normalize import normalize

COMPLETENESS_CHECK = "station_month_completeness"
UNIQUENESS_CHECK = "multiple_fields_uniqueness"
DEW_POINT_CHECK = "dew_point_not_above_temperature"
STUB_DAY = pd.Timedelta(days=1)


def month_completeness(observations: pd.DataFrame) -> pd.DataFrame:
    """Share of each station-month's hours that have a row. A station's record may start or end inside a
    month (a portal export ends on the day it was downloaded): there only the hours from its first to its
    last observation are expected. Inside the record every hour is."""
    stamps = observations[Obs.observed_at].dt.tz_localize(None)
    stations = observations[Obs.station_id]
    months = stamps.dt.to_period("M")
    counts = observations.groupby([stations, months.rename("month")]).size()
    frame = counts.rename("hours").reset_index()
    first = frame[Obs.station_id].map(stamps.groupby(stations).min())
    last = frame[Obs.station_id].map(stamps.groupby(stations).max())
    month_start = frame["month"].dt.start_time
    month_end = (frame["month"] + 1).dt.start_time  # exclusive
    span = month_end.where(month_end <= last, last + pd.Timedelta(hours=1)) - month_start.where(
        month_start >= first, first
    )
    frame["expected"] = (span / pd.Timedelta(hours=1)).astype("int64")
    frame["share"] = frame["hours"] / frame["expected"]
    # A stub: every hour of the station-month within a day of the month's start or of its end, as when an
    # export runs to 00 h (API CSVs) or 01 h (portal) of the next month's first day.
    first_in = stamps.groupby([stations, months.rename("month")]).min().reindex(counts.index).to_numpy()
    last_in = stamps.groupby([stations, months.rename("month")]).max().reindex(counts.index).to_numpy()
    frame["stub"] = (pd.Series(last_in) < month_start + STUB_DAY).to_numpy() | (
        pd.Series(first_in) >= month_end - STUB_DAY
    ).to_numpy()
    frame["month"] = frame["month"].astype(str)
    return frame


def completeness_schema(min_share: float) -> pa.DataFrameSchema:
    def complete_month(df: pd.DataFrame) -> pd.Series:
        months = month_completeness(df).set_index([Obs.station_id, "month"])
        ok = (months["share"] >= min_share) | months["stub"]
        keys = pd.MultiIndex.from_arrays(
            [df[Obs.station_id], df[Obs.observed_at].dt.tz_localize(None).dt.to_period("M").astype(str)]
        )
        return pd.Series(ok.reindex(keys).to_numpy(dtype=bool), index=df.index)

    return pa.DataFrameSchema(checks=[pa.Check(complete_month, name=COMPLETENESS_CHECK)])


@dataclass
class CheckResult:
    column: str
    check: str
    failures: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    quarantines: bool = False  # a failing hour is quarantined rather than failing the data
    rows: list[int] = field(default_factory=list, repr=False)

    @property
    def passed(self) -> bool:
        return self.failures == 0


def planned_checks(min_share: float) -> dict[tuple[str, str], CheckResult]:
    """Every check the contract runs, keyed as pandera names them in its failure cases."""
    schema = Obs.to_schema()
    checks: dict[tuple[str, str], CheckResult] = {}
    for name, column in schema.columns.items():
        keys = [f"dtype('{column.dtype}')"] + ([] if column.nullable else ["not_nullable"])
        keys += [c.error or c.name for c in column.checks]
        for key in keys:
            checks[(name, key)] = CheckResult(name, key)
    for check in schema.checks:
        checks[("", check.name)] = CheckResult("", check.name)
    for name in QUALITY_CHECKS:
        checks[("", name)] = CheckResult("", name)
    for (column, name), result in checks.items():
        value_check = column in RANGES and not name.startswith("dtype")
        result.quarantines = value_check or name in (DEW_POINT_CHECK, *QUALITY_CHECKS)
    unique = ",".join(schema.unique or [])
    checks[("", UNIQUENESS_CHECK)] = CheckResult(unique, UNIQUENESS_CHECK)
    checks[("", COMPLETENESS_CHECK)] = CheckResult(
        f"share of hours present >= {min_share}", COMPLETENESS_CHECK
    )
    return checks


def _json_row(row: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, pd.Timestamp):
            out[str(key)] = value.isoformat()
        elif isinstance(value, float | np.floating) and not np.isfinite(value):
            out[str(key)] = None
        elif isinstance(value, np.generic):
            out[str(key)] = value.item()
        else:
            out[str(key)] = value
    return out


def run_contract(
    observations: pd.DataFrame, params: ValidateParams, *, completeness: bool = True
) -> dict[str, Any]:
    """Validate and build the report; never raises for bad data (the report says what failed)."""
    observations = observations.reset_index(drop=True)
    checks = planned_checks(params.min_month_completeness)
    checked = observations
    # The quality checks need their columns as numbers; a frame without them already fails the contract.
    needed = {c for columns in CHECK_COLUMNS.values() for c in columns} | {Obs.source_file}
    ready = all(c in observations for c in needed) and all(
        pd.api.types.is_float_dtype(observations[c]) for c in needed - {Obs.source_file}
    )
    schemas = (
        [Obs.to_schema()]
        + ([quality_schema(params.quality)] if ready else [])
        + ([completeness_schema(params.min_month_completeness)] if completeness else [])
    )
    if not completeness:
        del checks[("", COMPLETENESS_CHECK)]
    for schema in schemas:
        try:
            schema.validate(checked, lazy=True)
        except pa.errors.SchemaErrors as exc:
            _collect(exc.failure_cases, checked, checks, params.max_examples)
    quality = quarantine_report(checked, checks, params)
    failing = [c for c in checks.values() if not c.passed and not c.quarantines]
    status = "failed" if failing or quality["station_months_over_threshold"] else "passed"
    report: dict[str, Any] = {
        "status": status,
        "rows": len(observations),
        "stations": sorted(int(s) for s in observations[Obs.station_id].unique())
        if len(observations)
        else [],
        "checks": [
            {k: v for k, v in vars(c).items() if k != "rows"} | {"passed": c.passed} for c in checks.values()
        ],
        "quality": quality,
    }
    if completeness and len(observations):
        months = month_completeness(observations)
        low = months[(months["share"] < params.min_month_completeness) & ~months["stub"]]
        report["incomplete_station_months"] = (
            low.drop(columns="stub").round({"share": 4}).to_dict(orient="records")
        )
        stubs = months[months["stub"] & (months["share"] < params.min_month_completeness)]
        report["stub_station_months"] = (
            stubs.drop(columns="stub").round({"share": 4}).to_dict(orient="records")
        )
        full = months[~months["stub"]]
        report["min_month_completeness"] = round(float(full["share"].min()), 4) if len(full) else None
    return report


def quarantine_report(
    observations: pd.DataFrame,
    checks: dict[tuple[str, str], CheckResult],
    params: ValidateParams,
) -> dict[str, Any]:
    """Every quarantined hour (file, station, hour, checks, values), counts per check and the station-months
    whose quarantined share passes the threshold."""
    caught: dict[int, list[str]] = {}
    by_check: dict[str, int] = {}
    for (column, name), result in checks.items():
        if not result.quarantines or result.passed:
            continue
        label = f"{column}:{name}" if column else name
        by_check[label] = len(result.rows)
        for row in result.rows:
            caught.setdefault(row, []).append(label)
    rows = sorted(caught)
    listed = []
    for row in rows:
        hour = observations.iloc[row]
        columns: list[str] = []
        for label in caught[row]:
            column, _, name = label.rpartition(":")
            wanted = CHECK_COLUMNS.get(name) or ((column,) if column else ("temperature_c", "dew_point_c"))
            columns += [c for c in wanted if c not in columns]
        listed.append(
            {
                "hour": hour_key(hour[Obs.station_id], hour[Obs.observed_at]),
                "file": str(hour.get(Obs.source_file, "")),
                "station_id": int(hour[Obs.station_id]),
                "observed_at": hour[Obs.observed_at].isoformat(),
                "checks": caught[row],
                "values": _json_row(hour.loc[columns]),
            }
        )
    over: list[dict[str, Any]] = []
    if len(observations):
        stamps = observations[Obs.observed_at].dt.tz_localize(None).dt.to_period("M").astype(str)
        flagged = pd.Series(observations.index.isin(rows), index=observations.index)
        shares = flagged.groupby([observations[Obs.station_id], stamps.rename("month")]).agg(["sum", "size"])
        shares["share"] = shares["sum"] / shares["size"]
        # A stub month (an hour or a few at an export's edge) says nothing about a month's damage.
        shares = shares[shares["size"] >= STUB_DAY / pd.Timedelta(hours=1)]
        worst = shares[shares["share"] > params.max_quarantined_share].reset_index()
        over = [
            {"station_id": int(w[Obs.station_id]), "month": w["month"], "quarantined": int(w["sum"]),
             "hours": int(w["size"]), "share": round(float(w["share"]), 4)}
            for _, w in worst.iterrows()
        ]  # fmt: skip
        max_share = round(float(shares["share"].max()), 4) if len(shares) else 0.0
    else:
        max_share = 0.0
    return {
        "quarantined_hours": len(rows),
        "quarantined_by_check": by_check,
        "max_quarantined_share": max_share,
        "max_quarantined_share_allowed": params.max_quarantined_share,
        "station_months_over_threshold": over,
        "quarantined": listed,
    }


def _collect(
    failure_cases: pd.DataFrame,
    observations: pd.DataFrame,
    checks: dict[tuple[str, str], CheckResult],
    limit: int,
) -> None:
    cases = failure_cases.copy()
    frame_level = cases["schema_context"].eq("DataFrameSchema")
    cases["key_column"] = np.where(frame_level, "", cases["column"].fillna("").astype(str))
    for (column, check), group in cases.groupby(["key_column", "check"], sort=False):
        result = checks.setdefault((str(column), str(check)), CheckResult(str(column), str(check)))
        rows = pd.to_numeric(group["index"], errors="coerce").dropna().astype(int).unique()
        result.failures = len(rows) if len(rows) else len(group)
        result.rows = [int(r) for r in rows]
        if len(rows):
            result.examples = [_json_row(observations.loc[i]) for i in rows[:limit]]
        else:  # schema-level failures (a missing column, a wrong dtype) have no row
            result.examples = [{"failure_case": str(v)} for v in group["failure_case"].head(limit)]


def summary_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"validation: {report['status']} ({report['rows']:,} rows)")
    for name in ("column", "check", "failures", "example"):
        table.add_column(name)
    for check in report["checks"]:
        if not check["passed"] and not check.get("quarantines"):
            example = check["examples"][0] if check["examples"] else {}
            short = {k: example[k] for k in list(example)[:4]}
            table.add_row(check["column"], check["check"], f"{check['failures']:,}", str(short))
    return table


def smoke_check(params: PipelineParams, stations: tuple[int, ...], limit: int) -> dict[str, Any]:
    """Validate the newest `limit` rows fetched live for `stations`."""
    kma = params.ingest.kma
    client = KmaClient(auth_key_from_env(), kma.base_url, kma.timeout_s, kma.max_attempts, kma.backoff_s)
    end = pd.Timestamp.now(tz=KST).floor("h")
    start = end - pd.Timedelta(hours=24)
    records = [
        parse_typ01(client.fetch_range(s, start, end, f"station {s} latest"), f"station {s} latest")
        for s in stations
    ]
    observations = normalize(pd.concat(records, ignore_index=True))
    latest = observations.sort_values(Obs.observed_at).tail(limit)
    return run_contract(latest, params.validate_, completeness=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--observations", type=Path, help="normalized observations (parquet)")
    parser.add_argument("--report", type=Path, help="where to write the JSON report")
    parser.add_argument("--source", choices=["kma"], help="smoke-check live data instead of a file")
    parser.add_argument(
        "--dataset", help="with --source: whose stations to fetch (default: serve.dataset in params)"
    )
    parser.add_argument("--limit", type=int, default=10, help="rows to check with --source (default 10)")
    args = parser.parse_args(argv)
    if args.source is None and (args.observations is None or args.report is None):
        parser.error("give --observations and --report, or --source kma for the live smoke check")

    def body() -> None:
        params = load_params(args.params)
        if args.source == "kma":
            dataset = params.dataset(args.dataset or params.serve.dataset)
            report = smoke_check(params, dataset.stations, args.limit)
        else:
            report = run_contract(pd.read_parquet(args.observations), params.validate_)
            io.write_json(args.report, report)
        if report["status"] != "passed":
            console.print(summary_table(report))
            where = f"; details in {args.report}" if args.report else ""
            raise StageError(f"the observations break the data contract{where}")
        quality = report["quality"]
        console.print(
            f"validate: passed on {report['rows']:,} rows; {quality['quarantined_hours']:,} hours "
            f"quarantined (worst station-month {quality['max_quarantined_share']:.1%}, allowed "
            f"{quality['max_quarantined_share_allowed']:.0%}): {quality['quarantined_by_check'] or 'none'}"
        )

    run("validate", body)


if __name__ == "__main__":
    main()
