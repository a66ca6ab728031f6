"""One forecast in process (no HTTP), this checkout's model against another checkout's, side by side.

Each side is a checkout with its own .venv and pipeline outputs (e.g. a clone at the old commit after
`make install` and `dvc checkout`). Per round and side, a fresh process in that checkout runs its own
`benchmarks.serving.in_process_ms` on its own served model (400 real test-period requests; one-forecast and
100-forecast p50 over `--repeats` passes). Rounds alternate the order (A B, B A, ...) so that machine
noise hits both; the table shows medians over rounds and the median of the per-round ratios.

    python -m benchmarks.ab_forecast --base /tmp/old-checkout --rounds 7
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.common import PINNED_THREADS, ROOT, git_head, median, save, table

WORKER = (
    "import json; from benchmarks.serving import request_bodies, in_process_ms; "
    "print(json.dumps(in_process_ms(request_bodies(400), repeats={repeats})))"
)


def measure(checkout: Path, repeats: int) -> dict[str, float]:
    done = subprocess.run(
        [str(checkout / ".venv/bin/python"), "-c", WORKER.format(repeats=repeats)],
        cwd=checkout,
        env={**os.environ, **PINNED_THREADS},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="the checkout to compare against")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3, help="passes over the 400 requests per process")
    args = parser.parse_args(argv)
    sides = {"base": args.base.resolve(), "head": ROOT}
    rounds: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
    for i in range(args.rounds):
        order = ["base", "head"] if i % 2 == 0 else ["head", "base"]
        for side in order:
            rounds[side].append(measure(sides[side], args.repeats))
        print(f"round {i + 1}/{args.rounds}: " + ", ".join(f"{s} {rounds[s][-1]}" for s in order))
    summary: dict[str, Any] = {}
    rows = []
    for key, label in (
        ("predict_p50_ms", "one forecast p50 (ms)"),
        ("batch_p50_ms", "100 forecasts p50 (ms)"),
    ):
        base = [r[key] for r in rounds["base"]]
        head = [r[key] for r in rounds["head"]]
        ratios = [h / b for h, b in zip(head, base, strict=True)]
        summary[key] = {
            "base_median": median(base),
            "head_median": median(head),
            "ratio_median": median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
        }
        rows.append(
            (label, median(base), median(head), median(ratios), f"{min(ratios):.2f}-{max(ratios):.2f}")
        )
    commits = {side: git_head(path) for side, path in sides.items()}
    table(
        f"In process, no HTTP: {commits['head']} vs {commits['base']} (medians over {args.rounds} rounds)",
        ["", f"base {commits['base']}", f"head {commits['head']}", "ratio head/base", "ratio range"],
        rows,
    )
    save("ab_forecast", {"commits": commits, "repeats": args.repeats, "rounds": rounds, "summary": summary})
    return summary


if __name__ == "__main__":
    main()
