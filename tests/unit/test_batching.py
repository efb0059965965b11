"""MetricBuffer with an injected ``send``: batching, ordering, retries, refusals, threads."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from modelyard.client.batching import MetricBuffer
from modelyard.errors import BackendUnavailable, InvalidInput
from modelyard.tracking.models import Metric

Sent = list[tuple[str, list[Metric]]]


class FakeSend:
    """Records every delivered chunk; ``fail_with`` decides per call whether to raise."""

    def __init__(self) -> None:
        self.calls: Sent = []
        self.attempts: list[tuple[str, list[Metric]]] = []
        self.fail_with: Callable[[str, list[Metric]], BaseException | None] = lambda r, c: None
        self.lock = threading.Lock()

    def __call__(self, run_id: str, chunk: list[Metric]) -> None:
        with self.lock:
            self.attempts.append((run_id, list(chunk)))
            error = self.fail_with(run_id, chunk)
            if error is not None:
                raise error
            self.calls.append((run_id, list(chunk)))

    def steps(self, run_id: str) -> list[int]:
        with self.lock:
            return [m.step for r, chunk in self.calls if r == run_id for m in chunk]

    def delivered(self) -> int:
        with self.lock:
            return sum(len(chunk) for _, chunk in self.calls)


def first_flush_error(buffer: MetricBuffer, timeout: float = 5.0) -> Exception | None:
    """Flush until a flush raises (returning the error) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            buffer.flush()
        except Exception as exc:
            return exc
        time.sleep(0.005)
    return None


def metric(step: int, key: str = "m") -> Metric:
    return Metric(key=key, value=float(step), step=step, timestamp=1)


@pytest.fixture
def send() -> FakeSend:
    return FakeSend()


@pytest.fixture
def make_buffer(send: FakeSend) -> Iterator[Callable[..., MetricBuffer]]:
    """Buffers whose background thread stays out of the way unless a test asks otherwise."""
    made: list[MetricBuffer] = []

    def make(*, batch_size: int = 10, flush_seconds: float = 3600.0) -> MetricBuffer:
        buffer = MetricBuffer(send, batch_size=batch_size, flush_seconds=flush_seconds)
        made.append(buffer)
        return buffer

    yield make
    send.fail_with = lambda r, c: None
    for buffer in made:
        with contextlib.suppress(InvalidInput):  # a refusal a test left to be reported
            buffer.close()


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def test_batches_are_at_most_batch_size_and_keep_order_per_run(
    send: FakeSend, make_buffer: Callable[..., MetricBuffer]
) -> None:
    buffer = make_buffer(batch_size=7)
    for i in range(50):
        buffer.add("a", metric(i))
        buffer.add("b", metric(1000 + i))
    buffer.flush()

    assert send.calls, "flush sent nothing"
    assert all(1 <= len(chunk) <= 7 for _, chunk in send.calls)
    assert all(len({m.key for m in chunk}) == 1 for _, chunk in send.calls)
    assert send.steps("a") == list(range(50))
    assert send.steps("b") == list(range(1000, 1050))
    assert buffer.pending() == 0


def test_flush_delivers_everything_added_before_it(
    send: FakeSend, make_buffer: Callable[..., MetricBuffer]
) -> None:
    buffer = make_buffer(batch_size=1000)
    for i in range(3):
        buffer.add("r", metric(i))
    assert send.delivered() == 0  # batched: nothing sent before flush or the timer
    buffer.flush()
    assert send.steps("r") == [0, 1, 2]
    buffer.flush()  # nothing new: no empty send
    assert len(send.attempts) == 1


def test_backend_unavailable_keeps_metrics_and_a_later_flush_sends_them_once(
    send: FakeSend, make_buffer: Callable[..., MetricBuffer]
) -> None:
    buffer = make_buffer(batch_size=4)
    down = True
    # Let the first chunk through, then fail: the chunk already stored must not be resent.
    send.fail_with = lambda r, c: BackendUnavailable("server down") if down and send.calls else None
    for i in range(10):
        buffer.add("r", metric(i))

    with pytest.raises(BackendUnavailable):
        buffer.flush()
    assert send.steps("r") == [0, 1, 2, 3]
    assert buffer.pending() == 6

    down = False
    buffer.add("r", metric(10))
    buffer.flush()
    assert send.steps("r") == list(range(11))
    assert buffer.pending() == 0


def test_a_refused_chunk_is_dropped_alone_and_flush_raises_it(
    send: FakeSend, make_buffer: Callable[..., MetricBuffer]
) -> None:
    buffer = make_buffer(batch_size=5)
    send.fail_with = lambda r, c: InvalidInput("run is gone") if r == "bad" else None
    # The refused run's chunk goes first, so the chunks after it are at stake too.
    for i in range(3):
        buffer.add("bad", metric(i))
    for i in range(5):
        buffer.add("good", metric(i))
    for i in range(5, 8):
        buffer.add("good", metric(i))

    with pytest.raises(InvalidInput, match="run is gone"):
        buffer.flush()
    # The good run's metrics queued with the refused chunk are neither lost nor doubled.
    buffer.flush()
    assert send.steps("good") == list(range(8))
    assert send.steps("bad") == []
    assert sum(1 for r, _ in send.attempts if r == "bad") == 1
    assert buffer.pending() == 0


def test_concurrent_loggers_each_metric_arrives_exactly_once(
    send: FakeSend, make_buffer: Callable[..., MetricBuffer]
) -> None:
    buffer = make_buffer(batch_size=64, flush_seconds=0.01)
    threads, per_thread = 8, 2000
    start = threading.Barrier(threads)

    def log(n: int) -> None:
        start.wait()
        for i in range(per_thread):
            buffer.add(f"run-{n % 3}", metric(n * per_thread + i, key=f"t{n}"))
            if i % 500 == 0:
                buffer.flush()

    workers = [threading.Thread(target=log, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    buffer.flush()

    assert all(len(chunk) <= 64 for _, chunk in send.calls)
    got = [(r, m.key, m.step) for r, chunk in send.calls for m in chunk]
    assert len(got) == len(set(got)) == threads * per_thread
    for n in range(threads):
        # Per-run order holds for each logging thread's own sequence.
        own = [m.step for r, chunk in send.calls for m in chunk if m.key == f"t{n}"]
        assert own == list(range(n * per_thread, (n + 1) * per_thread))


def test_close_flushes_and_refuses_later_metrics(
    send: FakeSend, make_buffer: Callable[..., MetricBuffer]
) -> None:
    buffer = make_buffer(batch_size=100)
    for i in range(42):
        buffer.add("r", metric(i))
    buffer.close()
    assert send.steps("r") == list(range(42))
    with pytest.raises(RuntimeError, match="closed"):
        buffer.add("r", metric(42))


def test_background_thread_sends_without_an_explicit_flush(
    send: FakeSend, make_buffer: Callable[..., MetricBuffer]
) -> None:
    interval = 0.05
    buffer = make_buffer(batch_size=1000, flush_seconds=interval)
    for i in range(5):
        buffer.add("r", metric(i))
    assert wait_until(lambda: send.delivered() == 5, timeout=interval * 20)
    assert send.steps("r") == list(range(5))


def test_background_thread_sends_a_full_batch_at_once(
    send: FakeSend, make_buffer: Callable[..., MetricBuffer]
) -> None:
    buffer = make_buffer(batch_size=10)  # the timer is an hour: only a full batch wakes it
    for i in range(10):
        buffer.add("r", metric(i))
    assert wait_until(lambda: send.delivered() == 10)
    assert send.steps("r") == list(range(10))


def test_background_retry_after_backend_unavailable_delivers_exactly_once(
    send: FakeSend, make_buffer: Callable[..., MetricBuffer]
) -> None:
    failures = {"left": 2}

    def flaky(run_id: str, chunk: list[Metric]) -> BaseException | None:
        if failures["left"]:
            failures["left"] -= 1
            return BackendUnavailable("blip")
        return None

    send.fail_with = flaky
    buffer = make_buffer(batch_size=1000, flush_seconds=0.02)
    for i in range(20):
        buffer.add("r", metric(i))
    assert wait_until(lambda: send.delivered() == 20)
    buffer.flush()  # the transient failures were recovered from: nothing to raise
    assert send.steps("r") == list(range(20))


class _PauseOnWarning(logging.Handler):
    """Holds the background thread inside its failure handling until the test lets it go."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.reached = threading.Event()
        self.let_go = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        # The warning is logged after the send lock is released, before the error is kept.
        if record.levelno == logging.WARNING and record.threadName == "modelyard-metrics":
            self.reached.set()
            self.let_go.wait(timeout=5)


def test_a_background_refusal_is_raised_by_the_next_flush(
    send: FakeSend, make_buffer: Callable[..., MetricBuffer]
) -> None:
    send.fail_with = lambda r, c: InvalidInput("run is gone")
    buffer = make_buffer(batch_size=3, flush_seconds=0.05)
    for i in range(3):
        buffer.add("bad", metric(i))
    assert wait_until(lambda: len(send.attempts) == 1)
    assert wait_until(lambda: buffer.pending() == 0)
    # The background thread may still be between its send and keeping the error.
    error = first_flush_error(buffer)
    assert isinstance(error, InvalidInput)
    assert "run is gone" in str(error)
    buffer.flush()  # reported once, not forever
    assert send.calls == []


def test_flush_racing_a_background_refusal_still_raises(
    send: FakeSend, make_buffer: Callable[..., MetricBuffer]
) -> None:
    """flush() must not return success while metrics logged before it were refused."""
    send.fail_with = lambda r, c: InvalidInput("run is gone")
    pause = _PauseOnWarning()
    logger = logging.getLogger("modelyard.client.batching")
    logger.addHandler(pause)
    try:
        buffer = make_buffer(batch_size=3, flush_seconds=0.05)
        for i in range(3):
            buffer.add("bad", metric(i))
        assert wait_until(lambda: len(send.attempts) == 1 and buffer.pending() == 0)
        # The background thread has been refused and is reporting it (if it logs at all).
        pause.reached.wait(timeout=1)
        try:
            with pytest.raises(InvalidInput, match="run is gone"):
                buffer.flush()
        finally:
            pause.let_go.set()
    finally:
        logger.removeHandler(pause)
