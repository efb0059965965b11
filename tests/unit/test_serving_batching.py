"""MicroBatcher with an injected ``run``: no delay alone, coalescing, slicing, isolation."""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from modelyard.errors import BackendUnavailable
from modelyard.serving import limits
from modelyard.serving.batching import MicroBatcher
from modelyard.serving.models import Batching
from modelyard.serving.outputs import RowMismatch, encode, split_rows, to_jsonable


class FakeModel:
    """Doubles each row; records every call's items; raises for items marked bad."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[list[Any]] = []
        self.delay = delay
        self.threads: set[str] = set()

    def __call__(self, items: list[Any]) -> list[Any]:
        self.calls.append(list(items))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if any(i == "bad" for i in items):
            raise ValueError("bad row")
        if any(i == "boom" for i in items):
            raise RuntimeError("always fails")
        return [i * 2 for i in items]


def test_a_lone_request_is_not_delayed() -> None:
    model = FakeModel()

    async def main() -> float:
        batcher = MicroBatcher(model, batching=Batching(max_batch_size=32, max_wait_ms=500))
        started = time.perf_counter()
        assert await batcher.submit(21, 1) == 42
        took = time.perf_counter() - started
        await batcher.close()
        return took

    assert asyncio.run(main()) < 0.25
    assert model.calls == [[21]]
    assert model.threads
    assert all(t.startswith("predict") for t in model.threads)


def test_a_request_waits_for_one_on_its_way_at_most_max_wait() -> None:
    model = FakeModel()

    async def main() -> float:
        batcher = MicroBatcher(model, batching=Batching(max_batch_size=32, max_wait_ms=50))
        with batcher.arriving():
            # Another request is being read but never arrives: the wait is bounded.
            started = time.perf_counter()
            assert await batcher.submit(1, 1) == 2
            took = time.perf_counter() - started
        await batcher.close()
        return took

    took = asyncio.run(main())
    assert 0.04 <= took < 0.5


def test_a_request_on_its_way_joins_the_batch() -> None:
    model = FakeModel()

    async def late(batcher: MicroBatcher[int, int]) -> int:
        with batcher.arriving():
            await asyncio.sleep(0.01)
            future = batcher.enqueue(2, 1)
        return await future

    async def main() -> list[int]:
        batcher = MicroBatcher(model, batching=Batching(max_batch_size=32, max_wait_ms=1000))
        arriving = asyncio.ensure_future(late(batcher))
        await asyncio.sleep(0)
        results = await asyncio.gather(batcher.submit(1, 1), arriving)
        await batcher.close()
        return list(results)

    assert asyncio.run(main()) == [2, 4]
    assert model.calls == [[1, 2]]


def test_concurrent_requests_share_one_call_and_get_their_own_results() -> None:
    model = FakeModel()

    async def main() -> list[int]:
        batcher = MicroBatcher(model, batching=Batching(max_batch_size=32, max_wait_ms=2))
        results = await asyncio.gather(*(batcher.submit(i, 1) for i in range(10)))
        await batcher.close()
        return list(results)

    assert asyncio.run(main()) == [i * 2 for i in range(10)]
    assert model.calls == [list(range(10))]


def test_requests_arriving_while_the_model_is_busy_form_the_next_batch() -> None:
    model = FakeModel(delay=0.05)
    observed: list[tuple[int, int]] = []

    async def main() -> None:
        batcher = MicroBatcher(
            model,
            batching=Batching(max_batch_size=32, max_wait_ms=0),
            observe=lambda n, r, s: observed.append((n, r)),
        )
        first = asyncio.ensure_future(batcher.submit(0, 1))
        await asyncio.sleep(0.01)  # the model is now busy with the first
        rest = [asyncio.ensure_future(batcher.submit(i, 3)) for i in range(1, 5)]
        await asyncio.gather(first, *rest)
        await batcher.close()

    asyncio.run(main())
    assert model.calls == [[0], [1, 2, 3, 4]]
    assert observed == [(1, 1), (4, 12)]


def test_batches_stop_at_max_batch_size_rows() -> None:
    model = FakeModel()

    async def main() -> None:
        batcher = MicroBatcher(model, batching=Batching(max_batch_size=4, max_wait_ms=2))
        await asyncio.gather(*(batcher.submit(i, 2) for i in range(5)), batcher.submit(9, 10))
        await batcher.close()

    asyncio.run(main())
    # A request larger than the limit is predicted alone, never split.
    assert model.calls == [[0, 1], [2, 3], [4], [9]]


def test_batching_off_predicts_one_request_per_call() -> None:
    model = FakeModel()

    async def main() -> None:
        batcher = MicroBatcher(model, batching=Batching(max_batch_size=1, max_wait_ms=2))
        await asyncio.gather(*(batcher.submit(i, 1) for i in range(3)))
        await batcher.close()

    asyncio.run(main())
    assert model.calls == [[0], [1], [2]]


def test_a_bad_request_fails_alone_and_a_failing_model_fails_only_its_batch() -> None:
    model = FakeModel(delay=0.01)

    async def main() -> list[Any]:
        batcher = MicroBatcher(model, batching=Batching(max_batch_size=32, max_wait_ms=0))
        first = await asyncio.gather(
            *(batcher.submit(i, 1) for i in (1, "bad", 3)), return_exceptions=True
        )
        second = await asyncio.gather(
            *(batcher.submit(i, 1) for i in ("boom", "boom")), return_exceptions=True
        )
        third = await batcher.submit(5, 1)
        await batcher.close()
        return [*first, *second, third]

    one, bad, three, boom1, boom2, five = asyncio.run(main())
    assert (one, three, five) == (2, 6, 10)
    assert isinstance(bad, ValueError)
    assert isinstance(boom1, RuntimeError)
    assert isinstance(boom2, RuntimeError)


def test_a_run_with_the_wrong_number_of_results_fails_the_requests() -> None:
    async def main() -> None:
        no_wait = Batching(max_wait_ms=0)
        batcher: MicroBatcher[int, int] = MicroBatcher(lambda items: [], batching=no_wait)
        with pytest.raises(RuntimeError, match="0 results for 1"):
            await batcher.submit(1, 1)
        await batcher.close()

    asyncio.run(main())


def test_cancelled_requests_are_skipped_and_close_fails_the_rest() -> None:
    model = FakeModel(delay=0.05)

    async def main() -> None:
        batcher = MicroBatcher(model, batching=Batching(max_batch_size=32, max_wait_ms=0))
        busy = asyncio.ensure_future(batcher.submit(1, 1))
        await asyncio.sleep(0.01)
        gone = batcher.enqueue(2, 1)
        gone.cancel()
        await busy
        await asyncio.sleep(0.01)
        left = batcher.enqueue(3, 1)
        await batcher.close()
        with pytest.raises(BackendUnavailable):
            await left
        with pytest.raises(BackendUnavailable, match="shutting down"):
            batcher.enqueue(4, 1)

    asyncio.run(main())
    assert [2] not in model.calls


def test_limits_are_checked_where_they_are_declared() -> None:
    with pytest.raises(ValidationError, match="max_batch_size"):
        Batching(max_batch_size=0)
    with pytest.raises(ValidationError, match="max_wait_ms"):
        Batching(max_wait_ms=-1)
    with pytest.raises(ValidationError, match="max_batch_size"):
        Batching(max_batch_size=limits.MAX_BATCH_SIZE.le + 1)


# --- outputs ------------------------------------------------------------------------------


def test_outputs_become_json_with_nan_as_null() -> None:
    assert to_jsonable(np.array([1, 2])) == [1, 2]
    assert to_jsonable(np.array([1.5, np.nan])) == [1.5, None]
    assert to_jsonable(np.array([0.5, 1.0])) == [0.5, 1.0]
    assert to_jsonable(np.array(["x", None], dtype=object)) == ["x", None]
    assert to_jsonable(pd.Series([1.0, None])) == [1.0, None]
    dates = np.array(["2024-01-02", "NaT"], dtype="datetime64[D]")
    assert to_jsonable(dates) == ["2024-01-02", None]
    frame = pd.DataFrame({"p": [0.25, np.nan], "label": ["a", "b"]})
    assert to_jsonable(frame) == [{"p": 0.25, "label": "a"}, {"p": None, "label": "b"}]
    assert to_jsonable([np.float64("nan"), (1, 2), {"k": np.int64(3)}]) == [None, [1, 2], {"k": 3}]
    assert to_jsonable(pd.Timestamp("2024-01-02")) == "2024-01-02T00:00:00"
    assert to_jsonable(datetime.timedelta(seconds=1)) == "0:00:01"
    assert encode([1, None]) == b'{"predictions":[1,null]}'


def test_split_rows_by_request_sizes() -> None:
    assert split_rows([1, 2, 3, 4, 5, 6], [1, 3, 2]) == [[1], [2, 3, 4], [5, 6]]
    with pytest.raises(RowMismatch, match="5 predictions for 6 rows"):
        split_rows([1, 2, 3, 4, 5], [3, 3])
