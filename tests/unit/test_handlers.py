"""The service's logic without HTTP: which window a live forecast is for, and the live request itself."""

from __future__ import annotations

import pandas as pd
import pytest

from commute_weather.clock import KST
from commute_weather.forecast.predictor import Predictor
from commute_weather.serving.handlers import RequestError, live_request, next_window
from commute_weather.sources.kma.client import KmaClient
from tests.servers import fake_kma_api


@pytest.fixture(scope="module")
def predictor(params) -> Predictor:  # type: ignore[no-untyped-def]
    # Only the params matter here; no model is called.
    return Predictor(model=None, commute=params.commute, featurize=params.featurize, comfort=params.comfort)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("now", "window", "expected"),
    [("2024-06-15 04:00", None, ("2024-06-15", "morning", "2024-06-15T04:00:00+09:00")),
     ("2024-06-15 06:59", None, ("2024-06-15", "morning", "2024-06-15T04:00:00+09:00")),
     ("2024-06-15 07:00", None, ("2024-06-15", "evening", "2024-06-15T15:00:00+09:00")),
     ("2024-06-15 12:00", None, ("2024-06-15", "evening", "2024-06-15T15:00:00+09:00")),
     ("2024-06-15 17:00", None, ("2024-06-15", "evening", "2024-06-15T15:00:00+09:00")),
     ("2024-06-15 18:00", None, ("2024-06-16", "morning", "2024-06-16T04:00:00+09:00")),
     ("2024-06-15 23:59", None, ("2024-06-16", "morning", "2024-06-16T04:00:00+09:00")),
     ("2024-06-15 05:00", "evening", ("2024-06-15", "evening", "2024-06-15T15:00:00+09:00")),
     ("2024-06-15 19:00", "evening", ("2024-06-16", "evening", "2024-06-16T15:00:00+09:00"))],
)  # fmt: skip
def test_next_window_at_any_hour_with_its_issue_time(
    predictor: Predictor, now: str, window: str | None, expected: tuple[str, str, str]
) -> None:
    day, name, issue = next_window(predictor, pd.Timestamp(now, tz=KST), window)  # type: ignore[arg-type]
    assert (day.date().isoformat(), name, issue.isoformat()) == expected


def test_kst_is_a_fixed_offset_even_in_1987_and_1900() -> None:
    """Asia/Seoul had summer time in 1987-88 and +08:27:52 in 1900; KMA reports in a fixed +09:00."""
    for stamp in ("1987-07-01 12:00", "1900-01-01 00:00", "2024-06-15 07:00"):
        assert pd.Timestamp(stamp, tz=KST).utcoffset() == pd.Timedelta(hours=9), stamp


def test_live_request_uses_hours_up_to_issue_time_only(predictor: Predictor) -> None:
    now = pd.Timestamp("2024-06-15 05:20", tz=KST)
    with fake_kma_api() as url:
        client = KmaClient("key", url, timeout_s=5, max_attempts=1, backoff_s=0)
        request = live_request(predictor, client, 108, now)
    times = [o.observed_at.isoformat() for o in request.observations]
    assert request.window == "morning"
    assert times[-1] == "2024-06-15T04:00:00+09:00"  # issue time, not the 05:00 observation
    assert len(times) >= predictor.history_hours


def test_live_request_before_issue_time_is_refused(predictor: Predictor) -> None:
    client = KmaClient("key", "http://127.0.0.1:9/unused", timeout_s=1, max_attempts=1, backoff_s=0)
    with pytest.raises(RequestError, match="evening forecast for 2024-06-15 is issued at 2024-06-15T15:00"):
        live_request(predictor, client, 108, pd.Timestamp("2024-06-15 12:00", tz=KST))


def test_warmup_request_is_a_complete_valid_request(predictor: Predictor) -> None:
    from commute_weather.serving.handlers import check_history, issue_time, warmup_request  # noqa: PLC0415

    request = warmup_request(predictor)
    assert len(request.observations) == predictor.history_hours
    check_history(predictor, request, issue_time(predictor, request), prefix="")  # raises if unusable


def test_the_default_body_cap_is_well_above_the_largest_legal_batch() -> None:
    """1,000 requests of a week of hours each, every field filled, every float at full precision."""
    import json  # noqa: PLC0415

    from commute_weather.serving.api_models import MAX_BATCH, MAX_OBSERVATIONS, BatchRequest  # noqa: PLC0415
    from commute_weather.serving.intake import BATCH_BODY_BYTES as DEFAULT_MAX_BODY  # noqa: PLC0415

    hours = pd.date_range("2024-06-08 05:00", periods=MAX_OBSERVATIONS, freq="h", tz=KST)
    values = {"temperature_c": 18.123456789012345, "dew_point_c": 10.123456789012345,
              "humidity_pct": 60.123456789012345, "wind_speed_ms": 2.123456789012345,
              "wind_dir_deg": 270.12345678901234, "precipitation_mm": 12.123456789012345,
              "precipitation_type": "mixed", "snow_depth_cm": 10.123456789012345,
              "pressure_hpa": 1013.1234567890123, "cloud_cover_tenths": 9.123456789012345,
              "visibility_m": 20000.123456789012}  # fmt: skip
    request = {"station_id": 108, "date": "2024-06-15", "window": "morning",
               "observations": [{"observed_at": t.isoformat(), **values} for t in hours]}  # fmt: skip
    body = json.dumps({"batch": {"requests": [request] * MAX_BATCH}})
    BatchRequest.model_validate_json(json.dumps({"requests": [request] * 2}))  # it is legal
    assert len(body) * 1.5 < DEFAULT_MAX_BODY, len(body)
