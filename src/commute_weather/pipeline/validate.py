"""Stage 2, validate: the observation contract, checked lazily so one run reports every failing check.

    python -m commute_weather.pipeline.validate --params params.yaml \
        --observations data/interim/cheongju/observations.parquet --report reports/cheongju/validation.json

writes a JSON report (every check, its failure count and example rows) and exits non-zero when any check
fails, so `dvc repro` stops before bad data reaches a model.

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
from commute_weather.contracts.observations import Observations as Obs
from commute_weather.sources.kma.client import KmaClient, auth_key_from_env
from commute_weather.sources.kma.typ01 import parse_typ01
from commute_weather.sources.normalize import normalize

COMPLETENESS_CHECK = "station_month_completeness"
UNIQUENESS_CHECK = "multiple_fields_uniqueness"


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
    frame["month"] = frame["month"].astype(str)
    return frame


def completeness_schema(min_share: float) -> pa.DataFrameSchema:
    def complete_month(df: pd.DataFrame) -> pd.Series:
        shares = month_completeness(df).set_index([Obs.station_id, "month"])["share"]
        keys = pd.MultiIndex.from_arrays(
            [df[Obs.station_id], df[Obs.observed_at].dt.tz_localize(None).dt.to_period("M").astype(str)]
        )
        return pd.Series(shares.reindex(keys).to_numpy() >= min_share, index=df.index)

    return pa.DataFrameSchema(checks=[pa.Check(complete_month, name=COMPLETENESS_CHECK)])


@dataclass
class CheckResult:
    column: str
    check: str
    failures: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

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
    schemas = [Obs.to_schema()] + (
        [completeness_schema(params.min_month_completeness)] if completeness else []
    )
    if not completeness:
        del checks[("", COMPLETENESS_CHECK)]
    for schema in schemas:
        try:
            schema.validate(observations, lazy=True)
        except pa.errors.SchemaErrors as exc:
            _collect(exc.failure_cases, observations, checks, params.max_examples)
    failing = [c for c in checks.values() if not c.passed]
    report: dict[str, Any] = {
        "status": "failed" if failing else "passed",
        "rows": len(observations),
        "stations": sorted(int(s) for s in observations[Obs.station_id].unique())
        if len(observations)
        else [],
        "checks": [vars(c) | {"passed": c.passed} for c in checks.values()],
    }
    if completeness and len(observations):
        months = month_completeness(observations)
        low = months[months["share"] < params.min_month_completeness]
        report["incomplete_station_months"] = low.round({"share": 4}).to_dict(orient="records")
        report["min_month_completeness"] = round(float(months["share"].min()), 4)
    return report


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
        if len(rows):
            result.examples = [_json_row(observations.loc[i]) for i in rows[:limit]]
        else:  # schema-level failures (a missing column, a wrong dtype) have no row
            result.examples = [{"failure_case": str(v)} for v in group["failure_case"].head(limit)]


def summary_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"validation: {report['status']} ({report['rows']:,} rows)")
    for name in ("column", "check", "failures", "example"):
        table.add_column(name)
    for check in report["checks"]:
        if not check["passed"]:
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
        console.print(f"validate: all {len(report['checks'])} checks passed on {report['rows']:,} rows")

    run("validate", body)


if __name__ == "__main__":
    main()
