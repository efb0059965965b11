"""The inference log: a sample of scoring requests, and ground truth, as Parquet files.

``InferenceLog.record`` runs on the request path and never blocks: it puts the entry on a
bounded queue (``put_nowait``) and, when the queue is full, counts a drop instead (exposed
in ``/metrics``, with a warning at most once per ``warn_every_s``). A writer thread per
stream drains the queue and writes one Parquet file per partition every ``flush_rows``
rows or ``flush_seconds``, whichever comes first, and once more on ``close``. Inputs and
outputs are JSON-encoded there, off the request path.

Files are Hive-partitioned under the artifact root, so pandas, pyarrow, Dask or DuckDB
read a whole tree as one dataset::

    <root>/inference/endpoint=<e>/deployment=<d>/date=YYYY-MM-DD/hour=HH/<worker>-<seq>-<uuid>.parquet
    <root>/feedback/endpoint=<e>/date=YYYY-MM-DD/<worker>-<seq>-<uuid>.parquet

The partition keys are not repeated inside the files (pyarrow refuses a column that is
also a partition key), and inputs, outputs and ground truth are JSON text, so files from
models with different columns never conflict. A local file appears under its final name
complete (written beside it, then renamed); on an object store one PUT is atomic.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import queue
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelyard.errors import InvalidInput
from modelyard.serving.json_body import load_json
from modelyard.serving.outputs import to_jsonable

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("modelyard.serving.inference_log")

INFERENCE = "inference"
FEEDBACK = "feedback"
MAX_REQUEST_ID = 200

Write = Callable[[str, bytes], None]
"""Store ``bytes`` at a path relative to the log's root, atomically."""


class LogObserver(Protocol):
    """Where a log reports what it wrote and dropped (the server's metrics)."""

    def log_written(self, stream: str, rows: int) -> None: ...
    def log_dropped(self, stream: str, reason: str, rows: int) -> None: ...
    def log_queue_depth(self, stream: str, depth: int) -> None: ...


@dataclass(slots=True)
class InferenceRecord:
    """One scoring request as the log keeps it; ``inputs`` and ``outputs`` as the server
    held them (a DataFrame or array, the predictions), encoded later by the writer."""

    request_id: str
    timestamp_ms: int
    latency_ms: float
    status: int
    mirrored: bool = False
    inputs: Any = None
    outputs: Any = None


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Rows of one stream written, dropped, and still waiting (queued or being written)."""

    written: int
    dropped: int
    queued: int


def default_endpoint(model_name: str) -> str:
    """An endpoint name for a served model: its name as a DNS label (``default`` if none)."""
    label = re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-")
    if label and not label[0].isalpha():
        label = f"m-{label}"
    return label[:63].rstrip("-") or "default"


def request_id_from(value: str | None, *, what: str = "X-Request-Id") -> str:
    """The request id a client sent, checked; a new one when it sent none."""
    if value is None:
        return uuid.uuid4().hex
    if not value or len(value) > MAX_REQUEST_ID or not value.isprintable():
        raise InvalidInput(
            f"{what} must be 1 to {MAX_REQUEST_ID} printable characters",
            details={"length": len(value)},
        )
    return value


def parse_feedback(body: bytes | bytearray) -> list[tuple[str, Any]]:
    """``(request_id, ground_truth)`` pairs from ``{"request_id", "ground_truth"}`` or a
    list of such objects."""
    payload = load_json(body)
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise InvalidInput("the feedback list is empty: send at least one entry")
    pairs = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or set(item) != {"request_id", "ground_truth"}:
            raise InvalidInput(
                'each feedback entry must be {"request_id": "...", "ground_truth": ...}',
                details={"index": index},
            )
        request_id = item["request_id"]
        if not isinstance(request_id, str):
            raise InvalidInput("'request_id' must be a string", details={"index": index})
        pairs.append((request_id_from(request_id, what="'request_id'"), item["ground_truth"]))
    return pairs


def _hour(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC)


def _json(value: Any) -> str:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        # pandas' C encoder: ~50x faster than building Python records first, which matters
        # because the writer thread shares the GIL with the request path.
        return str(value.to_json(orient="records", double_precision=15, date_format="iso"))
    return json.dumps(to_jsonable(value), separators=(",", ":"), allow_nan=False)


def _destination(root: str, storage_options: Mapping[str, Any]) -> Write:
    """How files reach ``root``: a local folder, or any fsspec URL (``s3://...``)."""
    if "://" not in root or root.startswith("file://"):
        base = Path(root.removeprefix("file://")).expanduser().absolute()

        def write_local(relpath: str, data: bytes) -> None:
            final = base / relpath
            final.parent.mkdir(parents=True, exist_ok=True)
            # Dot-files are skipped by dataset readers; the rename shows the file whole.
            tmp = final.with_name(f".{final.name}.part")
            try:
                tmp.write_bytes(data)
                os.replace(tmp, final)
            finally:
                tmp.unlink(missing_ok=True)

        return write_local

    filesystem: Any = None

    def write_remote(relpath: str, data: bytes) -> None:
        nonlocal filesystem
        import fsspec.core

        if filesystem is None:
            filesystem = fsspec.core.url_to_fs(root, **storage_options)
        fs, base = filesystem
        # One PUT: the object appears whole or not at all.
        fs.pipe_file(f"{str(base).rstrip('/')}/{relpath}", data)

    return write_remote


@dataclass
class _Counts:
    written: int = 0
    dropped: int = 0
    unwarned: int = 0
    warned_at: float = field(default=-1e18)


_STOP = object()


class _Stream:
    """One bounded queue and its writer thread: entries in, Parquet files out."""

    def __init__(
        self,
        name: str,
        encode: Callable[[Any], tuple[str, dict[str, Any]]],
        schema: Callable[[], pa.Schema],
        *,
        write: Write,
        queue_size: int,
        flush_rows: int,
        flush_seconds: float,
        worker_id: str,
        observer: LogObserver | None,
        warn_every_s: float,
    ) -> None:
        self.name = name
        self._encode = encode
        self._schema = schema
        self._write = write
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._flush_rows = flush_rows
        self._flush_seconds = flush_seconds
        self._worker_id = worker_id
        self._observer = observer
        self._warn_every_s = warn_every_s
        self._counts = _Counts()
        self._lock = threading.Lock()
        self._seq = 0
        self._buffered = 0  # taken off the queue by the writer, not yet written
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"{self.name}-log-writer", daemon=True
            )
            self._thread.start()

    def put(self, item: Any) -> bool:
        """Queue ``item`` unless the queue is full or closed (then count it dropped)."""
        if self._closed:
            self._dropped("closed", 1)
            return False
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._dropped("queue_full", 1)
            return False
        except Exception:
            # Never into the request path: a request does not fail because logging did.
            log.exception("the %s log could not queue an entry", self.name)
            self._dropped("error", 1)
            return False
        return True

    def stats(self) -> StreamStats:
        with self._lock:
            waiting = self._queue.qsize() + self._buffered
            return StreamStats(self._counts.written, self._counts.dropped, waiting)

    def close(self, timeout: float) -> None:
        """Write what is queued and stop; entries the writer cannot reach in time are dropped."""
        self._closed = True
        if self._thread is not None:
            # A writer stuck for the whole timeout leaves the queue full: then stop waiting.
            with contextlib.suppress(queue.Full):
                self._queue.put(_STOP, timeout=timeout)
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the %s log writer did not finish within %.0f s", self.name, timeout)
                return
        left = 0
        while True:
            try:
                if self._queue.get_nowait() is not _STOP:
                    left += 1
            except queue.Empty:
                break
        if left:
            self._dropped("closed", left)

    def _dropped(self, reason: str, rows: int) -> None:
        now = time.monotonic()
        with self._lock:
            counts = self._counts
            counts.dropped += rows
            counts.unwarned += rows
            warn = now - counts.warned_at >= self._warn_every_s
            if warn:
                unwarned, counts.unwarned, counts.warned_at = counts.unwarned, 0, now
        if self._observer is not None:
            self._observer.log_dropped(self.name, reason, rows)
        if warn:
            log.warning(
                "the %s log dropped %d entries (%s); see modelyard_inference_log_dropped_total",
                self.name,
                unwarned,
                reason,
            )

    def _run(self) -> None:
        buffer: list[Any] = []
        deadline = 0.0
        while True:
            timeout = max(0.0, deadline - time.monotonic()) if buffer else None
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._flush(buffer)
                self._buffered = 0
                return
            if item is not None:
                if not buffer:
                    deadline = time.monotonic() + self._flush_seconds
                buffer.append(item)
                self._buffered = len(buffer)
            if buffer and (len(buffer) >= self._flush_rows or time.monotonic() >= deadline):
                self._flush(buffer)
                buffer = []
                self._buffered = 0

    def _flush(self, items: list[Any]) -> None:
        partitions: dict[str, list[dict[str, Any]]] = {}
        for index, item in enumerate(items):
            if index % 32 == 31:
                time.sleep(0)  # hand the GIL to the request path between slices of work
            try:
                partition, row = self._encode(item)
            except Exception:
                log.exception("the %s log could not encode an entry", self.name)
                self._dropped("encode_failed", 1)
                continue
            partitions.setdefault(partition, []).append(row)
        for partition, rows in partitions.items():
            try:
                self._write_file(partition, rows)
            except Exception as exc:
                log.error("the %s log could not write %d rows: %r", self.name, len(rows), exc)
                self._dropped("write_failed", len(rows))
                continue
            with self._lock:
                self._counts.written += len(rows)
            if self._observer is not None:
                self._observer.log_written(self.name, len(rows))
        if self._observer is not None:
            self._observer.log_queue_depth(self.name, self._queue.qsize())

    def _write_file(self, partition: str, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=self._schema())
        out = io.BytesIO()
        pq.write_table(table, out, compression="zstd")
        self._seq += 1
        name = f"{self._worker_id}-{self._seq:06d}-{uuid.uuid4().hex[:12]}.parquet"
        self._write(f"{self.name}/{partition}/{name}", out.getvalue())


def _inference_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("request_id", pa.string()),
            ("timestamp", pa.int64()),
            ("model", pa.string()),
            ("version", pa.int64()),
            ("latency_ms", pa.float64()),
            ("status", pa.int64()),
            ("mirrored", pa.bool_()),
            ("inputs", pa.string()),
            ("outputs", pa.string()),
        ]
    )


def _feedback_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("request_id", pa.string()),
            ("timestamp", pa.int64()),
            ("deployment", pa.string()),
            ("ground_truth", pa.string()),
        ]
    )


class InferenceLog:
    """Sampled requests and ground truth of one scoring worker, written off the request path.

    ``write`` replaces the destination built from ``root`` (tests pass a slow or failing
    one). Call ``start`` before recording and ``close`` at shutdown to write the rest.
    """

    def __init__(
        self,
        root: str,
        *,
        endpoint: str = "default",
        deployment: str = "default",
        model: str | None = None,
        version: int = 0,
        sample_rate: float = 1.0,
        storage_options: Mapping[str, Any] | None = None,
        queue_size: int = 10_000,
        flush_rows: int = 1_000,
        flush_seconds: float = 10.0,
        observer: LogObserver | None = None,
        write: Write | None = None,
        worker_id: str | None = None,
        warn_every_s: float = 60.0,
    ) -> None:
        if not 0 <= sample_rate <= 1:
            raise InvalidInput("the inference log's sample rate must be between 0 and 1")
        self.root = root
        self.endpoint = endpoint
        self.deployment = deployment
        self.model = model
        self.version = version
        self.sample_rate = sample_rate
        worker = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        worker = re.sub(r"[^A-Za-z0-9.\-]+", "-", worker)
        destination = write or _destination(root, storage_options or {})
        stream = partial(
            _Stream,
            write=destination,
            queue_size=queue_size,
            flush_rows=flush_rows,
            flush_seconds=flush_seconds,
            worker_id=worker,
            observer=observer,
            warn_every_s=warn_every_s,
        )
        self._inference = stream(INFERENCE, self._encode_inference, _inference_schema)
        self._feedback = stream(FEEDBACK, self._encode_feedback, _feedback_schema)

    def __repr__(self) -> str:
        return f"InferenceLog({self.root!r}, endpoint={self.endpoint!r}, rate={self.sample_rate})"

    def __enter__(self) -> InferenceLog:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the writer threads."""
        self._inference.start()
        self._feedback.start()

    def sampled(self) -> bool:
        """Whether to log the current request (a coin toss at the sample rate)."""
        rate = self.sample_rate
        return rate >= 1 or (rate > 0 and random.random() < rate)

    def record(self, entry: InferenceRecord) -> bool:
        """Queue ``entry``; never blocks or raises. False when it was dropped (and counted)."""
        return self._inference.put(entry)

    def record_feedback(self, request_id: str, ground_truth: Any) -> bool:
        """Queue the ground truth of a request; False when it was dropped (and counted)."""
        return self._feedback.put((request_id, int(time.time() * 1000), ground_truth))

    def stats(self) -> dict[str, StreamStats]:
        """Rows written, dropped and still queued, per stream."""
        return {INFERENCE: self._inference.stats(), FEEDBACK: self._feedback.stats()}

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the writers."""
        self._inference.close(timeout)
        self._feedback.close(timeout)

    def _encode_inference(self, entry: InferenceRecord) -> tuple[str, dict[str, Any]]:
        at = _hour(entry.timestamp_ms)
        partition = (
            f"endpoint={self.endpoint}/deployment={self.deployment}/date={at:%Y-%m-%d}/hour={at:%H}"
        )
        return partition, {
            "request_id": entry.request_id,
            "timestamp": entry.timestamp_ms,
            "model": self.model,
            "version": self.version,
            "latency_ms": entry.latency_ms,
            "status": entry.status,
            "mirrored": entry.mirrored,
            "inputs": None if entry.inputs is None else _json(entry.inputs),
            "outputs": None if entry.outputs is None else _json(entry.outputs),
        }

    def _encode_feedback(self, item: tuple[str, int, Any]) -> tuple[str, dict[str, Any]]:
        request_id, timestamp_ms, ground_truth = item
        partition = f"endpoint={self.endpoint}/date={_hour(timestamp_ms):%Y-%m-%d}"
        return partition, {
            "request_id": request_id,
            "timestamp": timestamp_ms,
            "deployment": self.deployment,
            "ground_truth": _json(ground_truth),
        }
