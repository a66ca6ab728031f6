"""Is a metric change real? Paired block-bootstrap intervals for the change between two models' predictions.

Both models are scored on the same test windows, so the comparison is paired: every resample draws one set
of windows and scores base and PR on it, which cancels the noise both share (a hard week is hard for both).
Weather, and so forecast error, is autocorrelated over days: resampling single windows treats each day as
new information and understates the noise. The resampling unit is therefore a block of `block_days`
consecutive test dates, with every window of a sampled date (both commute windows, every station) coming
along, which keeps the pairing, the within-day correlation and the day-to-day correlation inside a block.

    aligned = align_predictions(base_frame, pr_frame)          # refuses frames that cover other windows
    comparison = compare_predictions(aligned, params)          # every metric the predictions determine
    comparison.changes["rmse"].verdict        # "improves" | "worsens" | "no detectable change"
    comparison.changes["rmse"].describe()     # "RMSE 9.718 -> 9.845 (+0.127, 95% interval ...): worsens"
    comparison.slices["station"]["108"]       # the model's RMSE on one slice's windows, same resamples

`paired_block_bootstrap` is the general core: any metric that is the mean of a per-window loss (MAE, MSE,
Brier score, log loss) or the square root of one (RMSE), given as a `MetricSpec`.

Method. Circular moving blocks (Politis and Romano 1992): a block starts at any of the n sorted unique
test dates with equal probability and runs for `block_days` dates, wrapping from the last date to the
first; ceil(n / block_days) blocks are drawn and cut to n dates, so a resample has as many dates as the
test set. Circular rather than plain moving blocks because plain ones under-sample the first and last
block_days - 1 dates (a date near an end lies in fewer possible blocks), which biases the bootstrap
distribution away from the point estimate; wrapped, every date is equally likely and the bootstrap mean of
a mean-type statistic equals the sample's. The one artificial join (last date to first) is a year apart on
a 365-day test period, so the same season. "Consecutive" means consecutive among the dates present: a
date with no scorable window is skipped rather than counted as an empty day.

Resamples are day weights: a (resamples x n) matrix of how often each date was drawn (one bincount), so a
resampled mean is (weights . per-date loss sums) / (weights . per-date window counts): no Python loop over
resamples. Per slice (a station, a season) the sums are per date and slice, so every slice of every
resample is one matrix product too; a slice keeps whole days, so it is paired and blocked like the rest.
The interval is the percentile interval of the resampled changes. It respects the sqrt in RMSE and the
ratio in skill (percentiles commute with monotone transforms), needs no variance formula, and with about
50 weekly blocks the bootstrap distribution of these smooth statistics is close to symmetric
and centred on the point estimate, where percentile, basic and BCa intervals agree (the benchmark reports
both percentile and basic endpoints on the pipeline's test predictions; they differ by at most 0.015).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from commute_weather.config import CompareParams
from commute_weather.forecast.slices import slice_labels

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
# "changes": a detectable change of a metric with no better side (the score interval's width).
Verdict = Literal["improves", "worsens", "changes", "no detectable change"]
KEY = ["station_id", "date", "window"]
TOLERANCE = 1e-9  # a prediction that moved less than this has not changed


def squared_error(actual: FloatArray, predicted: FloatArray) -> FloatArray:
    return np.asarray((predicted - actual) ** 2, dtype=np.float64)


def absolute_error(actual: FloatArray, predicted: FloatArray) -> FloatArray:
    return np.asarray(np.abs(predicted - actual), dtype=np.float64)


@dataclass(frozen=True)
class MetricSpec:
    """A metric that is the mean of a per-window loss, or (root=True) the square root of that mean.

    loss(actual, predicted) returns one loss per window. Lower values are better for every such metric.
    """

    name: str
    loss: Callable[[FloatArray, FloatArray], FloatArray]
    root: bool = False

    def finish(self, mean: FloatArray) -> FloatArray:
        return np.sqrt(mean) if self.root else mean


RMSE = MetricSpec("rmse", squared_error, root=True)
MAE = MetricSpec("mae", absolute_error)
# Probabilities against a 0/1 outcome: the mean squared error of the probability.
BRIER = MetricSpec("brier", squared_error)


@dataclass(frozen=True)
class Change:
    """The change PR - base of one metric on the same windows, with its bootstrap interval."""

    metric: str
    base: float
    pr: float
    change: float
    low: float
    high: float
    confidence: float
    higher_is_better: bool
    neutral: bool = False  # neither direction is better: a detectable change "changes"

    @property
    def verdict(self) -> Verdict:
        return verdict(self.low, self.high, higher_is_better=self.higher_is_better, neutral=self.neutral)

    def describe(self, digits: int = 3) -> str:
        """One line for a report: 'RMSE 9.718 -> 9.845 (+0.127, 95% interval -0.210 to +0.464): ...'."""
        label = self.metric.upper() if self.metric in {"rmse", "mae", "brier"} else self.metric
        values = f"{self.base:.{digits}f} -> {self.pr:.{digits}f} ({self.change:+.{digits}f}"
        interval = (
            f"{self.confidence:.0%} interval {_endpoint(self.low, digits)} to {_endpoint(self.high, digits)}"
        )
        return f"{label} {values}, {interval}): {self.verdict}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "base": self.base, "pr": self.pr, "change": self.change,
            "low": self.low, "high": self.high, "confidence": self.confidence,
            "higher_is_better": self.higher_is_better, "neutral": self.neutral, "verdict": self.verdict,
        }  # fmt: skip


def _endpoint(value: float, digits: int) -> str:
    """An endpoint that is not zero is never printed as zero: the verdict hangs on its sign."""
    if value != 0 and round(value, digits) == 0:
        return f"{value:+.1g}"
    return f"{value:+.{digits}f}"


@dataclass(frozen=True)
class Comparison:
    """Every metric's change, and what the intervals were computed over."""

    changes: dict[str, Change]
    windows: int
    days: int
    block_days: int
    resamples: int
    seed: int
    # kind -> slice -> the model's RMSE change on that slice's windows (forecast.slices), same resamples
    slices: dict[str, dict[str, Change]] = field(default_factory=dict)
    # column -> (windows whose prediction differs, largest absolute difference): "identical" is a fact
    differences: dict[str, tuple[int, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "windows": self.windows, "days": self.days, "block_days": self.block_days,
            "resamples": self.resamples, "seed": self.seed,
            "changes": {name: c.to_dict() for name, c in self.changes.items()},
            "slices": {kind: {k: c.to_dict() for k, c in cells.items()}
                       for kind, cells in self.slices.items()},
            "differences": self.differences,
        }  # fmt: skip


def verdict(low: float, high: float, *, higher_is_better: bool = False, neutral: bool = False) -> Verdict:
    """'improves' when the whole interval of the change lies on the better side of zero, 'worsens' when it
    lies on the worse side, else 'no detectable change' (an interval touching zero is not detectable). A
    neutral metric (no better side) 'changes' when the interval excludes zero."""
    if low > high:
        raise ValueError(f"interval is reversed: low {low} > high {high}")
    below, above = high < 0, low > 0
    if not (below or above):
        return "no detectable change"
    if neutral:
        return "changes"
    better = above if higher_is_better else below
    return "improves" if better else "worsens"


def block_indices(n_days: int, block_days: int, resamples: int, rng: np.random.Generator) -> IntArray:
    """Positions (0..n_days-1) of the dates in each resample, shape (resamples, n_days).

    Row r is ceil(n_days / block_days) circular blocks of block_days consecutive positions, each starting
    anywhere with equal probability, concatenated and cut to n_days positions.
    """
    if n_days < 1:
        raise ValueError("no dates to resample")
    if not 1 <= block_days <= n_days:
        raise ValueError(f"block_days must be between 1 and the number of dates ({n_days}), got {block_days}")
    blocks = -(-n_days // block_days)
    starts = rng.integers(0, n_days, size=(resamples, blocks), dtype=np.int64)
    positions = (starts[:, :, None] + np.arange(block_days, dtype=np.int64)) % n_days
    out: IntArray = positions.reshape(resamples, blocks * block_days)[:, :n_days]
    return out


def day_weights(positions: IntArray, n_days: int) -> FloatArray:
    """How often each date was drawn in each resample, shape (resamples, n_days), from one bincount."""
    resamples = positions.shape[0]
    flat = (positions + n_days * np.arange(resamples, dtype=np.int64)[:, None]).ravel()
    counts = np.bincount(flat, minlength=resamples * n_days)
    return counts.reshape(resamples, n_days).astype(np.float64)


def _as_float(name: str, values: npt.ArrayLike, n: int) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n,):
        raise ValueError(f"{name} has shape {array.shape}, expected ({n},) like the dates")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has {int((~np.isfinite(array)).sum())} missing or infinite values")
    return array


class Resamples:
    """The bootstrap's day weights and the weighted means every metric is built from.

    weights: (resamples + 1, n_days); row 0 weighs every date once (the sample itself, so point estimates
    come out of the same products), rows 1.. how often each date was drawn. A mean of per-window values over
    a resample is (weights . per-date sums) / (weights . per-date window counts). `by(codes)` does the same
    per group (a station, a season): per-date sums per date and group, so every slice of every resample
    comes out of one matrix product, no loop over resamples or slices.
    """

    def __init__(self, dates: npt.ArrayLike, block_days: int, resamples: int, seed: int) -> None:
        if resamples < 1:
            raise ValueError(f"resamples must be positive, got {resamples}")
        days, day_of_window = np.unique(np.asarray(dates), return_inverse=True)
        if len(day_of_window) == 0:
            raise ValueError("no windows to compare")
        self.day_of_window: IntArray = day_of_window.ravel().astype(np.int64)
        self.n_days = len(days)
        drawn = day_weights(
            block_indices(self.n_days, block_days, resamples, np.random.default_rng(seed)), self.n_days
        )
        self.weights: FloatArray = np.vstack([np.ones((1, self.n_days)), drawn])
        self.windows = self._sum(None)

    def _sum(self, values: FloatArray | None) -> FloatArray:
        per_day = np.bincount(self.day_of_window, weights=values, minlength=self.n_days).astype(np.float64)
        # einsum's own loop rather than BLAS (weights @ x): a matrix-vector product this small costs far less
        # than waking BLAS threads on a busy 2-core runner (0.3 ms against up to 25 ms measured), and the
        # result cannot depend on the thread count.
        out: FloatArray = np.einsum("rd,d->r", self.weights, per_day)
        return out

    def mean(self, values: FloatArray) -> FloatArray:
        """The mean of per-window values on the sample ([0]) and on each resample ([1:])."""
        out: FloatArray = self._sum(values) / self.windows
        return out

    def by(self, codes: IntArray, n_groups: int) -> GroupedResamples:
        """The same resamples, with means per group (codes 0..n_groups-1, one per window)."""
        return GroupedResamples(self, codes, n_groups)


class GroupedResamples:
    """Means per group on the sample and every resample: shape (resamples + 1, n_groups), NaN where a
    resample drew no window of a group."""

    def __init__(self, parent: Resamples, codes: IntArray, n_groups: int) -> None:
        codes = np.asarray(codes, dtype=np.int64)
        if codes.shape != parent.day_of_window.shape or (
            codes.size and not 0 <= codes.min() <= codes.max() < n_groups
        ):
            raise ValueError(f"group codes must be 0..{n_groups - 1}, one per window")
        self.parent, self.n_groups = parent, n_groups
        self.cells = parent.day_of_window * n_groups + codes
        self.windows = self._sum(None)

    def _sum(self, values: FloatArray | None) -> FloatArray:
        size = self.parent.n_days * self.n_groups
        per_day = np.bincount(self.cells, weights=values, minlength=size).astype(np.float64)
        out: FloatArray = np.einsum("rd,dg->rg", self.parent.weights, per_day.reshape(-1, self.n_groups))
        return out

    def mean(self, values: FloatArray) -> FloatArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            out: FloatArray = self._sum(values) / self.windows
        return out


def change_of(
    name: str,
    base: FloatArray,
    pr: FloatArray,
    confidence: float,
    *,
    higher_is_better: bool = False,
    neutral: bool = False,
) -> Change:
    """The Change of a statistic given on the sample ([0]) and each resample ([1:]) for both sides: the
    percentile interval of the resampled differences (resamples where it is undefined, NaN, left out)."""
    tail = (1 - confidence) / 2
    difference = pr - base
    resampled = difference[1:][np.isfinite(difference[1:])]
    if resampled.size == 0:
        raise ValueError(f"{name}: no resample where the change is defined")
    low, high = np.quantile(resampled, [tail, 1 - tail])
    return Change(
        metric=name, base=float(base[0]), pr=float(pr[0]), change=float(difference[0]), low=float(low),
        high=float(high), confidence=confidence, higher_is_better=higher_is_better, neutral=neutral,
    )  # fmt: skip


def paired_block_bootstrap(
    dates: npt.ArrayLike,
    actual: npt.ArrayLike,
    base: npt.ArrayLike,
    pr: npt.ArrayLike,
    *,
    metrics: tuple[MetricSpec, ...] = (RMSE,),
    reference: npt.ArrayLike | None = None,
    pr_reference: npt.ArrayLike | None = None,
    reference_name: str = "persistence",
    block_days: int = 7,
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Change]:
    """The change PR - base of each metric on the same windows, with a paired circular-block bootstrap
    percentile interval.

    dates: each window's date (any sortable values: the unique values are the resampled days); actual,
    base, pr: one value per window, aligned with dates. Keys of the result: each metric's name (lower is
    better), and, when reference predictions are given, f"{name}_skill_vs_{reference_name}" for each
    metric: the change in skill 1 - metric(model) / metric(reference), higher is better (the pipeline's
    skill_vs_persistence is rmse_skill_vs_persistence). pr_reference, when the PR's reference differs
    from the base's (a PR that changes the persistence baseline), defaults to reference.

    The same seed draws the same resamples whatever the metrics, so two calls (say RMSE on scores and
    Brier on probabilities of the same windows) use identical resamples.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if not metrics:
        raise ValueError("no metrics to compare")
    if resamples < 1:
        raise ValueError(f"resamples must be positive, got {resamples}")
    if np.asarray(dates).size == 0:
        raise ValueError("no windows to compare")
    n = np.asarray(dates).size
    actual_, base_, pr_ = (_as_float(k, v, n) for k, v in (("actual", actual), ("base", base), ("pr", pr)))
    refs: tuple[FloatArray, FloatArray] | None = None
    if reference is not None:
        ref = _as_float("reference", reference, n)
        refs = (ref, ref if pr_reference is None else _as_float("pr_reference", pr_reference, n))
    elif pr_reference is not None:
        raise ValueError("pr_reference given without reference")
    draws = Resamples(dates, block_days, resamples, seed)

    def metric(spec: MetricSpec, predicted: FloatArray) -> FloatArray:
        """The metric on the sample ([0]) and on each resample ([1:])."""
        return spec.finish(draws.mean(spec.loss(actual_, predicted)))

    out: dict[str, Change] = {}
    for spec in metrics:
        base_value, pr_value = metric(spec, base_), metric(spec, pr_)
        out[spec.name] = change_of(spec.name, base_value, pr_value, confidence)
        if refs is not None:
            base_ref = metric(spec, refs[0])
            pr_ref = base_ref if refs[1] is refs[0] else metric(spec, refs[1])
            name = f"{spec.name}_skill_vs_{reference_name}"
            out[name] = change_of(
                name, 1 - base_value / base_ref, 1 - pr_value / pr_ref, confidence, higher_is_better=True
            )
    return out


class AlignmentError(ValueError):
    """The base and PR predictions do not cover the same windows, or do not score the same labels."""


# How AlignmentError's message starts when the two sides score different windows (the report's headline
# then gives no verdict: the two RMSEs are of different windows).
DIFFERENT_WINDOWS = "base and PR predictions cover different windows"


def align_predictions(
    base: pd.DataFrame,
    pr: pd.DataFrame,
    columns: tuple[str, ...] = ("label", "model", "persistence"),
) -> pd.DataFrame:
    """One row per (station_id, date, window) with f"{column}_base" and f"{column}_pr" for each column,
    sorted by the key.

    Refuses (AlignmentError) rather than comparing on the intersection: both sides are scored by the same
    evaluate stage on the same split, so windows that differ mean the PR changed which windows are scored
    (the split, the stations, the persistence rule), and an interval over the intersection would describe
    neither side's reported metrics. Also refuses duplicated keys and labels that differ on a window (a PR
    that changes the label changes the question, not the model).
    """
    for side, frame in (("base", base), ("PR", pr)):
        missing = [c for c in (*KEY, *columns) if c not in frame.columns]
        if missing:
            raise AlignmentError(f"{side} predictions lack columns {missing}")
        duplicated = int(frame.duplicated(KEY).sum())
        if duplicated:
            raise AlignmentError(f"{side} predictions have {duplicated} duplicated {'/'.join(KEY)} rows")
    left = base[[*KEY, *columns]].assign(date=pd.to_datetime(base["date"]))
    right = pr[[*KEY, *columns]].assign(date=pd.to_datetime(pr["date"]))
    merged = left.merge(right, on=KEY, how="outer", suffixes=("_base", "_pr"), indicator=True)
    only = merged["_merge"].value_counts()
    only_base, only_pr = int(only.get("left_only", 0)), int(only.get("right_only", 0))
    if only_base or only_pr:
        examples = merged.loc[merged["_merge"] != "both", KEY].head(3).to_dict("records")
        raise AlignmentError(
            f"{DIFFERENT_WINDOWS}: base {len(base)}, PR {len(pr)}, "
            f"common {len(merged) - only_base - only_pr}, only in base {only_base}, only in PR {only_pr} "
            f"(e.g. {examples}); a paired comparison needs the same test windows on both sides"
        )
    for outcome in ("label", "wet_window"):
        if outcome not in columns:
            continue
        differ = ~np.isclose(
            merged[f"{outcome}_base"].astype("float64"), merged[f"{outcome}_pr"].astype("float64"),
            rtol=0, atol=1e-9,
        )  # fmt: skip
        if differ.any():
            raise AlignmentError(
                f"the {outcome} differs on {int(differ.sum())} of {len(merged)} windows: the PR changes what "
                "is predicted, so the metric changes are not a comparison of models"
            )
    return merged.drop(columns="_merge").sort_values(KEY, kind="stable").reset_index(drop=True)


# Columns of the predictions compared when both sides have them (a base from before they existed has not):
# P(wet window) and its outcome (the Brier score, the wet/dry slices), climatology (skill against it) and
# the score interval (coverage and width).
OPTIONAL_COLUMNS = ("wet_window", "wet_probability", "climatology", "score_low", "score_high")
# Slices compared only when they split the windows: one station is the whole test set again.
SPLITTING_KINDS = ("station",)


def compare_predictions(
    aligned: pd.DataFrame, params: CompareParams, nominal_coverage: float | None = None
) -> Comparison:
    """Every metric evaluate reports that the predictions determine, and the model's RMSE per slice, for
    aligned predictions (align_predictions' output), with the intervals params asks for, all on the same
    resamples (one seed).

    Keys of `changes`: rmse, skill_vs_persistence (each side against its own persistence, as evaluate
    computes it), mae, abs_bias (|bias|: closer to zero is better), r2, persistence_rmse; with climatology
    columns skill_vs_climatology and climatology_rmse; with P(wet window) brier; with the score interval
    interval_coverage (coverage_error, |coverage - nominal_coverage|, when the nominal is given: closer is
    better) and interval_mean_width (neither side better). `slices[kind][value]`: the model's RMSE on the
    windows of that slice (forecast.slices), resampled with the same days.
    """
    draws = Resamples(aligned["date"].to_numpy(), params.block_days, params.resamples, params.seed)
    confidence = params.confidence

    def column(name: str) -> tuple[FloatArray, FloatArray]:
        n = len(aligned)
        return _as_float(f"{name}_base", aligned[f"{name}_base"], n), _as_float(
            f"{name}_pr", aligned[f"{name}_pr"], n
        )

    label = _as_float("label", aligned["label_base"], len(aligned))
    changes: dict[str, Change] = {}

    def add(name: str, base: FloatArray, pr: FloatArray, **how: bool) -> None:
        changes[name] = change_of(name, base, pr, confidence, **how)

    model = column("model")
    squared = [(side - label) ** 2 for side in model]
    rmse = [np.sqrt(draws.mean(s)) for s in squared]
    persistence = [np.sqrt(draws.mean((side - label) ** 2)) for side in column("persistence")]
    add("rmse", *rmse)
    add(
        "skill_vs_persistence",
        *(1 - r / p for r, p in zip(rmse, persistence, strict=True)),
        higher_is_better=True,
    )
    add("mae", *(draws.mean(np.abs(side - label)) for side in model))
    add("abs_bias", *(np.abs(draws.mean(side - label)) for side in model))
    variance = draws.mean(label**2) - draws.mean(label) ** 2
    add("r2", *(1 - draws.mean(s) / variance for s in squared), higher_is_better=True)
    add("persistence_rmse", *persistence)
    if "climatology_base" in aligned:
        climatology = [np.sqrt(draws.mean((side - label) ** 2)) for side in column("climatology")]
        add(
            "skill_vs_climatology",
            *(1 - r / c for r, c in zip(rmse, climatology, strict=True)),
            higher_is_better=True,
        )
        add("climatology_rmse", *climatology)
    if "wet_probability_base" in aligned:
        wet = aligned["wet_window_base"].to_numpy(dtype=np.float64)
        add("brier", *(draws.mean((side - wet) ** 2) for side in column("wet_probability")))
    if "score_low_base" in aligned:
        (low_b, low_p), (high_b, high_p) = column("score_low"), column("score_high")
        coverage = [draws.mean(((label >= lo) & (label <= hi)).astype(np.float64))
                    for lo, hi in ((low_b, high_b), (low_p, high_p))]  # fmt: skip
        if nominal_coverage is None:
            add("interval_coverage", *coverage, neutral=True)
        else:
            add("coverage_error", *(np.abs(c - nominal_coverage) for c in coverage))
        add("interval_mean_width", draws.mean(high_b - low_b), draws.mean(high_p - low_p), neutral=True)

    rows = aligned[KEY].copy()
    if "wet_window_base" in aligned:
        rows["wet_window"] = aligned["wet_window_base"].astype(bool)
    slices: dict[str, dict[str, Change]] = {}
    for kind, labels in slice_labels(rows).items():
        codes, values = pd.factorize(labels.astype(str), sort=True)
        if kind in SPLITTING_KINDS and len(values) < 2:
            continue
        grouped = draws.by(codes.astype(np.int64), len(values))
        base_rmse, pr_rmse = (np.sqrt(grouped.mean(s)) for s in squared)
        slices[kind] = {
            str(value): change_of(f"{kind}={value} rmse", base_rmse[:, i], pr_rmse[:, i], confidence)
            for i, value in enumerate(values)
        }
    differences = {}
    for name in ("model", "wet_probability"):
        if f"{name}_base" in aligned:
            delta = np.abs(
                aligned[f"{name}_pr"].to_numpy(np.float64) - aligned[f"{name}_base"].to_numpy(np.float64)
            )
            differences[name] = (int((delta > TOLERANCE).sum()), float(delta.max(initial=0.0)))
    return Comparison(
        changes=changes,
        windows=len(aligned), days=int(aligned["date"].nunique()), block_days=params.block_days,
        resamples=params.resamples, seed=params.seed, slices=slices, differences=differences,
    )  # fmt: skip


def compare_frames(
    base: pd.DataFrame, pr: pd.DataFrame, params: CompareParams, nominal_coverage: float | None = None
) -> Comparison:
    """align_predictions then compare_predictions: the one call a report or gate needs. The optional
    columns (P(wet window), climatology, the score interval) are compared when both sides have them."""
    columns: tuple[str, ...] = ("label", "model", "persistence")
    columns += tuple(c for c in OPTIONAL_COLUMNS if all(c in frame for frame in (base, pr)))
    if "wet_probability" in columns and "wet_window" not in columns:
        columns = tuple(c for c in columns if c != "wet_probability")
    if ("score_low" in columns) != ("score_high" in columns):
        columns = tuple(c for c in columns if c not in ("score_low", "score_high"))
    return compare_predictions(align_predictions(base, pr, columns), params, nominal_coverage)


def _rounded(change: Change) -> dict[str, Any]:
    return {
        "rmse_change": round(change.change, 4), "low": round(change.low, 4), "high": round(change.high, 4),
        "verdict": change.verdict,
    }  # fmt: skip


def bootstrap_options(dates: npt.ArrayLike, params: CompareParams) -> dict[str, Any]:
    """paired_block_bootstrap's settings from params; a period shorter than params.block_days is resampled
    as one block (block_days records what was used)."""
    days = int(np.unique(np.asarray(dates)).size)
    return {"block_days": min(params.block_days, days), "resamples": params.resamples, "seed": params.seed,
            "confidence": params.confidence}  # fmt: skip


def rmse_change(
    dates: npt.ArrayLike,
    actual: npt.ArrayLike,
    base: npt.ArrayLike,
    changed: npt.ArrayLike,
    params: CompareParams,
) -> dict[str, Any]:
    """RMSE of `changed` minus RMSE of `base` on the same windows, with its paired block-bootstrap interval
    and verdict ("worsens": `changed` is detectably worse)."""
    return _rounded(
        paired_block_bootstrap(dates, actual, base, changed, **bootstrap_options(dates, params))["rmse"]
    )


def against_persistence(
    dates: npt.ArrayLike,
    actual: npt.ArrayLike,
    predicted: npt.ArrayLike,
    persistence: npt.ArrayLike,
    params: CompareParams,
) -> dict[str, Any]:
    """A model's RMSE minus persistence's on the same windows and its skill vs persistence (1 - RMSE /
    persistence RMSE), each with its paired block-bootstrap interval: `verdict` "worsens" means the model
    is detectably worse than persistence."""
    changes = paired_block_bootstrap(
        dates, actual, persistence, predicted, reference=persistence, **bootstrap_options(dates, params)
    )
    skill = changes["rmse_skill_vs_persistence"]  # persistence's own skill is 0: the change is the skill
    return _rounded(changes["rmse"]) | {
        "skill": round(skill.change, 4), "skill_low": round(skill.low, 4), "skill_high": round(skill.high, 4),
    }  # fmt: skip


def selection_intervals(
    dates: npt.ArrayLike,
    actual: npt.ArrayLike,
    scores: Mapping[str, npt.ArrayLike],
    persistence: npt.ArrayLike,
    default: str,
    params: CompareParams,
) -> dict[str, Any]:
    """Model selection's figures with the same intervals as a PR's (train: model_selection.json).

    scores: each candidate's predictions of the validation windows (dates, actual and persistence aligned
    with them). For every candidate other than `default`, the paired block-bootstrap interval of its RMSE
    minus the default's: the difference the selection rule (train.choose) reads beside min_rmse_gain. For
    every candidate, its RMSE minus persistence's and its skill vs persistence (1 - RMSE / persistence
    RMSE), each with its interval. Every call draws the same resamples (one seed). A validation period
    shorter than params.block_days resamples it as one block (block_days records what was used).
    """
    options = bootstrap_options(dates, params)
    vs_default = {
        name: _rounded(paired_block_bootstrap(dates, actual, scores[default], predicted, **options)["rmse"])
        for name, predicted in scores.items()
        if name != default
    }
    vs_persistence = {
        name: against_persistence(dates, actual, predicted, persistence, params)
        for name, predicted in scores.items()
    }
    return {
        "windows": int(np.asarray(actual).size), "days": int(np.unique(np.asarray(dates)).size),
        "block_days": options["block_days"],
        "resamples": params.resamples, "seed": params.seed, "confidence": params.confidence,
        "default": default, "vs_default": vs_default, "vs_persistence": vs_persistence,
    }  # fmt: skip
