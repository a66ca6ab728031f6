"""Command-line behaviour users rely on: clear messages, exit codes, nothing written on failure."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.e2e.conftest import REPO, run
from tests.servers import fake_kma_api


def test_live_smoke_check_without_key_says_what_to_set(tmp_path: Path) -> None:
    result = run(tmp_path, "python", "-m", "commute_weather.validate", "--params", str(REPO / "params.yaml"),
                 "--source", "kma", "--limit", "10", check=False, env={"KMA_AUTH_KEY": ""})  # fmt: skip
    assert result.returncode == 2
    assert "KMA_AUTH_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_live_smoke_check_validates_the_newest_rows(tmp_path: Path) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    with fake_kma_api() as url:
        params["ingest"]["kma"]["base_url"] = url
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        result = run(tmp_path, "python", "-m", "commute_weather.validate", "--params", "params.yaml",
                     "--source", "kma", "--limit", "10", env={"KMA_AUTH_KEY": "secret-test-key"})  # fmt: skip
    assert "validate: passed on 10 rows" in result.stderr
    assert "secret-test-key" not in result.stdout + result.stderr


def test_bad_params_name_the_key(tmp_path: Path) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["datasets"]["cheongju"]["stations"] = [131, 999]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    args = ["--params", "params.yaml", "--dataset", "cheongju", "--raw-dir", "raw", "--out", "obs.parquet",
            "--stats", "stats.json"]  # fmt: skip
    result = run(tmp_path, "python", "-m", "commute_weather.pipeline.ingest", *args, check=False)
    assert result.returncode == 2
    assert "datasets.cheongju.stations" in result.stderr
    assert "999" in result.stderr
    assert not (tmp_path / "raw").exists()
    assert not (tmp_path / "obs.parquet").exists()


def test_an_unknown_dataset_is_named_with_the_known_ones(tmp_path: Path) -> None:
    args = ["--params", str(REPO / "params.yaml"), "--dataset", "gangneung", "--raw-dir", "raw",
            "--out", "obs.parquet", "--stats", "stats.json"]  # fmt: skip
    result = run(tmp_path, "python", "-m", "commute_weather.pipeline.ingest", *args, check=False)
    assert result.returncode == 2
    assert "no dataset 'gangneung'" in result.stderr and "'cheongju'" in result.stderr
    assert not (tmp_path / "raw").exists()
