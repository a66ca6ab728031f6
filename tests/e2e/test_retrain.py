"""`commute-weather retrain` end to end: the KMA stand-in serves the live months (the sample generator's
weather), a bare Git repository is "GitHub", and recording stubs stand in for `cml` and `gh`. Real fetch,
real data contract, real `dvc repro` on the branch."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import REPO, commit, run
from tests.servers import fake_kma_api

pytestmark = pytest.mark.slow
STUBS = REPO / "tests" / "stubs"
BRANCH = "retrain/live-weather"
# One station from January 2023: 150 windows is about two and a half months of it. SMALL's split tests on the
# last 120 days, and train refuses fewer than gate.min_train_rows (700) windows before them: about 16 months.
LIVE = {
    "min_new_windows": 150,
    "branch": BRANCH,
    "live": {"live": {"stations": [108], "start_month": "2023-01", "end_month": "latest",
                      "input": "data/external/live"}},
}  # fmt: skip


@pytest.fixture
def github(small_repo: Callable[..., Path], tmp_path: Path) -> Path:
    """The reproduced SMALL pipeline with ONLY the test's live dataset configured (params.yaml's own live
    datasets replaced, not merged), pushed to a bare `origin`."""
    repo = small_repo()
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["retrain"] = LIVE
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    commit(repo, "a live dataset")
    origin = tmp_path / "origin.git"
    run(tmp_path, "git", "init", "-q", "--bare", "-b", "main", str(origin))
    run(repo, "git", "remote", "add", "origin", str(origin))
    run(repo, "git", "push", "-q", "origin", "main")
    return repo


def retrain(repo: Path, kma: str, today: str) -> tuple[int, str, list[list[str]]]:
    log, summary = repo.parent / "stub-log.jsonl", repo.parent / "summary.md"
    summary.unlink(missing_ok=True)
    env = {
        "PATH": os.pathsep.join([str(STUBS), os.environ["PATH"]]), "KMA_AUTH_KEY": "fake-key",
        "KMA_API_URL": kma, "STUB_LOG": str(log), "STUB_STATE": str(repo.parent / "github.json"),
        "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.invalid", "GIT_COMMITTER_NAME": "ci",
        "GIT_COMMITTER_EMAIL": "ci@example.invalid",
    }  # fmt: skip
    start = len(log.read_text().splitlines()) if log.exists() else 0
    result = run(
        repo, "python", "-m", "commute_weather.retrain", "--today", today, "--summary", str(summary),
        check=False, env=env,
    )  # fmt: skip
    calls = [json.loads(line) for line in log.read_text().splitlines()[start:]] if log.exists() else []
    print(result.stdout, result.stderr)
    return result.returncode, summary.read_text() if summary.exists() else "", calls


def remote_head(repo: Path, branch: str) -> str:
    return run(repo, "git", "ls-remote", "origin", f"refs/heads/{branch}").stdout.split("\t")[0]


def prs(repo: Path) -> list[dict]:  # type: ignore[type-arg]
    state = repo.parent / "github.json"
    return json.loads(state.read_text())["prs"] if state.exists() else []


def test_enough_new_weather_opens_one_pull_request_then_after_its_merge_one_month_is_below(
    github: Path,
) -> None:
    repo = github
    with fake_kma_api(synthetic_seed=5) as kma:
        # 18 complete months of one station: far above 150 windows, and enough to train and test on
        code, summary, calls = retrain(repo, kma, "2024-07-15")
        assert code == 0, summary
        assert [c[:3] for c in calls] == [["gh", "pr", "list"], ["cml", "pr", "create"]]
        [pr] = prs(repo)
        assert pr["head"] == BRANCH and pr["base"] == "main" and "live through 2024-06" in pr["title"]
        first = remote_head(repo, BRANCH)
        changed = run(repo, "git", "diff", "--name-only", "main", first).stdout.split()
        assert "dvc.lock" in changed and "params.yaml" in changed and "metrics/live/metrics.json" in changed
        assert "data/external/live/108/2024-06.txt" in changed and "models/live/.gitignore" in changed
        params = yaml.safe_load(run(repo, "git", "show", f"{first}:params.yaml").stdout)
        assert params["datasets"]["live"] == {
            "source": "typ01", "real": True, "stations": [108], "start_month": "2023-01",
            "end_month": "2024-06", "input": "data/external/live",
        }  # fmt: skip
        assert "new labelled windows" in summary and "opened https://github.example" in summary
        assert (
            remote_head(repo, "main") == run(repo, "git", "rev-parse", "main").stdout.strip()
        )  # main untouched

        # the reviewed pull request is merged: a clean checkout (the new outputs are ignored, like the others)
        run(repo, "git", "checkout", "-q", "main")
        run(repo, "git", "merge", "-q", "--ff-only", first)
        run(repo, "git", "push", "-q", "origin", "main")
        assert run(repo, "git", "status", "--porcelain").stdout == ""
        # a month later: one new month is below the threshold, nothing changes
        head_before = remote_head(repo, BRANCH)
        code, summary, calls = retrain(repo, kma, "2024-08-05")
        assert code == 0, summary
        assert calls == []
        [line] = [x for x in summary.splitlines() if x.startswith("- live:")]
        windows = int(line.split()[2])
        assert 55 <= windows <= 62 and line.endswith("in 2024-07..2024-07, 150 needed; nothing changed"), line
        assert run(repo, "git", "status", "--porcelain").stdout == ""
        assert len(prs(repo)) == 1 and remote_head(repo, BRANCH) == head_before


def test_a_later_run_updates_the_open_pull_request_instead_of_opening_another(github: Path) -> None:
    """The pull request of an earlier run is open (its branch on origin, the `gh` stub knows it): the new
    months are force-pushed to the same branch, no second `cml pr create`."""
    repo = github
    run(repo, "git", "push", "-q", "origin", f"main:{BRANCH}")
    earlier = {"number": 1, "head": BRANCH, "base": "main", "title": "earlier run", "state": "open"}
    (repo.parent / "github.json").write_text(json.dumps({"prs": [earlier]}))
    first = remote_head(repo, BRANCH)
    with fake_kma_api(synthetic_seed=5) as kma:
        code, summary, calls = retrain(repo, kma, "2024-08-10")
    assert code == 0, summary
    assert [c[:3] for c in calls] == [["gh", "pr", "list"]]  # no second `cml pr create`
    assert prs(repo) == [earlier]
    second = remote_head(repo, BRANCH)
    assert second != first
    shown = run(repo, "git", "show", "--name-only", second).stdout
    assert "data/external/live/108/2024-07.txt" in shown and "dvc.lock" in shown
    assert run(repo, "git", "rev-parse", f"{second}^").stdout.strip() == first  # main plus the months
    assert "updated pull request #1" in summary


def test_a_month_that_breaks_the_data_contract_opens_nothing(github: Path) -> None:
    repo = github
    with fake_kma_api(synthetic_seed=5, broken_months=frozenset({"2023-10"})) as kma:
        code, summary, calls = retrain(repo, kma, "2024-07-15")
    assert code == 1
    assert calls == [] and prs(repo) == []
    assert "break the data contract; nothing changed" in summary
    assert "| temperature_c |" in summary
    assert remote_head(repo, BRANCH) == ""
    assert run(repo, "git", "status", "--porcelain").stdout == ""
    assert run(repo, "git", "rev-parse", "--abbrev-ref", "HEAD").stdout.strip() == "main"


def test_without_the_key_it_says_what_to_set(github: Path) -> None:
    result = run(github, "python", "-m", "commute_weather.retrain", "--today", "2024-07-15", check=False,
                 env={"KMA_AUTH_KEY": ""})  # fmt: skip
    assert result.returncode == 2  # a configuration error: nothing was fetched or changed
    assert "KMA_AUTH_KEY is not set" in result.stderr


def test_enough_new_windows_but_too_short_a_record_to_split_opens_nothing(github: Path) -> None:
    """Twelve months are over the threshold but leave fewer than gate.min_train_rows windows before SMALL's
    test period: a pull request would only stop in `dvc repro`'s train stage, so none is opened."""
    repo = github
    with fake_kma_api(synthetic_seed=5) as kma:
        code, summary, calls = retrain(repo, kma, "2024-01-15")
    assert code == 0, summary
    assert calls == [] and prs(repo) == []
    [line] = [x for x in summary.splitlines() if x.startswith("- live:")]
    assert "(>= 150), but the dataset is too short to train and test yet" in line, line
    assert "before the test period, gate.min_train_rows is 700" in line, line
    assert line.endswith("nothing changed"), line
    assert run(repo, "git", "status", "--porcelain").stdout == ""
    assert run(repo, "git", "rev-parse", "--abbrev-ref", "HEAD").stdout.strip() == "main"
