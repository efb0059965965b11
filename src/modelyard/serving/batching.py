"""Adaptive micro-batching: requests that arrive while the model is busy share one predict.

``MicroBatcher.enqueue`` hands an already checked input to a single consumer task. The
consumer takes everything queued (up to ``max_batch_size`` rows) and calls ``run`` once, in
its own thread so the event loop keeps accepting requests. It waits for more only while
another request is known to be on its way (``arriving``), and never past ``max_wait_ms``
after the first request of the batch arrived: a lone request is predicted at once.

A batch that fails is retried one request at a time, so one request the model cannot take
fails alone and its neighbours still get their answers. ``max_batch_size=1`` switches
batching off (one request per call, still one call at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from modelyard.errors import BackendUnavailable
from modelyard.serving.models import Batching

In = TypeVar("In")
Out = TypeVar("Out")

BatchObserver = Callable[[int, int, float], None]
"""Called after each batch with its requests, rows and seconds spent in ``run``."""


@dataclass(slots=True)
class _Pending(Generic[In, Out]):
    item: In
    rows: int
    arrived: float
    future: asyncio.Future[Out] = field(repr=False)


class MicroBatcher(Generic[In, Out]):
    """Coalesce concurrent requests into calls of ``run(items) -> one result per item``."""

    def __init__(
        self,
        run: Callable[[list[In]], list[Out]],
        *,
        batching: Batching | None = None,
        observe: BatchObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        batching = batching if batching is not None else Batching()
        self._run = run
        self.max_batch_size = batching.max_batch_size
        self.max_wait = batching.max_wait_ms / 1000
        self._observe = observe
        self._clock = clock
        self._queue: deque[_Pending[In, Out]] = deque()
        self._arriving = 0
        self._changed: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        # One predict at a time: batching is what uses the cores of this worker well.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self._closed = False

    @contextlib.contextmanager
    def arriving(self) -> Iterator[None]:
        """Mark a request as on its way (being read and checked) while the block runs."""
        self._arriving += 1
        try:
            yield
        finally:
            self._arriving -= 1
            if self._changed is not None:
                self._changed.set()

    def enqueue(self, item: In, rows: int) -> asyncio.Future[Out]:
        """Queue ``item`` (``rows`` rows) for the next batch; the future holds its result."""
        if self._closed:
            raise BackendUnavailable("the scoring server is shutting down")
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._changed = asyncio.Event()
            self._task = loop.create_task(self._consume())
        future: asyncio.Future[Out] = loop.create_future()
        self._queue.append(_Pending(item, rows, self._clock(), future))
        assert self._changed is not None
        self._changed.set()
        return future

    async def submit(self, item: In, rows: int) -> Out:
        """Predict on ``item`` as part of the next batch."""
        return await self.enqueue(item, rows)

    async def close(self) -> None:
        """Stop the consumer; requests still queued fail with 503."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue:
            pending = self._queue.popleft()
            if not pending.future.done():
                pending.future.set_exception(
                    BackendUnavailable("the scoring server shut down before predicting")
                )
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._changed is not None
        while True:
            while not self._queue:
                self._changed.clear()
                await self._changed.wait()
            # Let requests the loop has already received reach the queue before the cut.
            await asyncio.sleep(0)
            batch = await self._collect()
            if not batch:
                continue
            items = [p.item for p in batch]
            started = time.perf_counter()
            outcomes = await loop.run_in_executor(self._executor, self._run_isolated, items)
            if self._observe is not None:
                self._observe(len(batch), sum(p.rows for p in batch), time.perf_counter() - started)
            for pending, (ok, value) in zip(batch, outcomes, strict=True):
                if pending.future.done():
                    continue
                if ok:
                    pending.future.set_result(value)
                else:
                    pending.future.set_exception(value)

    async def _collect(self) -> list[_Pending[In, Out]]:
        assert self._changed is not None
        batch: list[_Pending[In, Out]] = []
        rows = 0
        deadline: float | None = None
        while True:
            while self._queue:
                head = self._queue[0]
                if head.future.cancelled():
                    # Its client went away: do not spend model time on it.
                    self._queue.popleft()
                    continue
                if batch and rows + head.rows > self.max_batch_size:
                    return batch
                self._queue.popleft()
                batch.append(head)
                rows += head.rows
                if deadline is None:
                    deadline = head.arrived + self.max_wait
            if not batch or rows >= self.max_batch_size or self._arriving == 0:
                return batch
            assert deadline is not None
            remaining = deadline - self._clock()
            if remaining <= 0:
                return batch
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()

    def _run_isolated(self, items: list[In]) -> list[tuple[bool, Any]]:
        try:
            return [(True, r) for r in self._checked_run(items)]
        except Exception as exc:
            if len(items) == 1:
                return [(False, exc)]
        # One request's data may have failed the whole batch: retry each alone, so only
        # the requests the model cannot take fail.
        outcomes: list[tuple[bool, Any]] = []
        for item in items:
            try:
                outcomes.append((True, self._checked_run([item])[0]))
            except Exception as exc:
                outcomes.append((False, exc))
        return outcomes

    def _checked_run(self, items: list[In]) -> list[Out]:
        results = self._run(items)
        if len(results) != len(items):
            raise RuntimeError(
                f"the batch function returned {len(results)} results for {len(items)}"
            )
        return results
