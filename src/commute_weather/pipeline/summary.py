"""What `make run` prints at the end: what the pipeline produced, then per dataset (real first) the metrics
table, the model selection and the gate verdict.

python -m commute_weather.pipeline.summary [--params params.yaml]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml
from rich.table import Table

from commute_weather import io
from commute_weather.cli import results
from commute_weather.clock import SEASONS
from commute_weather.config import load_params
from commute_weather.forecast.gate import gate_table
from commute_weather.paths import DatasetPaths
from commute_weather.pipeline.evaluate import PREDICTORS
from commute_weather.stations import station_name


def metrics_table(name: str, metrics: dict[str, Any]) -> Table:
    rows = metrics["rows"]
    kind = "real" if metrics["dataset"]["real"] else "synthetic"
    table = Table(
        title=f"{name} ({kind}), test period: {rows['test']:,} windows, {metrics['dataset']['model']} "
        f"trained on {rows['train']:,}"
    )
    for column in ("predictor", "RMSE", "MAE", "bias", "R2"):
        table.add_column(column, justify="right" if column != "predictor" else "left")
    for p in PREDICTORS:
        m = metrics[p]
        table.add_row(p, f"{m['rmse']:.3f}", f"{m['mae']:.3f}", f"{m['bias']:+.3f}", f"{m['r2']:.3f}")
    table.caption = (
        f"skill vs persistence {metrics['skill_vs_persistence']:.3f}, "
        f"vs climatology {metrics['skill_vs_climatology']:.3f}"
    )
    return table


def slices_table(metrics: dict[str, Any]) -> Table:
    """RMSE of the model and persistence per season and for wet and dry windows (stations: stations_table)."""
    table = Table(title="RMSE by slice (test period)")
    for column in ("slice", "windows", *PREDICTORS):
        table.add_column(column, justify="left" if column == "slice" else "right")
    order = [("season", s) for s in dict.fromkeys(SEASONS.values())] + [
        ("wetness", "wet"),
        ("wetness", "dry"),
    ]
    for kind, value in order:
        cell = metrics["slices"][kind].get(value)
        if cell is not None:
            table.add_row(value, f"{cell['rows']:,}", *(f"{cell[f'{p}_rmse']:.3f}" for p in PREDICTORS))
    return table


def stations_table(metrics: dict[str, Any]) -> Table:
    """Every station's own test figures (metrics.json `by_station`): model and persistence RMSE, skill over
    persistence with its paired interval, the worst season, wet windows, Brier skill and coverage."""
    table = Table(
        title="per station (test period; * = full test year, judged by the gate; "
        "unseen = never in the training periods)"
    )
    for column in ("station", "windows", "model", "persistence", "skill (95% interval)", "winter",
                   "wet", "Brier skill", "coverage"):  # fmt: skip
        table.add_column(column, justify="left" if column == "station" else "right")
    for station, s in metrics["by_station"].items():
        versus = s["vs_persistence"]
        skill = f"{versus['skill']:+.3f} ({versus['skill_low']:+.3f} to {versus['skill_high']:+.3f})"
        if versus["verdict"] == "worsens":
            skill += " WORSE"

        def model_vs_persistence(kind: str, value: str, s: dict[str, Any] = s) -> str:
            cell = s["slices"][kind].get(value)
            if cell is None:
                return "-"
            worse = cell.get("vs_persistence", {}).get("verdict") == "worsens"
            return f"{cell['model_rmse']:.1f} vs {cell['persistence_rmse']:.1f}{' WORSE' if worse else ''}"

        marks = (" *" if s["full_test_year"] else "") + ("" if s.get("seen", True) else " unseen")
        table.add_row(
            f"{station_name(int(station))}{marks}", f"{s['rows']:,}", f"{s['model_rmse']:.3f}",
            f"{s['persistence_rmse']:.3f}", skill, model_vs_persistence("season", "winter"),
            model_vs_persistence("wetness", "wet"), f"{s['probabilistic']['brier_skill_vs_persistence']:.3f}",
            f"{s['probabilistic']['interval_coverage']:.0%}",
        )  # fmt: skip
    return table


def unseen_table(unseen: dict[str, Any]) -> Table:
    """Leave-one-station-out (metrics/<served>/unseen.json): each station's test RMSE from the model fitted
    without its rows beside the shipped model, which saw them, and persistence."""
    table = Table(
        title=f"a station the model never saw: {unseen['model']} fitted without each station's rows"
    )
    for column in ("station", "windows", "without it", "with it", "persistence", "skill without it (95%)",
                   "without - with (95%)", "wet: without / with / persistence",
                   "winter mornings: without / with / persistence"):  # fmt: skip
        table.add_column(column, justify="left" if column == "station" else "right")
    for f in unseen["stations"].values():
        versus, change = f["unseen_vs_persistence"], f["unseen_vs_seen"]

        def trio(name: str, f: dict[str, Any] = f) -> str:
            c = f["slices"][name]
            return f"{c['unseen_rmse']:.1f} / {c['seen_rmse']:.1f} / {c['persistence_rmse']:.1f}"

        table.add_row(
            f["name"], f"{f['rows']:,}", f"{f['unseen_rmse']:.3f}", f"{f['seen_rmse']:.3f}",
            f"{f['persistence_rmse']:.3f}",
            f"{versus['skill']:+.3f} ({versus['skill_low']:+.3f} to {versus['skill_high']:+.3f})",
            f"{change['rmse_change']:+.3f} ({change['low']:+.3f} to {change['high']:+.3f})",
            trio("wet"), trio("winter_mornings"),
        )  # fmt: skip
    never = ", ".join(station_name(s) for s in unseen["never_in_training"])
    table.caption = (
        f"never in the training periods (their own rows above are unseen figures): {never or 'none'}"
    )
    return table


def probabilistic_line(metrics: dict[str, Any]) -> str:
    """P(wet window) and the score interval, scored on the test period."""
    m = metrics["probabilistic"]
    return (
        f"P(wet window): Brier {m['brier']:.3f}, skill vs persistence {m['brier_skill_vs_persistence']:.3f}, "
        f"vs climatology {m['brier_skill_vs_climatology']:.3f}; 80% score interval covers "
        f"{m['interval_coverage']:.1%} of test windows, mean width {m['interval_mean_width']:.1f}"
    )


SELECTION_COLUMNS = ("candidate", "validation RMSE", "skill vs persistence", "RMSE - default")


def _with_interval(value: float, low: float, high: float, confidence: float) -> str:
    return f"{value:+.3f} ({confidence:.0%}: {low:+.3f} to {high:+.3f})"


def selection_rows(selection: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """One row per candidate, lowest validation RMSE first (SELECTION_COLUMNS): the chosen and the default
    marked, the skill vs persistence and the RMSE difference from the default with their paired
    block-bootstrap intervals on the validation windows (model_selection.json `validation.intervals`)."""
    validation = selection["validation"]
    intervals = validation.get("intervals", {})
    confidence = float(intervals.get("confidence", 0.95))
    rows = []
    for name, c in sorted(validation["candidates"].items(), key=lambda kv: kv[1]["rmse"]):
        marks = [m for m, is_it in (("chosen", name == selection["chosen"]),
                                    ("default", name == selection["default"])) if is_it]  # fmt: skip
        label = f"{name} ({', '.join(marks)})" if marks else name
        skill = f"{c['skill_vs_persistence']:+.3f}"
        persistence = intervals.get("vs_persistence", {}).get(name)
        if persistence:
            skill = _with_interval(
                persistence["skill"], persistence["skill_low"], persistence["skill_high"], confidence
            )
        default = intervals.get("vs_default", {}).get(name)
        versus = "-"
        if default:
            versus = _with_interval(default["rmse_change"], default["low"], default["high"], confidence)
            versus += f": {default['verdict']}"
        rows.append((label, f"{c['rmse']:.3f}", skill, versus))
    return rows


def selection_caption(selection: dict[str, Any]) -> str:
    validation = selection["validation"]
    intervals = validation.get("intervals")
    how = (
        f"Intervals: paired bootstrap of {intervals['block_days']}-day blocks over {intervals['days']} "
        f"validation days, {intervals['resamples']:,} resamples; a candidate replaces the default only "
        "when its interval vs the default lies below zero."
        if intervals
        else "No intervals in this selection record."
    )
    return f"{selection['reason']}. {how}"


def selection_table(selection: dict[str, Any]) -> Table:
    validation = selection["validation"]
    table = Table(
        title=f"model selection on validation {validation['first_day']} to {validation['last_day']} "
        f"({validation['rows']:,} windows, persistence RMSE {validation['persistence_rmse']:.3f})"
    )
    for column in SELECTION_COLUMNS:
        table.add_column(column, justify="left" if column == "candidate" else "right")
    for row in selection_rows(selection):
        table.add_row(*row)
    table.caption = selection_caption(selection)
    return table


def pipeline_outputs(dvc_yaml: Path, names: list[str], served: str) -> list[Path]:
    """Every output and metrics file the stages of dvc.yaml declare, for each dataset (or the served one),
    in stage order."""
    stages = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))["stages"]
    paths = []
    for stage in stages.values():
        body = stage.get("do", stage)
        for entry in [*body.get("outs", []), *body.get("metrics", [])]:
            template = next(iter(entry)) if isinstance(entry, dict) else entry
            paths += (
                [Path(template.replace("${key}", name)) for name in names]
                if "foreach" in stage
                else [Path(template.replace("${serve.dataset}", served))]
            )
    return paths


def outputs_table(paths: list[Path]) -> Table:
    table = Table(title="pipeline outputs")
    table.add_column("path")
    table.add_column("size", justify="right")
    for path in paths:
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        size = sum(p.stat().st_size for p in files if p.exists())
        shown = f"{path}/ ({len(files)} files)" if path.is_dir() else str(path)
        table.add_row(shown, f"{size / 1e6:,.1f} MB" if size >= 1e5 else f"{size / 1e3:,.1f} kB")
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--dvc-yaml", type=Path, default=Path("dvc.yaml"))
    args = parser.parse_args(argv)
    params = load_params(args.params)
    names = params.dataset_names
    results.print(outputs_table(pipeline_outputs(args.dvc_yaml, names, params.serve.dataset)))
    for name in names:
        paths = DatasetPaths(name)
        metrics = io.read_json(paths.metrics)
        results.rule(f"[bold]{name}")
        results.print(metrics_table(name, metrics))
        results.print(slices_table(metrics))
        results.print(probabilistic_line(metrics))
        if len(metrics.get("by_station", {})) > 1:
            results.print(stations_table(metrics))
        if paths.unseen.exists():
            results.print(unseen_table(io.read_json(paths.unseen)))
        results.print(selection_table(io.read_json(paths.selection)))
        results.print(gate_table(io.read_json(paths.gate)))
    results.print(f"packaged and served: the {params.serve.dataset} model (serve.dataset in params.yaml)")


if __name__ == "__main__":
    main()
