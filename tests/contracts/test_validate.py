"""The observation contract catches what real feeds get wrong, and reports every failure at once."""

from __future__ import annotations

from typing import Any

import pandas as pd

from commute_weather.pipeline.validate import COMPLETENESS_CHECK, UNIQUENESS_CHECK, run_contract


def failing(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{c['column']}:{c['check']}": c for c in report["checks"] if not c["passed"]}


def test_clean_sample_passes(two_months: pd.DataFrame, params) -> None:  # type: ignore[no-untyped-def]
    report = run_contract(two_months, params.validate_)
    assert report["status"] == "passed", failing(report)
    assert report["rows"] == len(two_months)


def test_every_broken_rule_is_reported_in_one_run(two_months: pd.DataFrame, params) -> None:  # type: ignore[no-untyped-def]
    bad = pd.concat([two_months, two_months.iloc[[10, 11]]], ignore_index=True)  # duplicate hours
    bad.loc[3, "temperature_c"] = 61.0  # out of range
    bad.loc[4, "humidity_pct"] = -5.0
    bad.loc[5, "station_id"] = 999  # unknown station
    report = run_contract(bad, params.validate_)
    failures = failing(report)
    assert report["status"] == "failed"
    assert failures["temperature_c:less_than_or_equal_to(45)"]["failures"] == 1
    assert failures["temperature_c:less_than_or_equal_to(45)"]["examples"][0]["temperature_c"] == 61.0
    assert failures["humidity_pct:greater_than_or_equal_to(0)"]["failures"] == 1
    assert any(k.startswith("station_id:isin") for k in failures)
    assert (
        failures[f"station_id,observed_at:{UNIQUENESS_CHECK}"]["failures"] == 4
    )  # both copies of both hours
    assert (
        len(failures[f"station_id,observed_at:{UNIQUENESS_CHECK}"]["examples"])
        <= params.validate_.max_examples
    )


def test_station_month_with_too_many_missing_hours(two_months: pd.DataFrame, params) -> None:  # type: ignore[no-untyped-def]
    march_108 = (two_months["station_id"] == 108) & (two_months["observed_at"].dt.month == 3)
    thinned = two_months.drop(two_months.index[march_108][::3]).reset_index(drop=True)  # a third missing
    report = run_contract(thinned, params.validate_)
    assert report["status"] == "failed"
    assert [c["check"] for c in failing(report).values()] == [COMPLETENESS_CHECK]
    assert [(m["station_id"], m["month"]) for m in report["incomplete_station_months"]] == [(108, "2021-03")]


def test_wrong_dtype_and_missing_column_are_reported_not_raised(two_months: pd.DataFrame, params) -> None:  # type: ignore[no-untyped-def]
    bad = two_months.drop(columns=["visibility_m"]).assign(
        pressure_hpa=two_months["pressure_hpa"].astype(str)
    )
    report = run_contract(bad, params.validate_)
    assert report["status"] == "failed"
    failures = failing(report)
    assert "pressure_hpa:dtype('float64')" in failures
    assert failures[":column_in_dataframe"]["examples"] == [{"failure_case": "visibility_m"}]
