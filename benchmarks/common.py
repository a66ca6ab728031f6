"""What every benchmark shares: the machine description, medians, result files and tables."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from commute_weather import io
from commute_weather.config import load_params
from commute_weather.forecast.predictor import Predictor
from commute_weather.paths import DatasetPaths

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
# One BLAS/OpenMP thread per process: on 2 cores, oversubscribed threads (numpy, scikit-learn's OpenMP)
# cost more than they give, and both servers run with the same setting.
PINNED_THREADS = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")
console = Console(highlight=False, width=150)


def machine() -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 2**20, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0-100): a latency that some request actually had."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


@dataclass(frozen=True)
class Measured:
    wall_s: float
    peak_rss_mb: float


def run_measured(command: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> Measured:
    """Run a command; its wall time and the peak resident memory of the process (largest child's if it
    spawns others, as getrusage reports it)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    output = process.stdout.read().decode(errors="replace") if process.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-3000:]}")
    return Measured(wall_s=wall, peak_rss_mb=usage.ru_maxrss / 1024)


def served() -> DatasetPaths:
    """Where the served dataset's outputs are (serve.dataset in params.yaml), relative to ROOT."""
    return DatasetPaths(load_params(ROOT / "params.yaml").serve.dataset)


def load_predictor(model_dir: Path | None = None) -> Predictor:
    """The pipeline's model (default: the served dataset's) with the params it was trained with."""
    model_dir = model_dir or ROOT / served().model.parent
    return Predictor.from_artifacts(
        (model_dir / "model.pkl").read_bytes(), io.read_json(model_dir / "metadata.json")
    )


def save(name: str, payload: dict[str, Any]) -> Path:
    target = RESULTS / f"{name}.json"
    io.write_json(target, {"machine": machine(), **payload})
    return target


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    out = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        out.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        out.add_row(*(fmt(v) for v in row))
    console.print(out)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if value < 10 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def git_head(checkout: Path) -> str:
    """The short commit a benchmarked checkout is at."""
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True, check=True
    ).stdout.strip()
