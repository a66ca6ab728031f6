"""The real pipeline, run with real `dvc repro` in a temporary copy of the repository, offline."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from commute_weather.paths import DatasetPaths
from tests.e2e.conftest import run

pytestmark = pytest.mark.slow
UP_TO_DATE = "Data and pipelines are up to date"
REAL, SAMPLE = DatasetPaths("cheongju"), DatasetPaths("sample")
# The real record's skill over persistence that the current model keeps on its test year. A change that
# loses it fails here before review (the gate's own min_skill is lower: validation noise).
REAL_SKILL_FLOOR = 0.14


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read(repo: Path, path: Path) -> Any:
    return json.loads((repo / path).read_text())


def test_default_pipeline_reproduces_the_committed_figures(repo_copy: Callable[..., Path]) -> None:
    repo = repo_copy()
    run(repo, "dvc", "repro")
    # Reproducible on any machine: the rerun gives exactly the committed lock (so every output hash),
    # metrics, plots and reports, and leaves the tree clean (which packaging requires).
    assert run(repo, "git", "status", "--porcelain").stdout == ""
    real, sample = read(repo, REAL.metrics), read(repo, SAMPLE.metrics)
    # The real record decides: its gate approves and the model keeps its skill over persistence.
    assert read(repo, REAL.gate)["approved"], read(repo, REAL.gate)
    assert real["skill_vs_persistence"] >= REAL_SKILL_FLOOR
    assert real["model"]["rmse"] < real["persistence"]["rmse"] < real["climatology"]["rmse"]
    # The sample must not flatter the model: its skill may be lower than the real record's, not higher by
    # more than 0.05, so a generator that drifts easier fails here.
    assert sample["skill_vs_persistence"] <= real["skill_vs_persistence"] + 0.05, (sample, real)
    for paths in (REAL, SAMPLE):
        assert read(repo, paths.validation)["status"] == "passed"
        for output in (paths.model, paths.metadata, paths.predictions, paths.plots / "predictions.csv"):
            assert (repo / output).stat().st_size > 0, output
    ingest = read(repo, REAL.ingest_stats)
    assert ingest["duplicate_hours_collapsed"] == 7320  # the overlapping exports, merged
    assert ingest["missing_hours"] == 24  # between the 2021 and 2022 exports: reported, not filled
    # The committed dvc.lock describes exactly this run: nothing to reproduce, status clean.
    assert UP_TO_DATE in run(repo, "dvc", "repro").stdout
    assert UP_TO_DATE in run(repo, "dvc", "status").stdout


def test_two_clean_runs_give_identical_model_and_metrics(small_repo: Callable[..., Path]) -> None:
    repo = small_repo()
    outputs = (REAL.model, REAL.metrics, Path("data/features/cheongju/dataset.parquet"))
    first = {p: digest(repo / p) for p in outputs}
    run(repo, "dvc", "repro", "--force")
    assert {p: digest(repo / p) for p in first} == first


def test_experiment_reruns_only_downstream_stages_and_diffs_work(small_repo: Callable[..., Path]) -> None:
    repo = small_repo()
    out = run(repo, "dvc", "exp", "run", "-S", "train.hist_gradient_boosting.learning_rate=0.2").stdout
    assert "Running stage 'train@cheongju'" in out and "Running stage 'evaluate@cheongju'" in out
    assert "Running stage 'ingest@cheongju'" not in out and "Running stage 'featurize@cheongju'" not in out
    run(repo, "dvc", "exp", "apply", run(repo, "dvc", "exp", "list", "--name-only").stdout.split()[-1])
    diff = json.loads(run(repo, "dvc", "metrics", "diff", "--json").stdout)
    assert "model.rmse" in diff[REAL.metrics.as_posix()]
    params = json.loads(run(repo, "dvc", "params", "diff", "--json").stdout)
    assert params["params.yaml"]["train.hist_gradient_boosting.learning_rate"]["new"] == 0.2
    plots = json.loads(run(repo, "dvc", "plots", "diff", "--json").stdout)["data"]
    assert plots[(REAL.plots / "predictions.csv").as_posix()][0]["revisions"] == ["workspace", "HEAD"]


def test_gate_flips_with_a_readable_reason(small_repo: Callable[..., Path]) -> None:
    repo = small_repo()
    assert run(repo, "python", "-m", "commute_weather.forecast.gate").returncode == 0
    strict = repo / "strict.yaml"
    params = (repo / "params.yaml").read_text().replace("rmse_max: 11.0", "rmse_max: 1.0")
    strict.write_text(params)
    result = run(repo, "python", "-m", "commute_weather.forecast.gate", "--params", str(strict), check=False)
    assert result.returncode == 1
    assert "NOT APPROVED" in result.stdout and "failed rmse_max" in result.stderr


def test_a_second_dataset_is_configuration_only(small_repo: Callable[..., Path]) -> None:
    """A user's own portal exports: a folder and an entry in params.yaml, nothing else."""
    mine = {"source": "csv", "real": True, "stations": [131], "start_month": "2021-01",
            "end_month": "2022-12", "input": "data/external/mine"}  # fmt: skip
    repo = small_repo({"datasets": {"cheongju": {}, "mine": mine}})
    (repo / "data/external/mine").mkdir()
    for name in ("OBS_ASOS_TIM_131_2021.csv", "OBS_ASOS_TIM_131_2022.csv"):
        (repo / "data/external/mine" / name).write_bytes(
            (repo / "data/external/cheongju" / name).read_bytes()
        )
    out = run(repo, "dvc", "repro").stdout
    assert "Running stage 'evaluate@mine'" in out
    assert "Running stage 'ingest@cheongju'" not in out  # the existing dataset is untouched
    mine_metrics = read(repo, DatasetPaths("mine").metrics)
    assert mine_metrics["dataset"] == {
        "name": "mine",
        "real": True,
        "model": mine_metrics["dataset"]["model"],
    }
    assert read(repo, DatasetPaths("mine").ingest_stats)["duplicate_hours_collapsed"] == 0


def test_too_short_a_record_names_the_period_and_dates(small_repo: Callable[..., Path]) -> None:
    repo = small_repo({"split": {"test_days": 365, "validation_days": 400}})
    result = run(repo, "dvc", "repro", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "train 2021-01-01 to 2021-02-15 has" in output and "split.min_period_rows" in output
    assert "Traceback" not in output


def test_conflicting_exports_name_both_files_the_hour_and_the_column(
    small_repo: Callable[..., Path],
) -> None:
    repo = small_repo()
    folder = repo / "data/external/cheongju"
    overlap = folder / "OBS_ASOS_TIM_131_20220301-20230323.csv"
    text = overlap.read_bytes().decode("cp949").replace("2022-03-01 02:00,5.6,", "2022-03-01 02:00,9.9,", 1)
    overlap.write_bytes(text.encode("cp949"))
    result = run(repo, "dvc", "repro", "ingest@cheongju", check=False)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "OBS_ASOS_TIM_131_2022.csv and OBS_ASOS_TIM_131_20220301-20230323.csv disagree" in message
    assert "2022-03-01 02:00" in message and "temperature_c" in message
    assert not (repo / "data/interim/cheongju/observations.parquet").exists()  # nothing half-written


def test_kma_source_without_key_fails_at_once_and_writes_nothing(small_repo: Callable[..., Path]) -> None:
    live = {"source": "kma", "real": True, "stations": [108], "start_month": "2024-01",
            "end_month": "2024-02", "input": "src/commute_weather/sources/kma/client.py"}  # fmt: skip
    repo = small_repo({"datasets": {"cheongju": {}, "live": live}, "serve": {"dataset": "live"}})
    result = run(repo, "dvc", "repro", "ingest@live", check=False, env={"KMA_AUTH_KEY": ""})
    assert result.returncode != 0
    assert "KMA_AUTH_KEY is not set" in result.stdout + result.stderr
    assert not (repo / "data/raw/live").exists() or not any((repo / "data/raw/live").rglob("*.txt"))
    assert not (repo / "data/interim/live/observations.parquet").exists()
