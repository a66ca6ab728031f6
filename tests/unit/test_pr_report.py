from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from commute_weather.forecast.compare import (
    DIFFERENT_WINDOWS,
    Change,
    Comparison,
    compare_frames,
    selection_intervals,
)
from commute_weather.forecast.model import rmse
from commute_weather.reporting.pr_report import (
    COMMENT_LIMIT,
    DatasetSection,
    MetricChange,
    headline,
    identical_revisions,
    mark,
    metric_changes,
    posted_length,
    render,
    render_selection,
    row,
    slice_of,
    station_lines,
)
from tests.conftest import REPO
from tests.unit.test_compare import PARAMS, predictions_frame

APPROVED = {"approved": True, "checks": [{"check": "rmse_max", "value": 9.1, "op": "<=", "threshold": 11.0,
                                          "passed": True}]}  # fmt: skip
NINE = (108, 112, 119, 131, 133, 143, 156, 159, 184)


def change(value: float, low: float, high: float, *, higher_is_better: bool = False, **kw: Any) -> Change:
    return Change("rmse", 9.112, 9.112 + value, value, low, high, 0.95, higher_is_better, **kw)


# ---- the one mark ----


def test_a_small_change_whose_interval_spans_zero_is_not_marked_worse() -> None:
    """The issue's row: RMSE +0.0076 with an interval from -0.014 to +0.030 is noise, not "❌ worse"."""
    noise = change(0.0076, -0.014, 0.030)
    assert mark(noise) == "≈ within noise"
    line = row("`model.rmse`", 9.112, 9.1196, noise)
    assert "+0.0076" in line and "95% interval -0.014 to +0.030" in line
    assert line.endswith("| ≈ within noise |")
    assert "❌" not in line and "✅" not in line


@pytest.mark.parametrize(
    ("c", "expected"),
    [(change(0.5, 0.1, 0.9), "❌ worse"), (change(-0.5, -0.9, -0.1), "✅ better"),
     (change(0.02, 0.01, 0.03, higher_is_better=True), "✅ better"),  # skill up, detectably
     (change(-0.0007, -0.002, 0.001, higher_is_better=True), "≈ within noise"),
     (change(0.0, 0.0, 0.3), "≈ within noise"),  # an interval touching zero is not detectable
     (change(1.0, 0.5, 1.5, neutral=True), "changed"),  # the interval's width: no better side
     (change(0.0, 0.0, 0.0), "= same")],
)  # fmt: skip
def test_marks_follow_the_interval(c: Change, expected: str) -> None:
    assert mark(c) == expected


def test_an_interval_of_another_quantity_keeps_the_table_s_columns() -> None:
    """The bias row's interval is of abs(bias): written without a pipe, which would split the cell."""
    line = row("`model.bias`", 0.332, 0.329, change(-0.0025, -0.019, 0.017), "of abs(bias)")
    assert line.count("|") == 7


def test_without_an_interval_no_row_is_marked_better_or_worse() -> None:
    assert mark(None, 0.0076) == "no interval"
    assert mark(None, 0.0) == "= same"
    assert "no interval" in row("`probabilistic.brier_skill_vs_persistence`", 0.3, 0.31, None)


def section(comparison: Comparison | None, changes: dict[str, MetricChange], **kw: Any) -> DatasetSection:
    options: dict[str, Any] = {
        "name": "cheongju", "real": True, "served": True, "changes": changes, "gate": APPROVED,
        "validation": {}, "images": [], "comparison": comparison,
    }  # fmt: skip
    return DatasetSection(**(options | kw))


def changes_of(comparison: Comparison) -> dict[str, MetricChange]:
    """The metrics a `dvc metrics diff` would show for these predictions."""
    names = {"rmse": "model.rmse", "mae": "model.mae", "skill_vs_persistence": "skill_vs_persistence",
             "r2": "model.r2", "persistence_rmse": "persistence.rmse"}  # fmt: skip
    out = {
        names[k]: MetricChange(names[k], c.base, c.pr) for k, c in comparison.changes.items() if k in names
    }
    for kind, values in comparison.slices.items():
        for value, c in values.items():
            name = f"slices.{kind}.{value}.model_rmse"
            out[name] = MetricChange(name, c.base, c.pr)
    return out


def test_a_change_within_noise_is_marked_better_or_worse_nowhere() -> None:
    """A change of a few hundredths of a point per window: the verdict says "no detectable change" and no
    table (metrics, slices) contradicts it with a mark."""
    base = predictions_frame(days=365, stations=(108, 112))
    rng = np.random.default_rng(7)
    pr = base.assign(model=base["model"] + rng.normal(0, 0.05, len(base)))
    comparison = compare_frames(base, pr, PARAMS)
    assert comparison.changes["rmse"].verdict == "no detectable change"
    report = render("main", [section(comparison, changes_of(comparison))], {})
    assert "no detectable change" in report
    assert "❌ worse" not in report and "✅ better" not in report
    assert "≈ within noise" in report


def test_a_detectable_change_is_marked_where_its_interval_excludes_zero() -> None:
    base = predictions_frame(days=365)
    comparison = compare_frames(base, base.assign(model=base["model"] + 5), PARAMS)
    report = render("main", [section(comparison, changes_of(comparison))], {})
    (rmse_row,) = [line for line in report.splitlines() if line.startswith("| `model.rmse` |")]
    assert rmse_row.endswith("| ❌ worse |")
    (persistence_row,) = [line for line in report.splitlines() if line.startswith("| `persistence.rmse` |")]
    assert persistence_row.endswith("| = same |")  # the baseline did not move


# ---- per station ----


def network_frame(days: int = 365) -> pd.DataFrame:
    return predictions_frame(days=days, stations=NINE, seed=4)


def test_one_line_per_station_that_changed_detectably() -> None:
    base = network_frame()
    pr = base.assign(model=base["model"] + np.where(base["station_id"] == 143, 6.0, 0.0))
    comparison = compare_frames(base, pr, PARAMS)
    lines = station_lines([section(comparison, {}, name="network")])
    assert lines[0].startswith("Stations whose RMSE changed detectably (each at 95%, so about 1 in 20")
    stations = [line for line in lines if line.startswith("- ")]
    assert len(stations) == 1
    assert stations[0].startswith("- network, station 143 Daegu: RMSE ")
    assert stations[0].endswith("): ❌ worse")
    assert station_lines([section(compare_frames(base, base, PARAMS), {}, name="network")]) == [
        "No station's RMSE changed detectably (stations compared: network: 9).",
        "",
    ]
    # a one-station dataset has no per-station lines: its station is the dataset
    single = predictions_frame(days=100)
    assert station_lines([section(compare_frames(single, single, PARAMS), {})]) == []


def test_per_station_metrics_are_shown_with_the_comparison_s_intervals() -> None:
    base = network_frame(days=200)
    comparison = compare_frames(base, base.assign(model=base["model"] + 0.01), PARAMS)
    station = comparison.slices["station"]["108"]
    changes = {"by_station.108.model.rmse": MetricChange("by_station.108.model.rmse", 12.5, 12.6)}
    report = render("main", [section(comparison, changes, name="network")], {})
    (line,) = [line for line in report.splitlines() if line.startswith("| 108 Seoul |")]
    assert line.startswith("| 108 Seoul | 12.500 | 12.600 | +0.1000 | 95% interval")  # the metrics' values
    assert f"{station.low:+.3f} to {station.high:+.3f}" in line
    (other,) = [line for line in report.splitlines() if line.startswith("| 112 Incheon |")]
    assert other.startswith(f"| 112 Incheon | {comparison.slices['station']['112'].base:.3f} |")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("slices.season.winter.model_rmse", ("season", "winter")), ("slices.season.winter.rows", None),
     ("by_station.108.model.rmse", ("station", "108")), ("by_station.108.model_rmse", ("station", "108")),
     ("by_station.108.persistence.rmse", None), ("model.rmse", None)],
)  # fmt: skip
def test_slice_names(name: str, expected: tuple[str, str] | None) -> None:
    assert slice_of(name) == expected


# ---- short by default, and under GitHub's limit ----


def selection_record(frame: pd.DataFrame) -> dict[str, Any]:
    candidates = ("hist_gradient_boosting", "random_forest", "ridge", "hurdle")
    scores = {name: frame["model"] + i for i, name in enumerate(candidates)}
    intervals = selection_intervals(
        frame["date"], frame["label"], scores, frame["persistence"], "hist_gradient_boosting", PARAMS
    )
    return {
        "chosen": "hurdle", "default": "hist_gradient_boosting", "reason": "hurdle is 0.3 better",
        "validation": {"first_day": "2024-01-01", "last_day": "2024-06-28", "rows": len(frame),
                       "persistence_rmse": rmse(frame["label"], frame["persistence"]),
                       "candidates": {n: {"rmse": rmse(frame["label"], s), "skill_vs_persistence": 0.2}
                                      for n, s in scores.items()},
                       "intervals": intervals},
    }  # fmt: skip


def nine_station_sections() -> list[DatasetSection]:
    base = network_frame()
    pr = base.assign(model=base["model"] + np.where(base["station_id"].isin([143, 156]), 4.0, 0.0))
    comparison = compare_frames(base, pr, PARAMS)
    changes = changes_of(comparison)
    for station, c in comparison.slices["station"].items():  # a per-station section, as the network adds
        for key in ("model.rmse", "model.mae", "persistence.rmse", "skill_vs_persistence", "rows.test"):
            name = f"by_station.{station}.{key}"
            changes[name] = MetricChange(name, c.base, c.pr)
    validation = {"status": "passed", "rows": 500_000, "checks": [{"passed": True}] * 40}
    plots = ("predictions", "residuals_by_month", "rmse_by_slice", "feature_importance", "reliability")
    return [
        section(comparison, changes, name=name, served=name == "cheongju", validation=validation,
                images=[Path(f"reports/pr/{name}_{p}.png") for p in plots],
                selection=selection_record(base.iloc[:720]))
        for name in ("cheongju", "seoul", "network", "sample")
    ]  # fmt: skip


def test_the_first_screen_holds_the_verdicts_the_gate_and_the_stations_and_the_rest_is_collapsed() -> None:
    report = render("main", nine_station_sections(), {"params.yaml": {"train.hurdle.forest_trees": {
        "old": 40, "new": 60}}})  # fmt: skip
    first, _, rest = report.partition("<details>")
    lines = first.splitlines()
    assert [line.split(":")[0] for line in lines[2:6]] == ["**cheongju", "**seoul", "**network", "**sample"]
    assert "Gate of the served dataset, cheongju: **APPROVED**" in first
    assert re.search(r"^- network, station 143 Daegu: RMSE .*❌ worse$", first, re.M)
    assert "Params changed: `train.hurdle.forest_trees` 40 → 60." in first
    assert "| metric |" not in first  # every table is in a collapsed section
    assert len(lines) <= 30
    assert rest.count("</details>") == 4


def test_the_comment_stays_under_github_s_limit_with_nine_stations() -> None:
    sections = nine_station_sections()
    report = render("main", sections, {})
    images = sum(len(s.images) for s in sections)
    assert posted_length(report, images) < COMMENT_LIMIT
    assert "details left out" not in report  # nine stations fit whole
    assert report.count("| 184 |") + report.count("| 184 ") >= 1


def test_a_report_too_long_for_a_comment_leaves_out_the_last_datasets_details() -> None:
    sections = nine_station_sections() * 6
    report = render("main", sections, {})
    kept = report.count("</details>")
    assert 0 < kept < len(sections)
    assert posted_length(report, sum(len(s.images) for s in sections[:kept])) < COMMENT_LIMIT
    assert report.count("details left out to keep the comment under GitHub's 65,536 characters") == (
        len(sections) - kept
    )
    # every dataset's verdict is still on the first screen
    assert sum(line.startswith("**") for line in report.splitlines()) == len(sections)


# ---- headline ----


def test_headline_says_worse_first() -> None:
    changes = metric_changes(
        {"metrics/cheongju/metrics.json": {"model.rmse": {"old": 9.5, "new": 10.25, "diff": 0.75}}},
        Path("metrics/cheongju/metrics.json"),
    )
    assert headline(changes, "main", "cheongju") == (
        "**cheongju: this change WORSENS RMSE: 9.500 → 10.250 (+0.7500) vs `main`.**"
    )


def test_a_tiny_change_shows_as_a_non_zero_number() -> None:
    changes = metric_changes(
        {"metrics/sample/metrics.json": {"model.rmse": {"old": 18.7, "new": 18.7003}}},
        Path("metrics/sample/metrics.json"),
    )
    assert "+0.0003" in headline(changes, "main", "sample")


@pytest.mark.parametrize(("shift", "word"), [(5.0, "WORSENS"), (0.0, "no detectable change")])
def test_headline_verdict_comes_from_the_interval(shift: float, word: str) -> None:
    base = predictions_frame(days=200)
    comparison = compare_frames(base, base.assign(model=base["model"] + shift), PARAMS)
    line = headline({}, "main", "cheongju", comparison)
    rmse_change = comparison.changes["rmse"]
    assert line == (
        f"**cheongju: RMSE {rmse_change.base:.3f} → {rmse_change.pr:.3f} ({rmse_change.change:+.4f}, "
        f"95% interval {rmse_change.low:+.3f} to {rmse_change.high:+.3f}): {word}** (vs `main`)"
    )
    if shift:
        assert rmse_change.low > 0


def test_headline_improves_when_the_interval_is_below_zero() -> None:
    base = predictions_frame(days=200)
    better = base.assign(model=base["label"] + 0.5 * (base["model"] - base["label"]))
    line = headline({}, "main", "cheongju", compare_frames(base, better, PARAMS))
    assert line.endswith("): improves** (vs `main`)")


def test_two_rmses_of_different_windows_get_no_verdict() -> None:
    changes = metric_changes(
        {"metrics/network/metrics.json": {"model.rmse": {"old": 8.571, "new": 8.636}}},
        Path("metrics/network/metrics.json"),
    )
    reason = f"{DIFFERENT_WINDOWS}: base 6393, PR 7123, common 6393, only in base 0, only in PR 730"
    line = headline(changes, "main", "network", None, reason)
    assert line.startswith("**network: RMSE 8.571 → 8.636 on other test windows than `main`'s")
    assert "not comparable, no verdict" in line and "WORSENS" not in line


def test_without_an_interval_the_point_headline_stays_and_the_section_says_why() -> None:
    changes = metric_changes(
        {"metrics/cheongju/metrics.json": {"model.rmse": {"old": 9.5, "new": 10.25}}},
        Path("metrics/cheongju/metrics.json"),
    )
    reason = "the base's predictions are not in the DVC cache or remote"
    assert headline(changes, "main", "cheongju", None, reason) == (
        "**cheongju: this change WORSENS RMSE: 9.500 → 10.250 (+0.7500) vs `main`.** "
        "No interval (see its section)."
    )
    report = render("main", [section(None, changes, no_interval=reason)], {})
    assert f"No interval, so no marks: {reason}" in report
    assert "| `model.rmse` | 9.500 | 10.250 | +0.7500 | — | no interval |" in report


def test_the_selection_section_shows_each_candidate_with_its_intervals() -> None:
    frame = predictions_frame(days=180)
    scores = {"hist_gradient_boosting": frame["model"], "ridge": frame["model"] + 5}
    intervals = selection_intervals(
        frame["date"], frame["label"], scores, frame["persistence"], "hist_gradient_boosting", PARAMS
    )
    candidates = {
        name: {"rmse": rmse(frame["label"], s), "skill_vs_persistence": 0.0} for name, s in scores.items()
    }
    selection = {
        "chosen": "hist_gradient_boosting", "default": "hist_gradient_boosting",
        "reason": "the default hist_gradient_boosting has the lowest validation RMSE",
        "validation": {"first_day": "2024-01-01", "last_day": "2024-06-28", "rows": len(frame),
                       "persistence_rmse": rmse(frame["label"], frame["persistence"]),
                       "candidates": candidates, "intervals": intervals},
    }  # fmt: skip
    lines = render_selection(selection)
    ridge = intervals["vs_default"]["ridge"]
    (row_,) = [line for line in lines if line.startswith("| ridge |")]
    assert (
        f"{ridge['rmse_change']:+.3f} (95%: {ridge['low']:+.3f} to {ridge['high']:+.3f}): worsens |" in row_
    )
    skill = intervals["vs_persistence"]["ridge"]
    assert f"| {skill['skill']:+.3f} (95%: {skill['skill_low']:+.3f} to {skill['skill_high']:+.3f}) |" in row_
    (default,) = [line for line in lines if line.startswith("| hist_gradient_boosting (chosen, default) |")]
    assert default.endswith("| - |")  # no interval of the default against itself
    assert "replaces the default only when its interval vs the default lies below zero" in lines[-2]
    assert render_selection(None) == []


# ---- plots ----


def reliability_values(shift: float = 0.0) -> list[dict[str, Any]]:
    rows = [{"bin": b, "predicted": b / 10 + 0.05, "observed": min(1.0, b / 10 + 0.05 + shift),
             "count": 300 // (b + 1)} for b in range(10)]  # fmt: skip
    return [{**r, "rev": rev} for rev in ("main", "workspace") for r in rows]


def test_identical_revisions_are_recognised() -> None:
    same = {"data": {"values": reliability_values()}}
    assert identical_revisions(same)
    moved = reliability_values()
    moved[-1] = {**moved[-1], "observed": 0.1}
    assert not identical_revisions({"data": {"values": moved}})


def test_the_reliability_template_draws_the_diagonal_the_counts_and_both_revisions() -> None:
    """.dvc/plots/reliability.json as `dvc plots diff` fills it, rendered by vl-convert like the report."""
    vl_convert = pytest.importorskip("vl_convert")
    template = (REPO / ".dvc/plots/reliability.json").read_text()
    filled = (
        template.replace('"<DVC_METRIC_DATA>"', json.dumps(reliability_values(0.1)))
        .replace("<DVC_METRIC_X>", "predicted")
        .replace("<DVC_METRIC_Y>", "observed")
        .replace("<DVC_METRIC_TITLE>", "reliability")
    )
    svg = vl_convert.vegalite_to_svg(json.loads(filled))
    assert "perfect calibration" in svg
    assert "test windows" in svg  # the size legend and the histogram's axis
    assert "main" in svg and "workspace" in svg
