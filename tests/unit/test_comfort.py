from __future__ import annotations

import numpy as np
import pytest

from commute_weather.config import ComfortParams
from commute_weather.forecast.comfort import WindowWeather, comfort_label, comfort_score, penalties


def weather(temp: float = 18.0, rain: float = 0.0, snow: float = 0.0, mixed: float = 0.0, precip: float = 0.0,
            wind: float = 2.0, humidity: float = 50.0) -> WindowWeather:  # fmt: skip
    def a(v: float) -> np.ndarray:
        return np.array([v])

    return WindowWeather(a(temp), a(rain), a(snow), a(mixed), a(precip), a(wind), a(humidity))


def score(p: ComfortParams, **kwargs: float) -> float:
    return float(comfort_score(weather(**kwargs), p)[0])


def test_pleasant_window_scores_100(params) -> None:  # type: ignore[no-untyped-def]
    assert score(params.comfort) == 100.0


def test_each_penalty_by_hand(params) -> None:  # type: ignore[no-untyped-def]
    p = params.comfort
    assert score(p, temp=4.0) == pytest.approx(100 - 2.5 * (10 - 4))  # 6 degrees below the band
    assert score(p, temp=30.0) == pytest.approx(100 - 2.5 * 6)
    assert score(p, rain=2 / 3) == pytest.approx(100 - 25 * 2 / 3)
    assert score(p, snow=1.0) == pytest.approx(60.0)
    assert score(p, mixed=1 / 3) == pytest.approx(100 - 35 / 3)
    assert score(p, precip=4.0) == pytest.approx(100 - 12.0)
    assert score(p, wind=8.0) == pytest.approx(100 - 4 * 3)
    assert score(p, humidity=90.0) == pytest.approx(100 - 0.5 * 20)
    assert score(p, humidity=20.0) == pytest.approx(100 - 0.5 * 10)


def test_penalties_are_capped_and_the_score_clamped(params) -> None:  # type: ignore[no-untyped-def]
    p = params.comfort
    parts = penalties(weather(temp=-30.0, precip=100.0, wind=30.0, humidity=100.0), p)
    assert parts["temperature"][0] == p.temp_penalty_max
    assert parts["precipitation"][0] == p.precip_penalty_max
    assert parts["wind"][0] == p.wind_penalty_max
    assert parts["humidity"][0] == p.humidity_penalty_max
    assert score(p, temp=-30.0, snow=1.0, precip=100.0, wind=30.0) == 0.0


def test_missing_temperature_gives_no_score_but_missing_wind_costs_nothing(params) -> None:  # type: ignore[no-untyped-def]
    assert np.isnan(score(params.comfort, temp=np.nan))
    assert score(params.comfort, wind=np.nan) == 100.0


def test_label_bands(params) -> None:  # type: ignore[no-untyped-def]
    labels = comfort_label(np.array([100.0, 80.0, 79.9, 60.0, 40.0, 39.9, 0.0, np.nan]), params.comfort)
    assert labels.tolist() == ["excellent", "excellent", "good", "good", "fair", "poor", "poor", ""]
