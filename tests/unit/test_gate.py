"""The regression check with an interval: refused only when the RMSE increase is detectable and too large."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from commute_weather.config import PipelineParams
from commute_weather.forecast import gate
from commute_weather.forecast.compare import Change, Comparison
from commute_weather.forecast.gate import Reference, describe_value, evaluate_gate, gate_table, main
from commute_weather.forecast.model import rmse
from tests.unit.test_compare import predictions_frame

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


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


def judged(rmse: float, skill: float, train_rows: int) -> dict[str, Any]:
    return {"model": {"rmse": rmse}, "skill_vs_persistence": skill, "rows": {"train": train_rows}}


def test_every_threshold_itself_passes_and_just_past_it_fails(params: PipelineParams) -> None:
    """params.yaml says RMSE <= rmse_max, skill >= min_skill, rows >= min_train_rows: a model exactly at a
    threshold is approved, and the smallest step past it is not."""
    g = params.gate
    at = evaluate_gate(judged(g.rmse_max, g.min_skill, g.min_train_rows), g, None)
    assert at["approved"] is True, at["checks"]
    past = {
        "rmse_max": judged(np.nextafter(g.rmse_max, np.inf), g.min_skill, g.min_train_rows),
        "min_skill": judged(g.rmse_max, np.nextafter(g.min_skill, -np.inf), g.min_train_rows),
        "min_train_rows": judged(g.rmse_max, g.min_skill, g.min_train_rows - 1),
    }
    for name, candidate in past.items():
        gate = evaluate_gate(candidate, g, None)
        assert [c["check"] for c in gate["checks"] if not c["passed"]] == [name]


def test_an_increase_of_exactly_the_allowance_passes_and_an_interval_ending_at_zero_is_not_detectable(
    params: PipelineParams,
) -> None:
    allowed = params.gate.max_rmse_regression
    reference = 8.0
    assert (reference + allowed) - reference == allowed  # the increase below is exactly the allowance
    at = regression(evaluate_gate(metrics(reference + allowed), params.gate, metrics(reference)))
    assert at["passed"] is True, at
    assert at["reference_rmse"] == reference
    over = regression(evaluate_gate(metrics(reference + allowed + 0.01), params.gate, metrics(reference)))
    assert over["passed"] is False
    large = reference + 4 * allowed
    touching = rmse_change(reference, large, 0.0, 2.0)  # the interval's lower end is 0: not above zero
    check = regression(evaluate_gate(metrics(large), params.gate, metrics(reference), touching))
    assert check["passed"] is True, check
    assert "not detectable" in check["rule"]


def test_reference_metrics_without_a_dataset_name_are_still_compared(params: PipelineParams) -> None:
    """Metrics written before datasets had names carry none: they are the same dataset's, not an error."""
    old = {"model": {"rmse": 9.0}, "skill_vs_persistence": 0.2, "rows": {"train": 900}}
    check = regression(evaluate_gate(metrics(9.5), params.gate, old))
    assert check["passed"] is False
    assert check["reference_rmse"] == 9.0


def rendered(gate: dict[str, Any]) -> list[str]:
    from rich.console import Console  # noqa: PLC0415

    console = Console(width=200, record=True)
    console.print(gate_table(gate))
    return console.export_text().splitlines()


def cells(lines: list[str], first: str) -> list[str]:
    """The cells of the table row whose first cell is `first` (the header row included)."""
    rows = [[cell.strip() for cell in re.split("[│┃]", line)[1:-1]] for line in lines]
    (row,) = [r for r in rows if r and r[0] == first]
    return row


def test_gate_table_shows_each_check_with_its_direction_and_verdict(params: PipelineParams) -> None:
    g = params.gate
    lines = rendered(evaluate_gate(judged(g.rmse_max + 1, g.min_skill, g.min_train_rows), g, None))
    assert "quality gate: NOT APPROVED" in lines[0]
    assert cells(lines, "check") == ["check", "value", "threshold", "verdict"]
    assert cells(lines, "rmse_max") == ["rmse_max", f"{g.rmse_max + 1:g}", f"<= {g.rmse_max:g}", "FAIL"]
    assert cells(lines, "min_skill") == ["min_skill", f"{g.min_skill:g}", f">= {g.min_skill:g}", "pass"]
    assert cells(lines, "min_train_rows")[2:] == [f">= {g.min_train_rows:g}", "pass"]
    skipped = regression(evaluate_gate(metrics(9.0), g, None))
    assert skipped["skipped"] is True and skipped["passed"] is True
    reason = f"skipped: {skipped['reason']}"
    assert cells(lines, "max_rmse_regression") == ["max_rmse_regression", "-", "-", reason]
    approved = rendered(evaluate_gate(judged(g.rmse_max, g.min_skill, g.min_train_rows), g, None))
    assert "quality gate: APPROVED" in approved[0]
    for change in (None, rmse_change(9.0, 9.1, -0.2, 0.4)):  # the point rule, and with an interval
        compared = rendered(evaluate_gate(metrics(9.1), g, metrics(9.0), change))
        assert cells(compared, "max_rmse_regression")[2] == f"<= {g.max_rmse_regression:g}"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory laid out like the repository's (params.yaml, metrics/), where `python -m
    commute_weather.forecast.gate` runs."""
    monkeypatch.chdir(tmp_path)
    served_here = yaml.safe_load(PARAMS.read_text()) | {"serve": {"dataset": "cheongju"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(served_here, allow_unicode=True))
    (tmp_path / "metrics" / "cheongju").mkdir(parents=True)
    return tmp_path


def write_metrics(workspace: Path, values: dict[str, Any]) -> None:
    (workspace / "metrics" / "cheongju" / "metrics.json").write_text(json.dumps(values))


def gate_cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def test_gate_cli_approves_a_good_model_and_refuses_a_bad_one_naming_the_checks(
    workspace: Path, params: PipelineParams, capsys: pytest.CaptureFixture[str]
) -> None:
    g = params.gate
    write_metrics(workspace, metrics(g.rmse_max - 1))
    assert gate_cli("--out", "good.json") == 0
    assert json.loads(Path("good.json").read_text())["approved"] is True
    assert "quality gate: APPROVED" in capsys.readouterr().out
    write_metrics(workspace, metrics(g.rmse_max + 1) | {"skill_vs_persistence": g.min_skill - 0.1})
    assert gate_cli("--out", "bad.json") == 1
    assert json.loads(Path("bad.json").read_text())["approved"] is False
    captured = capsys.readouterr()
    assert "NOT APPROVED" in captured.out
    assert "gate failed: the model is not approved: failed rmse_max, min_skill" in " ".join(
        captured.err.split()
    )


def test_gate_cli_judges_a_regression_against_a_metrics_file(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_metrics(workspace, metrics(9.5))
    Path("approved.json").write_text(json.dumps(metrics(9.0)))
    assert gate_cli("--reference", "approved.json") == 1
    assert "failed max_rmse_regression" in capsys.readouterr().err
    Path("approved.json").write_text(json.dumps(metrics(9.4)))
    assert gate_cli("--reference", "approved.json") == 0


def git(*args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True, capture_output=True
    )


def test_gate_cli_compares_with_the_metrics_committed_at_a_revision(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the revision's test predictions the point increase decides, and the gate says why; a
    revision that has no metrics (nothing approved yet) skips the check."""
    git("init", "-q")
    Path("README").write_text("first\n")
    git("add", "README")
    git("commit", "-q", "-m", "no metrics yet")
    write_metrics(workspace, metrics(9.0))
    git("add", "metrics")
    git("commit", "-q", "-m", "approved model")
    write_metrics(workspace, metrics(9.5))
    assert gate_cli("--reference-rev", "HEAD", "--out", "gate.json") == 1
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "gate: no interval for the regression check against `HEAD`, the point increase alone decides" in err
    )
    assert "failed max_rmse_regression" in err
    check = regression(json.loads(Path("gate.json").read_text()))
    assert check["reference_rmse"] == 9.0
    assert gate_cli("--reference-rev", "HEAD~1", "--out", "gate.json") == 0
    assert regression(json.loads(Path("gate.json").read_text()))["skipped"] is True


def test_gate_cli_names_an_unknown_dataset(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gate_cli("--params", "params.yaml", "--dataset", "nowhere") == 2
    assert "no dataset 'nowhere'" in capsys.readouterr().err


def test_gate_cli_refuses_only_a_detectable_increase_when_both_sides_predictions_exist(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, params: PipelineParams
) -> None:
    """With the revision's test predictions (read through DVC; here a stand-in for that read) the interval
    decides: an increase larger than allowed that the test year cannot tell from noise passes, a
    detectable one is refused."""
    base = predictions_frame(days=365, seed=0)
    reads: list[tuple[str, Path]] = []

    def base_predictions(revision: str, path: Path) -> pd.DataFrame:
        reads.append((revision, path))
        return base

    monkeypatch.setattr("commute_weather.forecast.gate.predictions_at_revision", base_predictions)
    git("init", "-q")
    write_metrics(workspace, metrics(rmse(base["label"], base["model"])))
    git("add", "metrics")
    git("commit", "-q", "-m", "approved model")
    week = base["date"].dt.isocalendar().week.to_numpy()
    error = base["model"] - base["label"]
    # much better on even weeks, much worse on odd ones: a point increase of ~0.6, an interval reaching 0
    uneven = base.assign(model=np.where(week % 2 == 0, base["label"] + 0.3 * error, base["model"] + 9))
    noisy = base.assign(model=base["model"] + np.random.default_rng(1).normal(0, 4, len(base)))
    predictions = Path("data/predictions/cheongju/test.parquet")
    predictions.parent.mkdir(parents=True)
    verdicts = {}
    for name, pr in {"uneven": uneven, "noisy": noisy}.items():
        pr.to_parquet(predictions)
        write_metrics(workspace, metrics(rmse(pr["label"], pr["model"])))
        code = gate_cli("--reference-rev", "HEAD", "--out", "gate.json")
        check = regression(json.loads(Path("gate.json").read_text()))
        assert check["value"] > params.gate.max_rmse_regression, (name, check)
        verdicts[name] = (code, check["passed"], check["interval"][0] > 0)
    assert verdicts == {"uneven": (0, True, False), "noisy": (1, False, True)}
    assert reads == [("HEAD", predictions)] * 2


def station(low: float, high: float, days: int = 365) -> dict[str, Any]:
    return {"days": days, "full_test_year": days >= 330,
            "vs_persistence": {"rmse_change": (low + high) / 2, "low": low, "high": high}}  # fmt: skip


def with_stations(stations: dict[str, dict[str, Any]], real: bool = True) -> dict[str, Any]:
    out = metrics(9.0) | {"by_station": stations}
    out["dataset"] = {"name": "network", "real": real}
    return out


def station_check(gate: dict[str, Any]) -> dict[str, Any]:
    (check,) = [c for c in gate["checks"] if c["check"] == "stations_vs_persistence"]
    return check


def test_a_station_detectably_worse_than_persistence_is_refused_and_named(params: PipelineParams) -> None:
    stations = {"108": station(-1.5, -0.2), "143": station(0.1, 0.9), "156": station(-0.4, 0.3)}
    gate = evaluate_gate(with_stations(stations), params.gate, None)
    check = station_check(gate)
    assert not gate["approved"]
    assert not check["passed"]
    assert check["value"] == 1
    assert (
        check["rule"] == "detectably worse than persistence at 143"
    )  # 156's interval reaches 0: not judged worse
    assert set(check["stations"]) == {"108", "143", "156"}


def test_a_station_without_a_full_test_year_is_reported_not_judged(params: PipelineParams) -> None:
    stations = {"108": station(-1.5, -0.2), "184": station(0.5, 2.0, days=120)}
    check = station_check(evaluate_gate(with_stations(stations), params.gate, None))
    assert check["passed"]
    assert set(check["stations"]) == {"108"}
    only_partial = station_check(
        evaluate_gate(with_stations({"184": station(0.5, 2.0, 120)}), params.gate, None)
    )
    assert only_partial["skipped"]


def test_a_dataset_that_never_ships_gets_its_verdict_as_information(params: PipelineParams) -> None:
    sample = evaluate_gate(with_stations({"108": station(0.1, 0.9)}, real=False), params.gate, None)
    assert not sample["approved"]
    assert sample["ships"] is False
    title = str(gate_table(sample).title)
    assert "information" in title
    assert "NOT APPROVED" not in title
    assert evaluate_gate(with_stations({}), params.gate, None)["ships"] is True
