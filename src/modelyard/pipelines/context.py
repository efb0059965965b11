"""What a running step can reach: collectors for the metrics it logs and the datasets it reads.

``modelyard.log_metric`` and ``modelyard.log_input`` inside a step land here (wherever the
step runs: inline, in a worker process, on a Dask worker), and the runner records them on
the step's run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

Collected = list[tuple[str, float, int]]
# Datasets as the JSON of their ``DatasetInput``: they cross process boundaries as JSON.
CollectedDatasets = list[dict[str, Any]]

_METRICS: ContextVar[Collected | None] = ContextVar("modelyard_step_metrics", default=None)
_DATASETS: ContextVar[CollectedDatasets | None] = ContextVar(
    "modelyard_step_datasets", default=None
)


@contextmanager
def collecting() -> Iterator[tuple[Collected, CollectedDatasets]]:
    """Collect the metrics logged and the datasets read while the block runs."""
    metrics: Collected = []
    datasets: CollectedDatasets = []
    tokens = _METRICS.set(metrics), _DATASETS.set(datasets)
    try:
        yield metrics, datasets
    finally:
        _METRICS.reset(tokens[0])
        _DATASETS.reset(tokens[1])


def step_metrics() -> Collected | None:
    """The metric collector of the step running in this context, if any."""
    return _METRICS.get()


def step_datasets() -> CollectedDatasets | None:
    """The dataset collector of the step running in this context, if any."""
    return _DATASETS.get()
