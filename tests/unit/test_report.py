from __future__ import annotations

from pathlib import Path

import pytest

from commute_weather.report import MetricChange, headline, metric_changes


@pytest.mark.parametrize(
    ("name", "old", "new", "verdict"),
    [("model.rmse", 9.0, 10.0, "worse"), ("model.rmse", 10.0, 9.0, "better"), ("model.mae", 5.0, 5.0, "same"),
     ("skill_vs_persistence", 0.2, 0.3, "better"), ("model.r2", 0.7, 0.6, "worse"),
     ("model.bias", -1.0, 0.5, "better"), ("model.bias", 0.5, -1.0, "worse"),
     ("model.rmse", None, 9.0, "new")],
)  # fmt: skip
def test_verdicts(name: str, old: float | None, new: float | None, verdict: str) -> None:
    assert MetricChange(name, old, new).verdict == verdict


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
