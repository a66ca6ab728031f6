"""Packaging's regression check against a reference revision: the interval rule of the gate CLI.

The reference is a tag on the small reproduced pipeline, so its test predictions are in the local DVC
cache. "A worse model" is that pipeline's own test predictions shifted up by SHIFT points, with metrics.json
recomputed from them and both recorded with `dvc commit` (the tree stays clean and `dvc status` up to date,
as packaging requires): a known, detectable RMSE increase without retraining. The other checks are relaxed
(a params file beside the repository) so that only the regression check can refuse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.e2e.conftest import commit, run

pytestmark = pytest.mark.slow
PREDICTIONS = "data/predictions/cheongju/test.parquet"
METRICS = "metrics/cheongju/metrics.json"
SHIFT = 5.0  # points added to every forecast: RMSE 10.4 -> 12.2 on the small pipeline's test period
WIDE = {"COLUMNS": "250"}  # the gate table on one line per check


def regression_row(stdout: str) -> str:
    (row,) = [line for line in stdout.splitlines() if "max_rmse_regression" in line]
    return row


def package(repo: Path, home: Path, reference: str) -> tuple[int, str, str]:
    relaxed = home.parent / "relaxed-params.yaml"
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["gate"] |= {"rmse_max": 100.0, "min_skill": -10.0}
    relaxed.write_text(yaml.safe_dump(params, sort_keys=False))
    result = run(
        repo, "python", "-m", "commute_weather.serving.packaging", "--params", str(relaxed),
        "--reference-rev", reference, "--model-only", check=False, env={**WIDE, "BENTOML_HOME": str(home)},
    )  # fmt: skip
    return result.returncode, result.stdout, " ".join(result.stderr.split())


def shift_forecasts(repo: Path, shift: float) -> float:
    """This change's model: the committed one's test forecasts plus `shift`; returns its RMSE."""
    frame = pd.read_parquet(repo / PREDICTIONS)
    frame["model"] = frame["model"] + shift
    frame.to_parquet(repo / PREDICTIONS)
    rmse = float(np.sqrt(((frame["model"] - frame["label"]) ** 2).mean()))
    metrics = json.loads((repo / METRICS).read_text())
    metrics["model"]["rmse"] = rmse
    (repo / METRICS).write_text(json.dumps(metrics, indent=2))
    run(repo, "dvc", "commit", "-f", "evaluate@cheongju")
    commit(repo, f"forecasts {shift:+g} points")
    return rmse


def test_packaging_refuses_only_a_detectable_regression(
    small_repo: Callable[..., Path], tmp_path: Path
) -> None:
    repo = small_repo()
    run(repo, "git", "tag", "approved")
    approved_rmse = json.loads((repo / METRICS).read_text())["model"]["rmse"]

    # The same model as the reference: identical predictions, an interval around zero, packaged.
    code, out, err = package(repo, tmp_path / "home", "approved")
    assert code == 0, err
    row = regression_row(out)
    found = re.search(r"\+0\.0000 \(95% interval ([+-][\d.]+) to ([+-][\d.]+)\)", row)
    assert found, row
    assert float(found[1]) <= 0 <= float(found[2])
    assert "pass: no detectable increase" in row
    assert "point increase" not in out + err

    # Forecasts SHIFT points higher: a detectable increase larger than allowed, refused.
    worse_rmse = shift_forecasts(repo, SHIFT)
    assert worse_rmse - approved_rmse > 0.25
    code, out, err = package(repo, tmp_path / "refused-home", "approved")
    assert code == 1, out
    assert "refusing to package a model the gate did not approve (failed: max_rmse_regression)" in err
    row = regression_row(out)
    found = re.search(r"\+([\d.]+) \(95% interval \+([\d.]+) to \+([\d.]+)\)", row)
    assert found, row
    assert float(found[1]) == pytest.approx(worse_rmse - approved_rmse, abs=1e-4)
    assert 0 < float(found[2]) <= float(found[1]) <= float(found[3])
    assert "FAIL: detectable increase larger than allowed" in row
    assert not (tmp_path / "refused-home" / "models").exists()

    # The reference's predictions unreadable (not in the cache, an empty remote): the point rule decides,
    # and packaging says so and why.
    approved_md5 = _lock_md5(repo, "approved", PREDICTIONS)
    (repo / ".dvc" / "cache" / "files" / "md5" / approved_md5[:2] / approved_md5[2:]).unlink()
    empty = tmp_path / "empty-remote"
    empty.mkdir()
    run(repo, "dvc", "remote", "modify", "--local", "storage", "url", str(empty))
    code, out, err = package(repo, tmp_path / "fallback-home", "approved")
    assert code == 1, out
    assert (
        "package: no interval for the regression check against `approved`, the point increase alone decides: "
        f"`approved`'s predictions `{PREDICTIONS}` are neither in the DVC cache nor on the remote" in err
    ), err
    row = regression_row(out)
    assert "95% interval" not in row
    assert "FAIL: point increase only (no predictions to compare: no interval)" in row


def _lock_md5(repo: Path, revision: str, path: str) -> str:
    lock = yaml.safe_load(run(repo, "git", "show", f"{revision}:dvc.lock").stdout)
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] == path:
                return str(out["md5"])
    raise AssertionError(f"{path} not in dvc.lock at {revision}")
