"""The regression check with an interval: refused only when the RMSE increase is detectable and too large."""

from __future__ import annotations

from typing import Any

import pytest

from commute_weather import gate
from commute_weather.compare import Change, Comparison
from commute_weather.config import PipelineParams
from commute_weather.gate import Reference, describe_value, evaluate_gate, gate_table


def metrics(rmse: float) -> dict[str, Any]:
    return {"model": {"rmse": rmse}, "skill_vs_persistence": 0.2, "rows": {"train": 900},
            "dataset": {"name": "cheongju", "real": True}}  # fmt: skip


def rmse_change(base: float, pr: float, low: float, high: float) -> Change:
    return Change(metric="rmse", base=base, pr=pr, change=pr - base, low=low, high=high, confidence=0.95,
                  higher_is_better=False)  # fmt: skip


def regression(gate: dict[str, Any]) -> dict[str, Any]:
    (check,) = [c for c in gate["checks"] if c["check"] == "max_rmse_regression"]
    return check


@pytest.mark.parametrize(
    ("pr", "low", "high", "passed", "rule"),
    [
        # +0.5 over max_rmse_regression 0.25, interval above zero: refused
        (9.5, 0.2, 0.8, False, "detectable increase larger than allowed"),
        # +0.5 but the interval reaches below zero: noise as far as the test year can tell, passes
        (9.5, -0.1, 1.1, True, "increase larger than allowed but not detectable (interval reaches 0)"),
        # +0.1, detectable but within the allowance: passes
        (9.1, 0.05, 0.15, True, "detectable increase within what is allowed"),
        (9.1, -0.2, 0.4, True, "no detectable increase"),
    ],
)
def test_regression_needs_a_detectable_and_large_increase(
    params: PipelineParams, pr: float, low: float, high: float, passed: bool, rule: str
) -> None:
    gate = evaluate_gate(metrics(pr), params.gate, metrics(9.0), rmse_change(9.0, pr, low, high))
    check = regression(gate)
    assert check["passed"] is passed
    assert gate["approved"] is passed
    assert check["rule"] == rule
    assert check["interval"] == [low, high]
    assert describe_value(check) == f"{pr - 9.0:+.4f} (95% interval {low:+.4f} to {high:+.4f})"


def test_without_predictions_the_point_rule_decides_and_says_so(params: PipelineParams) -> None:
    check = regression(evaluate_gate(metrics(9.5), params.gate, metrics(9.0)))
    assert check["passed"] is False
    assert "interval" not in check
    assert check["rule"] == "point increase only (no predictions to compare: no interval)"
    assert regression(evaluate_gate(metrics(9.1), params.gate, metrics(9.0)))["passed"] is True


def test_gate_table_prints_the_interval(params: PipelineParams) -> None:
    from rich.console import Console  # noqa: PLC0415

    gate = evaluate_gate(metrics(9.5), params.gate, metrics(9.0), rmse_change(9.0, 9.5, 0.2, 0.8))
    console = Console(width=200, record=True)
    console.print(gate_table(gate))
    text = console.export_text()
    assert "+0.5000 (95% interval +0.2000 to +0.8000)" in text
    assert "FAIL: detectable increase larger than allowed" in text


# ---- the one path the gate CLI and packaging take to a reference revision ----


def comparison_with(change: Change) -> Comparison:
    return Comparison(changes={"rmse": change}, windows=730, days=365, block_days=7, resamples=2000, seed=1)


def test_against_a_revision_the_interval_decides(
    params: PipelineParams, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = Reference("v1", metrics(9.0), comparison_with(rmse_change(9.0, 9.5, -0.1, 1.1)), None)
    monkeypatch.setattr(gate, "reference_at_revision", lambda revision, name, compare: reference)
    check = regression(gate.gate_against_revision(metrics(9.5), params, "cheongju", "v1", "package"))
    assert check["passed"] is True
    assert check["interval"] == [-0.1, 1.1]
    assert "no_interval" not in check
    assert capsys.readouterr().err == ""


def test_against_a_revision_without_its_predictions_the_point_rule_decides_and_says_why(
    params: PipelineParams, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    why = "`v1`'s predictions `data/predictions/cheongju/test.parquet` are neither in the DVC cache nor ..."
    reference = Reference("v1", metrics(9.0), None, why)
    monkeypatch.setattr(gate, "reference_at_revision", lambda revision, name, compare: reference)
    check = regression(gate.gate_against_revision(metrics(9.5), params, "cheongju", "v1", "package"))
    assert check["passed"] is False
    assert check["rule"] == "point increase only (no predictions to compare: no interval)"
    assert check["no_interval"] == why
    err = " ".join(capsys.readouterr().err.split())
    assert (
        f"package: no interval for the regression check against `v1`, the point increase alone decides: {why}"
        in err
    )


def test_nothing_to_fall_back_from_without_reference_metrics() -> None:
    assert Reference("v1", None, None, "`v1` has no predictions").fallback is None
    with_interval = Reference("v1", metrics(9.0), comparison_with(rmse_change(9.0, 9.0, -0.1, 0.1)), None)
    assert with_interval.fallback is None
    assert with_interval.rmse_change == rmse_change(9.0, 9.0, -0.1, 0.1)
