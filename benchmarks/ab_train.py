"""The train stage on scaled sample data, this checkout against another, side by side.

Each side (a checkout with its own .venv, e.g. a clone at the old commit after `make install`) gets a
scratch directory with its own params.yaml grown to the scale (benchmarks.pipeline.SCALES). Ingest and
validate run once (with this checkout's code; the sample generator, parser and contract must be the same on
both sides: they are checked by comparing the two checkouts' sources); each side then featurizes with its
own code (its features differ) and the train stage, as dvc.yaml runs it, is timed in its own process,
alternating the sides round by round (A B, B A, ...). Wall time and peak resident memory per run; medians
and the median of the per-round ratios.

    python -m benchmarks.ab_train --base /tmp/old-checkout --scale 16x --rounds 2
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from benchmarks.common import ROOT, console, git_head, median, run_measured, save, table
from benchmarks.pipeline import SCALES, stage_commands

# What produces the observations and their validation report: equal on both sides, or ingest and validate
# run per side.
SHARED_SOURCES = [
    *("ingest.py", "synthetic.py", "validate.py", "schemas.py", "normalize.py", "stations.py"),
    *("comfort.py", "io.py"),
    *(f"kma/{m}.py" for m in ("client", "endpoints", "errors", "portal_csv", "records", "typ01")),
]


def prepare(work: Path, checkout: Path, scale: dict[str, Any]) -> None:
    params = yaml.safe_load((checkout / "params.yaml").read_text())
    params["datasets"]["sample"].update(scale)
    work.mkdir(parents=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def shared_stages(base: Path) -> bool:
    mine, theirs = ROOT / "src/commute_weather", base / "src/commute_weather"
    return all(
        filecmp.cmp(mine / name, theirs / name, shallow=False)
        for name in SHARED_SOURCES
        if (mine / name).exists() or (theirs / name).exists()
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="the checkout to compare against")
    parser.add_argument("--scale", default="16x", choices=list(SCALES))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    sides = {"base": args.base.resolve(), "head": ROOT}
    commands = stage_commands()
    # `python -m ...` in the stage commands is the side's own interpreter.
    env = {s: {"PATH": f"{p / '.venv/bin'}{os.pathsep}{os.environ['PATH']}"} for s, p in sides.items()}
    runs: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
    prep: dict[str, float] = {}
    rows: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ab-train-") as tmp:
        work = {side: Path(tmp) / side for side in sides}
        for side, checkout in sides.items():
            prepare(work[side], checkout, SCALES[args.scale])
        shared = shared_stages(sides["base"])
        for stage in ("ingest", "validate"):
            for side in ("head",) if shared else ("head", "base"):
                console.print(f"{args.scale} {stage} ({side})")
                prep[f"{stage}.{side}"] = run_measured(
                    ["bash", "-c", commands[stage]], work[side], env[side]
                ).wall_s
        if shared:
            for part in ("data/interim", "reports"):
                shutil.copytree(work["head"] / part, work["base"] / part, dirs_exist_ok=True)
        for side in sides:
            console.print(f"{args.scale} featurize ({side})")
            prep[f"featurize.{side}"] = run_measured(
                ["bash", "-c", commands["featurize"]], work[side], env[side]
            ).wall_s
            rows[side] = len(
                pd.read_parquet(work[side] / "data/features/sample/dataset.parquet", columns=["station_id"])
            )
        for i in range(args.rounds):
            for side in ["base", "head"] if i % 2 == 0 else ["head", "base"]:
                console.print(f"{args.scale} train round {i + 1}/{args.rounds} ({side})")
                measured = run_measured(["bash", "-c", commands["train"]], work[side], env[side])
                runs[side].append({"wall_s": measured.wall_s, "peak_rss_mb": measured.peak_rss_mb})
                console.print(f"  {measured.wall_s:.1f} s, {measured.peak_rss_mb:.0f} MB")
        chosen = {
            side: yaml.safe_load((work[side] / "metrics/sample/model_selection.json").read_text())["chosen"]
            for side in sides
        }
    walls = {side: [r["wall_s"] for r in runs[side]] for side in sides}
    ratios = [h / b for h, b in zip(walls["head"], walls["base"], strict=True)]
    summary = {
        "scale": args.scale,
        "feature_rows": rows,
        "chosen": chosen,
        "train_wall_median_s": {side: median(walls[side]) for side in sides},
        "train_peak_rss_mb": {side: max(r["peak_rss_mb"] for r in runs[side]) for side in sides},
        "ratio_median": median(ratios),
        "ratios": ratios,
        "shared_ingest": shared,
        "prep_wall_s": prep,
    }
    commits = {side: git_head(path) for side, path in sides.items()}
    wall, peak = summary["train_wall_median_s"], summary["train_peak_rss_mb"]
    listed = {side: ", ".join(f"{w:.0f}" for w in walls[side]) for side in sides}
    table(
        f"train stage at {args.scale} ({rows['head']:,} rows): {commits['head']} vs {commits['base']}",
        ["", f"base {commits['base']}", f"head {commits['head']}", "ratio head/base"],
        [
            ("wall, median (s)", wall["base"], wall["head"], summary["ratio_median"]),
            ("runs (s)", listed["base"], listed["head"], ", ".join(f"{r:.2f}" for r in ratios)),
            ("peak RSS (MB)", peak["base"], peak["head"], "-"),
            ("model chosen", chosen["base"], chosen["head"], "-"),
        ],
    )
    save(f"ab_train_{args.scale}", {"commits": commits, "runs": runs, "summary": summary})
    return summary


if __name__ == "__main__":
    main()
