"""The quality gate: every check with its value, threshold and verdict. Only an approved model is packaged.

    python -m commute_weather.gate [--dataset cheongju] [--reference-rev main]

judges one dataset's model (default: serve.dataset, the one that is packaged), exits 1 when it is not
approved and prints the failed checks. With --reference-rev (or --reference FILE) its RMSE is also compared
with the same dataset's metrics on that Git revision: like with like, never another dataset's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

from rich.table import Table

from commute_weather import io
from commute_weather.cli import StageError, results, run
from commute_weather.config import GateParams, load_params
from commute_weather.paths import DatasetPaths


def _check(name: str, value: float, op: str, threshold: float, passed: bool) -> dict[str, Any]:
    return {"check": name, "value": round(value, 4), "op": op, "threshold": threshold, "passed": passed}


def evaluate_gate(
    metrics: dict[str, Any], params: GateParams, reference: dict[str, Any] | None
) -> dict[str, Any]:
    model_rmse = float(metrics["model"]["rmse"])
    skill = float(metrics["skill_vs_persistence"])
    train_rows = int(metrics["rows"]["train"])
    checks = [
        _check("rmse_max", model_rmse, "<=", params.rmse_max, model_rmse <= params.rmse_max),
        _check("min_skill", skill, ">=", params.min_skill, skill >= params.min_skill),
        _check(
            "min_train_rows", train_rows, ">=", params.min_train_rows, train_rows >= params.min_train_rows
        ),
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
        increase = model_rmse - float(reference["model"]["rmse"])
        regression = _check("max_rmse_regression", increase, "<=", params.max_rmse_regression,
                            increase <= params.max_rmse_regression)  # fmt: skip
        regression["reference_rmse"] = float(reference["model"]["rmse"])
    checks.append(regression)
    return {"approved": all(c["passed"] for c in checks), "checks": checks}


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


def gate_table(gate: dict[str, Any]) -> Table:
    verdict = "[bold green]APPROVED[/]" if gate["approved"] else "[bold red]NOT APPROVED[/]"
    table = Table(title=f"quality gate: {verdict}")
    for name in ("check", "value", "threshold", "verdict"):
        table.add_column(name)
    for c in gate["checks"]:
        if c.get("skipped"):
            table.add_row(c["check"], "-", "-", f"skipped: {c['reason']}")
        else:
            table.add_row(
                c["check"],
                f"{c['value']:g}",
                f"{c['op']} {c['threshold']:g}",
                "pass" if c["passed"] else "FAIL",
            )
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
        metrics_path = DatasetPaths(name).metrics
        ref = io.read_json(args.reference) if args.reference else None
        if args.reference_rev:
            ref = reference_from_git(args.reference_rev, metrics_path)
        gate = evaluate_gate(io.read_json(metrics_path), params.gate, ref)
        if args.out:
            io.write_json(args.out, gate)
        results.print(gate_table(gate))
        if not gate["approved"]:
            failed = ", ".join(c["check"] for c in gate["checks"] if not c["passed"])
            raise StageError(f"the model is not approved: failed {failed}")

    run("gate", body)


if __name__ == "__main__":
    main()
