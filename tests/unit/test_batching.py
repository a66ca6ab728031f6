"""The service's request batching: callers that arrive while the model is busy share its next call."""

from __future__ import annotations

import asyncio
import threading

from commute_weather.serving.batching import Batcher


def blocking_process(calls: list[list[int]], release: threading.Event, fail_on: int | None = None):  # type: ignore[no-untyped-def]
    """Answers x -> 10x; the first call waits for `release`, so that others queue up behind it."""

    def process(items: list[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            release.wait(5)
        if fail_on is not None and fail_on in items:
            raise ValueError(f"cannot score {fail_on}")
        return [10 * x for x in items]

    return process


async def queue_behind_a_busy_call(
    batcher: Batcher[int, int], callers: list[list[int]], release: threading.Event
) -> list[list[int] | BaseException]:
    first = asyncio.create_task(batcher([0]))
    await asyncio.sleep(0.05)  # the first call is running now
    others = [asyncio.create_task(batcher(items)) for items in callers]
    await asyncio.sleep(0.05)
    release.set()
    return [await first, *await asyncio.gather(*others, return_exceptions=True)]


def test_queued_callers_share_one_call_and_each_gets_its_own_results() -> None:
    calls: list[list[int]] = []
    release = threading.Event()
    sizes: list[int] = []
    batcher = Batcher(blocking_process(calls, release), max_items=100, on_call=sizes.append)
    callers = [[i, i + 100] for i in range(1, 9)]
    answers = asyncio.run(queue_behind_a_busy_call(batcher, callers, release))
    assert answers == [[0], *([10 * a, 10 * b] for a, b in callers)]
    assert [len(c) for c in calls] == sizes == [1, 16]


def test_a_call_never_exceeds_max_items_and_never_splits_a_caller() -> None:
    calls: list[list[int]] = []
    release = threading.Event()
    batcher = Batcher(blocking_process(calls, release), max_items=5)
    callers = [[1, 2], [3, 4], [5, 6], [7, 8, 9, 10, 11, 12]]  # the last alone is over the limit
    answers = asyncio.run(queue_behind_a_busy_call(batcher, callers, release))
    assert answers[1:] == [[10 * x for x in c] for c in callers]
    assert calls[1:] == [[1, 2, 3, 4], [5, 6], [7, 8, 9, 10, 11, 12]]


def test_an_error_reaches_only_the_callers_of_that_call() -> None:
    calls: list[list[int]] = []
    release = threading.Event()
    batcher = Batcher(blocking_process(calls, release, fail_on=3), max_items=4)
    answers = asyncio.run(queue_behind_a_busy_call(batcher, [[1, 2], [3, 4], [5, 6]], release))
    assert calls[1:] == [[1, 2, 3, 4], [5, 6]]
    assert answers[0] == [0]
    for shared in answers[1:3]:  # both callers of the failed call get its error
        assert isinstance(shared, ValueError)
        assert str(shared) == "cannot score 3"
    assert answers[3] == [50, 60]  # the call after the failed one still runs
