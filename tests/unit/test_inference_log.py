"""The inference log: bounded queue, drops counted, Parquet partitions read as one dataset."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from modelyard.errors import InvalidInput
from modelyard.serving.inference_log import (
    InferenceLog,
    InferenceRecord,
    default_endpoint,
    parse_feedback,
    request_id_from,
)

# 2024-03-05 07:08:09 UTC
AT_MS = 1_709_622_489_000


class Observed:
    """A fake metrics observer: what the log reported."""

    def __init__(self) -> None:
        self.written: Counter[str] = Counter()
        self.dropped: Counter[tuple[str, str]] = Counter()

    def log_written(self, stream: str, rows: int) -> None:
        self.written[stream] += rows

    def log_dropped(self, stream: str, reason: str, rows: int) -> None:
        self.dropped[stream, reason] += rows

    def log_queue_depth(self, stream: str, depth: int) -> None:
        pass


def entry(i: int, at_ms: int = AT_MS) -> InferenceRecord:
    return InferenceRecord(
        request_id=f"r{i}",
        timestamp_ms=at_ms,
        latency_ms=1.5,
        status=200,
        inputs=pd.DataFrame({"a": [i, i + 1], "b": ["x", None]}),
        outputs=[0, 1],
    )


def wait_for(probe: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def files(root: Path, stream: str = "inference") -> list[Path]:
    return sorted((root / stream).rglob("*.parquet"))


def test_writes_every_flush_rows_and_the_rest_on_close(tmp_path: Path) -> None:
    log = InferenceLog(str(tmp_path), flush_rows=3, flush_seconds=60, worker_id="w1")
    with log:
        for i in range(7):
            assert log.record(entry(i))
        wait_for(lambda: log.stats()["inference"].written == 6)
        assert len(files(tmp_path)) == 2
    assert log.stats()["inference"].written == 7
    assert len(files(tmp_path)) == 3
    assert all(f.name.startswith("w1-") for f in files(tmp_path))


def test_writes_after_flush_seconds_without_more_rows(tmp_path: Path) -> None:
    with InferenceLog(str(tmp_path), flush_rows=1000, flush_seconds=0.1) as log:
        log.record(entry(1))
        log.record(entry(2))
        wait_for(lambda: log.stats()["inference"].written == 2, timeout=3)
        assert len(files(tmp_path)) == 1


def test_a_burst_beyond_the_queue_is_dropped_and_counted_never_blocking(tmp_path: Path) -> None:
    release = threading.Event()
    writes: list[str] = []

    def slow_write(relpath: str, data: bytes) -> None:
        release.wait(10)
        writes.append(relpath)

    observed = Observed()
    log = InferenceLog(
        str(tmp_path), queue_size=5, flush_rows=1, write=slow_write, observer=observed
    )
    log.start()
    sent = 200
    started = time.perf_counter()
    accepted = [log.record(entry(i)) for i in range(sent)]
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, "record blocked on a full queue"
    stats = log.stats()["inference"]
    assert stats.dropped == accepted.count(False) > 0
    assert observed.dropped["inference", "queue_full"] == stats.dropped
    release.set()
    log.close()
    final = log.stats()["inference"]
    assert final.written + final.dropped == sent
    assert final.written == accepted.count(True) == len(writes)
    assert observed.written["inference"] == final.written


def test_partitions_read_back_as_one_dataset(tmp_path: Path) -> None:
    next_hour = AT_MS + 3600 * 1000
    with InferenceLog(
        str(tmp_path), endpoint="churn", deployment="blue", model="churn", version=3
    ) as log:
        log.record(entry(1))
        log.record(entry(2, at_ms=next_hour))
        log.record(
            InferenceRecord("r3", AT_MS, 2.0, 422, mirrored=True, inputs=np.array([[1.0, 2.0]]))
        )
    parts = {f.parent.relative_to(tmp_path).as_posix() for f in files(tmp_path)}
    assert parts == {
        "inference/endpoint=churn/deployment=blue/date=2024-03-05/hour=07",
        "inference/endpoint=churn/deployment=blue/date=2024-03-05/hour=08",
    }
    table = ds.dataset(tmp_path / "inference", format="parquet", partitioning="hive").to_table()
    schema = table.schema
    assert schema.field("request_id").type == pa.string()
    assert schema.field("timestamp").type == pa.int64()
    assert schema.field("version").type == pa.int64()
    assert schema.field("latency_ms").type == pa.float64()
    assert schema.field("mirrored").type == pa.bool_()
    rows = {r["request_id"]: r for r in table.to_pylist()}
    first = rows["r1"]
    assert (first["endpoint"], first["deployment"], first["model"], first["version"]) == (
        "churn",
        "blue",
        "churn",
        3,
    )
    assert json.loads(first["inputs"]) == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]
    assert json.loads(first["outputs"]) == [0, 1]
    assert (first["timestamp"], first["status"], first["mirrored"]) == (AT_MS, 200, False)
    assert rows["r2"]["hour"] == 8
    assert json.loads(rows["r3"]["inputs"]) == [[1.0, 2.0]]
    assert rows["r3"]["outputs"] is None
    assert (rows["r3"]["status"], rows["r3"]["mirrored"]) == (422, True)
    # pandas reads the tree as one table, partition keys as columns.
    frame = pd.read_parquet(tmp_path / "inference")
    assert sorted(frame["request_id"]) == ["r1", "r2", "r3"]
    assert set(frame["endpoint"].astype(str)) == {"churn"}


def test_a_failing_writer_is_counted_and_logged_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log's root should be")
    observed = Observed()
    with (
        caplog.at_level(logging.WARNING, "modelyard.serving.inference_log"),
        InferenceLog(str(blocker), flush_rows=2, observer=observed) as log,
    ):
        for i in range(5):
            assert log.record(entry(i))
    stats = log.stats()["inference"]
    assert (stats.written, stats.dropped) == (0, 5)
    assert observed.dropped["inference", "write_failed"] == 5
    assert "could not write" in caplog.text
    # Closed: later entries are dropped and counted, not raised.
    assert log.record(entry(9)) is False
    assert log.stats()["inference"].dropped == 6


def test_feedback_is_its_own_stream_partitioned_by_endpoint_and_date(tmp_path: Path) -> None:
    with InferenceLog(str(tmp_path), endpoint="churn", deployment="blue") as log:
        assert log.record_feedback("r1", {"label": 1})
        assert log.record_feedback("r2", None)
    (only,) = files(tmp_path, "feedback")
    assert only.parent.parent.name == "endpoint=churn"
    assert only.parent.name.startswith("date=")
    table = ds.dataset(tmp_path / "feedback", format="parquet", partitioning="hive").to_table()
    rows = {r["request_id"]: r for r in table.to_pylist()}
    assert json.loads(rows["r1"]["ground_truth"]) == {"label": 1}
    assert rows["r2"]["ground_truth"] == "null"
    assert rows["r1"]["deployment"] == "blue"
    assert log.stats()["feedback"].written == 2
    assert log.stats()["inference"].written == 0


def test_sampling_follows_the_rate(tmp_path: Path) -> None:
    assert not any(InferenceLog(str(tmp_path), sample_rate=0).sampled() for _ in range(1000))
    assert all(InferenceLog(str(tmp_path), sample_rate=1).sampled() for _ in range(1000))
    half = InferenceLog(str(tmp_path), sample_rate=0.5)
    assert 350 < sum(half.sampled() for _ in range(1000)) < 650
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        InferenceLog(str(tmp_path), sample_rate=1.5)


def test_request_ids_are_checked_or_made() -> None:
    assert len(request_id_from(None)) == 32
    assert request_id_from("abc-123") == "abc-123"
    for bad in ("", "x" * 201, "a\nb", "tab\there"):
        with pytest.raises(InvalidInput, match="X-Request-Id"):
            request_id_from(bad)


def test_feedback_bodies_are_parsed_or_refused() -> None:
    assert parse_feedback(b'{"request_id": "r1", "ground_truth": 1}') == [("r1", 1)]
    many = b'[{"request_id": "a", "ground_truth": [1]}, {"request_id": "b", "ground_truth": null}]'
    assert parse_feedback(many) == [("a", [1]), ("b", None)]
    for bad in (
        b"{",
        b"[]",
        b'"r1"',
        b'{"request_id": "r1"}',
        b'{"request_id": 7, "ground_truth": 1}',
        b'{"request_id": "", "ground_truth": 1}',
        b'{"request_id": "r1", "ground_truth": 1, "extra": 2}',
    ):
        with pytest.raises(InvalidInput):
            parse_feedback(bad)


@pytest.mark.parametrize(
    ("name", "label"),
    [("churn", "churn"), ("Churn Model_v2", "churn-model-v2"), ("42", "m-42"), ("", "default")],
)
def test_default_endpoint_is_a_dns_label(name: str, label: str) -> None:
    assert default_endpoint(name) == label
