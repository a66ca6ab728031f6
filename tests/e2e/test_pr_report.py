"""The PR report on a real branch: a change that worsens RMSE says so first, with the gate's verdict."""

from __future__ import annotations

import json
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
    run(repo, "commute-weather", "report", "--base-rev", "main", "--out", "reports/pr/report.md")
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
    # Every plot dvc.yaml declares, rendered from `dvc plots diff`: base and this change in one image.
    for plot in ("predictions", "residuals_by_month", "rmse_by_slice", "feature_importance"):
        image = f"cheongju_{plot}.png"
        assert f"]({image})" in report
        assert (repo / "reports/pr" / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plots = json.loads(run(repo, "dvc", "plots", "diff", "main", "--json").stdout)["data"]
    assert plots["reports/cheongju/plots/rmse_by_slice.csv"][0]["revisions"] == ["workspace", "main"]
