"""Watch the served model: its forecasts for the latest real weather, scored against what happened.

    commute-weather monitor --observations data/interim/cheongju/observations.parquet \
        --markdown reports/monitor/report.md --json reports/monitor/report.json \
        --history reports/monitor/history.jsonl

For every commute window of the last `monitor.days` days of the observations, the forecast is issued as the
service issues it: a request holding only the hours up to issue time (`handlers.request_from_frame`), checked
and answered by `handlers.check_history` and `handlers.forecast_checked`, the code behind POST /predict. Each
window's truth is the label featurize computes from the hours inside it
(`features.build_features_and_labels`).

Reported: RMSE of the model and of persistence with the paired weekly-block bootstrap interval of their
difference (`forecast.compare`), the Brier score of P(wet) against persistence's (wet now => wet then) with
its interval, the 80% interval's coverage with the band a binomial test accepts, and the drift of every
input feature against the training rows of the same calendar months (population stability index).

With --plot, a chart of every window (what happened, the forecast with its interval, persistence) per
station, as PNG: the artifact a person would rather look at than the tables.

Alert (exit status 3, `"alert": true` in the JSON) when the model is detectably worse than persistence (the
interval of RMSE model - persistence lies above zero) or coverage leaves its band. Drift alone does not
alert: a few weeks always differ from the training years somewhere, and the forecast scores say whether it
matters. Exit 1 is a monitoring failure (no observations, no labelled window), never a verdict.

PSI (population stability index): sum over bins of (a - e) ln(a / e), a and e the monitored and reference
shares of a bin; bins are the reference's quantiles, missing values are a bin of their own, shares are
floored at 1e-4. Its conventional reading is < 0.1 stable, 0.1-0.25 moderate, > 0.25 a major shift. On a
small sample PSI is biased upwards: with k bins, n monitored and m reference rows and no shift at all, its
expected value is about (k - 1)(1/n + 1/m) (it is a chi-square statistic divided by the sample size), so a
feature counts as shifted only when its PSI exceeds `monitor.psi_shift` plus that noise floor.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError
from scipy import stats

from commute_weather import io
from commute_weather.cli import StageError, console, results, run
from commute_weather.clock import KST
from commute_weather.config import (
    CommuteParams,
    MonitorParams,
    PipelineParams,
    SplitParams,
    Window,
    load_params,
)
from commute_weather.contracts.observations import Observations as Obs
from commute_weather.forecast import features
from commute_weather.forecast.compare import BRIER, RMSE, Change, paired_block_bootstrap
from commute_weather.forecast.predictor import Predictor
from commute_weather.forecast.split import assign_split
from commute_weather.paths import DatasetPaths
from commute_weather.serving import handlers
from commute_weather.serving.api_models import ForecastRequest
from commute_weather.sources.kma.client import BASE_URL_ENV, KmaClient, auth_key_from_env
from commute_weather.sources.kma.typ01 import parse_typ01
from commute_weather.sources.normalize import normalize

EXIT_ALERT = 3
PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class Issued:
    """The monitored windows with the service's forecasts, their labels and the features the model read."""

    rows: pd.DataFrame  # station_id, date, window, label, wet_window, score, wet_probability, ...
    matrix: pd.DataFrame  # the feature rows the model read, one per row of `rows`
    not_issued: dict[str, int]  # why a window got no forecast (the service would have answered 4xx)


def period(observations: pd.DataFrame, days: int, end: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last `days` dates up to `end` (default: the last date whose evening window has ended)."""
    if observations.empty:
        raise StageError("no observations to monitor")
    if end is None:
        last = observations[Obs.observed_at].max()
        end = (
            last.date() if last.hour >= 21 else last.date() - dt.timedelta(days=1)
        )  # 20:00 is the last hour read
    return end - dt.timedelta(days=days - 1), end


def issue_forecasts(
    predictor: Predictor, observations: pd.DataFrame, first: dt.date, last: dt.date, version: str
) -> Issued:
    """Every window of every station between `first` and `last`, forecast through the service's code with
    only the hours up to its issue time."""
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    stations = [int(s) for s in sorted(observations[Obs.station_id].unique())]
    windows: list[Window] = list(predictor.commute.windows)
    wanted = [(s, d, w) for s in stations for d in days for w in windows]
    targets = pd.DataFrame(wanted, columns=["station_id", "date", "window"])
    targets["date"] = pd.to_datetime(targets["date"])
    _, labels = features.build_features_and_labels(
        observations, targets, predictor.commute, predictor.featurize, predictor.comfort
    )
    by_station = {
        int(s): observations[observations[Obs.station_id] == s].sort_values(Obs.observed_at) for s in stations
    }
    labelled = labels["label"].notna().to_numpy()
    requests: list[ForecastRequest] = []
    issues: list[dt.datetime] = []
    kept: list[int] = []
    not_issued: dict[str, int] = {}
    for i, (station_id, day, window) in enumerate(wanted):
        if not predictor.answers_for(station_id):  # the service refuses it (serve.unseen_stations)
            reason = "a station the served model does not answer for"
            not_issued[reason] = not_issued.get(reason, 0) + 1
            continue
        if not labelled[i]:
            reason = "no label (too few observed hours in the window)"
            not_issued[reason] = not_issued.get(reason, 0) + 1
            continue
        issue = features.issue_time(day, window, predictor.commute)
        frame = by_station[station_id]
        since = issue - pd.Timedelta(hours=predictor.history_hours)
        history = frame[(frame[Obs.observed_at] > since) & (frame[Obs.observed_at] <= issue)]
        try:
            request = handlers.request_from_frame(station_id, day, window, history)
            handlers.check_history(predictor, request, issue.to_pydatetime(), prefix="")
        except (ValidationError, handlers.RequestError) as exc:
            reason = "no hours before issue time" if history.empty else type(exc).__name__
            not_issued[reason] = not_issued.get(reason, 0) + 1
            continue
        requests.append(request)
        issues.append(issue.to_pydatetime())
        kept.append(i)
    if not requests:
        raise StageError(f"no window between {first} and {last} could be forecast and scored: {not_issued}")
    answers = handlers.forecast_checked(predictor, requests, issues, version)
    histories = [handlers.history(r, issue) for r, issue in zip(requests, issues, strict=True)]
    matrix = predictor.history_features(
        histories,
        station_id=np.array([r.station_id for r in requests]),
        window=np.array([r.window for r in requests]),
        day_of_year=features.day_of_year(issues),
    )
    rows = labels.iloc[kept].reset_index(drop=True)
    for field in ("score", "wet_probability", "score_low", "score_high", "persistence_score"):
        rows[field] = [getattr(a, field) for a in answers]
    rows["persistence_score"] = rows["persistence_score"].astype("float64")
    return Issued(rows, pd.DataFrame(matrix, columns=predictor.features), not_issued)


def psi(reference: np.ndarray, current: np.ndarray, bins: int) -> float:
    """Population stability index of `current` against `reference` (module docstring)."""
    known = reference[~np.isnan(reference)]
    edges = np.unique(np.quantile(known, np.linspace(0, 1, bins + 1)[1:-1])) if known.size else np.array([])

    def shares(values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        counts = np.bincount(np.searchsorted(edges, values[~missing], side="right"), minlength=edges.size + 1)
        counts = np.append(counts, missing.sum()).astype("float64")
        return np.maximum(counts / max(values.size, 1), PSI_FLOOR)

    expected, actual = shares(reference), shares(current)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


# Not inputs that can drift: the calendar and the station are what the monitored period is, by construction.
NOT_DRIFT = {"station", "is_evening", "day_of_year_sin", "day_of_year_cos"}
SEASON_MARGIN_DAYS = 14  # the reference: training windows within this many days of the period's days of year


def same_season(training: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Training rows whose day of year lies within the period's, widened by SEASON_MARGIN_DAYS each side
    (across the new year too): a March fortnight is compared with the training years' March fortnights,
    not with their summers."""
    centre = pd.Timestamp(first) + (pd.Timestamp(last) - pd.Timestamp(first)) / 2
    reach = (pd.Timestamp(last) - pd.Timestamp(first)).days / 2 + SEASON_MARGIN_DAYS
    distance = (training["date"].dt.day_of_year - centre.day_of_year).abs()
    rows: pd.DataFrame = training[np.minimum(distance, 365 - distance) <= reach]
    return rows


def drift(
    training: pd.DataFrame, matrix: pd.DataFrame, first: dt.date, last: dt.date, params: MonitorParams
) -> dict[str, Any]:
    """PSI of each input feature against the training rows of the same weeks of the year (all training
    rows when those hold fewer windows than the monitored period)."""
    same = same_season(training, first, last)
    reference = same if len(same) >= len(matrix) else training
    floor = (params.psi_bins - 1) * (1 / len(matrix) + 1 / len(reference))
    values = {
        name: psi(reference[name].to_numpy("float64"), matrix[name].to_numpy("float64"), params.psi_bins)
        for name in matrix.columns
        if name in reference and name not in NOT_DRIFT
    }
    ordered = sorted(values.items(), key=lambda item: -item[1])
    described = (
        f"training windows within {SEASON_MARGIN_DAYS} days of the period's days of year"
        if reference is same
        else "all training windows (too few in the same weeks of the year)"
    )
    return {
        "reference_rows": len(reference),
        "reference": described,
        "noise_floor": round(floor, 4),
        "threshold": params.psi_shift,
        "psi": {name: round(value, 4) for name, value in ordered},
        "shifted": [name for name, value in ordered if value > params.psi_shift + floor],
    }


def coverage_band(n: int, alpha: float, nominal: float) -> tuple[float, float]:
    """The coverages a two-sided binomial test at level alpha does not reject against the nominal one."""
    low = stats.binom.ppf(alpha / 2, n, nominal)
    high = stats.binom.isf(alpha / 2, n, nominal)
    return float(low / n), float(high / n)


def _change(change: Change) -> dict[str, Any]:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in change.to_dict().items()}


def assess(issued: Issued, training: pd.DataFrame, params: PipelineParams, nominal: float) -> dict[str, Any]:
    """Scores, intervals, coverage, drift and the alert for the issued forecasts; `nominal` is the coverage
    the model's interval was fitted for (its train.forecast.interval)."""
    rows = issued.rows
    scorable = rows["persistence_score"].notna()
    scored = rows[scorable]
    dates = scored["date"].to_numpy()
    n_days = int(pd.Series(dates).nunique())
    options: dict[str, Any] = {
        "block_days": min(params.compare.block_days, n_days), "resamples": params.compare.resamples,
        "seed": params.compare.seed, "confidence": params.compare.confidence,
    }  # fmt: skip
    # Skill (1 - RMSE / persistence's) is undefined when persistence was exact on every window (a steady
    # spell, or a stand-in API's constant weather): reported as None instead of failing the run.
    exact = bool(np.array_equal(scored["label"].to_numpy("float64"), scored["persistence_score"].to_numpy()))
    rmse = paired_block_bootstrap(
        dates, scored["label"], scored["persistence_score"], scored["score"], metrics=(RMSE,),
        reference=None if exact else scored["persistence_score"], **options,
    )  # fmt: skip
    skill = rmse.get("rmse_skill_vs_persistence")
    wet = rows["wet_window"].astype("float64").to_numpy()
    wet_now = (issued.matrix["wet_share_3h"].to_numpy("float64") > 0).astype("float64")
    brier = paired_block_bootstrap(
        rows["date"].to_numpy(), wet, wet_now, rows["wet_probability"], metrics=(BRIER,), **options
    )["brier"]
    label = rows["label"].to_numpy("float64")
    inside = (label >= rows["score_low"].to_numpy()) & (label <= rows["score_high"].to_numpy())
    band = coverage_band(len(rows), params.monitor.coverage_alpha, nominal)
    coverage = float(inside.mean())
    drifted = drift(
        training, issued.matrix, rows["date"].min().date(), rows["date"].max().date(), params.monitor
    )
    worse = rmse["rmse"].verdict == "worsens"
    outside = not band[0] <= coverage <= band[1]
    reasons = []
    if worse:
        reasons.append(f"the model is detectably worse than persistence: {rmse['rmse'].describe(2)}")
    if outside:
        reasons.append(
            f"the {nominal:.0%} interval covered {coverage:.1%} of {len(rows)} windows, outside "
            f"{band[0]:.1%}-{band[1]:.1%}"
        )
    return {
        "windows": len(rows),
        "windows_scored_vs_persistence": len(scored),
        "days": int(rows["date"].nunique()),
        "not_issued": issued.not_issued,
        "model": {"rmse": round(rmse["rmse"].pr, 4), "bias": round(float((rows["score"] - label).mean()), 4)},
        "persistence": {"rmse": round(rmse["rmse"].base, 4)},
        "rmse_vs_persistence": _change(rmse["rmse"]),
        "skill_vs_persistence": None if skill is None else _change(skill),
        "brier": {"model": round(brier.pr, 4), "persistence": round(brier.base, 4), "change": _change(brier)},
        "coverage": {
            "value": round(coverage, 4),
            "nominal": nominal,
            "band": [round(b, 4) for b in band],
            "alpha": params.monitor.coverage_alpha,
            "mean_width": round(float((rows["score_high"] - rows["score_low"]).mean()), 2),
        },
        "drift": drifted,
        "alert": worse or outside,
        "alert_reasons": reasons,
    }


def markdown(report: dict[str, Any]) -> str:
    """The report for a person: GitHub's job summary or an issue body."""
    r = report
    head = "🚨 **ALERT**: " + "; ".join(r["alert_reasons"]) if r["alert"] else "✅ no alert"
    rmse, skill, brier, cov = r["rmse_vs_persistence"], r["skill_vs_persistence"], r["brier"], r["coverage"]
    wet = brier["change"]
    low, high = cov["band"]
    drifted = r["drift"]
    shifted = ", ".join(r["drift"]["shifted"]) or "none"
    top = list(r["drift"]["psi"].items())[:8]
    skill_text = (
        "undefined (persistence was exact on every window)"
        if skill is None
        else f"{skill['pr']:.3f} ({skill['low']:+.3f} to {skill['high']:+.3f})"
    )
    lines = [
        f"## Served model on the latest weather: {r['dataset']} {r['first_date']} to {r['last_date']}",
        "",
        head,
        "",
        f"Model `{r['model_version']}`, {r['windows']} windows over {r['days']} days, each forecast as the "
        f"service issues it (hours up to issue time only). Not issued: {r['not_issued'] or 'none'}.",
        "",
        "| | model | persistence | model - persistence (95% interval) | verdict |",
        "|---|---|---|---|---|",
        f"| RMSE | {rmse['pr']:.2f} | {rmse['base']:.2f} | {rmse['change']:+.2f} ({rmse['low']:+.2f} to "
        f"{rmse['high']:+.2f}) | {rmse['verdict']} |",
        f"| Brier of P(wet) | {brier['model']:.3f} | {brier['persistence']:.3f} | {wet['change']:+.3f} "
        f"({wet['low']:+.3f} to {wet['high']:+.3f}) | {wet['verdict']} |",
        "",
        f"Skill vs persistence {skill_text}; bias "
        f"{r['model']['bias']:+.2f}. {cov['nominal']:.0%} interval coverage **{cov['value']:.1%}** (band "
        f"{low:.1%}-{high:.1%}: a binomial test at {cov['alpha']:g} on {r['windows']} windows), mean width "
        f"{cov['mean_width']:.1f} points.",
        "",
        f"Input drift (PSI against {drifted['reference']}, {drifted['reference_rows']} rows; noise floor "
        f"{drifted['noise_floor']:.2f}, shifted above {drifted['threshold']:g} + floor): **{shifted}**.",
        "",
        "| feature | PSI |",
        "|---|---|",
        *(f"| {name} | {value:.3f} |" for name, value in top),
        "",
    ]
    return "\n".join(lines)


def forecast_plot(rows: pd.DataFrame, commute: CommuteParams, title: str) -> dict[str, Any]:
    """A Vega-Lite chart of the monitored windows, one panel per station: what happened (points), the model's
    score with its interval (line and band) and persistence (dashed), at each window's start."""
    start = {name: hours.start_hour for name, hours in commute.windows.items()}
    at = rows["date"] + pd.to_timedelta(rows["window"].map(start), unit="h")
    values = pd.DataFrame(
        {
            "station": rows["station_id"].astype(int),
            "time": at.dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "what happened": rows["label"].astype("float64"),
            "model": rows["score"].astype("float64"),
            "low": rows["score_low"].astype("float64"),
            "high": rows["score_high"].astype("float64"),
            "persistence": rows["persistence_score"].astype("float64"),
        }
    )
    records = json.loads(values.to_json(orient="records"))
    x = {"field": "time", "type": "temporal", "title": None, "axis": {"format": "%b %d", "labelAngle": -45}}
    y = {"type": "quantitative", "scale": {"domain": [0, 100]}, "title": "comfort score"}
    series = ["model", "persistence", "what happened"]
    colour = {"field": "series", "type": "nominal", "title": None,
              "scale": {"domain": series, "range": ["#1f77b4", "#7f7f7f", "#d62728"]}}  # fmt: skip
    dash = {"field": "series", "type": "nominal", "title": None,
            "scale": {"domain": series, "range": [[1, 0], [4, 3], [1, 0]]}}  # fmt: skip
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "data": {"values": records},
        "facet": {"row": {"field": "station", "type": "nominal", "title": "station"}},
        "spec": {
            "width": 760,
            "height": 220,
            "layer": [
                {"mark": {"type": "area", "opacity": 0.2, "color": "#1f77b4"},
                 "encoding": {"x": x, "y": {**y, "field": "low"}, "y2": {"field": "high"}}},
                {"transform": [{"fold": series, "as": ["series", "value"]}],
                 "mark": {"type": "line", "point": True, "strokeWidth": 1.5},
                 "encoding": {"x": x, "y": {**y, "field": "value"}, "color": colour, "strokeDash": dash}},
            ],
        },
    }  # fmt: skip


def write_plot(path: Path, spec: dict[str, Any]) -> None:
    """The chart as PNG (vl-convert, as the PR report's plots), or its Vega-Lite JSON for a .json path."""
    if path.suffix == ".json":
        io.write_json(path, spec)
        return
    import vl_convert  # noqa: PLC0415  (heavy; only the plot needs it)

    io.write_bytes(path, vl_convert.vegalite_to_png(spec, scale=1))


def fetch_latest(
    params: PipelineParams, stations: tuple[int, ...], days: int, now: pd.Timestamp
) -> pd.DataFrame:
    """The stations' observations of the last `days` + 2 days from the KMA API (KMA_AUTH_KEY; KMA_API_URL
    for another endpoint), normalized: the weather the served model has been forecasting."""
    kma = params.ingest.kma
    base_url = os.environ.get(BASE_URL_ENV) or kma.base_url
    client = KmaClient(auth_key_from_env(), base_url, kma.timeout_s, kma.max_attempts, kma.backoff_s)
    end = now.tz_convert(KST).floor("h")
    start = end.normalize() - pd.Timedelta(days=days + 2)
    bodies = [(s, client.fetch_range(s, start, end, f"station {s} last {days} days")) for s in stations]
    return normalize(pd.concat([parse_typ01(body, f"station {s}") for s, body in bodies], ignore_index=True))


def read_output(path: Path, rev: str | None) -> bytes:
    """A pipeline output from the workspace, or as revision `rev` recorded it (through DVC: its cache or
    remote), so the monitor can watch the version in prod while the workspace holds another."""
    if rev is None:
        return path.read_bytes()
    import dvc.api  # noqa: PLC0415  (slow to import; only a revision needs it)
    from dvc.exceptions import DvcException  # noqa: PLC0415

    try:
        data: bytes = dvc.api.read(path.as_posix(), rev=rev, mode="rb")
    except (DvcException, FileNotFoundError) as exc:
        raise StageError(
            f"`{path.as_posix()}` at `{rev}` cannot be read ({type(exc).__name__}): `dvc pull` it or "
            f"reproduce `{rev}`"
        ) from exc
    return data


def training_rows(dataset: pd.DataFrame, metadata: dict[str, Any]) -> pd.DataFrame:
    """The rows the served model was fitted on: its dataset minus the test period of the split it was
    trained with (from its metadata, not today's params)."""
    split = SplitParams.model_validate(metadata["params"]["split"])
    training: pd.DataFrame = dataset[assign_split(dataset["date"], split) != "test"]
    return training


def append_history(path: Path, report: dict[str, Any]) -> None:
    """One JSON line per run, written atomically (the whole file is rewritten)."""
    previous = path.read_text(encoding="utf-8") if path.exists() else ""
    io.write_text(path, previous + json.dumps(report, sort_keys=True) + "\n")


def plot_title(report: dict[str, Any]) -> str:
    return (
        f"{report['dataset']}: model {report['model_version']} against what happened, "
        f"{report['first_date']} to {report['last_date']}"
    )


def write_outputs(args: argparse.Namespace, report: dict[str, Any], text: str, plot: dict[str, Any]) -> None:
    """The report wherever the command line asked for it: markdown, JSON, a history line, the plot."""
    if args.markdown:
        io.write_text(args.markdown, text)
    if args.json:
        io.write_json(args.json, report)
    if args.history:
        append_history(args.history, report)
    if args.plot:
        write_plot(args.plot, plot)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--dataset", help="whose model and training rows (default: serve.dataset)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--observations", type=Path, help="normalized observations (default: the dataset's)")
    source.add_argument(
        "--kma",
        action="store_true",
        help="fetch the dataset's stations' latest weather from the KMA API instead",
    )
    parser.add_argument(
        "--model-rev", help="read the model at this Git revision through DVC (e.g. the prod version)"
    )
    parser.add_argument(
        "--model-version", help="how the report names the model (default: --model-rev or 'workspace')"
    )
    parser.add_argument(
        "--end", type=dt.date.fromisoformat, help="last date (default: the last complete one)"
    )
    parser.add_argument(
        "--markdown", type=Path, help="write the report as markdown (e.g. $GITHUB_STEP_SUMMARY)"
    )
    parser.add_argument("--json", type=Path, help="write the report as JSON")
    parser.add_argument("--history", type=Path, help="append the report as one JSON line")
    parser.add_argument(
        "--plot",
        type=Path,
        help="draw every window's forecast, interval, persistence and truth (PNG, or .json)",
    )
    args = parser.parse_args(argv)
    alert = False

    def body() -> None:
        nonlocal alert
        params = load_params(args.params)
        name = args.dataset or params.serve.dataset
        params.dataset(name)
        paths = DatasetPaths(name)
        metadata = json.loads(read_output(paths.metadata, args.model_rev))
        predictor = Predictor.from_artifacts(read_output(paths.model, args.model_rev), metadata)
        if args.kma:
            stations = params.dataset(name).stations
            observations = fetch_latest(params, stations, params.monitor.days, pd.Timestamp.now(tz=KST))
        else:
            observations = pd.read_parquet(args.observations or paths.observations)
        first, last = period(observations, params.monitor.days, args.end)
        version = args.model_version or args.model_rev or "workspace"
        issued = issue_forecasts(predictor, observations, first, last, version)
        dataset = pd.read_parquet(BytesIO(read_output(paths.features, args.model_rev)))
        training = training_rows(dataset, metadata)
        report = {
            "dataset": name, "model_version": version, "first_date": first.isoformat(),
            "last_date": last.isoformat(), "run_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
            **assess(issued, training, params, float(metadata["params"]["train"]["forecast"]["interval"])),
        }  # fmt: skip
        text = markdown(report)
        write_outputs(args, report, text, forecast_plot(issued.rows, predictor.commute, plot_title(report)))
        results.print(text, markup=False)
        alert = bool(report["alert"])
        if alert:
            console.print("[bold red]monitor: ALERT[/] " + "; ".join(report["alert_reasons"]))

    run("monitor", body)
    if alert:
        sys.exit(EXIT_ALERT)


if __name__ == "__main__":
    main()
