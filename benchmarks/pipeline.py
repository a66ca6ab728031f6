"""Pipeline cost as data grows: every stage at 1x, 4x and 16x synthetic data, and `dvc repro` itself.

Scales come from the sample generator with more stations and years: 1x is 3 stations x 5 years (131k
hourly rows; the default sample was this size until it became 3 years), 4x is 6 stations x 10 years,
16x is 8 stations x 30 years. Each stage runs as dvc.yaml runs it (its `cmd`, in a scratch directory
with that scale's params.yaml), in its own process: wall time and peak resident memory per stage, and
rows per second over the stage's input rows. Threads are left as a user's `dvc repro` has them (the
stages pin them where that is faster).
`dvc repro` end to end and a no-op `dvc repro` are timed in a fresh clone of this repository's HEAD.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from benchmarks.common import ROOT, console, median, run_measured, save, table

STAGES = ("ingest", "validate", "featurize", "train", "evaluate")
SCALES: dict[str, dict[str, Any]] = {
    "1x": {"stations": [108, 112, 119], "start_month": "2020-01", "end_month": "2024-12"},
    "4x": {"stations": [108, 112, 119, 131, 133, 143], "start_month": "2015-01", "end_month": "2024-12"},
    "16x": {
        "stations": [108, 112, 119, 131, 133, 143, 156, 159],
        "start_month": "1995-01",
        "end_month": "2024-12",
    },
}


def stage_commands() -> dict[str, str]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    # The scaled runs grow the sample; the real record's size is what it is.
    return {name: " ".join(stages[name]["do"]["cmd"].replace("${key}", "sample").split()) for name in STAGES}


def prepare(work: Path, scale: dict[str, Any]) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["datasets"]["sample"].update(scale)
    work.mkdir(parents=True, exist_ok=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def input_rows(work: Path) -> dict[str, int]:
    """Rows each stage reads: hourly observations up to featurize (ingest: the rows it writes), then
    feature rows (one per station, date and window)."""
    observations = len(
        pd.read_parquet(work / "data/interim/sample/observations.parquet", columns=["station_id"])
    )
    dataset = len(pd.read_parquet(work / "data/features/sample/dataset.parquet", columns=["station_id"]))
    return dict.fromkeys(("ingest", "validate", "featurize"), observations) | dict.fromkeys(
        ("train", "evaluate"), dataset
    )


def run_scale(name: str, scale: dict[str, Any], repeats: int, scratch: Path) -> dict[str, Any]:
    commands = stage_commands()
    runs: list[dict[str, dict[str, float]]] = []
    for i in range(repeats):
        work = scratch / f"{name}-{i}"
        prepare(work, scale)
        run: dict[str, dict[str, float]] = {}
        for stage in STAGES:
            console.print(f"{name} run {i + 1}/{repeats}: {stage}")
            measured = run_measured(["bash", "-c", commands[stage]], work)
            run[stage] = {"wall_s": measured.wall_s, "peak_rss_mb": measured.peak_rss_mb}
        rows = input_rows(work)
        shutil.rmtree(work)
        runs.append(run)
    stages = {
        stage: {
            "rows": rows[stage],
            "wall_s": median([r[stage]["wall_s"] for r in runs]),
            "peak_rss_mb": max(r[stage]["peak_rss_mb"] for r in runs),
        }
        for stage in STAGES
    }
    for values in stages.values():
        values["rows_per_s"] = values["rows"] / values["wall_s"]
    total = median([sum(r[s]["wall_s"] for s in STAGES) for r in runs])
    return {"scale": scale, "repeats": repeats, "runs": runs, "stages": stages, "total_wall_s": total}


def dvc_repro(repeats: int, scratch: Path) -> dict[str, Any]:
    """`make run`'s work in a fresh clone: `dvc repro` of every stage of every dataset (dvc's own overhead
    included) and the summary it prints; then a no-op `dvc repro`. The clone uses this checkout's .venv
    (`make install` is a one-time setup, timed apart in the README)."""
    clone = scratch / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    full, summary, noop = [], [], []
    for i in range(repeats):
        console.print(f"dvc repro run {i + 1}/{repeats}")
        full.append(run_measured(["dvc", "repro", "--force"], clone).wall_s)
        summary.append(run_measured(["python", "-m", "commute_weather.pipeline.summary"], clone).wall_s)
        noop.append(run_measured(["dvc", "repro"], clone).wall_s)
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True
    )
    return {
        "full_s": full,
        "summary_s": summary,
        "make_run_s": [a + b for a, b in zip(full, summary, strict=True)],
        "noop_s": noop,
        "full_median_s": median(full),
        "make_run_median_s": median([a + b for a, b in zip(full, summary, strict=True)]),
        "noop_median_s": median(noop),
        "tree_clean_after": status.stdout.strip() == "",
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--scales", nargs="+", default=list(SCALES), choices=list(SCALES), help="in increasing order"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--repro-only",
        action="store_true",
        help="only `dvc repro` of every dataset (issue 20's 3-minute target)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        scratch = Path(tmp)
        # Largest first: a scale that breaks (a contract violation, memory) shows up before the long runs.
        scales_run = [] if args.repro_only else reversed(args.scales)
        ran = {name: run_scale(name, SCALES[name], args.repeats, scratch) for name in scales_run}
        scales = {name: ran[name] for name in SCALES if name in ran}
        repro = dvc_repro(args.repeats, scratch)
    report(scales, repro)
    save("pipeline_repro" if args.repro_only else "pipeline", {"scales": scales, "dvc_repro": repro})
    return {"scales": scales, "dvc_repro": repro}


def report(scales: dict[str, Any], repro: dict[str, Any]) -> None:
    base = scales.get("1x")
    rows = []
    for stage in STAGES:
        for name, result in scales.items():
            values = result["stages"][stage]
            growth = values["wall_s"] / base["stages"][stage]["wall_s"] if base else float("nan")
            rows.append(
                (
                    f"{stage} {name}",
                    values["rows"],
                    values["wall_s"],
                    values["rows_per_s"],
                    growth,
                    values["peak_rss_mb"],
                )
            )
    for name, result in scales.items():
        growth = result["total_wall_s"] / base["total_wall_s"] if base else float("nan")
        peak = max(v["peak_rss_mb"] for v in result["stages"].values())
        rows.append((f"all stages {name}", "", result["total_wall_s"], "", growth, peak))
    if rows:
        table(
            "Pipeline scaling (median wall time over runs; peak memory is the largest over runs)",
            ["stage / scale", "rows in", "wall (s)", "rows/s", "time vs 1x", "peak RSS (MB)"],
            rows,
        )
    table(
        "dvc repro (fresh clone of HEAD, 2 cores)",
        ["", "median (s)", "runs (s)"],
        [
            (
                "dvc repro --force, all stages",
                repro["full_median_s"],
                ", ".join(f"{x:.1f}" for x in repro["full_s"]),
            ),
            (
                "make run: dvc repro --force and the summary",
                repro["make_run_median_s"],
                ", ".join(f"{x:.1f}" for x in repro["make_run_s"]),
            ),
            (
                "dvc repro, nothing changed",
                repro["noop_median_s"],
                ", ".join(f"{x:.2f}" for x in repro["noop_s"]),
            ),
        ],
    )


if __name__ == "__main__":
    main()
