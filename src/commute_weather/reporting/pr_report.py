"""The pull-request report: what a change does to the model, for a reviewer, in one markdown file.

    python -m commute_weather.reporting.pr_report --base-rev origin/main --out reports/pr/report.md

One section per dataset, real records first (their figures decide; the sample's prove nothing alone), each
built on `dvc metrics diff --json` against the base revision, the dataset's gate (with the regression check
against the same dataset's metrics on the base), this change's model selection on validation (with its
intervals), its validation report, and its plots from `dvc plots diff` (base and change in one image) as
PNG next to the markdown; then the params that changed. CI posts it with `cml comment update`.
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
from commute_weather.forecast.compare import Change, Comparison, Verdict
from commute_weather.forecast.gate import (
    describe_value,
    describe_verdict,
    evaluate_gate,
    reference_at_revision,
)
from commute_weather.paths import DatasetPaths
from commute_weather.pipeline.summary import SELECTION_COLUMNS, selection_caption, selection_rows

HEADLINE = "model.rmse"
# Lower is better for errors; higher for skill and R2. Bias is better the closer it is to zero.
HIGHER_IS_BETTER = ("r2", "skill")
SHOWN = (
    "model.rmse", "model.mae", "model.bias", "model.r2", "skill_vs_persistence", "skill_vs_climatology",
    "persistence.rmse", "climatology.rmse",
    "probabilistic.brier", "probabilistic.brier_skill_vs_persistence",
    "probabilistic.brier_skill_vs_climatology", "probabilistic.interval_coverage",
    "probabilistic.interval_mean_width",
)  # fmt: skip
TOLERANCE = 1e-9


@dataclass(frozen=True)
class MetricChange:
    name: str
    old: float | None
    new: float | None
    nominal_coverage: float | None = None  # train.forecast.interval: what interval_coverage should be

    @property
    def change(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old

    @property
    def verdict(self) -> str:
        change = self.change
        if change is None:
            return "new" if self.old is None else "removed"
        if abs(change) <= TOLERANCE:
            return "same"
        if self.name.endswith("bias"):
            better = abs(self.new or 0.0) < abs(self.old or 0.0)
        elif self.name.endswith("interval_coverage"):  # the closer to the nominal coverage, the better
            if self.nominal_coverage is None:
                return "changed"
            distance = [abs(v - self.nominal_coverage) for v in (self.old, self.new) if v is not None]
            better = distance[1] < distance[0]
        elif self.name.endswith("interval_mean_width"):  # narrower is better only at the same coverage
            return "changed"
        else:
            better = (change > 0) == any(key in self.name for key in HIGHER_IS_BETTER)
        return "better" if better else "worse"


MARKERS = {
    "better": "✅ better", "worse": "❌ worse", "same": "= same", "changed": "changed", "new": "new",
    "removed": "removed",
}  # fmt: skip


def dvc_json(*args: str) -> dict[str, Any]:
    result = subprocess.run(["dvc", *args, "--json"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StageError(f"dvc {' '.join(args)} failed: {result.stderr.strip()[-500:]}")
    loaded: dict[str, Any] = json.loads(result.stdout or "{}")
    return loaded


def metric_changes(
    diff: dict[str, Any], metrics_file: Path, nominal_coverage: float
) -> dict[str, MetricChange]:
    """One dataset's metrics.json from `dvc metrics diff --all --json`, as name -> change."""
    return {
        name: MetricChange(name, values.get("old"), values.get("new"), nominal_coverage)
        for name, values in diff.get(metrics_file.as_posix(), {}).items()
    }


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _change_row(change: MetricChange) -> str:
    delta = change.change
    # Four decimals: a change the table calls better or worse must show as a non-zero number.
    shown = "—" if delta is None else f"{delta:+.4f}"
    return (
        f"| `{change.name}` | {_fmt(change.old)} | {_fmt(change.new)} | {shown} | {MARKERS[change.verdict]} |"
    )


WORDS: dict[Verdict, str] = {
    "improves": "improves", "worsens": "WORSENS", "no detectable change": "no detectable change",
}  # fmt: skip


def _endpoint(value: float) -> str:
    """An interval endpoint; one that is not zero never prints as zero (the verdict hangs on its sign)."""
    return f"{value:+.1g}" if value != 0 and round(value, 3) == 0 else f"{value:+.3f}"


def interval(change: Change) -> str:
    return f"{change.confidence:.0%} interval {_endpoint(change.low)} to {_endpoint(change.high)}"


def headline(
    changes: dict[str, MetricChange],
    base: str,
    dataset: str,
    comparison: Comparison | None = None,
    no_interval: str | None = None,
) -> str:
    """The dataset's first line. With a comparison of both sides' predictions its verdict comes from the
    RMSE change's interval (improves, WORSENS, no detectable change); without, from the point change."""
    if comparison is not None:
        rmse_change = comparison.changes["rmse"]
        return (
            f"**{dataset}: RMSE {rmse_change.base:.3f} → {rmse_change.pr:.3f} ({rmse_change.change:+.4f}, "
            f"{interval(rmse_change)}): {WORDS[rmse_change.verdict]}** (vs `{base}`)"
        )
    rmse = changes.get(HEADLINE)
    if rmse is None or rmse.new is None:
        return f"**{dataset}: no model metrics to compare with `{base}`.**"
    if rmse.old is None:
        return f"**{dataset}: first model, RMSE {rmse.new:.3f}** (no metrics on `{base}`)."
    word = {"better": "improves", "worse": "WORSENS", "same": "leaves unchanged"}[rmse.verdict]
    line = (
        f"**{dataset}: this change {word} RMSE: {rmse.old:.3f} → {rmse.new:.3f} ({rmse.change:+.4f}) "
        f"vs `{base}`.**"
    )
    return f"{line} No interval (see its section)." if no_interval else line


COMPARED = (
    ("rmse", "RMSE"),
    ("skill_vs_persistence", "skill vs persistence"),
    ("mae", "MAE"),
    ("brier", "Brier score of P(wet window)"),
)


def render_comparison(comparison: Comparison | None, no_interval: str | None) -> list[str]:
    """The table of changes with their paired block-bootstrap intervals, or why there is none."""
    if comparison is None:
        return [f"No interval: {no_interval}", ""] if no_interval else []
    lines = [
        f"### Is the change real? ({comparison.windows:,} test windows on {comparison.days} days, "
        f"{comparison.block_days}-day blocks, {comparison.resamples:,} resamples, seed {comparison.seed})",
        "",
        "| metric | base | this change | change | interval | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in COMPARED:
        if key not in comparison.changes:  # the Brier score: only when both sides forecast P(wet)
            continue
        c = comparison.changes[key]
        lines.append(
            f"| {label} | {c.base:.3f} | {c.pr:.3f} | {c.change:+.4f} | {interval(c)} | {WORDS[c.verdict]} |"
        )
    return [*lines, ""]


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


def render(base: str, sections: list[DatasetSection], params_diff: dict[str, Any]) -> str:
    """The report: every dataset's headline first (real first), then a section per dataset, then params."""
    lines = ["## commute-weather model report", ""]
    lines += [headline(s.changes, base, s.name, s.comparison, s.no_interval) for s in sections] + [""]
    for section in sections:
        lines += render_section(section)
    lines += ["### Params changed", ""]
    changed = params_diff.get("params.yaml", {})
    if changed:
        lines += ["| param | base | this change |", "|---|---|---|"]
        lines += [f"| `{k}` | {v.get('old')} | {v.get('new')} |" for k, v in sorted(changed.items())]
    else:
        lines.append("No params changed.")
    return "\n".join(lines) + "\n"


def render_section(section: DatasetSection) -> list[str]:
    changes, gate, validation = section.changes, section.gate, section.validation
    kind = "real record" if section.real else "synthetic sample: runs offline, proves nothing alone"
    lines = [f"## {section.name} ({kind})", ""]
    verdict = "APPROVED" if gate["approved"] else "NOT APPROVED"
    if section.served:
        packaged = "would be packaged" if gate["approved"] else "would **not** be packaged"
        lines += [f"Gate: **{verdict}**: this is the served dataset, so the model {packaged}.", ""]
    else:
        lines += [f"Gate: **{verdict}** (not the served dataset: informs, does not block packaging).", ""]
    lines += render_comparison(section.comparison, section.no_interval)
    lines += [
        "### Metrics (test period)",
        "",
        "| metric | base | this change | change | |",
        "|---|---|---|---|---|",
    ]
    lines += [_change_row(changes[name]) for name in SHOWN if name in changes]
    slices = sorted(n for n in changes if n.startswith("slices.") and n.endswith("model_rmse"))
    if slices:
        lines += ["", "<details><summary>RMSE by slice</summary>", ""]
        lines += ["| slice | base | this change | change | |", "|---|---|---|---|---|"]
        lines += [_change_row(changes[name]) for name in slices] + ["", "</details>"]
    lines += ["", "### Gate", "", "| check | value | threshold | verdict |", "|---|---|---|---|"]
    for check in gate["checks"]:
        if check.get("skipped"):
            lines.append(f"| {check['check']} | — | — | skipped: {check['reason']} |")
        else:
            bound = f"{check['op']} {check['threshold']:g}"
            verdict = describe_verdict(check, fail="**FAIL**")
            lines.append(f"| {check['check']} | {describe_value(check)} | {bound} | {verdict} |")
    lines += render_selection(section.selection)
    failing = [c for c in validation.get("checks", []) if not c["passed"]]
    lines += ["", "### Data validation", "",
              f"{validation.get('status', 'missing')}: {validation.get('rows', 0):,} rows, "
              f"{len(validation.get('checks', []))} checks, {len(failing)} failing."]  # fmt: skip
    lines += [f"- `{c['column']}` {c['check']}: {c['failures']:,} rows" for c in failing]
    if section.images:
        lines += ["", "### Plots", ""] + [f"![{p.stem}]({p.name})" for p in section.images]
    return [*lines, ""]


def render_selection(selection: dict[str, Any] | None) -> list[str]:
    """This change's model selection: every candidate on the validation period, with the intervals."""
    if not selection:
        return []
    validation = selection["validation"]
    lines = [
        "",
        f"### Model selection (validation {validation['first_day']} to {validation['last_day']}, "
        f"{validation['rows']:,} windows, persistence RMSE {validation['persistence_rmse']:.3f})",
        "",
        f"| {' | '.join(SELECTION_COLUMNS)} |",
        "|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(row)} |" for row in selection_rows(selection)]
    return [*lines, "", selection_caption(selection)]


def render_plots(plots_diff: dict[str, Any], plots_dir: Path, out_dir: Path) -> list[Path]:
    """PNG images of the dataset's plots as dvc.yaml declares them, base and this change drawn together:
    the Vega-Lite specs of `dvc plots diff --json`, rendered with vl-convert (no hand-drawn copies)."""
    import vl_convert  # noqa: PLC0415  (heavy; only the report draws)

    images = []
    for path, entries in sorted(plots_diff.get("data", {}).items()):
        if Path(path).parent != plots_dir:
            continue
        spec = next((e["content"] for e in entries if e.get("type") == "vega"), None)
        if spec is None:
            continue
        target = out_dir / f"{plots_dir.parent.name}_{Path(path).stem}.png"
        io.write_bytes(target, vl_convert.vegalite_to_png(spec, scale=1))
        images.append(target)
    return images


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
            reference = reference_at_revision(args.base_rev, name, params.compare)
            sections.append(
                DatasetSection(
                    name=name,
                    real=params.datasets[name].real,
                    served=name == params.serve.dataset,
                    changes=metric_changes(diff, paths.metrics, params.train.forecast.interval),
                    gate=evaluate_gate(
                        io.read_json(paths.metrics),
                        params.gate,
                        reference.metrics,
                        reference.rmse_change,
                        no_interval=reference.no_interval,
                    ),
                    validation=io.read_json(paths.validation) if paths.validation.exists() else {},
                    images=render_plots(plots, paths.plots, args.out.parent),
                    comparison=reference.comparison,
                    no_interval=reference.no_interval,
                    selection=io.read_json(paths.selection) if paths.selection.exists() else None,
                )
            )
        io.write_text(args.out, render(args.base_rev, sections, dvc_json("params", "diff", args.base_rev)))
        first = sections[0]
        line = headline(first.changes, args.base_rev, first.name, first.comparison, first.no_interval)
        console.print(f"report: {args.out} ({line})")

    run("report", body)


if __name__ == "__main__":
    main()
