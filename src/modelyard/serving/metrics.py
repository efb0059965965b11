"""Prometheus metrics of the scoring server: requests, errors, latency, batches, model, and
the inference log's rows written, dropped and queued.

One worker keeps its metrics in its own registry. Several workers write them to
``multiprocess_dir`` (prometheus_client's multiprocess mode; the parent sets
``PROMETHEUS_MULTIPROC_DIR`` before they start) and ``/metrics`` on any worker adds up all
of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(registry: Any, multiprocess_dir: Path | None = None) -> bytes:
    """``registry``'s metrics in the Prometheus text format; with ``multiprocess_dir``,
    those every worker wrote there instead (the scoring server's and the router's)."""
    from prometheus_client import CollectorRegistry, generate_latest

    if multiprocess_dir is not None:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


class ServingMetrics:
    """The metrics one scoring server exposes; ``model`` labels the model info gauge."""

    def __init__(self, model: dict[str, str], *, multiprocess_dir: Path | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess_dir = multiprocess_dir
        # In multiprocess mode the values live in files; a registry would only count them twice.
        self.registry: CollectorRegistry | None = (
            None if multiprocess_dir is not None else CollectorRegistry()
        )
        self.requests = Counter(
            "modelyard_serving_requests",
            "Scoring requests answered, by HTTP status.",
            ["status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "modelyard_serving_errors",
            "Scoring requests that failed, by error code.",
            ["code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelyard_serving_request_duration_seconds",
            "Time from reading a scoring request to its answer.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predict_latency = Histogram(
            "modelyard_serving_predict_duration_seconds",
            "Time spent in the model's predict, per batch.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_requests = Histogram(
            "modelyard_serving_batch_requests",
            "Requests coalesced into one predict call.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "modelyard_serving_batch_rows",
            "Rows in one predict call.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.model = Gauge(
            "modelyard_serving_model_info",
            "The model version this server scores with (always 1).",
            sorted(model),
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.model.labels(**model).set(1)
        self.log_rows_written = Counter(
            "modelyard_inference_log_written",
            "Rows the inference log wrote to Parquet, by stream (inference, feedback).",
            ["stream"],
            registry=self.registry,
        )
        self.log_rows_dropped = Counter(
            "modelyard_inference_log_dropped",
            "Rows the inference log dropped, by stream and reason (queue_full, write_failed...).",
            ["stream", "reason"],
            registry=self.registry,
        )
        self.log_queued = Gauge(
            "modelyard_inference_log_queue_depth",
            "Rows waiting in the inference log's queue, by stream.",
            ["stream"],
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        for stream in ("inference", "feedback"):
            # Exposed at 0 from the start, so a dashboard sees the series before any drop.
            self.log_rows_written.labels(stream)
            self.log_rows_dropped.labels(stream, "queue_full")
            self.log_queued.labels(stream).set(0)

    def observe_request(self, status: int, seconds: float, error_code: str | None) -> None:
        self.requests.labels(str(status)).inc()
        self.latency.observe(seconds)
        if error_code is not None:
            self.errors.labels(error_code).inc()

    def observe_batch(self, requests: int, rows: int, seconds: float) -> None:
        self.batch_requests.observe(requests)
        self.batch_rows.observe(rows)
        self.predict_latency.observe(seconds)

    def log_written(self, stream: str, rows: int) -> None:
        self.log_rows_written.labels(stream).inc(rows)

    def log_dropped(self, stream: str, reason: str, rows: int) -> None:
        self.log_rows_dropped.labels(stream, reason).inc(rows)

    def log_queue_depth(self, stream: str, depth: int) -> None:
        self.log_queued.labels(stream).set(depth)

    def render(self) -> bytes:
        """The metrics in the Prometheus text format (all workers' in multiprocess mode)."""
        return render(self.registry, self.multiprocess_dir)
