from __future__ import annotations

from pathlib import Path

import pytest

from commute_weather.forecast.compare import compare_frames, selection_intervals
from commute_weather.forecast.model import rmse
from commute_weather.reporting.pr_report import (
    MetricChange,
    headline,
    metric_changes,
    render_comparison,
    render_selection,
)
from tests.unit.test_compare import PARAMS, predictions_frame


@pytest.mark.parametrize(
    ("name", "old", "new", "verdict"),
    [("model.rmse", 9.0, 10.0, "worse"), ("model.rmse", 10.0, 9.0, "better"), ("model.mae", 5.0, 5.0, "same"),
     ("skill_vs_persistence", 0.2, 0.3, "better"), ("model.r2", 0.7, 0.6, "worse"),
     ("model.bias", -1.0, 0.5, "better"), ("model.bias", 0.5, -1.0, "worse"),
     ("model.rmse", None, 9.0, "new")],
)  # fmt: skip
def test_verdicts(name: str, old: float | None, new: float | None, verdict: str) -> None:
    assert MetricChange(name, old, new).verdict == verdict


@pytest.mark.parametrize(
    ("old", "new", "verdict"), [(0.72, 0.79, "better"), (0.80, 0.86, "worse"), (0.85, 0.76, "better")]
)
def test_interval_coverage_is_better_the_closer_it_is_to_the_nominal(
    old: float, new: float, verdict: str
) -> None:
    assert MetricChange("probabilistic.interval_coverage", old, new, 0.8).verdict == verdict
    assert MetricChange("probabilistic.interval_coverage", old, new).verdict == "changed"  # nominal unknown
    assert MetricChange("probabilistic.interval_mean_width", old, new, 0.8).verdict == "changed"


def test_headline_says_worse_first() -> None:
    changes = metric_changes(
        {"metrics/cheongju/metrics.json": {"model.rmse": {"old": 9.5, "new": 10.25, "diff": 0.75}}},
        Path("metrics/cheongju/metrics.json"),
        0.8,
    )
    assert headline(changes, "main", "cheongju") == (
        "**cheongju: this change WORSENS RMSE: 9.500 → 10.250 (+0.7500) vs `main`.**"
    )


def test_a_tiny_change_shows_as_a_non_zero_number() -> None:
    changes = metric_changes(
        {"metrics/sample/metrics.json": {"model.rmse": {"old": 18.7, "new": 18.7003}}},
        Path("metrics/sample/metrics.json"),
        0.8,
    )
    assert "+0.0003" in headline(changes, "main", "sample")


@pytest.mark.parametrize(
    ("shift", "word"),
    [(5.0, "WORSENS"), (0.0, "no detectable change")],
)
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


def test_without_an_interval_the_point_headline_stays_and_the_section_says_why() -> None:
    changes = metric_changes(
        {"metrics/cheongju/metrics.json": {"model.rmse": {"old": 9.5, "new": 10.25}}},
        Path("metrics/cheongju/metrics.json"),
        0.8,
    )
    reason = "the base's predictions are not in the DVC cache or remote"
    assert headline(changes, "main", "cheongju", None, reason) == (
        "**cheongju: this change WORSENS RMSE: 9.500 → 10.250 (+0.7500) vs `main`.** "
        "No interval (see its section)."
    )
    assert render_comparison(None, reason) == [f"No interval: {reason}", ""]


def test_comparison_table_rows() -> None:
    base = predictions_frame(days=200)
    lines = render_comparison(compare_frames(base, base.assign(model=base["model"] + 5), PARAMS), None)
    assert lines[0].startswith("### Is the change real? (400 test windows on 200 days, 7-day blocks")
    assert [line.split(" | ")[0] for line in lines[4:7]] == ["| RMSE", "| skill vs persistence", "| MAE"]
    assert lines[4].endswith("| WORSENS |")
    assert lines[5].endswith("| WORSENS |")  # skill falls


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
    (row,) = [line for line in lines if line.startswith("| ridge |")]
    assert f"{ridge['rmse_change']:+.3f} (95%: {ridge['low']:+.3f} to {ridge['high']:+.3f}): worsens |" in row
    skill = intervals["vs_persistence"]["ridge"]
    assert f"| {skill['skill']:+.3f} (95%: {skill['skill_low']:+.3f} to {skill['skill_high']:+.3f}) |" in row
    (default,) = [line for line in lines if line.startswith("| hist_gradient_boosting (chosen, default) |")]
    assert default.endswith("| - |")  # no interval of the default against itself
    assert "replaces the default only when its interval vs the default lies below zero" in lines[-1]
    assert render_selection(None) == []
