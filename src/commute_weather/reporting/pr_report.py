"""The pull-request report: what a change does to the model, for a reviewer, in one markdown file.

    python -m commute_weather.reporting.pr_report --base-rev origin/main --out reports/pr/report.md

Short by default. The first screen holds what a reviewer decides on: each dataset's verdict (real records
first: their figures decide; the sample's prove nothing alone), the served dataset's gate, one line per
station whose RMSE changed detectably, and the params that changed. Everything else is in one collapsed
section per dataset: every metric with its paired interval, RMSE per slice and per station, the gate with
the regression check against the same dataset on the base revision, this change's model selection on
validation, its validation report, and its plots from `dvc plots diff` (base and change in one image,
rendered as PNG next to the markdown). CI posts it with `cml comment update`.

A mark (✅ better, ❌ worse) is given only where the paired block-bootstrap interval of the change
(forecast.compare, on both sides' test predictions) excludes zero; a change whose interval reaches zero is
"≈ within noise", whatever its point value, so the tables never contradict the verdict line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from commute_weather import io
from commute_weather.cli import StageError, console, run
from commute_weather.config import load_params
from commute_weather.forecast.compare import DIFFERENT_WINDOWS, Change, Comparison, Verdict
from commute_weather.forecast.gate import (
    describe_value,
    describe_verdict,
    evaluate_gate,
    reference_at_revision,
)
from commute_weather.paths import DatasetPaths
from commute_weather.pipeline.summary import SELECTION_COLUMNS, selection_caption, selection_rows
from commute_weather.stations import station_name

HEADLINE = "model.rmse"
# The metrics table's rows (metrics.json names) and the comparison's change that carries each one's
# interval, with what that interval is of when it is not the row's own value (None: no interval exists,
# the predictions do not determine it).
SHOWN: dict[str, tuple[str | None, str]] = {
    "model.rmse": ("rmse", ""),
    "model.mae": ("mae", ""),
    "model.bias": ("abs_bias", "of abs(bias)"),
    "model.r2": ("r2", ""),
    "skill_vs_persistence": ("skill_vs_persistence", ""),
    "skill_vs_climatology": ("skill_vs_climatology", ""),
    "persistence.rmse": ("persistence_rmse", ""),
    "climatology.rmse": ("climatology_rmse", ""),
    "probabilistic.brier": ("brier", ""),
    "probabilistic.brier_skill_vs_persistence": (None, ""),
    "probabilistic.brier_skill_vs_climatology": (None, ""),
    "probabilistic.interval_coverage": ("coverage_error", "of abs(coverage - nominal)"),
    "probabilistic.interval_mean_width": ("interval_mean_width", ""),
}
TOLERANCE = 1e-9
# GitHub refuses a comment longer than this many characters.
COMMENT_LIMIT = 65_536
# What `cml comment update` adds per embedded image (it uploads the PNG and writes its URL in place of the
# file name) and for its watermark: reserved so that the posted comment, not the file, fits the limit.
IMAGE_URL_RESERVE = 300
WATERMARK_RESERVE = 500


@dataclass(frozen=True)
class MetricChange:
    """One metric's values on the base and this change, from `dvc metrics diff`."""

    name: str
    old: float | None
    new: float | None

    @property
    def change(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old


def dvc_json(*args: str) -> dict[str, Any]:
    result = subprocess.run(["dvc", *args, "--json"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StageError(f"dvc {' '.join(args)} failed: {result.stderr.strip()[-500:]}")
    loaded: dict[str, Any] = json.loads(result.stdout or "{}")
    return loaded


def metric_changes(diff: dict[str, Any], metrics_file: Path) -> dict[str, MetricChange]:
    """One dataset's metrics.json from `dvc metrics diff --all --json`, as name -> change."""
    return {
        name: MetricChange(name, values.get("old"), values.get("new"))
        for name, values in diff.get(metrics_file.as_posix(), {}).items()
    }


# ---- the one mark ----

MARKS: dict[Verdict, str] = {
    "improves": "✅ better", "worsens": "❌ worse", "changes": "changed",
    "no detectable change": "≈ within noise",
}  # fmt: skip
WORDS: dict[Verdict, str] = {
    "improves": "improves", "worsens": "WORSENS", "changes": "changes",
    "no detectable change": "no detectable change",
}  # fmt: skip


def mark(change: Change | None, point_change: float | None = None) -> str:
    """The mark of a row in every table: ✅/❌ only when the row's paired interval excludes zero.

    change: the row's paired bootstrap change (None: no interval for it). point_change: the row's change
    as the metrics files show it, for the rows without an interval: those are "= same" when nothing moved
    and "no interval" otherwise, never better or worse.
    """
    if change is None:
        if point_change is None:
            return "—"
        return "= same" if abs(point_change) <= TOLERANCE else "no interval"
    if abs(change.change) <= TOLERANCE and max(abs(change.low), abs(change.high)) <= TOLERANCE:
        return "= same"
    return MARKS[change.verdict]


def detectable(change: Change) -> bool:
    return mark(change) in {MARKS["improves"], MARKS["worsens"], MARKS["changes"]}


def _endpoint(value: float) -> str:
    """An interval endpoint; one that is not zero never prints as zero (the verdict hangs on its sign)."""
    return f"{value:+.1g}" if value != 0 and round(value, 3) == 0 else f"{value:+.3f}"


def interval(change: Change) -> str:
    return f"{change.confidence:.0%} interval {_endpoint(change.low)} to {_endpoint(change.high)}"


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _delta(value: float | None) -> str:
    # Four decimals: a change the table shows must show as a non-zero number.
    return "—" if value is None else f"{value:+.4f}"


def row(label: str, old: float | None, new: float | None, change: Change | None, of: str = "") -> str:
    """A table row: values, change, the interval (of what, when not of the row's value) and the mark."""
    point = None if old is None or new is None else new - old
    shown = "—" if change is None else f"{interval(change)}{f' {of}' if of else ''}"
    return f"| {label} | {_fmt(old)} | {_fmt(new)} | {_delta(point)} | {shown} | {mark(change, point)} |"


TABLE_HEAD = ["| {} | base | this change | change | interval | |", "|---|---|---|---|---|---|"]


def table_head(first: str) -> list[str]:
    return [TABLE_HEAD[0].format(first), TABLE_HEAD[1]]


# ---- what the first screen says ----


def headline(
    changes: dict[str, MetricChange],
    base: str,
    dataset: str,
    comparison: Comparison | None = None,
    no_interval: str | None = None,
) -> str:
    """The dataset's first line. With a comparison of both sides' predictions its verdict comes from the
    RMSE change's interval (improves, WORSENS, no detectable change); without, from the point change,
    unless the two sides scored different windows (a changed split or station list): no verdict then."""
    if comparison is not None:
        c = comparison.changes["rmse"]
        return (
            f"**{dataset}: RMSE {c.base:.3f} → {c.pr:.3f} ({c.change:+.4f}, {interval(c)}): "
            f"{WORDS[c.verdict]}** (vs `{base}`)"
        )
    rmse = changes.get(HEADLINE)
    if rmse is None or rmse.new is None:
        return f"**{dataset}: no model metrics to compare with `{base}`.**"
    if rmse.old is None or rmse.change is None:
        return f"**{dataset}: first model, RMSE {rmse.new:.3f}** (no metrics on `{base}`)."
    if no_interval and no_interval.startswith(DIFFERENT_WINDOWS):
        return (
            f"**{dataset}: RMSE {rmse.old:.3f} → {rmse.new:.3f} on other test windows than `{base}`'s: "
            "not comparable, no verdict.** (see its section)"
        )
    if abs(rmse.change) <= TOLERANCE:
        word = "leaves unchanged"
    else:
        word = "WORSENS" if rmse.change > 0 else "improves"
    line = (
        f"**{dataset}: this change {word} RMSE: {rmse.old:.3f} → {rmse.new:.3f} ({rmse.change:+.4f}) "
        f"vs `{base}`.**"
    )
    return f"{line} No interval (see its section)." if no_interval else line


def station_label(station: str) -> str:
    return station_name(int(station)) if station.isdigit() else station


def station_lines(sections: list[DatasetSection]) -> list[str]:
    """One line per station whose RMSE changed detectably, in datasets with more than one station; or one
    line saying none did. Nothing when no dataset has per-station intervals."""
    lines, compared = [], []
    for section in sections:
        stations = {} if section.comparison is None else section.comparison.slices.get("station", {})
        if not stations:
            continue
        compared.append(f"{section.name}: {len(stations)}")
        for station, c in stations.items():
            if detectable(c):
                lines.append(
                    f"- {section.name}, station {station_label(station)}: RMSE {c.base:.3f} → {c.pr:.3f} "
                    f"({c.change:+.4f}, {interval(c)}): {mark(c)}"
                )
    if not compared:
        return []
    if not lines:
        return [f"No station's RMSE changed detectably (stations compared: {', '.join(compared)}).", ""]
    # Each station's interval is a 95% one: among many unchanged stations about one in twenty is flagged
    # by chance, so the reader is told how many were looked at.
    return [
        f"Stations whose RMSE changed detectably (each at 95%, so about 1 in 20 unchanged stations is "
        f"flagged by chance; stations compared: {', '.join(compared)}):",
        "",
        *lines,
        "",
    ]


def gate_line(section: DatasetSection) -> str:
    gate = section.gate
    failed = [c["check"] for c in gate["checks"] if not c["passed"]]
    if gate["approved"]:
        return f"Gate of the served dataset, {section.name}: **APPROVED**: the model would be packaged."
    return (
        f"Gate of the served dataset, {section.name}: **NOT APPROVED** (failed: {', '.join(failed)}): "
        "the model would **not** be packaged."
    )


# ---- the collapsed sections ----


@dataclass(frozen=True)
class DatasetSection:
    name: str
    real: bool
    served: bool
    changes: dict[str, MetricChange]
    gate: dict[str, Any]
    validation: dict[str, Any]
    images: list[Path]
    comparison: Comparison | None = None  # both sides' test predictions, paired bootstrap
    no_interval: str | None = None  # why there is no comparison
    selection: dict[str, Any] | None = None  # this change's model_selection.json
    identical_plots: frozenset[str] = frozenset()  # plot stems whose data is the same on both revisions


def render_metrics(section: DatasetSection) -> list[str]:
    """Every metric of the test period with its interval and mark (mark())."""
    comparison = section.comparison
    lines = ["#### Metrics (test period)", ""]
    if comparison is None:
        lines += [f"No interval, so no marks: {section.no_interval or 'no comparison of predictions'}", ""]
    else:
        lines += [
            "Intervals: paired block bootstrap of both sides' predictions on the same "
            f"{comparison.windows:,} test windows ({comparison.days} days, "
            f"{comparison.block_days}-day blocks, {comparison.resamples:,} resamples, seed "
            f"{comparison.seed}). A row is marked better or worse only where its interval excludes zero.",
            "",
        ]
    lines += table_head("metric")
    for name, (key, of) in SHOWN.items():
        if name not in section.changes:
            continue
        value = section.changes[name]
        change = None if comparison is None or key is None else comparison.changes.get(key)
        lines.append(row(f"`{name}`", value.old, value.new, change, of))
    return [*lines, ""]


def slice_of(name: str) -> tuple[str, str] | None:
    """(kind, value) of a metrics.json name that is the model's RMSE on a slice: `slices.<kind>.<value>.
    model_rmse`, or a per-station section `by_station.<id>.model.rmse` / `by_station.<id>.model_rmse`."""
    parts = name.split(".")
    if len(parts) == 4 and parts[0] == "slices" and parts[3] == "model_rmse":
        return parts[1], parts[2]
    if parts[0] == "by_station" and len(parts) >= 3 and ".".join(parts[2:]) in {"model.rmse", "model_rmse"}:
        return "station", parts[1]
    return None


def slice_table(section: DatasetSection) -> dict[str, list[str]]:
    """Rows of the model's RMSE per slice, by kind: every slice the metrics carry or the comparison has,
    with the metrics' values where they carry it (else the comparison's) and the slice's interval."""
    cells: dict[tuple[str, str], tuple[float | None, float | None]] = {}
    for name, metric in section.changes.items():
        key = slice_of(name)
        if key is not None:
            cells[key] = (metric.old, metric.new)
    compared = {} if section.comparison is None else section.comparison.slices
    for kind, changes in compared.items():
        for value, c in changes.items():
            cells.setdefault((kind, value), (c.base, c.pr))
    out: dict[str, list[str]] = {}
    for (kind, value), (old, new) in sorted(cells.items()):
        label = station_label(value) if kind == "station" else value
        out.setdefault(kind, []).append(row(label, old, new, compared.get(kind, {}).get(value)))
    return out


def render_slices(section: DatasetSection) -> list[str]:
    tables = slice_table(section)
    if not tables:
        return []
    lines = ["#### Model RMSE by slice", ""]
    for kind, rows in tables.items():
        title = "station" if kind == "station" else f"{kind}"
        lines += [*table_head(title), *rows, ""]
    return lines


def render_gate(gate: dict[str, Any]) -> list[str]:
    lines = ["#### Gate", "", "| check | value | threshold | verdict |", "|---|---|---|---|"]
    for check in gate["checks"]:
        if check.get("skipped"):
            lines.append(f"| {check['check']} | — | — | skipped: {check['reason']} |")
        else:
            bound = f"{check['op']} {check['threshold']:g}"
            verdict = describe_verdict(check, fail="**FAIL**")
            lines.append(f"| {check['check']} | {describe_value(check)} | {bound} | {verdict} |")
    return [*lines, ""]


def render_selection(selection: dict[str, Any] | None) -> list[str]:
    """This change's model selection: every candidate on the validation period, with the intervals."""
    if not selection:
        return []
    validation = selection["validation"]
    lines = [
        f"#### Model selection (validation {validation['first_day']} to {validation['last_day']}, "
        f"{validation['rows']:,} windows, persistence RMSE {validation['persistence_rmse']:.3f})",
        "",
        f"| {' | '.join(SELECTION_COLUMNS)} |",
        "|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(r)} |" for r in selection_rows(selection)]
    return [*lines, "", selection_caption(selection), ""]


def render_validation(validation: dict[str, Any]) -> list[str]:
    failing = [c for c in validation.get("checks", []) if not c["passed"]]
    lines = ["#### Data validation", "",
             f"{validation.get('status', 'missing')}: {validation.get('rows', 0):,} rows, "
             f"{len(validation.get('checks', []))} checks, {len(failing)} failing."]  # fmt: skip
    lines += [f"- `{c['column']}` {c['check']}: {c['failures']:,} rows" for c in failing]
    return [*lines, ""]


CAPTIONS = {
    "reliability": "Is P(wet window) calibrated? Points on the dashed diagonal are; point size and the bars "
    "below count the test windows in each tenth of P(wet).",
    "predictions": "Predicted against actual comfort, one panel per revision; the diagonal is a perfect "
    "forecast.",
    "rmse_by_slice": "RMSE per slice and predictor, base and this change side by side.",
    "residuals_by_month": "Mean residual (predicted - actual) per month: a bar right of zero over-forecasts "
    "comfort.",
    "feature_importance": "Permutation importance: how much RMSE rises when a feature is shuffled.",
}


def render_plots(section: DatasetSection) -> list[str]:
    if not section.images:
        return []
    lines = ["#### Plots", ""]
    differences = {} if section.comparison is None else section.comparison.differences
    for column, what in (("model", "score"), ("wet_probability", "P(wet window)")):
        if column in differences:
            count, largest = differences[column]
            windows = section.comparison.windows if section.comparison else 0
            lines.append(
                f"- the {what} differs from the base's on {count:,} of {windows:,} test windows"
                + (f" (largest difference {largest:.3g})" if count else ": identical")
            )
    if differences:
        lines.append("")
    order = list(CAPTIONS)
    for path in sorted(section.images, key=lambda p: _plot_rank(order, p.stem, section.name)):
        kind = path.stem.removeprefix(f"{section.name}_")
        caption = CAPTIONS.get(kind, "")
        if kind in section.identical_plots:
            caption += " **Identical on both revisions**: one revision's marks hide the other's."
        lines += (
            [f"![{path.stem}]({path.name})", "", caption, ""]
            if caption
            else [f"![{path.stem}]({path.name})", ""]
        )
    return lines


def _plot_rank(order: list[str], stem: str, dataset: str) -> int:
    """Plots in the order CAPTIONS lists them (the question a reviewer asks first, first); others last."""
    kind = stem.removeprefix(f"{dataset}_")
    return order.index(kind) if kind in order else len(order)


def section_summary(section: DatasetSection) -> str:
    """The one line a collapsed section shows: kind, gate, how much changed detectably."""
    kind = "real record" if section.real else "synthetic sample, proves nothing alone"
    gate = "APPROVED" if section.gate["approved"] else "NOT APPROVED"
    served = ", served" if section.served else ""
    comparison = section.comparison
    if comparison is None:
        moved = "no intervals"
    else:
        metrics = [comparison.changes[k] for k, _ in SHOWN.values() if k in comparison.changes]
        slices = [c for values in comparison.slices.values() for c in values.values()]
        moved = (
            f"{sum(map(detectable, metrics))} of {len(metrics)} metrics and "
            f"{sum(map(detectable, slices))} of {len(slices)} slices changed detectably"
        )
    return f"<b>{section.name}</b> ({kind}{served}): gate {gate}; {moved}"


def render_section(section: DatasetSection) -> list[str]:
    lines = ["<details>", f"<summary>{section_summary(section)}</summary>", ""]
    lines += render_metrics(section)
    lines += render_slices(section)
    lines += render_gate(section.gate)
    lines += render_selection(section.selection)
    lines += render_validation(section.validation)
    lines += render_plots(section)
    return [*lines, "</details>", ""]


def render_params(params_diff: dict[str, Any]) -> list[str]:
    changed = params_diff.get("params.yaml", {})
    if not changed:
        return ["No params changed.", ""]
    shown = [f"`{k}` {v.get('old')} → {v.get('new')}" for k, v in sorted(changed.items())]
    if len(shown) <= 3:
        return [f"Params changed: {'; '.join(shown)}.", ""]
    lines = [f"<details><summary>{len(shown)} params changed</summary>", "",
             "| param | base | this change |", "|---|---|---|"]  # fmt: skip
    lines += [f"| `{k}` | {v.get('old')} | {v.get('new')} |" for k, v in sorted(changed.items())]
    return [*lines, "", "</details>", ""]


def posted_length(report: str, images: int) -> int:
    """The comment's length once CML has put image URLs in and its watermark on (reserved, see above)."""
    return len(report) + images * IMAGE_URL_RESERVE + WATERMARK_RESERVE


def render(base: str, sections: list[DatasetSection], params_diff: dict[str, Any]) -> str:
    """The report: the first screen (verdicts, the served gate, stations, params), then one collapsed
    section per dataset. Sections that would take the comment past GitHub's limit are left out, last
    dataset first, each with a line saying so (the whole report is the CI run's artifact)."""
    top = ["## commute-weather model report", ""]
    top += [headline(s.changes, base, s.name, s.comparison, s.no_interval) for s in sections] + [""]
    top += [gate_line(s) for s in sections if s.served] + [""]
    top += station_lines(sections)
    top += render_params(params_diff)
    bodies = [render_section(s) for s in sections]
    kept = list(range(len(sections)))
    while True:
        lines = list(top)
        for i, section in enumerate(sections):
            lines += bodies[i] if i in kept else _left_out(section)
        report = "\n".join(lines) + "\n"
        images = sum(len(sections[i].images) for i in kept)
        if posted_length(report, images) < COMMENT_LIMIT or not kept:
            return report
        kept.pop()


def _left_out(section: DatasetSection) -> list[str]:
    return [
        f"{section_summary(section)}: details left out to keep the comment under GitHub's "
        f"{COMMENT_LIMIT:,} characters (the whole report is the CI run's `model-report` artifact).",
        "",
    ]


# ---- plots ----


def _rows_by_revision(spec: dict[str, Any]) -> dict[str, list[str]]:
    """The plot data of each revision in a `dvc plots diff` Vega-Lite spec, for comparing revisions."""
    values = spec.get("data", {}).get("values", [])
    by_rev: dict[str, list[str]] = {}
    for point in values if isinstance(values, list) else []:
        rest = {k: v for k, v in point.items() if k not in {"rev", "step", "filename", "field"}}
        by_rev.setdefault(str(point.get("rev")), []).append(json.dumps(rest, sort_keys=True, default=str))
    return {rev: sorted(points) for rev, points in by_rev.items()}


def identical_revisions(spec: dict[str, Any]) -> bool:
    """Whether every revision in the spec has the same plot data (then one hides the other when drawn)."""
    revisions = list(_rows_by_revision(spec).values())
    return len(revisions) > 1 and all(r == revisions[0] for r in revisions[1:])


def render_plot_images(
    plots_diff: dict[str, Any], plots_dir: Path, out_dir: Path
) -> tuple[list[Path], frozenset[str]]:
    """PNG images of the dataset's plots as dvc.yaml declares them (templates in .dvc/plots), base and this
    change drawn together: the Vega-Lite specs of `dvc plots diff --json`, rendered with vl-convert (no
    hand-drawn copies). Also which plots have the same data on every revision."""
    import vl_convert  # noqa: PLC0415  (heavy; only the report draws)

    images, identical = [], set()
    for path, entries in sorted(plots_diff.get("data", {}).items()):
        if Path(path).parent != plots_dir:
            continue
        spec = next((e["content"] for e in entries if e.get("type") == "vega"), None)
        if spec is None:
            continue
        target = out_dir / f"{plots_dir.parent.name}_{Path(path).stem}.png"
        io.write_bytes(target, vl_convert.vegalite_to_png(spec, scale=1))
        images.append(target)
        if identical_revisions(spec):
            identical.add(Path(path).stem)
    return images, frozenset(identical)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-rev", default="main", help="the revision to compare with (the PR's base)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("reports/pr/report.md"))
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        diff = dvc_json("metrics", "diff", args.base_rev, "--all")
        plots = dvc_json("plots", "diff", args.base_rev)
        sections = []
        for name in params.dataset_names:
            paths = DatasetPaths(name)
            reference = reference_at_revision(
                args.base_rev, name, params.compare, nominal_coverage=params.train.forecast.interval
            )
            images, identical = render_plot_images(plots, paths.plots, args.out.parent)
            sections.append(
                DatasetSection(
                    name=name,
                    real=params.datasets[name].real,
                    served=name == params.serve.dataset,
                    changes=metric_changes(diff, paths.metrics),
                    gate=evaluate_gate(
                        io.read_json(paths.metrics),
                        params.gate,
                        reference.metrics,
                        reference.rmse_change,
                        no_interval=reference.no_interval,
                    ),
                    validation=io.read_json(paths.validation) if paths.validation.exists() else {},
                    images=images,
                    comparison=reference.comparison,
                    no_interval=reference.no_interval,
                    selection=io.read_json(paths.selection) if paths.selection.exists() else None,
                    identical_plots=identical,
                )
            )
        report = render(args.base_rev, sections, dvc_json("params", "diff", args.base_rev))
        io.write_text(args.out, report)
        first = sections[0]
        line = headline(first.changes, args.base_rev, first.name, first.comparison, first.no_interval)
        count = sum(len(s.images) for s in sections)
        console.print(
            f"report: {args.out} ({len(report):,} characters, {count} images, about "
            f"{posted_length(report, count):,} as a comment of at most {COMMENT_LIMIT:,}) {line}"
        )

    run("report", body)


if __name__ == "__main__":
    main()
