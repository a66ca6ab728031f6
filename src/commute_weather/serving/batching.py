"""Request batching inside one server process: concurrent callers share one call of a batch function.

The model's fixed cost per call (~3 ms for 250 trees, plus the feature code's numpy calls) dominates a
single forecast, and a batch of 16 costs little more than one. While a call runs, new callers queue; when
it ends, everything queued goes in the next call (up to `max_items`). An idle server answers at once, with
no batching window to wait out. BentoML's own adaptive batching needs the model in a second service
process; measured here (BENCHMARKS.md) that hop doubled single-request latency and shed load with 503s on
two cores, so batching happens in the API process instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    def __init__(
        self,
        process: Callable[[list[Item]], list[Result]],
        max_items: int,
        on_call: Callable[[int], None] = lambda items: None,
        executor: Executor | None = None,
    ) -> None:
        """`process` answers a list of items with one result per item, in order; it runs in a thread so
        that the event loop keeps accepting requests meanwhile: in `executor` when given (one the service
        keeps for model calls alone, so that nothing else queued in asyncio's default pool delays them).
        `on_call` hears each call's item count."""
        self._process = process
        self._executor = executor
        self._max_items = max_items
        self._on_call = on_call
        self._queue: list[tuple[list[Item], asyncio.Future[list[Result]]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def __call__(self, items: list[Item]) -> list[Result]:
        answer: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        self._queue.append((items, answer))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        while self._queue:
            group = [self._queue.pop(0)]
            size = len(group[0][0])
            while self._queue and size + len(self._queue[0][0]) <= self._max_items:
                size += len(self._queue[0][0])
                group.append(self._queue.pop(0))
            self._on_call(size)
            try:
                batch = [x for items, _ in group for x in items]
                results = await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._process, batch
                )
            except Exception as exc:  # every caller in the group gets the error; later groups still run
                for _, answer in group:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            start = 0
            for items, answer in group:
                if not answer.done():  # a caller that went away (client disconnect) is skipped
                    answer.set_result(results[start : start + len(items)])
                start += len(items)
