"""gc beside a writer: nothing a record names is ever lost, on a local folder and on S3.

The writer does what every uploader does: store a blob, then commit the record naming it,
well within the grace period; it also re-uses content gc is about to delete (same bytes,
so the put deduplicates) and leaves orphans for gc to find.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select

from modelyard.client.client import Client
from modelyard.core.backend import LocalBackend, open_local_backend
from modelyard.housekeeping.collect import collect_garbage
from modelyard.storage.artifacts import BlobStore
from modelyard.storage.db.tables import run_artifacts
from modelyard.tracking.models import LogArtifact
from modelyard.tracking.operations import log_artifact
from tests.conftest import make_settings

pytestmark = pytest.mark.slow

GRACE = 3  # seconds; the writer names each blob within milliseconds


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalBackend]:
    overrides: dict[str, Any] = {}
    if request.param == "s3":
        endpoint = request.getfixturevalue("endpoint")
        bucket = request.getfixturevalue("bucket")
        overrides = {"artifact_root": f"s3://{bucket}/gc", "s3_endpoint_url": endpoint}
    backend = open_local_backend(make_settings(tmp_path, **overrides))
    yield backend
    backend.close()


def age(backend: LocalBackend, contents: list[bytes]) -> None:
    """Make these blobs older than the grace period."""
    root = backend.blobs.root
    if root.startswith("s3://"):
        time.sleep(GRACE + 1)  # LastModified cannot be set; wait instead
        return
    for data in contents:
        sha = hashlib.sha256(data).hexdigest()
        os.utime(Path(root) / "blobs" / sha[:2] / sha[2:4] / sha, (1e9, 1e9))


def test_gc_running_over_and_over_never_takes_a_named_blob(backend: LocalBackend) -> None:
    client = Client(settings=make_settings(Path(backend.blobs.root)), backend=backend)
    run = client.create_run(client.get_or_create_experiment("race").id)
    # Content stored long ago and named by nothing: gc's candidates, which the writer
    # re-uses (stores again, then names) while gc is deleting them.
    pool = [f"old content {i}".encode() for i in range(40)]
    for data in pool:
        backend.put_blob_bytes(data)
    age(backend, pool)
    stop = threading.Event()
    errors: list[BaseException] = []
    reports = []
    written = [0]

    def writer() -> None:
        try:
            for i in range(10_000):
                if stop.is_set():
                    return
                data = pool[i % len(pool)] if i % 2 else os.urandom(64)
                blob = backend.put_blob_bytes(data)
                backend.put_blob_bytes(os.urandom(32))  # an orphan for gc
                request = LogArtifact(
                    run_id=run.id, path=f"a/{i}", sha256=blob.sha256, size=blob.size
                )
                backend.call(log_artifact, request)
                written[0] += 1
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    def gc() -> None:
        try:
            # Paused between runs: on SQLite a run holds the write lock, and back-to-back
            # runs could keep the writer waiting past the grace period (then its record is
            # refused, cleanly, as naming a blob no longer stored: not what this tests).
            while not stop.wait(0.3):
                reports.append(client.collect_garbage(min_age_seconds=GRACE))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=gc)]
    for thread in threads:
        thread.start()
    # Six seconds of racing, and at least a dozen artifacts named (a loaded machine is
    # slower), within a minute at most.
    started = time.monotonic()
    while time.monotonic() - started < 60 and not stop.is_set():
        if time.monotonic() - started >= 6 and written[0] > 12:
            break
        time.sleep(0.1)
    stop.set()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sum(r.deleted for r in reports) > 0  # gc did run and delete
    with backend.db.read() as conn:
        named = _named(conn)
    assert len(named) > 10
    for sha256 in named:
        assert hashlib.sha256(backend.blobs.read_bytes(sha256)).hexdigest() == sha256


def _named(conn: Connection) -> set[str]:
    return set(conn.execute(select(run_artifacts.c.sha256)).scalars())


class _ReusedJustBeforeDeletion(BlobStore):
    """A store on which someone stores each blob again the moment before gc deletes it."""

    def delete_if_older(self, sha256: str, cutoff: float) -> bool:
        self.put_bytes(self.read_bytes(sha256))
        return super().delete_if_older(sha256, cutoff)


def test_a_blob_stored_again_just_before_its_deletion_survives(backend: LocalBackend) -> None:
    blob = backend.put_blob_bytes(b"about to be re-used")
    age(backend, [b"about to be re-used"])
    racing = _ReusedJustBeforeDeletion(
        backend.blobs.root, storage_options=backend.blobs.storage_options
    )
    with backend.db.read() as conn:
        report = collect_garbage(conn, racing, min_age_seconds=GRACE, dry_run=False)
    assert (report.unreferenced, report.deleted, report.spared) == (1, 0, 1)
    assert backend.blobs.read_bytes(blob.sha256) == b"about to be re-used"
