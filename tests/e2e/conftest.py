"""Helpers for end-to-end tests: a throwaway copy of the repository with its own Git history."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TOOLS_BIN = REPO / ".tools" / "bin"  # uv, which `bentoml build` calls

# A small but complete configuration for tests of the mechanics: the real Cheongju record alone (one
# station, 27 months, parsed in a second), a shorter test period and smaller models: seconds instead of
# minutes. The gate keeps its real thresholds.
SMALL: dict[str, Any] = {
    "datasets": {"cheongju": {}},
    "serve": {"dataset": "cheongju"},
    "split": {"test_days": 120, "validation_days": 90, "by_dataset": {}},
    "train": {"random_forest": {"n_estimators": 20}, "hist_gradient_boosting": {"max_iter": 100}},
}


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Nested update, except that `datasets` in `changes` is the whole list of datasets (each merged into
    the base's entry of that name), so a test can run a subset, and `by_dataset` replaces the base's."""
    out = dict(base)
    for key, value in changes.items():
        if key == "datasets":
            out[key] = {name: merge(base[key].get(name, {}), entry) for name, entry in value.items()}
        elif key == "by_dataset":  # overrides for named datasets: a test's own replace the base's whole
            out[key] = value
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def run(
    cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(BIN), str(TOOLS_BIN), os.environ["PATH"]])
    environment = {**os.environ, "PATH": path, "BENTOML_DO_NOT_TRACK": "true", **(env or {})}
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=environment, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def copy_repo(target: Path, params: dict[str, Any] | None = None) -> Path:
    """Tracked and untracked-but-not-ignored files only: what a fresh clone (plus local edits) holds."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    if params:
        path = target / "params.yaml"
        path.write_text(yaml.safe_dump(merge(yaml.safe_load(path.read_text()), params), sort_keys=False))
    run(target, "git", "init", "-q", "-b", "main")
    commit(target, "copy")
    return target


def commit(repo: Path, message: str) -> None:
    run(repo, "git", "add", "-A")
    run(repo, "git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", message)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Callable[..., Path]:
    def make(params: dict[str, Any] | None = None) -> Path:
        return copy_repo(tmp_path / "repo", params)

    return make


def copy_reproduced(source: Path, target: Path) -> Path:
    """A whole reproduced repository (Git history, DVC cache and outputs), without DVC's locks and state."""

    def skip_dvc_tmp(directory: str, names: list[str]) -> list[str]:
        return ["tmp"] if Path(directory) == source / ".dvc" else []

    shutil.copytree(source, target, symlinks=True, ignore=skip_dvc_tmp)
    return target


@pytest.fixture(scope="session")
def _reproduced_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SMALL pipeline, reproduced once per test worker and committed; tests get copies of it."""
    repo = copy_repo(tmp_path_factory.mktemp("small-pipeline"), SMALL)
    run(repo, "dvc", "repro")
    commit(repo, "small pipeline reproduced")
    return repo


@pytest.fixture
def small_repo(_reproduced_small: Path, tmp_path: Path) -> Callable[..., Path]:
    """A private copy of the reproduced SMALL pipeline (Git history, DVC cache and outputs), with `changes`
    merged into its params.yaml (uncommitted): only what a test changes is recomputed."""

    def make(changes: dict[str, Any] | None = None) -> Path:
        target = copy_reproduced(_reproduced_small, tmp_path / "repo")
        if changes:
            path = target / "params.yaml"
            path.write_text(yaml.safe_dump(merge(yaml.safe_load(path.read_text()), changes), sort_keys=False))
        return target

    return make


def package(reproduced: Path, target: Path) -> tuple[Path, dict[str, str], str]:
    """A copy of a reproduced pipeline at `target`, its model packaged (`make package`'s steps) into a
    BentoML home of its own beside it: (repository, environment naming that home, bento version)."""
    repo = copy_reproduced(reproduced, target)
    env = {"BENTOML_HOME": str(repo.parent / "bentoml-home")}
    export = ["--frozen", "--no-default-groups", "--no-emit-project", "--no-hashes", "--quiet"]
    run(repo, "uv", "export", *export, "-o", "src/requirements-serve.txt")
    out = run(repo, "python", "-m", "commute_weather.serving.packaging", env=env).stdout
    version = re.search(r"bento: commute_comfort:(\S+)", out)
    assert version, out
    return repo, env, version.group(1)
