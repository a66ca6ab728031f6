"""The real pipeline, run with real `dvc repro` in a temporary copy of the repository, offline."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import SMALL, commit, merge, run

pytestmark = pytest.mark.slow
UP_TO_DATE = "Data and pipelines are up to date"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_default_pipeline_runs_is_approved_and_then_clean(repo_copy: Callable[..., Path]) -> None:
    repo = repo_copy()
    run(repo, "dvc", "repro")
    # Reproducible on any machine: the rerun gives exactly the committed lock (so every output hash),
    # metrics, plots and reports, and leaves the tree clean (which packaging requires).
    assert run(repo, "git", "status", "--porcelain").stdout == ""
    metrics = json.loads((repo / "metrics/metrics.json").read_text())
    gate = json.loads((repo / "metrics/gate.json").read_text())
    assert gate["approved"], gate
    assert metrics["model"]["rmse"] < metrics["persistence"]["rmse"] < metrics["climatology"]["rmse"]
    assert json.loads((repo / "reports/validation.json").read_text())["status"] == "passed"
    for output in ("models/model.pkl", "models/metadata.json", "data/predictions/test.parquet",
                   "reports/plots/predictions.csv", "reports/plots/feature_importance.csv"):  # fmt: skip
        assert (repo / output).stat().st_size > 0, output
    # The committed dvc.lock describes exactly this run: nothing to reproduce, status clean.
    assert UP_TO_DATE in run(repo, "dvc", "repro").stdout
    assert UP_TO_DATE in run(repo, "dvc", "status").stdout


def test_two_clean_runs_give_identical_model_and_metrics(repo_copy: Callable[..., Path]) -> None:
    repo = repo_copy(SMALL)
    run(repo, "dvc", "repro")
    first = {
        p: digest(repo / p)
        for p in ("models/model.pkl", "metrics/metrics.json", "data/features/dataset.parquet")
    }
    run(repo, "dvc", "repro", "--force")
    assert {p: digest(repo / p) for p in first} == first


def test_experiment_reruns_only_downstream_stages_and_diffs_work(repo_copy: Callable[..., Path]) -> None:
    repo = repo_copy(SMALL)
    run(repo, "dvc", "repro")
    commit(repo, "baseline run")
    out = run(repo, "dvc", "exp", "run", "-S", "train.hist_gradient_boosting.learning_rate=0.2").stdout
    assert "Running stage 'train'" in out and "Running stage 'evaluate'" in out
    assert "Running stage 'ingest'" not in out and "Running stage 'featurize'" not in out
    run(repo, "dvc", "exp", "apply", run(repo, "dvc", "exp", "list", "--name-only").stdout.split()[-1])
    diff = json.loads(run(repo, "dvc", "metrics", "diff", "--json").stdout)
    assert "model.rmse" in diff["metrics/metrics.json"]
    params = json.loads(run(repo, "dvc", "params", "diff", "--json").stdout)
    assert params["params.yaml"]["train.hist_gradient_boosting.learning_rate"]["new"] == 0.2
    plots = json.loads(run(repo, "dvc", "plots", "diff", "--json").stdout)["data"]
    assert plots["reports/plots/predictions.csv"][0]["revisions"] == ["workspace", "HEAD"]


def test_gate_flips_with_a_readable_reason(repo_copy: Callable[..., Path]) -> None:
    repo = repo_copy(SMALL)
    run(repo, "dvc", "repro")
    assert run(repo, "python", "-m", "commute_weather.gate").returncode == 0
    strict = repo / "strict.yaml"
    params = (repo / "params.yaml").read_text().replace("rmse_max: 11.0", "rmse_max: 1.0")
    strict.write_text(params)
    result = run(repo, "python", "-m", "commute_weather.gate", "--params", str(strict), check=False)
    assert result.returncode == 1
    assert "NOT APPROVED" in result.stdout and "failed rmse_max" in result.stderr


def test_csv_source_runs_end_to_end_on_a_real_portal_export(
    repo_copy: Callable[..., Path], samples: Path
) -> None:
    csv = {
        "ingest": {"source": "csv", "stations": [131], "start_month": "2022-01", "end_month": "2022-12"},
        "split": {"test_days": 60, "validation_days": 60},
        "train": {"random_forest": {"n_estimators": 20}},
        "gate": {"min_train_rows": 300},
    }
    repo = repo_copy(merge(SMALL, csv))
    (repo / "data/external/kma_csv/OBS_ASOS_TIM_131_2022.csv").write_bytes(
        (samples / "OBS_ASOS_TIM_131_2022.csv").read_bytes()
    )
    run(repo, "dvc", "repro")
    metrics = json.loads((repo / "metrics/metrics.json").read_text())
    assert metrics["rows"]["test"] > 100
    assert "approved" in json.loads((repo / "metrics/gate.json").read_text())


def test_kma_source_without_key_fails_at_once_and_writes_nothing(repo_copy: Callable[..., Path]) -> None:
    repo = repo_copy({"ingest": {"source": "kma"}})
    result = run(repo, "dvc", "repro", "ingest", check=False, env={"KMA_AUTH_KEY": ""})
    assert result.returncode != 0
    assert "KMA_AUTH_KEY is not set" in result.stdout + result.stderr
    assert not (repo / "data/raw").exists() or not any((repo / "data/raw").rglob("*.txt"))
    assert not (repo / "data/interim/observations.parquet").exists()
