"""What `make run` prints at the end: what the pipeline produced, the metrics table and the gate verdict.

python -m commute_weather.summary [--metrics metrics/metrics.json] [--gate metrics/gate.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from commute_weather import io
from commute_weather.evaluate import PREDICTORS
from commute_weather.gate import gate_table


def metrics_table(metrics: dict[str, Any]) -> Table:
    rows = metrics["rows"]
    table = Table(title=f"test period: {rows['test']:,} windows (trained on {rows['train']:,})")
    for name in ("predictor", "RMSE", "MAE", "bias", "R2"):
        table.add_column(name, justify="right" if name != "predictor" else "left")
    for p in PREDICTORS:
        m = metrics[p]
        table.add_row(p, f"{m['rmse']:.3f}", f"{m['mae']:.3f}", f"{m['bias']:+.3f}", f"{m['r2']:.3f}")
    table.caption = (
        f"skill vs persistence {metrics['skill_vs_persistence']:.3f}, "
        f"vs climatology {metrics['skill_vs_climatology']:.3f}"
    )
    return table


def pipeline_outputs(dvc_yaml: Path) -> list[Path]:
    """Every output and metrics file the stages of dvc.yaml declare, in stage order."""
    stages = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))["stages"]
    paths = []
    for stage in stages.values():
        for entry in [*stage.get("outs", []), *stage.get("metrics", [])]:
            paths.append(Path(next(iter(entry)) if isinstance(entry, dict) else entry))
    return paths


def outputs_table(paths: list[Path]) -> Table:
    table = Table(title="pipeline outputs")
    table.add_column("path")
    table.add_column("size", justify="right")
    for path in paths:
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        size = sum(p.stat().st_size for p in files if p.exists())
        shown = f"{path}/ ({len(files)} files)" if path.is_dir() else str(path)
        table.add_row(shown, f"{size / 1e6:,.1f} MB" if size >= 1e5 else f"{size / 1e3:,.1f} kB")
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, default=Path("metrics/metrics.json"))
    parser.add_argument("--gate", type=Path, default=Path("metrics/gate.json"))
    parser.add_argument("--dvc-yaml", type=Path, default=Path("dvc.yaml"))
    args = parser.parse_args(argv)
    console = Console()
    console.print(outputs_table(pipeline_outputs(args.dvc_yaml)))
    console.print(metrics_table(io.read_json(args.metrics)))
    console.print(gate_table(io.read_json(args.gate)))


if __name__ == "__main__":
    main()
