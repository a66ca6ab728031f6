"""Reading bodies with memory bounded by the API's limits (serving/intake.py), without HTTP."""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from commute_weather.serving.api_models import MAX_BATCH, BatchRequest, ForecastRequest
from commute_weather.serving.intake import (
    BATCH_VALUES,
    REQUEST_VALUES,
    CollectorPause,
    IntakeError,
    Limits,
    ValueCounter,
    discard,
    parse_batch,
    parse_single,
)
from tests.servers import legal_request, max_legal_batch


class PredictInput(BaseModel):  # what BentoML generates for `predict(self, request: ForecastRequest)`
    request: ForecastRequest


class BatchInput(BaseModel):
    batch: BatchRequest


def single(body: bytes | str) -> BaseModel:
    return parse_single([bytearray(body.encode() if isinstance(body, str) else body)], PredictInput)


def batch(body: bytes | str) -> BaseModel:
    return parse_batch([bytearray(body.encode() if isinstance(body, str) else body)], BatchInput)


def refused(parse: Any, body: bytes | str) -> IntakeError:
    with pytest.raises(IntakeError) as caught:
        parse(body)
    return caught.value


def test_the_largest_legal_batch_fits_the_value_budget_and_parses_like_pydantic() -> None:
    body = max_legal_batch()
    counter = ValueCounter(Limits(len(body), BATCH_VALUES, batch=True))
    for start in range(0, len(body), 65536):
        counter.feed(body[start : start + 65536])
    assert counter.values <= BATCH_VALUES
    small = json.dumps({"batch": {"requests": [legal_request(30), legal_request(168)]}})
    assert batch(small) == BatchInput.model_validate_json(small)


def test_a_bomb_is_refused_after_a_few_megabytes() -> None:
    """127 MiB of `{},` was 44 million objects (7 GB) in pydantic; the count stops it at the value budget."""
    counter = ValueCounter(Limits(128 * 2**20, BATCH_VALUES, batch=True))
    chunk = b"{}," * 21845
    fed = 0
    error = None
    while error is None:
        try:
            counter.feed(chunk)
        except IntakeError as exc:
            error = exc
        fed += len(chunk)
    assert error.status == 413
    assert fed < 8 * 2**20
    assert "more JSON values than 1,000 requests of 168 hours" in error.message


def test_one_request_value_budget() -> None:
    counter = ValueCounter(Limits(2**20, REQUEST_VALUES))
    counter.feed(json.dumps({"request": legal_request(168)}).encode())
    with pytest.raises(IntakeError, match="one request"):
        counter.feed(b"0," * REQUEST_VALUES)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"request": {"station_id": 108, "station_id": 99999}}', "duplicate key 'station_id'"),
        ('{"request": 1, "request": 2}', "duplicate key 'request'"),
        ("{'request':", "not valid JSON"),
        (b'{"request": "\xff"}', "not UTF-8"),
    ],
)
def test_bad_json_is_a_400_that_says_what(body: str | bytes, message: str) -> None:
    error = refused(single, body)
    assert error.status == 400
    assert message in error.message


@pytest.mark.parametrize("station", ['"108"', "108.0", "true"])
def test_station_ids_are_integers_only(station: str) -> None:
    legal = json.dumps({"request": legal_request(25)})
    request = legal.replace('"station_id": 131', f'"station_id": {station}')
    assert request != legal
    error = refused(single, request)
    assert error.fields == ["request.station_id"], error.message
    assert "integer" in error.message


def test_batch_errors_name_the_request_and_field() -> None:
    bad = legal_request(25)
    bad["observations"][3]["humidity_pct"] = 140.0
    body = json.dumps({"batch": {"requests": [legal_request(25), bad]}})
    error = refused(batch, body)
    assert error.status == 400
    assert error.fields == ["batch.requests.1.observations.3.humidity_pct"], error.message
    inner_duplicate = json.dumps({"batch": {"requests": [legal_request(25)]}}).replace(
        '"window": "morning"', '"window": "morning", "window": "evening"'
    )
    assert "batch.requests.0: duplicate key 'window'" in refused(batch, inner_duplicate).message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{}", "batch"),
        ('{"batch": {}}', "batch.requests"),
        ('{"batch": {"requests": []}}', "batch.requests"),
        ('{"batch": {"requests": [], "x": 1}}', "batch.x"),
        ('{"batch": {"requests": {}}}', "batch.requests"),
        ('{"batch": [], "batch": []}', "batch"),
        ('{"batch": {"requests": [{}]}}', "batch.requests.0.station_id"),
        ('{"batch": {"requests": [REQUEST]}} []', "body"),
        ('{"batch": {"requests": [REQUEST, 2', "batch.requests.1"),
        ("[]", "body"),
    ],
)
def test_batch_envelope_errors(body: str, field: str) -> None:
    error = refused(batch, body.replace("REQUEST", json.dumps(legal_request(25))))
    assert error.status == 400
    assert error.fields[0].startswith(field), (error.message, error.fields)


def test_more_than_the_batch_limit_stops_before_validating_the_rest() -> None:
    body = json.dumps({"batch": {"requests": [legal_request(25)] * MAX_BATCH + [{}]}})
    error = refused(batch, body)
    assert "at most 1000 items" in error.message


def test_a_batch_is_parsed_request_by_request() -> None:
    """What is allocated while parsing a batch whose second request is bad: the decoded body and one
    request's raw JSON, not every request's objects (pydantic built them all, then reported)."""
    bad = json.dumps({"batch": {"requests": [legal_request(168), {"station_id": "x"}] + [[0] * 2000] * 400}})
    tracemalloc.start()
    try:
        refused(batch, bad)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(bad), (peak, len(bad))


@pytest.fixture
def collector_restored() -> Iterator[None]:
    yield
    gc.enable()


def test_the_collector_is_paused_while_any_large_body_is_held_and_resumes_after_the_last(
    collector_restored: None,
) -> None:
    pause = CollectorPause(max_s=60)
    assert gc.isenabled()
    assert pause.hold() and pause.hold()
    assert not gc.isenabled() and pause.held
    pause.release()
    assert not gc.isenabled()
    pause.release()
    assert gc.isenabled() and not pause.held


def test_a_collector_paused_too_long_runs_again_while_traffic_goes_on(collector_restored: None) -> None:
    """Sustained large traffic must not keep the collector off for ever (other cyclic garbage piles up)."""
    pause = CollectorPause(max_s=0.0)
    assert pause.hold()
    time.sleep(0.01)
    assert not pause.hold()  # refused: paused for longer than max_s already
    assert gc.isenabled()
    pause.release()
    assert gc.isenabled() and not pause.held


def test_no_full_collection_walks_a_batch_being_parsed_under_the_pause(collector_restored: None) -> None:
    """Without the pause, parsing the largest batch set off full collections that held the GIL 0.17-0.31 s
    each (measured with gc callbacks): every probe waited that long."""
    body = json.dumps({"batch": {"requests": [legal_request(168)] * 100}})
    pause = CollectorPause(max_s=60)
    collections: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        assert pause.hold()
        parsed = [batch(body)]
        discard(parsed, pause)
    finally:
        gc.callbacks.remove(seen)
    assert collections == []
    assert parsed == [] and gc.isenabled()
