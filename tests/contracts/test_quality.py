"""Damaged hours are caught: each cross-field and temporal check passes the clean portal hours of a real
Seoul export and fails a hand-damaged copy of one of them; a failing hour is quarantined (listed, removed
before featurize), and only a station-month with too many quarantined hours fails validation."""

from __future__ import annotations

import pandas as pd
import pytest

from commute_weather.config import PipelineParams
from commute_weather.contracts.quality import (
    HUMIDITY_CHECK,
    PRESSURE_SPIKE_CHECK,
    SEA_LEVEL_CHECK,
    STATION_PRESSURE_SPIKE_CHECK,
    TEMPERATURE_SPIKE_CHECK,
    clean_observations,
)
from commute_weather.pipeline.validate import run_contract
from commute_weather.sources.kma.portal_csv import parse_portal_export
from commute_weather.sources.normalize import normalize
from tests.unit.test_real_records import PORTAL

HOUR = pd.Timestamp("2018-07-06 22:00", tz="Asia/Seoul")  # a clean summer hour with both neighbours


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    records, _ = parse_portal_export(PORTAL.read_bytes(), str(PORTAL))
    return normalize(records.assign(source_file=PORTAL.name))


def quarantined(observations: pd.DataFrame, params: PipelineParams) -> dict[str, list[str]]:
    report = run_contract(observations, params.validate_, completeness=False)
    assert report["status"] == "passed"  # one damaged hour is quarantined, not a failed dataset
    return {entry["observed_at"]: entry["checks"] for entry in report["quality"]["quarantined"]}


def damaged(clean: pd.DataFrame, stamp: pd.Timestamp = HOUR, **changes: float) -> pd.DataFrame:
    out = clean.copy()
    row = out.index[out["observed_at"] == stamp][0]
    for column, delta in changes.items():
        out.loc[row, column] += delta
    return out


def test_the_clean_portal_hours_pass_every_check(clean: pd.DataFrame, params: PipelineParams) -> None:
    assert quarantined(clean, params) == {}


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"temperature_c": 20.6}, HUMIDITY_CHECK),  # the real damage: 10.3 C for -10.3 C, below
        ({"humidity_pct": -20.0}, HUMIDITY_CHECK),
        ({"temperature_c": 12.0}, TEMPERATURE_SPIKE_CHECK),
        ({"pressure_hpa": 8.0}, PRESSURE_SPIKE_CHECK),
        ({"station_pressure_hpa": 8.0}, STATION_PRESSURE_SPIKE_CHECK),
        ({"station_pressure_hpa": 4.0}, SEA_LEVEL_CHECK),
    ],
)
def test_each_check_fails_on_a_hand_damaged_hour(
    clean: pd.DataFrame, params: PipelineParams, changes: dict[str, float], check: str
) -> None:
    stamp = pd.Timestamp("2018-01-11 00:00", tz="Asia/Seoul") if changes == {"temperature_c": 20.6} else HOUR
    caught = quarantined(damaged(clean, stamp, **changes), params)
    assert list(caught) == [stamp.isoformat()]
    assert check in caught[stamp.isoformat()]


def test_sea_level_check_needs_a_reported_sea_level_pressure(
    clean: pd.DataFrame, params: PipelineParams
) -> None:
    # The portal export has no sea-level pressure: normalize derives it from station pressure, so the check
    # sees the two agree (it can only catch damage where both were reported).
    assert clean["pressure_hpa"].notna().all()
    assert quarantined(clean, params) == {}


def test_a_quarantined_hour_is_listed_with_file_values_and_removed_before_featurize(
    clean: pd.DataFrame, params: PipelineParams
) -> None:
    bad = damaged(clean, temperature_c=12.0)
    report = run_contract(bad, params.validate_, completeness=False)
    (entry,) = report["quality"]["quarantined"]
    assert entry["file"] == PORTAL.name and entry["station_id"] == 108
    original = clean.loc[bad["observed_at"] == HOUR, "temperature_c"].iloc[0]
    assert entry["values"]["temperature_c"] == pytest.approx(original + 12)
    kept, removed = clean_observations(bad, report)
    assert removed == {"hours_quarantined_removed": 1} and len(kept) == len(bad) - 1
    assert HOUR not in set(kept["observed_at"])


def test_validation_fails_when_a_station_months_quarantined_share_passes_the_threshold(
    two_months: pd.DataFrame, params: PipelineParams
) -> None:
    assert run_contract(two_months, params.validate_)["status"] == "passed"
    march_108 = two_months["observed_at"].dt.month.eq(3) & two_months["station_id"].eq(108)
    bad = two_months.copy()
    half = bad.index[march_108][: int(march_108.sum() * 0.6)]
    humidity = bad.loc[half, "humidity_pct"]
    bad.loc[half, "humidity_pct"] = humidity.where(humidity < 50, humidity - 40).where(
        humidity >= 50, humidity + 40
    )
    report = run_contract(bad, params.validate_)
    assert report["status"] == "failed"
    (month,) = report["quality"]["station_months_over_threshold"]
    assert (month["station_id"], month["month"]) == (108, "2021-03")
    assert month["share"] > params.validate_.max_quarantined_share
