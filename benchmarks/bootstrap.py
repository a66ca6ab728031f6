"""Bootstrap speed and noise scale: the paired block bootstrap (commute_weather.forecast.compare) on
test-sized inputs.

Speed: synthetic test predictions shaped like data/predictions/test.parquet (one station's 365 days x two
windows = 730 windows, the real record's test period; three stations = 2,190, the sample's; nine =
6,570, a network), 7-day
blocks, 2,000 resamples. Each figure is the median wall time of `--repeats` calls in this process after
one warm-up call: `paired_block_bootstrap` alone (RMSE; RMSE with skill vs persistence) and
`compare_frames` (aligning two frames, then every metric the predictions determine and the model's RMSE
per slice, each with its interval), the call a report or gate makes; and
`selection_intervals` over four candidates on a 180-day validation period, what train adds.

Noise scale: when the pipeline's test predictions exist (dvc repro), the intervals of a few changes on
them: the model against persistence, against copies of itself with noise or a shift added, and how the
interval of one change widens with the block length (single windows up to four-week blocks), with the
basic-bootstrap endpoints and the spread of the endpoints over seeds beside the percentile interval.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import ROOT, console, median, save, table
from commute_weather.config import CompareParams
from commute_weather.forecast.compare import (
    MAE,
    RMSE,
    Change,
    compare_frames,
    paired_block_bootstrap,
    selection_intervals,
)
from commute_weather.paths import DatasetPaths

PREDICTIONS = ROOT / DatasetPaths("cheongju").predictions  # the real record's test year
PARAMS = CompareParams(block_days=7, resamples=2000, seed=0, confidence=0.95)


def synthetic(stations: int, days: int = 365, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = pd.MultiIndex.from_product(
        [range(stations), pd.date_range("2024-01-01", periods=days), ["morning", "evening"]],
        names=["station_id", "date", "window"],
    ).to_frame(index=False)
    label = rng.uniform(20, 95, len(rows))
    return rows.assign(
        label=label,
        model=label + rng.normal(0, 9.7, len(rows)),
        persistence=label + rng.normal(0, 13.5, len(rows)),
    )


def timed(repeats: int, work: Callable[[], object]) -> list[float]:
    work()  # warm-up: imports, first BLAS call
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return seconds


def speed(repeats: int, resamples: int) -> list[dict[str, Any]]:
    results = []
    for stations in (1, 3, 9):  # the real record, the sample, a nine-station network
        frame = synthetic(stations)
        pr = frame.assign(model=frame["model"] + 0.3)
        args = (frame["date"].to_numpy(), frame["label"], frame["model"], pr["model"])
        options: dict[str, Any] = {"block_days": 7, "resamples": resamples, "seed": 0}
        params = PARAMS.model_copy(update={"resamples": resamples})
        cases: dict[str, Callable[[], object]] = {
            "paired_block_bootstrap: RMSE": lambda a=args, o=options: paired_block_bootstrap(*a, **o),
            "paired_block_bootstrap: RMSE + skill vs persistence": (
                lambda a=args, o=options, f=frame: paired_block_bootstrap(*a, reference=f["persistence"], **o)
            ),
            "compare_frames: align + every metric, and RMSE per window, season, station": (
                lambda f=frame, p=pr, q=params: compare_frames(f, p, q)
            ),
        }
        for name, work in cases.items():
            console.print(f"{len(frame)} windows: {name}")
            seconds = timed(repeats, work)
            results.append({"case": name, "windows": len(frame), "days": 365, "resamples": resamples,
                            "block_days": 7, "median_s": median(seconds), "runs_s": seconds})  # fmt: skip
    return results


def selection_speed(repeats: int, resamples: int, candidates: int = 4) -> dict[str, Any]:
    """`selection_intervals` as train calls it on the real record's validation period (180 days, two
    windows a day) with `candidates` candidates: candidates - 1 bootstraps against the default and
    `candidates` against persistence."""
    frame = synthetic(1, days=180)
    scores = {f"candidate {i}": frame["model"] + 0.3 * i for i in range(candidates)}
    params = PARAMS.model_copy(update={"resamples": resamples})
    seconds = timed(
        repeats,
        lambda: selection_intervals(
            frame["date"].to_numpy(), frame["label"], scores, frame["persistence"], "candidate 0", params
        ),
    )
    return {
        "case": f"selection_intervals: {candidates} candidates", "windows": len(frame), "days": 180,
        "resamples": resamples, "block_days": 7, "median_s": median(seconds), "runs_s": seconds,
    }  # fmt: skip


def row(name: str, change: Change, **extra: Any) -> dict[str, Any]:
    return {"comparison": name, **change.to_dict(), "width": change.high - change.low, **extra}


def noise_scale(test: pd.DataFrame) -> dict[str, Any]:
    """Intervals of a few changes on the pipeline's test predictions."""
    rng = np.random.default_rng(0)
    dates, label = test["date"].to_numpy(), test["label"]
    options: dict[str, Any] = {"block_days": PARAMS.block_days, "resamples": PARAMS.resamples, "seed": 0}
    model = test["model"].to_numpy()
    copies = {
        "model -> persistence": test["persistence"].to_numpy(),
        "model -> climatology": test["climatology"].to_numpy(),
        "model -> model + N(0, 0.3) noise": model + rng.normal(0, 0.3, len(test)),
        "model -> model + 0.3": model + 0.3,
        "model -> model + N(0, 3) noise": model + rng.normal(0, 3, len(test)),
    }
    changes = []
    for name, pr in copies.items():
        out = paired_block_bootstrap(
            dates, label, model, pr, metrics=(RMSE, MAE), reference=test["persistence"], **options
        )
        changes += [row(name, out["rmse"]), row(name, out["rmse_skill_vs_persistence"])]
    # How the interval of one change depends on the resampled unit, its stability over seeds and the
    # basic-bootstrap endpoints (2 x point - percentile endpoints, swapped) beside the percentile ones.
    pr = copies["model -> model + N(0, 3) noise"]
    units: dict[str, tuple[Any, int]] = {"single windows": (np.arange(len(test)), 1), "days": (dates, 1)}
    units |= {f"{b}-day blocks": (dates, b) for b in (3, 7, 14, 28)}
    blocks = []
    for unit, (groups, block_days) in units.items():
        by_seed = [
            paired_block_bootstrap(groups, label, model, pr, block_days=block_days, resamples=2000,
                                   seed=seed)["rmse"] for seed in range(5)
        ]  # fmt: skip
        first = by_seed[0]
        blocks.append(row(
            f"model -> model + N(0, 3) noise, {unit}", first, unit=unit,
            basic_low=2 * first.change - first.high, basic_high=2 * first.change - first.low,
            low_over_seeds=[c.low for c in by_seed], high_over_seeds=[c.high for c in by_seed],
        ))  # fmt: skip
    daily = (test.assign(e=test["model"] - test["label"]).groupby("date")["e"].mean()).to_numpy()
    lags = {lag: float(np.corrcoef(daily[:-lag], daily[lag:])[0, 1]) for lag in (1, 2, 3, 5, 7, 14)}
    return {"windows": len(test), "days": int(test["date"].nunique()),
            "stations": int(test["station_id"].nunique()), "changes": changes, "block_lengths": blocks,
            "daily_mean_error_autocorrelation": lags}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args(argv)
    results = [*speed(args.repeats, args.resamples), selection_speed(args.repeats, args.resamples)]
    table(f"Paired block bootstrap, 7-day blocks (median of {args.repeats} calls)",
          ["case", "windows", "resamples", "median (ms)", "fastest (ms)", "slowest (ms)"],
          [(r["case"], r["windows"], r["resamples"], r["median_s"] * 1e3, min(r["runs_s"]) * 1e3,
            max(r["runs_s"]) * 1e3) for r in results])  # fmt: skip
    payload: dict[str, Any] = {"speed": results, "repeats": args.repeats}
    if PREDICTIONS.exists():
        scale = noise_scale(pd.read_parquet(PREDICTIONS))
        title = (f"Changes on the pipeline's test predictions ({scale['windows']:,} windows, {scale['days']} "
                 f"days, {scale['stations']} stations; 7-day blocks, 2,000 resamples, 95%)")  # fmt: skip
        table(title, ["comparison", "metric", "base", "PR", "change", "low", "high", "verdict"],
              [(r["comparison"], r["metric"], r["base"], r["pr"], f"{r['change']:+.3f}", f"{r['low']:+.3f}",
                f"{r['high']:+.3f}", r["verdict"]) for r in scale["changes"]])  # fmt: skip
        table("RMSE change of model -> model + N(0, 3) noise by resampled unit",
              ["unit", "change", "low", "high", "width", "basic low", "basic high", "low, 5 seeds",
               "high, 5 seeds"],
              [(r["unit"], f"{r['change']:+.3f}", f"{r['low']:+.3f}", f"{r['high']:+.3f}",
                f"{r['width']:.3f}", f"{r['basic_low']:+.3f}", f"{r['basic_high']:+.3f}",
                f"{min(r['low_over_seeds']):+.3f} to {max(r['low_over_seeds']):+.3f}",
                f"{min(r['high_over_seeds']):+.3f} to {max(r['high_over_seeds']):+.3f}")
               for r in scale["block_lengths"]])  # fmt: skip
        table("Autocorrelation of the model's daily mean error", ["lag (days)", "r"],
              [(str(k), v) for k, v in scale["daily_mean_error_autocorrelation"].items()])  # fmt: skip
        payload["noise_scale"] = scale
    else:
        console.print(f"noise scale skipped: {PREDICTIONS} is not there (run dvc repro)")
    save("bootstrap", payload)
    return payload


if __name__ == "__main__":
    main()
