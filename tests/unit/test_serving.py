"""The service's logic without HTTP: which window a live forecast is for, and the live request itself."""

from __future__ import annotations

import pandas as pd
import pytest

from commute_weather.kma.client import KmaClient
from commute_weather.predictor import Predictor
from commute_weather.serving import RequestError, live_request, next_window
from tests.servers import fake_kma_api


@pytest.fixture(scope="module")
def predictor(params) -> Predictor:  # type: ignore[no-untyped-def]
    # Only the params matter here; no model is called.
    return Predictor(model=None, commute=params.commute, featurize=params.featurize, comfort=params.comfort)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("now", "expected"),
    [("2024-06-15 04:00", ("2024-06-15", "morning")), ("2024-06-15 06:59", ("2024-06-15", "morning")),
     ("2024-06-15 15:30", ("2024-06-15", "evening")), ("2024-06-15 17:00", ("2024-06-15", "evening"))],
)  # fmt: skip
def test_next_window_is_the_one_being_issued(
    predictor: Predictor, now: str, expected: tuple[str, str]
) -> None:
    day, window = next_window(predictor, pd.Timestamp(now, tz="Asia/Seoul"))
    assert (day.date().isoformat(), window) == expected


@pytest.mark.parametrize(
    "now", ["2024-06-15 03:59", "2024-06-15 07:00", "2024-06-15 12:00", "2024-06-15 21:00"]
)
def test_no_window_between_issue_periods(predictor: Predictor, now: str) -> None:
    with pytest.raises(RequestError, match="no commute window is issued"):
        next_window(predictor, pd.Timestamp(now, tz="Asia/Seoul"))


def test_live_request_uses_hours_up_to_issue_time_only(predictor: Predictor) -> None:
    now = pd.Timestamp("2024-06-15 05:20", tz="Asia/Seoul")
    with fake_kma_api() as url:
        client = KmaClient("key", url, timeout_s=5, max_attempts=1, backoff_s=0)
        request = live_request(predictor, client, 108, now)
    times = [o.observed_at.isoformat() for o in request.observations]
    assert request.window == "morning"
    assert times[-1] == "2024-06-15T04:00:00+09:00"  # issue time, not the 05:00 observation
    assert len(times) >= predictor.history_hours


def test_warmup_request_is_a_complete_valid_request(predictor: Predictor) -> None:
    from commute_weather.serving import check_history, issue_time, warmup_request  # noqa: PLC0415

    request = warmup_request(predictor)
    assert len(request.observations) == predictor.history_hours
    check_history(predictor, request, issue_time(predictor, request), prefix="")  # raises if unusable
