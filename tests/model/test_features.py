"""Leakage and invariance: the feature function is pure and sees nothing after issue time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from commute_weather.forecast.features import (
    all_targets,
    build_features,
    build_features_and_labels,
    day_of_year,
    feature_names,
    history_grid,
    issue_features,
    issue_times,
)
from commute_weather.forecast.model import feature_matrix
from commute_weather.forecast.predictor import Predictor
from commute_weather.serving.handlers import history, issue_time, request_from_frame

NUMERIC = [
    "temperature_c", "dew_point_c", "humidity_pct", "wind_speed_ms", "precipitation_mm", "snow_depth_cm",
    "pressure_hpa", "cloud_cover_tenths", "visibility_m",
]  # fmt: skip


def nonzero(low: float, high: float) -> st.SearchStrategy[float]:
    """Floats with low <= |x| <= high, either sign: never zero."""
    magnitude = st.floats(min_value=low, max_value=high, allow_nan=False)
    return st.tuples(magnitude, st.sampled_from([-1.0, 1.0])).map(lambda m: m[0] * m[1])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    target_index=st.integers(min_value=0, max_value=200),
    column=st.sampled_from([*NUMERIC, "precipitation_type", "drop_rows"]),
    # x -> factor * x + shift on every hour after issue time: scaled up or down, sign flipped or not, and
    # always shifted (a zero shift of zeros, e.g. dry hours' precipitation, would change nothing)
    factor=st.one_of(nonzero(0.05, 0.95), nonzero(1.05, 20.0), st.just(-1.0)),
    shift=nonzero(0.5, 50.0),
    kind=st.sampled_from(["rain", "snow", "mixed", "none"]),
)
def test_changing_observations_after_issue_time_never_changes_features(
    two_months: pd.DataFrame,
    params,  # type: ignore[no-untyped-def]
    target_index: int,
    column: str,
    factor: float,
    shift: float,
    kind: str,
) -> None:
    targets = all_targets(two_months).iloc[[target_index]]
    issue = issue_times(targets, params.commute).iloc[0]
    before = build_features(two_months, targets, params.commute, params.featurize, params.comfort)
    later = (two_months["observed_at"] > issue) & (two_months["station_id"] == targets["station_id"].iloc[0])
    changed = two_months.copy()
    if column == "drop_rows":
        changed = changed[~later]
    elif column == "precipitation_type":
        changed.loc[later, column] = kind
    else:
        changed.loc[later, column] = factor * changed.loc[later, column] + shift
    assume(not changed.equals(two_months))  # e.g. 'rain' over later hours that all rain already
    after = build_features(changed, targets, params.commute, params.featurize, params.comfort)
    pd.testing.assert_frame_equal(before, after)


def test_changing_the_issue_hour_itself_does_change_features(two_months: pd.DataFrame, params) -> None:  # type: ignore[no-untyped-def]
    """The property above is not vacuous: the newest allowed hour is read."""
    targets = all_targets(two_months).iloc[[40]]
    issue = issue_times(targets, params.commute).iloc[0]
    at_issue = (two_months["observed_at"] == issue) & (
        two_months["station_id"] == targets["station_id"].iloc[0]
    )
    changed = two_months.copy()
    changed.loc[at_issue, "temperature_c"] += 5.0
    before = build_features(two_months, targets, params.commute, params.featurize, params.comfort)
    after = build_features(changed, targets, params.commute, params.featurize, params.comfort)
    assert after["temperature_c_now"].iloc[0] == before["temperature_c_now"].iloc[0] + 5.0


def test_row_order_of_observations_and_targets_changes_nothing(two_months: pd.DataFrame, params) -> None:  # type: ignore[no-untyped-def]
    targets = all_targets(two_months)
    expected = build_features(two_months, targets, params.commute, params.featurize, params.comfort)
    shuffled_obs = two_months.sample(frac=1.0, random_state=1)
    order = np.random.default_rng(2).permutation(len(targets))
    got = build_features(shuffled_obs, targets.iloc[order], params.commute, params.featurize, params.comfort)
    pd.testing.assert_frame_equal(got, expected.iloc[order].reset_index(drop=True))


def test_every_feature_carries_information_over_two_months(two_months: pd.DataFrame, params) -> None:  # type: ignore[no-untyped-def]
    """Two months at two stations, with snow, rain and missing hours: a feature that is NaN everywhere or
    one value everywhere (a wrong slice, a dropped column, a constant) tells the model nothing."""
    features = build_features(two_months, all_targets(two_months), params.commute, params.featurize,
                              params.comfort)  # fmt: skip
    uninformative = [
        name for name in feature_names(params.featurize) if features[name].dropna().nunique() < 2
    ]
    assert uninformative == []


SHORT_HORIZONS = {"horizons_h": [3, 6]}  # the lookback is then set by yesterday's window, not a horizon


@pytest.mark.parametrize("featurize", [{}, SHORT_HORIZONS], ids=["params.yaml", "short horizons"])
def test_yesterdays_window_score_is_yesterdays_label(
    two_months: pd.DataFrame,
    params,  # type: ignore[no-untyped-def]
    featurize: dict[str, object],
) -> None:
    """The feature reads yesterday's same window (before issue time) and scores it with the heuristic:
    wherever yesterday's window has a label, the two are the same number."""
    settings_ = params.featurize.model_copy(update=featurize)
    targets = all_targets(two_months)
    features, labels = build_features_and_labels(
        two_months, targets, params.commute, settings_, params.comfort
    )
    yesterday = labels.assign(date=labels["date"] + pd.Timedelta(days=1))
    both = features.merge(yesterday, on=["station_id", "date", "window"]).dropna(subset=["label"])
    assert len(both) > 150, len(both)
    np.testing.assert_array_equal(both["yesterday_window_score"], both["label"])


@pytest.mark.parametrize("featurize", [{}, SHORT_HORIZONS], ids=["params.yaml", "short horizons"])
def test_the_service_path_computes_the_pipeline_features_exactly(
    two_months: pd.DataFrame,
    params,  # type: ignore[no-untyped-def]
    featurize: dict[str, object],
) -> None:
    """Requests (short histories packed in one grid) and featurize (whole station records) must agree to
    the bit, missing hours included: the model was trained on the one and serves the other. Each request
    holds exactly the `history_hours` the service asks clients for: they must be enough."""
    holes = two_months.drop(two_months.sample(frac=0.1, random_state=3).index)
    targets = all_targets(holes).sample(40, random_state=4).reset_index(drop=True)
    predictor = Predictor(
        model=None, commute=params.commute, featurize=params.featurize.model_copy(update=featurize),
        comfort=params.comfort,
    )  # type: ignore[arg-type]  # fmt: skip
    requests = []
    for target, issue in zip(targets.itertuples(), issue_times(targets, params.commute), strict=True):
        mine = holes[(holes["station_id"] == target.station_id) & holes["observed_at"].between(
            issue - pd.Timedelta(hours=predictor.history_hours - 1), issue)]  # fmt: skip
        requests.append(request_from_frame(target.station_id, target.date.date(), target.window, mine))
    issues = [issue_time(predictor, r) for r in requests]
    got = predictor.history_features(
        [history(r, i) for r, i in zip(requests, issues, strict=True)],
        station_id=targets["station_id"].to_numpy(),
        window=targets["window"].to_numpy(),
        day_of_year=day_of_year(issues),
    )
    expected = build_features(holes, targets, params.commute, predictor.featurize, params.comfort)
    assert expected["yesterday_window_score"].notna().sum() > 30  # the farthest hours are read too
    np.testing.assert_array_equal(got, feature_matrix(expected, predictor.features))


def test_hours_outside_a_request_never_reach_its_neighbours_block() -> None:
    """Packed side by side, a request's hours after its issue hour, or older than its block, are dropped:
    the neighbouring request's block is what it is when packed alone."""

    def hours(ages: list[int], value: float) -> dict[str, object]:
        history: dict[str, object] = {"age_h": np.array(ages), "precipitation_type": ["rain"] * len(ages)}
        return history | {name: np.full(len(ages), value) for name in NUMERIC}

    plain = hours([0, 1, 2, 3, 4], 1.0)
    alone, _ = history_grid([plain], hours=5)
    stray = hours([-1, 0, 5, 6], 99.0)  # an hour after issue time, two older than the block
    for packed in ([stray, plain], [plain, stray]):
        grid, _ = history_grid(packed, hours=5)
        block = slice(0, 5) if packed[0] is plain else slice(5, 10)
        for name, values in alone.columns.items():
            np.testing.assert_array_equal(grid.columns[name][block], values, err_msg=name)
        assert (grid.columns["temperature_c"] == 99.0).sum() == 1  # the stray request keeps its own hour


def test_a_request_grid_refuses_reads_beyond_its_history(params) -> None:  # type: ignore[no-untyped-def]
    """Packed histories sit side by side: a feature reaching further back than a block must fail loudly,
    never read the neighbouring request."""
    history = {"age_h": np.arange(5), "precipitation_type": ["none"] * 5}
    history |= {name: np.full(5, 1.0) for name in NUMERIC}
    grid, issue = history_grid([history, history], hours=5)
    with pytest.raises(ValueError, match="reads 24 hours back; this grid holds 4"):
        issue_features(grid, issue, station_id=np.array([108, 108]), window=np.array(["morning"] * 2),
                       day_of_year=np.array([1, 1]), commute=params.commute, featurize=params.featurize,
                       comfort=params.comfort)  # fmt: skip


NEW_TENDENCIES = (
    "humidity_change_6h",
    "cloud_change_6h",
    "dew_point_depression_change_6h",
    "visibility_change_6h",
    "pressure_anomaly",
    "hours_since_wet",
    "precipitation_type_now",
)


def test_the_leakage_property_covers_the_tendency_features_and_they_read_the_past(
    two_months: pd.DataFrame,
    params,  # type: ignore[no-untyped-def]
) -> None:
    """The property test above compares every feature column, these included; and they are not constant:
    an hour 6 h before issue time (allowed) moves each of them."""
    names = feature_names(params.featurize)
    assert set(NEW_TENDENCIES) <= set(names)
    targets = all_targets(two_months).iloc[[60]]
    issue = issue_times(targets, params.commute).iloc[0]
    station = two_months["station_id"] == targets["station_id"].iloc[0]
    at = station & (two_months["observed_at"] == issue - pd.Timedelta(hours=6))
    now = station & (two_months["observed_at"] == issue)
    changed = two_months.copy()
    for column, delta in (("humidity_pct", -30.0), ("cloud_cover_tenths", -5.0), ("dew_point_c", -8.0),
                          ("visibility_m", 5000.0), ("pressure_hpa", 20.0)):  # fmt: skip
        changed.loc[at, column] += delta
    changed.loc[at | now, "precipitation_type"] = "rain"
    before = build_features(two_months, targets, params.commute, params.featurize, params.comfort)
    after = build_features(changed, targets, params.commute, params.featurize, params.comfort)
    for name in NEW_TENDENCIES:
        assert not np.array_equal(before[name].to_numpy(), after[name].to_numpy(), equal_nan=True), name
