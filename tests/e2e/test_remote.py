"""The DVC remote over the S3 protocol: push with the run cache, then pull into a fresh clone."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import run
from tests.servers import moto_s3_server

pytestmark = pytest.mark.slow
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test-access-key", "AWS_SECRET_ACCESS_KEY": "test-secret-value",
               "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
OUTPUTS = ("data/interim/cheongju/observations.parquet", "data/features/cheongju/dataset.parquet",
           "models/cheongju/model.pkl")  # fmt: skip


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_push_then_pull_into_a_fresh_clone_reproduces_nothing(
    small_repo: Callable[..., Path], tmp_path: Path
) -> None:
    repo = small_repo()
    with moto_s3_server(tmp_path) as endpoint:
        assert httpx.put(f"{endpoint}/commute-weather-dvc").status_code == 200  # create the bucket
        env = {**CREDENTIALS, "DVC_S3_ENDPOINT_URL": endpoint}
        pushed = run(repo, "bash", "scripts/ci/dvc-remote.sh", "push", env=env)  # what CI runs
        assert "pushed" in pushed.stdout
        clone = tmp_path / "clone"
        run(tmp_path, "git", "clone", "-q", str(repo), str(clone))
        run(clone, "bash", "scripts/ci/dvc-remote.sh", "pull", env=env)
    for output in OUTPUTS:
        assert digest(clone / output) == digest(repo / output), output
    assert "Data and pipelines are up to date" in run(clone, "dvc", "status").stdout
    assert "Data and pipelines are up to date" in run(clone, "dvc", "repro").stdout
    # Credentials come from the environment only: nothing the repository or DVC wrote holds them.
    for path in [*clone.joinpath(".dvc").rglob("config*"), clone / "dvc.lock"]:
        assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in path.read_text()
