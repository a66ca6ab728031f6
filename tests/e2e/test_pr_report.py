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
    # Every metric row carries its own interval; RMSE's excludes zero, so it, and only such a row, is marked.
    rmse_row = re.search(
        r"^\| `model.rmse` \| [\d.]+ \| [\d.]+ \| \+[\d.]+ \| 95% interval \+[\d.]+ to \+[\d.]+ "
        r"\| ❌ worse \|$",
        report,
        re.M,
    )
    assert rmse_row, report
    assert "| `persistence.rmse` | " in report and "No interval" not in report
    for line in report.splitlines():
        if line.endswith(("| ❌ worse |", "| ✅ better |")):
            low, high = map(float, re.findall(r"interval ([+-][\d.e-]+) to ([+-][\d.e-]+)", line)[0])
            assert low > 0 or high < 0, line  # a mark only where the interval excludes zero
    # The first screen: the verdict, the served gate, the params; every table in a collapsed section.
    first_screen = report.partition("<details>")[0]
    assert re.search(
        r"^Gate of the served dataset, cheongju: \*\*NOT APPROVED\*\* "
        r"\(failed: [a-z_, ]*max_rmse_regression\): the model would \*\*not\*\* be packaged\.$",
        first_screen,
        re.M,
    ), first_screen
    assert "`train.hist_gradient_boosting.max_iter` 100 → 3" in first_screen
    assert "| metric |" not in first_screen
    assert "<summary><b>cheongju</b> (real record, served): gate NOT APPROVED" in report
    # compared with main's approved metrics, and refused for a detectable increase beyond the allowed one
    assert re.search(
        r"\| max_rmse_regression \| \+[\d.]+ \(95% interval \+[\d.]+ to \+[\d.]+\) \| <= 0.25 \| "
        r"\*\*FAIL\*\*: detectable increase larger than allowed \|",
        report,
    )
    # Every plot dvc.yaml declares, rendered from `dvc plots diff`: base and this change in one image.
    for plot in ("predictions", "residuals_by_month", "rmse_by_slice", "feature_importance", "reliability"):
        image = f"cheongju_{plot}.png"
        assert f"]({image})" in report
        assert (repo / "reports/pr" / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plots = json.loads(run(repo, "dvc", "plots", "diff", "main", "--json").stdout)["data"]
    assert plots["reports/cheongju/plots/rmse_by_slice.csv"][0]["revisions"] == ["workspace", "main"]
