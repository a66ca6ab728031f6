"""scripts/ci/registry.sh: GTO versions and stages of the served model, in a local Git repository whose
`origin` (a bare repository) stands in for GitHub."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import REPO, commit, run

pytestmark = pytest.mark.slow
SCRIPT = REPO / "scripts" / "ci" / "registry.sh"
SERVED = yaml.safe_load((REPO / "params.yaml").read_text())["serve"]["dataset"]


def lock(repo: Path, md5: str) -> None:
    model = {"path": f"models/{SERVED}/model.pkl", "md5": md5}
    stages = {f"train@{SERVED}": {"cmd": "train", "outs": [model]}}
    (repo / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": stages}))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    origin = tmp_path / "origin.git"
    run(tmp_path, "git", "init", "-q", "--bare", "-b", "main", str(origin))
    repo = tmp_path / "work"
    repo.mkdir()
    shutil.copy(REPO / "dvc.yaml", repo)  # its `artifacts:` entry names the model
    shutil.copy(REPO / "params.yaml", repo)
    lock(repo, "a" * 32)
    run(repo, "git", "init", "-q", "-b", "main")
    run(repo, "git", "config", "user.name", "ci")
    run(repo, "git", "config", "user.email", "ci@example.invalid")
    commit(repo, "first model")
    run(repo, "git", "remote", "add", "origin", str(origin))
    run(repo, "git", "push", "-q", "origin", "main")
    return repo


def registry(repo: Path, *args: str) -> str:
    result = run(repo, "bash", str(SCRIPT), *args)
    return result.stdout + result.stderr


def origin_tags(repo: Path) -> list[str]:
    listed = run(repo, "git", "ls-remote", "--tags", "--refs", "origin").stdout.split()
    return sorted(ref.removeprefix("refs/tags/") for ref in listed[1::2])


def test_versions_follow_the_served_model_and_stages_the_deploys(repo: Path) -> None:
    assert registry(repo, "reference") == ""  # nothing deployed yet: the gate skips the regression check
    run(repo, "git", "tag", "deployed/production")
    assert registry(repo, "reference").strip() == "deployed/production"  # the old tag is the fallback

    registry(repo, "register", "HEAD")
    assert origin_tags(repo) == ["commute-comfort@v0.0.1"]

    (repo / "README.md").write_text("docs only\n")
    commit(repo, "a merge that does not change the model")
    assert "no new version" in registry(repo, "register", "HEAD")
    assert [t for t in origin_tags(repo) if "@" in t] == ["commute-comfort@v0.0.1"]

    lock(repo, "b" * 32)
    commit(repo, "a retrained model")
    registry(repo, "register", "HEAD")
    registry(repo, "assign", "staging", "HEAD")
    assert registry(repo, "reference").strip() == "deployed/production"  # staging is not production
    registry(repo, "assign", "prod", "HEAD")
    assert registry(repo, "reference").strip() == "commute-comfort@v0.0.2"
    assert (
        run(repo, "git", "rev-parse", "commute-comfort@v0.0.2^{commit}").stdout
        == run(repo, "git", "rev-parse", "HEAD").stdout
    )
    tags = origin_tags(repo)
    assert "commute-comfort@v0.0.2" in tags
    assert any(t.startswith("commute-comfort#staging#") for t in tags)
    assert any(t.startswith("commute-comfort#prod#") for t in tags)
    # what `gto show` prints in a fresh clone of "GitHub"
    clone = repo.parent / "clone"
    run(repo.parent, "git", "clone", "-q", str(repo.parent / "origin.git"), str(clone))
    shown = run(clone, "gto", "show", "--json").stdout
    assert '"prod"' in shown and "v0.0.2" in shown


def make_reference(repo: Path) -> str:
    """REFERENCE_REV as the Makefile computes it (what `make package` hands the gate), in `repo`."""
    evaluated = "reference-rev: ; @echo '$(REFERENCE_REV)'"
    return run(repo, "make", "-s", "--eval", evaluated, "reference-rev").stdout.strip()


def test_the_makefiles_gate_reference_is_the_version_in_prod(repo: Path) -> None:
    shutil.copy(REPO / "Makefile", repo)
    (repo / "scripts" / "ci").mkdir(parents=True)
    shutil.copy(SCRIPT, repo / "scripts" / "ci")
    (repo / ".venv").symlink_to(REPO / ".venv")  # the Makefile runs the project's gto
    (repo / ".gitignore").write_text("/.venv\n")
    commit(repo, "the Makefile")
    assert make_reference(repo) == ""  # nothing deployed: `make package` skips the regression check
    run(repo, "git", "tag", "deployed/production")
    assert make_reference(repo) == "deployed/production"  # before the first GTO prod: the old tag
    registry(repo, "assign", "prod", "HEAD")
    assert make_reference(repo) == "commute-comfort@v0.0.1"


def test_assigning_a_commit_without_a_version_registers_it_first(repo: Path) -> None:
    out = registry(repo, "assign", "prod", "HEAD")
    assert "commute-comfort@v0.0.1" in out
    assert registry(repo, "reference").strip() == "commute-comfort@v0.0.1"


def test_a_lock_without_the_served_model_is_refused(repo: Path) -> None:
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    commit(repo, "no model")
    result = run(repo, "bash", str(SCRIPT), "register", "HEAD", check=False)
    assert result.returncode != 0
    assert f"records no models/{SERVED}/model.pkl" in result.stderr
