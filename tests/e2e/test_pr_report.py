"""The PR report on a real branch: a change that worsens RMSE says so first, with the gate's verdict."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import run

pytestmark = pytest.mark.slow


def test_report_for_a_branch_that_worsens_rmse(small_repo: Callable[..., Path]) -> None:
    repo = small_repo()  # main: the approved model, reproduced and committed
    run(repo, "git", "checkout", "-q", "-b", "weaker-model")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["hist_gradient_boosting"]["max_iter"] = 3  # barely fitted: clearly worse
    params["train"]["selection"]["candidates"] = ["hist_gradient_boosting"]  # and nothing to fall back on
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(repo, "dvc", "repro")
    run(repo, "python", "-m", "commute_weather.report", "--base-rev", "main", "--out", "reports/pr/report.md")
    report = (repo / "reports/pr/report.md").read_text()
    lines = report.splitlines()
    # main was reproduced in this repository, so its predictions are in the local DVC cache: an interval.
    first = re.fullmatch(
        r"\*\*cheongju: RMSE [\d.]+ → [\d.]+ \(\+[\d.]+, 95% interval ([+-][\d.e-]+) to ([+-][\d.e-]+)\): "
        r"WORSENS\*\* \(vs `main`\)",
        lines[2],
    )
    assert first, lines[2]
    assert 0 < float(first[1]) < float(first[2])  # the whole interval above zero
    assert "### Is the change real? (" in report
    assert re.search(
        r"\| RMSE \| [\d.]+ \| [\d.]+ \| \+[\d.]+ \| 95% interval \+[\d.]+ to \+[\d.]+ \| WORSENS \|", report
    )
    assert "No interval" not in report
    assert "## cheongju (real record)" in report
    assert "NOT APPROVED**: this is the served dataset, so the model would **not** be packaged" in report
    assert "| `train.hist_gradient_boosting.max_iter` | 100 | 3 |" in report
    # compared with main's approved metrics, and refused for a detectable increase beyond the allowed one
    assert re.search(
        r"\| max_rmse_regression \| \+[\d.]+ \(95% interval \+[\d.]+ to \+[\d.]+\) \| <= 0.25 \| "
        r"\*\*FAIL\*\*: detectable increase larger than allowed \|",
        report,
    )
    assert "❌ worse" in report
    for image in ("cheongju_predicted_vs_actual.png", "cheongju_rmse_by_slice.png",
                  "cheongju_feature_importance.png"):  # fmt: skip
        assert f"]({image})" in report
        assert (repo / "reports/pr" / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
