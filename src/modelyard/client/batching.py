"""Client-side metric batching: ``log_metric`` is an append; a thread sends batches.

Logging one metric costs a lock and a list append. A background thread sends what has
accumulated whenever ``batch_size`` metrics are waiting or ``flush_seconds`` have passed.
``flush()`` blocks until everything logged before it is stored, and re-raises a failure
of the background sends, so an error is never silent. A failed send keeps its metrics
at the front of the queue, to be retried by the next send.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from modelyard.errors import BackendUnavailable
from modelyard.tracking.models import Metric

log = logging.getLogger(__name__)

Send = Callable[[str, list[Metric]], None]


def _is_refusal(exc: BaseException) -> bool:
    """True unless the store was unreachable: anything else would fail again on a retry."""

    return not isinstance(exc, BackendUnavailable)


class MetricBuffer:
    """Buffers ``(run_id, metric)`` pairs and sends them per run in batches."""

    def __init__(self, send: Send, *, batch_size: int = 1000, flush_seconds: float = 1.0) -> None:
        self._send = send
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._pending: list[tuple[str, Metric]] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._error: BaseException | None = None
        self._send_lock = threading.Lock()  # one send at a time, in order
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="modelyard-metrics", daemon=True)
        self._thread.start()

    def add(self, run_id: str, metric: Metric) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the metric buffer is closed")
            self._pending.append((run_id, metric))
            if len(self._pending) >= self._batch_size:
                self._wake.notify()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._closed and len(self._pending) < self._batch_size:
                    self._wake.wait(self._flush_seconds)
                if self._closed:
                    return
            try:
                self._send_pending()
            except Exception as exc:
                # The error is kept for the next flush(); unsent metrics stay queued.
                log.warning("sending metrics failed: %s", exc)
                time.sleep(min(self._flush_seconds, 1.0))

    def _send_pending(self) -> None:
        with self._send_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            by_run: dict[str, list[Metric]] = {}
            for run_id, metric in batch:
                by_run.setdefault(run_id, []).append(metric)
            chunks = [
                (run_id, items[i : i + self._batch_size])
                for run_id, items in by_run.items()
                for i in range(0, len(items), self._batch_size)
            ]
            for n, (run_id, chunk) in enumerate(chunks):
                try:
                    self._send(run_id, chunk)
                except BaseException as exc:
                    # A refused chunk (bad run id, bad value) would be refused again and block
                    # everything behind it: drop it and report it. An unreachable store keeps
                    # the chunk for a retry.
                    retry_from = n + 1 if _is_refusal(exc) else n
                    unsent = [(r, m) for r, c in chunks[retry_from:] for m in c]
                    with self._lock:
                        self._pending = unsent + self._pending
                        # Recorded with the re-queue, so a flush() never sees one without
                        # the other.
                        self._error = exc
                    if retry_from > n:
                        log.error("dropped %d metrics of run %s: %s", len(chunk), run_id, exc)
                    raise

    def flush(self) -> None:
        """Send everything logged so far; raise if it cannot be stored."""
        try:
            self._send_pending()
        finally:
            with self._lock:
                error, self._error = self._error, None
        if error is not None and (self.pending() or _is_refusal(error)):
            raise error

    def close(self) -> None:
        """Flush, then stop the background thread."""
        try:
            self.flush()
        finally:
            with self._lock:
                self._closed = True
                self._wake.notify()
            self._thread.join(timeout=5)
