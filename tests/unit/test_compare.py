from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from commute_weather.config import CompareParams
from commute_weather.forecast.compare import (
    BRIER,
    MAE,
    RMSE,
    AlignmentError,
    Change,
    Resamples,
    align_predictions,
    block_indices,
    compare_frames,
    day_weights,
    paired_block_bootstrap,
    selection_intervals,
    verdict,
)
from commute_weather.forecast.model import rmse

PARAMS = CompareParams(block_days=7, resamples=1000, seed=3, confidence=0.95)


def predictions_frame(days: int = 365, stations: tuple[int, ...] = (108,), seed: int = 0) -> pd.DataFrame:
    """Test predictions shaped like data/predictions/test.parquet: two windows a day per station, a label
    with weather spells (AR(1) over days), a model that tracks it and a persistence baseline that is worse."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    rows = pd.MultiIndex.from_product(
        [stations, dates, ["morning", "evening"]], names=["station_id", "date", "window"]
    ).to_frame(index=False)
    spell = ar1(days, 0.8, rng) * 10
    day = rows["date"].map(dict(zip(dates, range(days), strict=True))).to_numpy()
    label = np.clip(70 + spell[day] + rng.normal(0, 8, len(rows)), 0, 100)
    return rows.assign(
        issue_at=rows["date"],
        label=label,
        model=label + 3 * ar1(days, 0.8, rng)[day] + rng.normal(0, 8, len(rows)),
        persistence=label + rng.normal(0, 13, len(rows)),
        climatology=70.0,
    )


def ar1(n: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    """A stationary AR(1) series with unit variance."""
    shocks = rng.normal(0, np.sqrt(1 - phi**2), n)
    out = np.empty(n)
    out[0] = rng.normal()
    for i in range(1, n):
        out[i] = phi * out[i - 1] + shocks[i]
    return out


def bootstrap(base: pd.DataFrame, pr: pd.DataFrame, **kwargs: Any) -> dict[str, Change]:
    options: dict[str, Any] = {"block_days": 7, "resamples": 1000, "seed": 1, **kwargs}
    return paired_block_bootstrap(
        base["date"].to_numpy(), base["label"], base["model"], pr["model"], **options
    )


# ---- the verdict ----


@pytest.mark.parametrize(
    ("low", "high", "higher_is_better", "expected"),
    [(-0.5, -0.1, False, "improves"), (0.1, 0.5, False, "worsens"),
     (-0.1, 0.5, False, "no detectable change"), (0.0, 0.0, False, "no detectable change"),
     (0.0, 0.3, False, "no detectable change"),
     (0.1, 0.5, True, "improves"), (-0.5, -0.1, True, "worsens"), (-0.2, 0.2, True, "no detectable change")],
)  # fmt: skip
def test_verdict(low: float, high: float, higher_is_better: bool, expected: str) -> None:
    assert verdict(low, high, higher_is_better=higher_is_better) == expected


def test_verdict_refuses_a_reversed_interval() -> None:
    with pytest.raises(ValueError, match="reversed"):
        verdict(0.5, 0.1)


def test_describe_never_prints_a_nonzero_endpoint_as_zero() -> None:
    change = Change("mae", 5.979, 6.062, 0.083, 0.00031, 0.17, 0.95, higher_is_better=False)
    assert change.describe() == "MAE 5.979 -> 6.062 (+0.083, 95% interval +0.0003 to +0.170): worsens"


# ---- the three cases the issue names ----


def test_identical_predictions_show_no_detectable_change() -> None:
    frame = predictions_frame()
    changes = bootstrap(frame, frame, reference=frame["persistence"])
    for name in ("rmse", "rmse_skill_vs_persistence"):
        change = changes[name]
        assert change.change == 0
        assert change.low <= 0 <= change.high
        assert change.verdict == "no detectable change"


def test_predictions_shifted_by_five_points_worsen() -> None:
    frame = predictions_frame()
    shifted = frame.assign(model=frame["model"] + 5)
    changes = bootstrap(frame, shifted, reference=frame["persistence"])
    rmse_change = changes["rmse"]
    assert rmse_change.low > 0
    assert rmse_change.verdict == "worsens"
    assert changes["rmse_skill_vs_persistence"].verdict == "worsens"
    assert changes["rmse_skill_vs_persistence"].high < 0


def test_a_much_better_model_improves() -> None:
    frame = predictions_frame()
    better = frame.assign(model=frame["label"] + (frame["model"] - frame["label"]) * 0.5)
    changes = bootstrap(frame, better, reference=frame["persistence"])
    assert changes["rmse"].high < 0
    assert changes["rmse"].verdict == "improves"
    assert changes["rmse_skill_vs_persistence"].verdict == "improves"


def test_point_estimates_are_the_plain_metrics() -> None:
    frame = predictions_frame(stations=(108, 112))
    worse = frame.assign(model=frame["model"] + 1)
    changes = bootstrap(frame, worse, reference=frame["persistence"], metrics=(RMSE, MAE))
    assert changes["rmse"].base == pytest.approx(rmse(frame["label"], frame["model"]))
    assert changes["rmse"].pr == pytest.approx(rmse(frame["label"], worse["model"]))
    assert changes["mae"].base == pytest.approx((frame["model"] - frame["label"]).abs().mean())
    skill = 1 - rmse(frame["label"], worse["model"]) / rmse(frame["label"], frame["persistence"])
    assert changes["rmse_skill_vs_persistence"].pr == pytest.approx(skill)


def test_brier_score_through_the_metric_spec() -> None:
    rng = np.random.default_rng(5)
    days = np.repeat(np.arange(300), 2)
    truth = rng.uniform(0.05, 0.95, len(days))
    outcome = (rng.uniform(size=len(days)) < truth).astype(float)
    sharp, vague = truth, np.full(len(days), 0.5)
    changes = paired_block_bootstrap(days, outcome, vague, sharp, metrics=(BRIER,), resamples=1000)
    assert changes["brier"].base == pytest.approx(np.mean((vague - outcome) ** 2))
    assert changes["brier"].verdict == "improves"


# ---- reproducibility ----


def test_deterministic_for_a_seed_and_different_for_another() -> None:
    frame = predictions_frame()
    worse = frame.assign(model=frame["model"] + 0.3)
    first, again = bootstrap(frame, worse, seed=11)["rmse"], bootstrap(frame, worse, seed=11)["rmse"]
    other = bootstrap(frame, worse, seed=12)["rmse"]
    assert first == again
    assert (first.low, first.high) != (other.low, other.high)
    assert first.change == other.change


def test_the_same_seed_draws_the_same_resamples_for_every_metric() -> None:
    frame = predictions_frame()
    worse = frame.assign(model=frame["model"] + 0.3)
    together = bootstrap(frame, worse, metrics=(RMSE, MAE))
    assert bootstrap(frame, worse, metrics=(MAE,))["mae"] == together["mae"]


# ---- the resampling ----


@pytest.mark.parametrize(("n_days", "block_days"), [(365, 7), (30, 7), (10, 1), (9, 9), (100, 14)])
def test_every_block_is_consecutive_days(n_days: int, block_days: int) -> None:
    positions = block_indices(n_days, block_days, 200, np.random.default_rng(0))
    assert positions.shape == (200, n_days)
    assert positions.min() >= 0
    assert positions.max() < n_days
    full_blocks = n_days // block_days
    blocks = positions[:, : full_blocks * block_days].reshape(200, full_blocks, block_days)
    # within a block, each date follows the previous one (wrapping from the last date to the first)
    assert (np.diff(blocks, axis=2) % n_days == 1).all()
    # the cut last block is the start of a consecutive block too
    rest = positions[:, full_blocks * block_days :]
    assert (np.diff(rest, axis=1) % n_days == 1).all()


def test_block_starts_are_uniform_over_the_dates() -> None:
    """Circular blocks: every date is drawn equally often on average, the ends included."""
    n_days = 50
    positions = block_indices(n_days, 7, 20_000, np.random.default_rng(0))
    share = np.bincount(positions.ravel(), minlength=n_days) / positions.size
    assert share == pytest.approx(np.full(n_days, 1 / n_days), rel=0.05)


def test_day_weights_count_the_draws() -> None:
    positions = np.array([[0, 1, 2, 2], [3, 3, 3, 0]])
    assert day_weights(positions, 4).tolist() == [[1, 1, 2, 0], [1, 0, 0, 3]]


def test_all_windows_of_a_drawn_day_come_along() -> None:
    """One loss per day, several windows a day: the resampled mean weighs days by their windows."""
    days = np.array([0, 0, 0, 1])  # day 0 has three windows
    actual = np.zeros(4)
    base = np.zeros(4)
    pr = np.array([1.0, 1.0, 1.0, 0.0])
    change = paired_block_bootstrap(days, actual, base, pr, metrics=(MAE,), block_days=1, resamples=500)[
        "mae"
    ]
    # a resample is {0,0}: 1, {1,1}: 0 or {0,1}: 3/4, never the 1/2 that resampling single windows allows
    assert change.low in {0.0, 0.75}
    assert change.high in {0.75, 1.0}


def test_block_days_beyond_the_dates_are_refused() -> None:
    with pytest.raises(ValueError, match="block_days"):
        paired_block_bootstrap(np.arange(5), np.zeros(5), np.zeros(5), np.zeros(5), block_days=7)


def test_missing_values_are_refused() -> None:
    pr = np.array([1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="pr has 1 missing"):
        paired_block_bootstrap(np.arange(3), np.zeros(3), np.zeros(3), pr, block_days=1)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    days=st.integers(60, 400),
    block_days=st.sampled_from([1, 3, 7, 14]),
    shift=st.floats(-3, 3),
    scale=st.floats(0.5, 2.0),
)
def test_the_interval_contains_the_point_estimate(
    seed: int, days: int, block_days: int, shift: float, scale: float
) -> None:
    rng = np.random.default_rng(seed)
    dates = np.repeat(np.arange(days), 2)
    actual = rng.uniform(20, 90, len(dates))
    base = actual + rng.normal(0, 9, len(dates))
    pr = actual + shift + scale * (base - actual) + rng.normal(0, 2, len(dates))
    persistence = actual + rng.normal(0, 13, len(dates))
    changes = paired_block_bootstrap(
        dates, actual, base, pr, metrics=(RMSE, MAE), reference=persistence, block_days=block_days,
        resamples=500, seed=seed,
    )  # fmt: skip
    for change in changes.values():
        assert change.low <= change.change <= change.high, change


# ---- why blocks ----


def autocorrelated_errors(days: int, phi: float, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Two models with the same error distribution (true RMSE change 0), errors AR(1) over days and
    shared by a day's two windows."""
    dates = np.repeat(np.arange(days), 2)
    base = 8 * ar1(days, phi, rng)[dates] + rng.normal(0, 2, len(dates))
    pr = 8 * ar1(days, phi, rng)[dates] + rng.normal(0, 2, len(dates))
    return dates, np.zeros(len(dates)), base, pr


def test_blocks_give_wider_intervals_than_single_windows_on_autocorrelated_errors() -> None:
    rng = np.random.default_rng(0)
    dates, actual, base, pr = autocorrelated_errors(365, 0.8, rng)
    blocks = paired_block_bootstrap(dates, actual, base, pr, block_days=7)["rmse"]
    # each window its own "date": the i.i.d. window bootstrap
    windows = paired_block_bootstrap(np.arange(len(dates)), actual, base, pr, block_days=1)["rmse"]
    assert blocks.high - blocks.low > 1.5 * (windows.high - windows.low)


def test_blocks_cover_the_true_change_more_often_than_single_windows() -> None:
    """Coverage of the true RMSE change (0) over simulated test periods: single windows miss it far more
    often than the nominal 5%; weekly blocks come much closer."""
    rng = np.random.default_rng(1)
    covered = {"blocks": 0, "windows": 0}
    trials = 150
    for _ in range(trials):
        dates, actual, base, pr = autocorrelated_errors(365, 0.7, rng)
        seed = int(rng.integers(2**31))
        blocks = paired_block_bootstrap(dates, actual, base, pr, block_days=7, resamples=400, seed=seed)
        windows = paired_block_bootstrap(
            np.arange(len(dates)), actual, base, pr, block_days=1, resamples=400, seed=seed
        )
        covered["blocks"] += blocks["rmse"].low <= 0 <= blocks["rmse"].high
        covered["windows"] += windows["rmse"].low <= 0 <= windows["rmse"].high
    assert covered["blocks"] / trials >= 0.85
    assert covered["windows"] / trials <= covered["blocks"] / trials - 0.15


# ---- aligning two predictions frames ----


def test_align_pairs_the_windows_whatever_the_row_order() -> None:
    base = predictions_frame(days=30, stations=(108, 112))
    pr = base.assign(model=base["model"] + 1).sample(frac=1, random_state=0)
    aligned = align_predictions(base, pr)
    assert len(aligned) == len(base)
    assert (aligned["model_pr"] - aligned["model_base"]).to_numpy() == pytest.approx(1.0)


def test_align_refuses_frames_with_other_windows_and_names_the_counts() -> None:
    base = predictions_frame(days=30)
    pr = base.iloc[5:]
    with pytest.raises(AlignmentError, match=r"base 60, PR 55, common 55, only in base 5, only in PR 0"):
        align_predictions(base, pr)


def test_align_refuses_duplicated_windows() -> None:
    base = predictions_frame(days=30)
    with pytest.raises(AlignmentError, match="PR predictions have 1 duplicated"):
        align_predictions(base, pd.concat([base, base.iloc[:1]]))


def test_align_refuses_a_changed_label() -> None:
    base = predictions_frame(days=30)
    with pytest.raises(AlignmentError, match="label differs on 60 of 60"):
        align_predictions(base, base.assign(label=base["label"] + 1))


def test_compare_frames_reports_rmse_skill_and_mae() -> None:
    base = predictions_frame(stations=(108, 112, 119))
    comparison = compare_frames(base, base.assign(model=base["model"] + 5), PARAMS)
    assert list(comparison.changes)[:3] == ["rmse", "skill_vs_persistence", "mae"]
    assert {comparison.changes[k].verdict for k in ("rmse", "skill_vs_persistence", "mae")} == {"worsens"}
    assert comparison.windows == len(base)
    assert comparison.days == 365
    assert comparison.to_dict()["changes"]["rmse"]["verdict"] == "worsens"
    assert comparison.changes["rmse"].describe().startswith("RMSE ")
    assert comparison.changes["rmse"].describe().endswith(": worsens")


# ---- params ----


@pytest.mark.parametrize(
    "bad",
    [{"block_days": 0}, {"resamples": 99}, {"confidence": 1.0}, {"confidence": 0.0}],
)
def test_compare_params_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        CompareParams.model_validate({**PARAMS.model_dump(), **bad})


def with_wet_forecast(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Adds a wet window (a low label is a wet one, as in the data) and a P(wet) that knows it fairly well."""
    rng = np.random.default_rng(seed)
    wet = frame["label"] < 60
    return frame.assign(
        wet_window=wet,
        wet_probability=np.clip(np.where(wet, 0.7, 0.15) + rng.normal(0, 0.1, len(frame)), 0, 1),
    )


def test_the_brier_score_is_compared_when_both_sides_forecast_p_wet() -> None:
    base = with_wet_forecast(predictions_frame(stations=(108, 112)))
    same = compare_frames(base, base.copy(), PARAMS).changes["brier"]
    assert same.change == 0 and same.low <= 0 <= same.high
    assert same.verdict == "no detectable change"
    # Each probability pushed 0.3 towards the wrong outcome: clearly worse, on the same resamples.
    wrong = base["wet_probability"] + np.where(base["wet_window"], -0.3, 0.3)
    worse = compare_frames(base, base.assign(wet_probability=wrong.clip(0, 1)), PARAMS).changes["brier"]
    assert worse.verdict == "worsens" and worse.low > 0
    assert worse.base == pytest.approx(np.mean((base["wet_probability"] - base["wet_window"]) ** 2))


def test_a_base_without_p_wet_is_compared_on_the_scores_alone() -> None:
    base = predictions_frame(days=60)
    comparison = compare_frames(base, with_wet_forecast(base), PARAMS)
    assert "brier" not in comparison.changes
    assert "wetness" not in comparison.slices


def test_align_refuses_a_changed_wet_outcome() -> None:
    base = with_wet_forecast(predictions_frame(days=30))
    columns = ("label", "model", "persistence", "wet_window", "wet_probability")
    with pytest.raises(AlignmentError, match="wet_window differs on 60 of 60"):
        align_predictions(base, base.assign(wet_window=~base["wet_window"]), columns)


# ---- model selection's intervals on validation ----


def test_selection_intervals_against_the_default_and_persistence() -> None:
    frame = predictions_frame(days=180)
    scores = {
        "default": frame["model"],
        "same": frame["model"].copy(),
        "shifted": frame["model"] + 5,
        "better": frame["label"] + (frame["model"] - frame["label"]) * 0.5,
    }
    out = selection_intervals(frame["date"], frame["label"], scores, frame["persistence"], "default", PARAMS)
    assert list(out["vs_default"]) == ["same", "shifted", "better"]  # no interval of the default with itself
    same, shifted, better = (out["vs_default"][k] for k in ("same", "shifted", "better"))
    assert same["rmse_change"] == 0 and same["low"] <= 0 <= same["high"]
    assert same["verdict"] == "no detectable change"
    assert shifted["low"] > 0 and shifted["verdict"] == "worsens"
    assert better["high"] < 0 and better["verdict"] == "improves"
    model_rmse, persistence_rmse = (
        rmse(frame["label"], frame["model"]),
        rmse(frame["label"], frame["persistence"]),
    )
    assert shifted["rmse_change"] == pytest.approx(
        rmse(frame["label"], scores["shifted"]) - model_rmse, abs=1e-4
    )
    assert list(out["vs_persistence"]) == list(scores)
    for name, c in out["vs_persistence"].items():
        assert c["rmse_change"] == pytest.approx(
            rmse(frame["label"], scores[name]) - persistence_rmse, abs=1e-4
        )
        assert c["skill"] == pytest.approx(
            1 - rmse(frame["label"], scores[name]) / persistence_rmse, abs=1e-4
        )
        assert c["skill_low"] <= c["skill"] <= c["skill_high"]
        assert c["verdict"] == "improves"  # every candidate here is clearly better than persistence
    assert (out["days"], out["windows"], out["block_days"]) == (180, 360, PARAMS.block_days)
    assert (out["resamples"], out["seed"], out["confidence"]) == (PARAMS.resamples, PARAMS.seed, 0.95)
    again = selection_intervals(
        frame["date"], frame["label"], scores, frame["persistence"], "default", PARAMS
    )
    assert again == out


def test_selection_intervals_use_the_compare_params() -> None:
    frame = predictions_frame(days=180)
    scores = {"default": frame["model"], "other": frame["model"] + 1}
    wide = selection_intervals(frame["date"], frame["label"], scores, frame["persistence"], "default", PARAMS)
    narrow = selection_intervals(
        frame["date"], frame["label"], scores, frame["persistence"], "default",
        PARAMS.model_copy(update={"confidence": 0.5}),
    )  # fmt: skip
    w, n = wide["vs_default"]["other"], narrow["vs_default"]["other"]
    assert w["rmse_change"] == n["rmse_change"]
    assert w["low"] < n["low"] <= n["high"] < w["high"]


def test_a_validation_period_shorter_than_a_block_is_one_block() -> None:
    frame = predictions_frame(days=5)
    scores = {"default": frame["model"], "other": frame["model"] + 1}
    out = selection_intervals(frame["date"], frame["label"], scores, frame["persistence"], "default", PARAMS)
    assert out["block_days"] == 5


# ---- every metric of the report, and per slice ----


def with_interval_and_wet(frame: pd.DataFrame) -> pd.DataFrame:
    return with_wet_forecast(frame).assign(score_low=frame["model"] - 10, score_high=frame["model"] + 10)


def test_compare_frames_gives_every_metric_the_predictions_determine() -> None:
    base = with_interval_and_wet(predictions_frame(stations=(108, 112)))
    pr = base.assign(model=base["model"] + 1.0, score_low=base["score_low"] + 1.0)
    comparison = compare_frames(base, pr, PARAMS, nominal_coverage=0.8)
    assert list(comparison.changes) == [
        "rmse", "skill_vs_persistence", "mae", "abs_bias", "r2", "persistence_rmse", "skill_vs_climatology",
        "climatology_rmse", "brier", "coverage_error", "interval_mean_width",
    ]  # fmt: skip
    c, label = comparison.changes, pr["label"]
    residual = pr["model"] - label
    assert c["abs_bias"].pr == pytest.approx(abs(residual.mean()))
    assert c["r2"].pr == pytest.approx(1 - (residual**2).sum() / ((label - label.mean()) ** 2).sum())
    assert c["skill_vs_climatology"].pr == pytest.approx(
        1 - rmse(label, pr["model"]) / rmse(label, pr["climatology"])
    )
    inside = ((label >= pr["score_low"]) & (label <= pr["score_high"])).mean()
    assert c["coverage_error"].pr == pytest.approx(abs(inside - 0.8))
    assert c["interval_mean_width"].change == pytest.approx(-1.0)
    assert c["interval_mean_width"].verdict == "changes"  # narrower is not better by itself
    assert c["persistence_rmse"].change == 0 and c["persistence_rmse"].low == c["persistence_rmse"].high == 0
    assert comparison.differences == {"model": (len(base), pytest.approx(1.0)), "wet_probability": (0, 0.0)}


def test_slices_have_their_own_intervals_on_the_same_resamples() -> None:
    base = with_wet_forecast(predictions_frame(stations=(108, 112, 119)))
    pr = base.assign(model=base["model"] + np.where(base["station_id"] == 112, 5.0, 0.0))
    comparison = compare_frames(base, pr, PARAMS)
    assert set(comparison.slices) == {"window", "season", "wetness", "station"}
    stations = comparison.slices["station"]
    assert stations["112"].verdict == "worsens"
    for unchanged in ("108", "119"):
        assert stations[unchanged].change == 0 and stations[unchanged].verdict == "no detectable change"
    rows = pr["station_id"] == 112
    assert stations["112"].pr == pytest.approx(rmse(pr.loc[rows, "label"], pr.loc[rows, "model"]))
    winter = pr["date"].dt.month.isin([12, 1, 2])
    assert comparison.slices["season"]["winter"].pr == pytest.approx(
        rmse(pr.loc[winter, "label"], pr.loc[winter, "model"])
    )
    assert set(comparison.slices["wetness"]) == {"wet", "dry"}
    # a one-station comparison has no station slice: it would be the whole test set again
    single = predictions_frame(days=60)
    assert "station" not in compare_frames(single, single, PARAMS).slices


def test_grouped_means_match_a_loop_over_resamples_and_groups() -> None:
    rng = np.random.default_rng(2)
    dates = np.repeat(np.arange(40), 3)
    values = rng.normal(size=dates.size)
    groups = rng.integers(0, 4, size=dates.size)
    draws = Resamples(dates, block_days=5, resamples=50, seed=1)
    grouped = draws.by(groups, 4).mean(values)
    for r in (0, 7, 49):
        weight = draws.weights[r][dates]
        for g in range(4):
            mask = groups == g
            expected = (
                (weight[mask] * values[mask]).sum() / weight[mask].sum() if weight[mask].sum() else np.nan
            )
            assert grouped[r, g] == pytest.approx(expected, nan_ok=True)
    assert draws.mean(values)[0] == pytest.approx(values.mean())
