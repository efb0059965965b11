"""What a running step can reach: a collector for the metrics it logs.

``modelyard.log_metric`` inside a step lands here (wherever the step runs: inline, in a
worker process, on a Dask worker), and the runner logs them to the step's run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Collected = list[tuple[str, float, int]]

_METRICS: ContextVar[Collected | None] = ContextVar("modelyard_step_metrics", default=None)


@contextmanager
def collecting() -> Iterator[Collected]:
    """Collect the metrics logged while the block runs."""
    collected: Collected = []
    token = _METRICS.set(collected)
    try:
        yield collected
    finally:
        _METRICS.reset(token)


def step_metrics() -> Collected | None:
    """The collector of the step running in this context, if any."""
    return _METRICS.get()
