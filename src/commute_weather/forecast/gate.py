"""The quality gate: every check with its value, threshold and verdict. Only an approved model is packaged.

    python -m commute_weather.forecast.gate [--dataset cheongju] [--reference-rev main]

judges one dataset's model (default: serve.dataset, the one that is packaged), exits 1 when it is not
approved and prints the failed checks. With --reference-rev (or --reference FILE) its RMSE is also compared
with the same dataset's metrics on that Git revision: like with like, never another dataset's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from rich.table import Table

from commute_weather import io
from commute_weather.cli import StageError, console, results, run
from commute_weather.config import CompareParams, GateParams, PipelineParams, load_params
from commute_weather.forecast.compare import AlignmentError, Change, Comparison, compare_frames
from commute_weather.paths import DatasetPaths


def _check(name: str, value: float, op: str, threshold: float, passed: bool) -> dict[str, Any]:
    return {"check": name, "value": round(value, 4), "op": op, "threshold": threshold, "passed": passed}


def evaluate_gate(
    metrics: dict[str, Any],
    params: GateParams,
    reference: dict[str, Any] | None,
    rmse_change: Change | None = None,
    no_interval: str | None = None,
) -> dict[str, Any]:
    """Every check with its value, threshold and verdict.

    The regression check compares the model's RMSE with `reference` (the same dataset's approved metrics).
    With `rmse_change` (the paired bootstrap of both sides' test predictions, forecast.compare) it refuses
    only an increase that is detectable (the interval's lower end above zero) and larger than
    max_rmse_regression; without it (metrics only) the point increase alone decides, and the record says so
    (with `no_interval`, why there is no interval, when the caller knows).

    The station check refuses a model detectably worse than persistence (its paired interval of the RMSE
    difference above zero) at any station with a full test year, and names those stations. A dataset that is
    not a real record (metrics' dataset.real) never ships: its verdict is marked information only.
    """
    model_rmse = float(metrics["model"]["rmse"])
    skill = float(metrics["skill_vs_persistence"])
    train_rows = int(metrics["rows"]["train"])
    checks = [
        _check("rmse_max", model_rmse, "<=", params.rmse_max, model_rmse <= params.rmse_max),
        _check("min_skill", skill, ">=", params.min_skill, skill >= params.min_skill),
        _check(
            "min_train_rows", train_rows, ">=", params.min_train_rows, train_rows >= params.min_train_rows
        ),
        _station_check(metrics.get("by_station", {})),
    ]
    if reference is not None and _dataset(reference) not in (None, _dataset(metrics)):
        raise StageError(
            f"the reference metrics are of dataset {_dataset(reference)!r}, these of {_dataset(metrics)!r}: "
            "the regression check compares a dataset with itself only"
        )
    if reference is None:
        regression = {"check": "max_rmse_regression", "passed": True, "skipped": True,
                      "reason": "no approved model's metrics to compare with"}  # fmt: skip
    else:
        regression = _regression(model_rmse, float(reference["model"]["rmse"]), params, rmse_change)
        if rmse_change is None and no_interval:
            regression["no_interval"] = no_interval
    checks.append(regression)
    ships = bool(metrics.get("dataset", {}).get("real", True))
    return {"approved": all(c["passed"] for c in checks), "ships": ships, "checks": checks}


def _station_check(stations: dict[str, Any]) -> dict[str, Any]:
    full_year = {s: f for s, f in stations.items() if f["full_test_year"]}
    if not full_year:
        return {"check": "stations_vs_persistence", "passed": True, "skipped": True,
                "reason": "no station with a full test year"}  # fmt: skip
    worse = sorted(s for s, f in full_year.items() if f["vs_persistence"]["low"] > 0)
    check = _check("stations_vs_persistence", len(worse), "<=", 0, not worse)
    check["rule"] = (
        f"detectably worse than persistence at {', '.join(worse)}"
        if worse
        else f"no station of {len(full_year)} with a full test year detectably worse than persistence"
    )
    check["stations"] = {s: full_year[s]["vs_persistence"] for s in sorted(full_year)}
    return check


def _regression(
    model_rmse: float, reference_rmse: float, params: GateParams, change: Change | None
) -> dict[str, Any]:
    increase = model_rmse - reference_rmse
    large = increase > params.max_rmse_regression
    if change is None:
        check = _check("max_rmse_regression", increase, "<=", params.max_rmse_regression, not large)
        check["rule"] = "point increase only (no predictions to compare: no interval)"
    else:
        detectable = change.low > 0
        check = _check("max_rmse_regression", increase, "<=", params.max_rmse_regression,
                       not (detectable and large))  # fmt: skip
        check["interval"] = [round(change.low, 4), round(change.high, 4)]
        check["confidence"] = change.confidence
        if detectable and large:
            check["rule"] = "detectable increase larger than allowed"
        elif large:
            check["rule"] = "increase larger than allowed but not detectable (interval reaches 0)"
        elif detectable:
            check["rule"] = "detectable increase within what is allowed"
        else:
            check["rule"] = "no detectable increase"
    check["reference_rmse"] = reference_rmse
    return check


def describe_value(check: dict[str, Any]) -> str:
    """A check's value for a table: the regression check's increase carries its interval when it has one."""
    value = f"{check['value']:g}"
    if "interval" in check:
        low, high = check["interval"]
        value = f"{check['value']:+.4f} ({check['confidence']:.0%} interval {low:+.4f} to {high:+.4f})"
    return value


def describe_verdict(check: dict[str, Any], fail: str = "FAIL") -> str:
    verdict = "pass" if check["passed"] else fail
    return f"{verdict}: {check['rule']}" if "rule" in check else verdict


def _dataset(metrics: dict[str, Any]) -> str | None:
    name = metrics.get("dataset", {}).get("name")
    return None if name is None else str(name)


def reference_from_git(revision: str, path: Path) -> dict[str, Any] | None:
    """The metrics committed at `revision`, or None when that revision has none (a first model)."""
    result = subprocess.run(
        ["git", "show", f"{revision}:{path.as_posix()}"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return None
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


class PredictionsUnavailableError(Exception):
    """No interval: one side's test predictions cannot be read or do not pair up. The message says why."""


def predictions_at_revision(revision: str, path: Path) -> pd.DataFrame:
    """A dataset's test predictions as `revision` produced them, through DVC: from the local cache (a
    revision reproduced here, or pulled) or the remote. Nothing is re-trained."""
    import dvc.api  # noqa: PLC0415  (slow to import; only comparisons need it)
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415
    from dvc.exceptions import DvcException, PathMissingError  # noqa: PLC0415

    try:
        with dvc.api.open(path.as_posix(), rev=revision, mode="rb") as handle:
            data = handle.read()
    except PathMissingError as exc:
        # DVC says the same for a path the revision does not have and for data neither cached nor pushed.
        if not _locked_output(revision, path):
            raise PredictionsUnavailableError(
                f"`{revision}` has no `{path.as_posix()}` to compare with"
            ) from exc
        raise PredictionsUnavailableError(
            f"`{revision}`'s predictions `{path.as_posix()}` are neither in the DVC cache nor on the remote; "
            f"run `dvc pull -r storage` (with the remote's credentials) or reproduce `{revision}`"
        ) from exc
    except (DvcException, BotoCoreError, ClientError, FileNotFoundError) as exc:
        raise PredictionsUnavailableError(
            f"`{revision}`'s predictions are not in the DVC cache or remote ({type(exc).__name__}: "
            f"{str(exc)[:200]}); run `dvc pull -r storage` or reproduce `{revision}`"
        ) from exc
    return pd.read_parquet(BytesIO(data))


def _locked_output(revision: str, path: Path) -> bool:
    """Whether dvc.lock at `revision` records `path` as a stage output."""
    shown = subprocess.run(
        ["git", "show", f"{revision}:dvc.lock"], capture_output=True, text=True, check=False
    )
    if shown.returncode != 0:
        return False
    stages = (yaml.safe_load(shown.stdout) or {}).get("stages") or {}
    return any(Path(out["path"]) == path for stage in stages.values() for out in stage.get("outs") or [])


def compare_with_revision(
    revision: str, name: str, params: CompareParams, nominal_coverage: float | None = None
) -> Comparison:
    """The paired bootstrap of the workspace's test predictions of dataset `name` against `revision`'s
    (nominal_coverage: the score interval's, to judge its coverage; see compare_predictions)."""
    path = DatasetPaths(name).predictions
    if not path.exists():
        raise PredictionsUnavailableError(
            f"this change's predictions `{path.as_posix()}` are missing; run `dvc repro`"
        )
    base = predictions_at_revision(revision, path)
    try:
        return compare_frames(base, pd.read_parquet(path), params, nominal_coverage)
    except AlignmentError as exc:
        raise PredictionsUnavailableError(str(exc)) from exc


@dataclass(frozen=True)
class Reference:
    """What a change is compared with at a Git revision: the same dataset's metrics there and, when both
    sides' test predictions can be read and pair up, the paired bootstrap of this change's against them."""

    revision: str
    metrics: dict[str, Any] | None  # None: the revision has none for this dataset (a first model)
    comparison: Comparison | None
    no_interval: str | None  # why there is no comparison

    @property
    def rmse_change(self) -> Change | None:
        return None if self.comparison is None else self.comparison.changes["rmse"]

    @property
    def fallback(self) -> str | None:
        """What to tell the reader when the regression check falls back to the point rule: there are
        metrics to compare with, but no interval. None when there is an interval or nothing to compare."""
        if self.metrics is None or self.comparison is not None:
            return None
        return (
            f"no interval for the regression check against `{self.revision}`, the point increase alone "
            f"decides: {self.no_interval}"
        )


def reference_at_revision(
    revision: str, name: str, params: CompareParams, nominal_coverage: float | None = None
) -> Reference:
    """Dataset `name`'s metrics and test predictions at `revision` against the workspace's: the one way the
    gate, packaging and the PR report read a reference revision."""
    metrics = reference_from_git(revision, DatasetPaths(name).metrics)
    comparison, no_interval = None, None
    try:
        comparison = compare_with_revision(revision, name, params, nominal_coverage)
    except PredictionsUnavailableError as exc:
        no_interval = str(exc)
    return Reference(revision, metrics, comparison, no_interval)


def gate_against_revision(
    metrics: dict[str, Any], params: PipelineParams, name: str, revision: str | None, stage: str
) -> dict[str, Any]:
    """The gate of dataset `name`'s model, the regression check against `revision` (none without one): with
    the interval when both sides' predictions can be read, else the point rule, said on stderr and in the
    check's record. What `python -m commute_weather.forecast.gate --reference-rev` and packaging both run."""
    if revision is None:
        return evaluate_gate(metrics, params.gate, None)
    reference = reference_at_revision(revision, name, params.compare)
    if reference.fallback:
        console.print(f"{stage}: {reference.fallback}")
    return evaluate_gate(
        metrics, params.gate, reference.metrics, reference.rmse_change, no_interval=reference.no_interval
    )


def gate_table(gate: dict[str, Any]) -> Table:
    verdict = "[bold green]APPROVED[/]" if gate["approved"] else "[bold red]NOT APPROVED[/]"
    if not gate.get("ships", True):  # a dataset that never ships: its verdict informs, it decides nothing
        verdict = (
            "would be " + ("" if gate["approved"] else "NOT ") + "approved (information only: never ships)"
        )
    table = Table(title=f"quality gate: {verdict}")
    for name in ("check", "value", "threshold", "verdict"):
        table.add_column(name)
    for c in gate["checks"]:
        if c.get("skipped"):
            table.add_row(c["check"], "-", "-", f"skipped: {c['reason']}")
        else:
            table.add_row(c["check"], describe_value(c), f"{c['op']} {c['threshold']:g}", describe_verdict(c))
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--dataset", help="a name under `datasets` in params.yaml (default: serve.dataset)")
    reference = parser.add_mutually_exclusive_group()
    reference.add_argument("--reference-rev", help="Git revision holding the approved model's metrics")
    reference.add_argument("--reference", type=Path, help="a metrics.json of the approved model")
    parser.add_argument("--out", type=Path, help="also write the verdict as JSON here")
    args = parser.parse_args(argv)

    def body() -> None:
        params = load_params(args.params)
        name = args.dataset or params.serve.dataset
        params.dataset(name)  # a clear error for a name params.yaml does not have
        metrics = io.read_json(DatasetPaths(name).metrics)
        if args.reference:
            gate = evaluate_gate(metrics, params.gate, io.read_json(args.reference))
        else:
            gate = gate_against_revision(metrics, params, name, args.reference_rev, "gate")
        if args.out:
            io.write_json(args.out, gate)
        results.print(gate_table(gate))
        if not gate["approved"]:
            failed = ", ".join(c["check"] for c in gate["checks"] if not c["passed"])
            raise StageError(f"the model is not approved: failed {failed}")

    run("gate", body)


if __name__ == "__main__":
    main()
