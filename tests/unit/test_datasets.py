"""Datasets from real exports: overlapping exports merge, conflicts and short periods fail with names and
dates, record edges are not incomplete months, selection and climatology never see the test period."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from commute_weather.cli import StageError
from commute_weather.config import PipelineParams, SplitParams
from commute_weather.forecast.gate import evaluate_gate
from commute_weather.forecast.split import SplitError, assign_split, check_periods
from commute_weather.pipeline.evaluate import climatology
from commute_weather.pipeline.featurize import build_dataset
from commute_weather.pipeline.ingest import gap_summary
from commute_weather.pipeline.train import choose, select_and_fit
from commute_weather.pipeline.validate import month_completeness
from commute_weather.sources.kma.portal_csv import parse_portal_csv
from commute_weather.sources.merge import merge_exports
from commute_weather.sources.normalize import normalize
from tests.conftest import CHEONGJU


def records(hours: int, start: str = "2022-03-01 01:00", temperature: float = 5.0) -> pd.DataFrame:
    stamps = pd.date_range(start, periods=hours, freq="h", tz="Asia/Seoul")
    return pd.DataFrame({"station_id": 131, "observed_at": stamps, "temperature_c": temperature,
                         "precipitation_mm": np.nan, "weather_codes": ""})  # fmt: skip


def test_identical_overlap_collapses_and_is_counted() -> None:
    merged, collapsed = merge_exports([("a.csv", records(48)), ("b.csv", records(48, "2022-03-02 01:00"))])
    assert collapsed == 24
    assert len(merged) == 72
    assert merged["observed_at"].is_unique and merged["observed_at"].is_monotonic_increasing


def test_conflicting_overlap_names_both_files_the_hour_and_the_column() -> None:
    later = records(48, "2022-03-02 01:00")
    later.loc[3, "temperature_c"] = 6.5
    with pytest.raises(StageError, match=r"a.csv and b.csv disagree on station 131 at 2022-03-02 04:00 in "
                                         r"\['temperature_c'\] \(1 conflicting rows"):  # fmt: skip
        merge_exports([("a.csv", records(48)), ("b.csv", later)])


def test_missing_where_the_other_has_a_value_is_a_conflict_too() -> None:
    later = records(24, "2022-03-01 01:00")
    later.loc[0, "precipitation_mm"] = 0.5
    with pytest.raises(StageError, match="precipitation_mm"):
        merge_exports([("a.csv", records(24)), ("b.csv", later)])


def test_the_real_cheongju_exports_merge_with_the_documented_overlap_and_gaps() -> None:
    exports = [(p.name, parse_portal_csv(p.read_bytes(), p.name)) for p in sorted(CHEONGJU.glob("*.csv"))]
    merged, collapsed = merge_exports(exports)
    assert collapsed == 7320
    gaps = gap_summary(merged)
    # Between the 2021 and 2022 exports; the third export covers the 2022-2023 New Year.
    assert gaps["missing_hours"] == 24 and gaps["gaps"] == 1
    assert gaps["longest_gaps"][0]["after"][:16] == "2021-12-31T00:00"


def test_completeness_expects_only_the_hours_inside_the_record() -> None:
    """A record that ends on the 23rd (a download date) is not an incomplete month; a hole inside is."""
    frame = pd.concat([records(24 * 31, "2023-01-01 00:00"), records(22 * 24 + 1, "2023-03-01 00:00")])
    frame = frame[~frame["observed_at"].between("2023-01-10", "2023-01-20 23:00")]
    shares = month_completeness(frame).set_index("month")["share"]
    assert shares["2023-03"] == 1.0
    assert shares["2023-01"] == pytest.approx((31 - 11) / 31)


def dates(*spans: tuple[str, str]) -> pd.Series:
    days = [pd.date_range(a, b, freq="D") for a, b in spans]
    return pd.Series(np.concatenate([d.to_numpy() for d in days])).repeat(2).reset_index(drop=True)


def test_split_boundaries_are_whole_days_counted_back_from_the_last() -> None:
    series = dates(("2022-01-01", "2022-12-31"))
    split = assign_split(series, SplitParams(test_days=100, validation_days=50, min_period_rows=1))
    assert series[split == "test"].min() == pd.Timestamp("2022-09-23")
    assert series[split == "validation"].min() == pd.Timestamp("2022-08-04")
    assert (split == "test").sum() == 200 and (split == "validation").sum() == 100


def test_a_gap_that_empties_the_validation_period_names_it_with_its_dates() -> None:
    series = dates(("2021-01-01", "2021-12-31"), ("2022-09-01", "2022-12-31"))
    params = SplitParams(test_days=100, validation_days=60, min_period_rows=50)
    with pytest.raises(SplitError, match="validation 2022-07-25 to 2022-09-22 has 44 windows"):
        check_periods(series, assign_split(series, params), params)
    with pytest.raises(SplitError, match="no labelled windows"):
        check_periods(pd.Series([], dtype="datetime64[ns]"), pd.Series([], dtype=str), params)


def detectable(high: float) -> dict[str, float]:
    return {"low": high - 1.0, "high": high}


@pytest.mark.parametrize(
    ("scores", "interval_high", "chosen"),
    [({"hist_gradient_boosting": 10.0, "random_forest": 9.9, "ridge": 11.0, "hurdle": 12.0}, -0.05,
      "hist_gradient_boosting"),  # beaten by less than the margin, however sure
     ({"hist_gradient_boosting": 10.0, "random_forest": 9.7, "ridge": 11.0, "hurdle": 12.0}, -0.05,
      "random_forest"),  # by more than the margin, and detectably
     ({"hist_gradient_boosting": 10.0, "random_forest": 9.7, "ridge": 11.0, "hurdle": 12.0}, 0.2,
      "hist_gradient_boosting"),  # by more than the margin on the point value, but the interval reaches 0
     ({"hist_gradient_boosting": 9.0, "random_forest": 9.7, "ridge": 11.0, "hurdle": 12.0}, -0.05,
      "hist_gradient_boosting")],
)  # fmt: skip
def test_selection_keeps_the_default_unless_beaten_by_the_margin_detectably(
    params: PipelineParams, scores: dict[str, float], interval_high: float, chosen: str
) -> None:
    assert params.train.selection.min_rmse_gain == 0.2
    vs_default = {name: detectable(interval_high) for name in scores if name != "hist_gradient_boosting"}
    rule = params.train.selection.model_copy(update={"candidates": tuple(scores)})
    picked, reason = choose("hist_gradient_boosting", scores, vs_default, rule)
    assert picked == chosen
    if interval_high >= 0 and scores["random_forest"] < 9.8:
        assert "not detectable" in reason


def test_of_several_detectable_winners_the_lowest_rmse_is_chosen(params: PipelineParams) -> None:
    scores = {"hist_gradient_boosting": 10.0, "random_forest": 9.5, "ridge": 9.2, "hurdle": 9.6}
    vs_default = {"random_forest": detectable(-0.1), "ridge": detectable(0.1), "hurdle": detectable(-0.1)}
    rule = params.train.selection.model_copy(update={"candidates": tuple(scores)})
    # ridge has the lowest point RMSE but cannot be told apart from the default
    assert choose("hist_gradient_boosting", scores, vs_default, rule)[0] == "random_forest"


@pytest.mark.parametrize(("hurdle_minus_forest_high", "chosen"), [(0.3, "random_forest"), (-0.05, "hurdle")])
def test_of_several_winners_a_point_difference_they_cannot_tell_apart_does_not_decide(
    params: PipelineParams, hurdle_minus_forest_high: float, chosen: str
) -> None:
    scores = {"hist_gradient_boosting": 10.0, "random_forest": 9.5, "hurdle": 9.45}
    vs_default = {"random_forest": detectable(-0.1), "hurdle": detectable(-0.1)}
    rule = params.train.selection.model_copy(update={"candidates": tuple(scores)})
    asked = []

    def versus(first: str, other: str) -> dict[str, float]:
        asked.append((first, other))
        return detectable(hurdle_minus_forest_high)

    picked, reason = choose("hist_gradient_boosting", scores, vs_default, rule, versus)
    assert (picked, asked) == (chosen, [("random_forest", "hurdle")])
    assert "of the winners random_forest, hurdle" in reason


def small_params(params: PipelineParams) -> PipelineParams:
    train = params.train.model_copy(update={"random_forest": params.train.random_forest.model_copy(
        update={"n_estimators": 10})})  # fmt: skip
    split = SplitParams(test_days=60, validation_days=60, min_period_rows=20)
    gate = params.gate.model_copy(update={"min_train_rows": 50})
    return params.model_copy(update={"train": train, "split": split, "gate": gate})


@pytest.fixture(scope="module")
def real_dataset(params: PipelineParams) -> pd.DataFrame:
    """The first ten months of the real record's windows, built by featurize's own code."""
    path = CHEONGJU / "OBS_ASOS_TIM_131_2021.csv"
    observations = normalize(parse_portal_csv(path.read_bytes(), path.name))
    dataset, _ = build_dataset(observations, params)
    return dataset.iloc[:600]


def test_selection_and_the_final_fit_never_see_test_rows(
    params: PipelineParams, real_dataset: pd.DataFrame
) -> None:
    small = small_params(params)
    _, record = select_and_fit(real_dataset, small)
    test = assign_split(real_dataset["date"], small.split) == "test"
    poisoned = real_dataset.copy()
    poisoned.loc[test, "label"] = 0.0  # test labels that would change any fit or score they reached
    poisoned.loc[test, "persistence_score"] = 100.0
    _, poisoned_record = select_and_fit(poisoned, small)
    assert poisoned_record == record
    assert record["fit_rows"] == int((~test).sum())


def test_selection_reports_the_intervals_it_decides_by(
    params: PipelineParams, real_dataset: pd.DataFrame
) -> None:
    small = small_params(params)
    # Two quick candidates (the boosted ones take seconds each on a busy machine); ridge the default.
    selection = small.train.selection.model_copy(update={"candidates": ("ridge", "random_forest")})
    train = small.train.model_copy(update={"model": "ridge", "selection": selection})
    small = small.model_copy(update={"train": train})
    _, record = select_and_fit(real_dataset, small)
    validation = record["validation"]
    intervals, candidates = validation["intervals"], validation["candidates"]
    default = small.train.model
    assert intervals["default"] == default
    assert set(intervals["vs_default"]) == set(candidates) - {default}
    assert set(intervals["vs_persistence"]) == set(candidates)
    assert intervals["windows"] == validation["rows"]
    for name, c in intervals["vs_default"].items():
        assert c["rmse_change"] == pytest.approx(
            candidates[name]["rmse"] - candidates[default]["rmse"], abs=2e-4
        )
        assert c["low"] <= c["rmse_change"] <= c["high"]
    for name, c in intervals["vs_persistence"].items():
        assert c["rmse_change"] == pytest.approx(
            candidates[name]["rmse"] - validation["persistence_rmse"], abs=2e-4
        )
        assert c["skill"] == pytest.approx(candidates[name]["skill_vs_persistence"], abs=2e-4)
    # Other interval params change the intervals (and so may change the pick), never the candidates' figures.
    loose = small.model_copy(update={"compare": small.compare.model_copy(update={"confidence": 0.5})})
    _, other = select_and_fit(real_dataset, loose)
    assert other["validation"]["intervals"] != intervals
    assert other["validation"]["candidates"] == candidates


def test_climatology_is_fitted_on_rows_before_the_test_period(real_dataset: pd.DataFrame) -> None:
    fit_rows, test = real_dataset.iloc[:500], real_dataset.iloc[500:]
    before = climatology(fit_rows, test)
    shifted = test.assign(label=test["label"] + 50)
    assert np.array_equal(climatology(fit_rows, shifted), before)


def metrics(rmse: float, skill: float, train_rows: int, dataset: str = "cheongju") -> dict[str, Any]:
    return {"model": {"rmse": rmse}, "skill_vs_persistence": skill, "rows": {"train": train_rows},
            "dataset": {"name": dataset, "real": True}}  # fmt: skip


@pytest.mark.parametrize(
    ("candidate", "failed"),
    [(metrics(9.0, 0.2, 900), []), (metrics(11.5, 0.2, 900), ["rmse_max"]),
     (metrics(9.0, 0.1, 900), ["min_skill"]), (metrics(9.0, 0.2, 600), ["min_train_rows"])],
)  # fmt: skip
def test_each_gate_check_fails_on_its_own(
    params: PipelineParams, candidate: dict[str, Any], failed: list[str]
) -> None:
    gate = evaluate_gate(candidate, params.gate, reference=None)
    assert [c["check"] for c in gate["checks"] if not c["passed"]] == failed
    assert gate["approved"] == (not failed)


def test_regression_compares_the_same_dataset_only(params: PipelineParams) -> None:
    worse = evaluate_gate(metrics(9.5, 0.2, 900), params.gate, reference=metrics(9.0, 0.2, 900))
    assert [c["check"] for c in worse["checks"] if not c["passed"]] == ["max_rmse_regression"]
    with pytest.raises(StageError, match="dataset 'sample', these of 'cheongju'"):
        evaluate_gate(metrics(9.0, 0.2, 900), params.gate, reference=metrics(9.0, 0.2, 900, "sample"))
