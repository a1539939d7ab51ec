"""Requests that arrive together share one forward pass.

A ``Batcher`` holds a queue per served model. The first request to arrive starts a batch;
the batch waits ``window_s`` for more (a few milliseconds: far below a forward pass, long
enough for concurrent clients' requests to meet), then runs ``run(items)`` once, in a worker
thread so the event loop keeps accepting requests, and answers every request from its part
of the result. Requests that arrive while a batch runs form the next one, so under load
batches grow by themselves and an idle server adds only the window to a request.

    submit(item) --queue--> [window] --> run([item, item, ...]) --> [result, result, ...]

``run`` sees at most ``max_batch`` items' worth of work (``size(item)`` each, e.g. the
number of sentences in a request); a request that is alone larger than that runs alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Busy(Exception):
    """More requests are waiting for this model than the server queues."""


@dataclass
class BatchStats:
    """Counters shown by ``GET /v1/stats``: how many requests came, in how many batches."""

    requests: int = 0
    batches: int = 0
    items: int = 0
    largest_batch: int = 0   # requests in the largest batch so far
    sizes: dict[int, int] = field(default_factory=dict)  # requests per batch -> batches

    def record(self, n_requests: int, n_items: int) -> None:
        self.requests += n_requests
        self.batches += 1
        self.items += n_items
        self.largest_batch = max(self.largest_batch, n_requests)
        self.sizes[n_requests] = self.sizes.get(n_requests, 0) + 1


@dataclass
class Batched:
    """One request's answer and the batch it ran in."""

    result: Any
    batch_requests: int
    batch_items: int


class Batcher:
    """Gathers ``submit``ted items into calls of ``run(items) -> results`` (same order)."""

    def __init__(self, run: Callable[[list], list], *, window_s: float, max_batch: int,
                 max_pending: int, size: Callable[[Any], int] = lambda item: 1):
        self.run, self.size = run, size
        self.window_s, self.max_batch, self.max_pending = window_s, max_batch, max_pending
        self.queue: list[tuple[Any, asyncio.Future]] = []
        self.stats = BatchStats()
        self._drainer: asyncio.Task | None = None

    async def submit(self, item) -> Batched:
        """Queue ``item`` and wait for its batch; Busy when the queue is full. A caller that
        stops waiting (a timeout) leaves its item to be skipped, or run and dropped."""
        if len(self.queue) >= self.max_pending:
            raise Busy(f"{len(self.queue)} requests are waiting for this model; try again")
        future = asyncio.get_running_loop().create_future()
        self.queue.append((item, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    def _take(self) -> list[tuple[Any, asyncio.Future]]:
        """The next batch off the queue: whole requests up to max_batch items (at least one
        request), skipping those whose caller stopped waiting."""
        self.queue = [(i, f) for i, f in self.queue if not f.done()]
        batch, n = [], 0
        while self.queue and (not batch or n + self.size(self.queue[0][0]) <= self.max_batch):
            item, future = self.queue.pop(0)
            batch.append((item, future))
            n += self.size(item)
        return batch

    async def _drain(self) -> None:
        while self.queue:
            if sum(self.size(i) for i, _ in self.queue) < self.max_batch:
                await asyncio.sleep(self.window_s)  # let concurrent requests join
            batch = self._take()
            if not batch:
                continue
            items = [i for i, _ in batch]
            n_items = sum(self.size(i) for i in items)
            try:
                results = await asyncio.to_thread(self.run, items)
            except Exception as e:  # noqa: BLE001 - every waiting request gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            assert len(results) == len(batch), "run must answer every item"
            self.stats.record(len(batch), n_items)
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(Batched(result, len(batch), n_items))
