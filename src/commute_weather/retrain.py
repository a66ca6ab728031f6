"""Retrain when there is enough new weather: fetch, check, count, and propose ONE reviewed pull request.

    KMA_AUTH_KEY=... commute-weather retrain [--summary "$GITHUB_STEP_SUMMARY"]

For each live dataset in params.yaml `retrain.live` (never part of the default `dvc repro`):
1. the complete months (KST) from its start_month to the last complete one that are not yet embedded under its
   `input` folder are fetched from the KMA API (the only step that needs the key);
2. they are checked against the data contract (the validate stage's pandera checks): a failure changes
   nothing, exits 1 and writes the validation report to --summary (the job summary);
3. their labelled windows are counted (featurize's labels); below `retrain.min_new_windows` the command says
   how many there are and how many it needs, and changes nothing; so does a dataset (embedded months plus
   the new ones) too short for train's checks (split.min_period_rows per period, gate.min_train_rows before
   the test period), saying which;
4. otherwise, on the branch `retrain.branch` made from the current commit: the months are embedded, the
   dataset is written into `datasets` (source typ01, end_month the last fetched month), `dvc repro` runs, and
   params.yaml, dvc.lock, metrics, reports and the months are committed. When no pull request is open for
   the branch, `cml pr create` pushes it and opens one; when one is, the branch is force-pushed, which
   updates that pull request (always main + the latest months: one pull request, never a second).

Merging is the normal path to staging and production: the pull request's CI runs the tests, the pipeline
and its report comment (README, "In production": the push needs a token other than GITHUB_TOKEN).
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from commute_weather import io
from commute_weather.cli import StageError, console, results, run
from commute_weather.clock import KST
from commute_weather.config import LiveDataset, PipelineParams, load_params
from commute_weather.forecast.split import SplitError, assign_split, check_periods
from commute_weather.pipeline.featurize import build_dataset
from commute_weather.pipeline.validate import run_contract
from commute_weather.sources.kma.client import (
    BASE_URL_ENV,
    KmaClient,
    auth_key_from_env,
    is_complete,
    raw_month_path,
    sync_months,
)
from commute_weather.sources.kma.typ01 import parse_typ01
from commute_weather.sources.normalize import normalize
from commute_weather.sources.synthetic import month_range

# What a retraining commit holds besides the embedded months: the pipeline's committed outputs.
COMMITTED = ["params.yaml", "dvc.lock", "metrics", "reports"]


def last_complete_month(today: pd.Timestamp) -> str:
    """The month before `today`'s (KST): the newest month whose every hour has been observed."""
    return (today.tz_convert(KST).tz_localize(None).to_period("M") - 1).strftime("%Y-%m")


def months_to_fetch(live: LiveDataset, through: str) -> list[str]:
    """Months from start_month through `through` that some station lacks complete under `input`."""
    if through < live.start_month:
        return []
    return [
        month
        for month in month_range(live.start_month, through)
        if not all(is_complete(raw_month_path(live.input, s, month), month) for s in live.stations)
    ]


def observations_of(paths: list[Path]) -> pd.DataFrame:
    records = [parse_typ01(p.read_text(encoding="cp949"), str(p)) for p in paths]
    return normalize(pd.concat(records, ignore_index=True))


def too_short_for_split(
    name: str, live: LiveDataset, through: str, staging: Path, params: PipelineParams
) -> str | None:
    """Why the dataset, its embedded months with the fetched ones (under `staging`, which win), cannot be
    trained yet (every split period needs split.min_period_rows windows, and training plus validation
    gate.min_train_rows), or None: a pull request whose `dvc repro` would stop in train is not proposed."""
    paths = []
    for station in live.stations:
        for month in month_range(live.start_month, through):
            fetched, embedded = (
                raw_month_path(staging, station, month),
                raw_month_path(live.input, station, month),
            )
            if fetched.is_file() or embedded.is_file():
                paths.append(fetched if fetched.is_file() else embedded)
    dataset = build_dataset(observations_of(paths), params)[0]
    dates = dataset.loc[dataset["label"].notna(), "date"]
    split = params.split.for_dataset(name)
    periods = assign_split(dates, split)
    try:
        check_periods(dates, periods, split)
    except SplitError as exc:
        return str(exc)
    before_test = int((periods != "test").sum())
    if before_test < params.gate.min_train_rows:  # train's own check, before it fits anything
        need = params.gate.min_train_rows
        return f"{before_test:,} windows before the test period, gate.min_train_rows is {need:,}"
    return None


def validation_markdown(name: str, report: dict[str, Any]) -> str:
    failing = [c for c in report["checks"] if not c["passed"]]
    lines = [
        f"## Retraining `{name}`: the new months break the data contract; nothing changed",
        "",
        f"{report['rows']:,} rows of stations {report['stations']}. Failing checks:",
        "",
        "| column | check | failures | first example |",
        "|---|---|---|---|",
    ]
    for check in failing:
        example = check["examples"][0] if check["examples"] else {}
        lines.append(
            f"| {check['column'] or '(table)'} | {check['check']} | {check['failures']:,} | `{example}` |"
        )
    return "\n".join([*lines, ""])


def git(*args: str, capture: bool = False) -> str:
    result = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StageError(f"git {' '.join(args)} failed: {result.stderr.strip()[-500:]}")
    return result.stdout.strip() if capture else ""


def push(*args: str) -> None:
    """git push to origin; with GIT_PUSH_TOKEN set (CI: a token other than GITHUB_TOKEN, so the pull request
    gets its CI run), authenticated by an HTTP header as actions/checkout does: never in a URL or a log."""
    token = os.environ.get("GIT_PUSH_TOKEN", "")
    header = []
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        header = ["-c", f"http.extraheader=AUTHORIZATION: basic {basic}"]
    result = subprocess.run(
        ["git", *header, "push", "-q", *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        message = (
            result.stderr.strip()[-500:].replace(token, "***") if token else result.stderr.strip()[-500:]
        )
        raise StageError(f"git push {' '.join(args)} failed: {message}")


def command(*args: str) -> str:
    result = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StageError(f"{args[0]} {args[1]} failed ({result.returncode}): {result.stderr.strip()[-1500:]}")
    return result.stdout.strip()


def write_dataset_entry(params_path: Path, name: str, live: LiveDataset, through: str) -> None:
    """Add or update `datasets.<name>` in params.yaml, keeping its comments (ruamel's round trip)."""
    from ruamel.yaml import YAML  # noqa: PLC0415  (DVC's own YAML library; only this command needs it)

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 120
    document = yaml.load(params_path.read_text(encoding="utf-8"))
    entry = {
        "source": "typ01", "real": True, "stations": list(live.stations), "start_month": live.start_month,
        "end_month": through, "input": live.input.as_posix(),
    }  # fmt: skip
    document["datasets"][name] = entry
    with io.atomic_path(params_path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        yaml.dump(document, handle)


def open_pull_request(branch: str) -> int | None:
    """The number of the open pull request from `branch`, if there is one (gh)."""
    found = command(
        "gh", "pr", "list", "--head", branch, "--state", "open", "--json", "number", "--jq", ".[].number"
    )
    return int(found.splitlines()[0]) if found else None


def propose(
    name: str, live: LiveDataset, through: str, fetched: Path, params_path: Path, params: PipelineParams,
    windows: int,
) -> str:  # fmt: skip
    """Embed the months on the retraining branch, reproduce, and open or update its one pull request. On a
    failure the checkout is left as it was: back on the starting branch, without the months or outputs."""
    branch = params.retrain.branch
    base = git("rev-parse", "HEAD", capture=True)
    target = git("rev-parse", "--abbrev-ref", "HEAD", capture=True)
    git("checkout", "-q", "-B", branch)
    try:
        return _embed_reproduce_and_push(
            name, live, through, fetched, params_path, params, windows, base, target
        )
    except BaseException:
        git("checkout", "-q", "-f", target)
        git("clean", "-fdq", "--", live.input.as_posix(), f"metrics/{name}", f"reports/{name}")
        raise


def _embed_reproduce_and_push(
    name: str, live: LiveDataset, through: str, fetched: Path, params_path: Path, params: PipelineParams,
    windows: int, base: str, target: str,
) -> str:  # fmt: skip
    branch = params.retrain.branch
    title = f"Retrain with new weather: {name} through {through}"
    message = (
        f"retrain: {name} through {through}, {windows:,} new labelled windows (threshold "
        f"{params.retrain.min_new_windows:,}); months fetched from the KMA API, dvc repro"
    )
    for path in sorted(fetched.rglob("*.txt")):
        embedded = live.input / path.relative_to(fetched)
        embedded.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, embedded)
    write_dataset_entry(params_path, name, live, through)
    console.print(f"retrain {name}: dvc repro on {branch}")
    command("dvc", "repro")
    # DVC ignores each new output with a .gitignore beside it: committed too, or after the merge the new
    # dataset's outputs show up as untracked files.
    ignores = git(
        "ls-files", "--others", "--modified", "--exclude-standard", "--", ":(glob)**/.gitignore", capture=True
    ).split()
    paths = [live.input.as_posix(), *COMMITTED, *ignores]
    existing = open_pull_request(branch)
    body = (
        f"{windows:,} new labelled windows of `{name}` (threshold {params.retrain.min_new_windows:,}), "
        f"months through {through}, fetched from the KMA API and checked against the data contract. The CI "
        "report on this pull request says whether the change is real. Made by `commute-weather retrain` from "
        f"{base[:12]}; a later run force-pushes this branch with main plus the latest months."
    )
    if existing is None:
        if _remote_branch(branch):  # left from a closed pull request: cml would reuse it and find no PR
            push("origin", "--delete", branch)
        url = command(
            "cml", "pr", "create", "--branch", branch, "--target-branch", target, "--title", title,
            "--body", body, "--message", message, *paths,
        )  # fmt: skip
        return f"opened {url}"
    git("add", "--", *paths)
    git("commit", "-q", "-m", message)
    push("--force", "origin", f"{branch}:{branch}")
    return f"updated pull request #{existing} (branch {branch} force-pushed)"


def _remote_branch(branch: str) -> bool:
    return bool(git("ls-remote", "--heads", "origin", branch, capture=True))


def retrain(
    params: PipelineParams, params_path: Path, today: pd.Timestamp, summary: Path | None
) -> list[str]:
    """What happened to each live dataset, one line each; StageError when new months break the contract."""
    outcomes = []
    kma = params.ingest.kma
    for name, live in params.retrain.live.items():
        through = last_complete_month(today)
        months = months_to_fetch(live, through)
        if not months:
            outcomes.append(f"{name}: every complete month through {through} is embedded; nothing to fetch")
            continue
        base_url = os.environ.get(BASE_URL_ENV) or kma.base_url
        client = KmaClient(auth_key_from_env(), base_url, kma.timeout_s, kma.max_attempts, kma.backoff_s)
        staging = Path(tempfile.mkdtemp(prefix=f"retrain-{name}-"))
        try:
            with console.status(f"fetching {len(months)} months of {name}") as status:
                paths = sync_months(
                    client, staging, live.stations, months, on_month=lambda m: status.update(f"fetched {m}")
                )
            observations = observations_of(paths)
            report = run_contract(observations, params.validate_)
            if report["status"] != "passed":
                text = validation_markdown(name, report)
                if summary is not None:
                    previous = summary.read_text(encoding="utf-8") if summary.exists() else ""
                    io.write_text(summary, previous + text)
                results.print(text, markup=False)
                raise StageError(f"{name}: the months {months[0]}..{months[-1]} break the data contract")
            windows = len(build_dataset(observations, params)[0])
            need = params.retrain.min_new_windows
            if windows < need:
                span = f"{months[0]}..{months[-1]}"
                outcomes.append(
                    f"{name}: {windows:,} new labelled windows in {span}, {need:,} needed; nothing changed"
                )
                continue
            short = too_short_for_split(name, live, through, staging, params)
            if short is not None:
                outcomes.append(
                    f"{name}: {windows:,} new labelled windows (>= {need:,}), but the dataset is too short "
                    f"to train and test yet: {short}; nothing changed"
                )
                continue
            done = propose(name, live, through, staging, params_path, params, windows)
            outcomes.append(f"{name}: {windows:,} new labelled windows (>= {need:,}); {done}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return outcomes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--today", type=pd.Timestamp, help="run as of this date (KST; default now): which months are complete"
    )
    parser.add_argument(
        "--summary", type=Path, help="append what happened (markdown), e.g. $GITHUB_STEP_SUMMARY"
    )
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        today = pd.Timestamp.now(tz=KST) if args.today is None else args.today.tz_localize(KST)
        outcomes = retrain(params, args.params, today, args.summary)
        text = "\n".join(f"- {line}" for line in outcomes)
        if args.summary is not None:
            previous = args.summary.read_text(encoding="utf-8") if args.summary.exists() else ""
            io.write_text(args.summary, previous + f"## Retraining\n\n{text}\n")
        results.print(text, markup=False)

    run("retrain", body)


if __name__ == "__main__":
    os.environ.setdefault("ITERATIVE_DO_NOT_TRACK", "true")
    main()
