"""gc behaves the same on every backend: what no record names and is old goes, nothing else.

Ages are made by backdating the files of the (local) artifact store behind the backend,
the server's for REST: the grace period is judged by the blobs' own times.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from modelyard.errors import InvalidInput
from modelyard.pipelines.runner import run_pipeline
from modelyard.storage.db.tables import audit_records
from tests.contract.conftest import Store
from tests.contract.pipeline_steps import squared

OLD = 1_000_000_000.0  # 2001


def backdate_everything(store: Store) -> None:
    for path in (Path(store.local.blobs.root) / "blobs").rglob("*"):
        if path.is_file():
            os.utime(path, (OLD, OLD))


def test_gc_deletes_only_old_blobs_no_record_names(store: Store, tmp_path: Path) -> None:
    client = store.client
    run = client.create_run(client.get_or_create_experiment("gc").id)
    kept_file = tmp_path / "weights.bin"
    kept_file.write_bytes(b"weights")
    client.log_artifact(run.id, kept_file)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.bin").write_bytes(b"a model")
    client.registry.register("churn", model_dir)
    pipeline = run_pipeline(squared, backend=client.backend, staging_root=tmp_path / "stage")
    orphan = client.backend.put_blob_bytes(b"uploaded, never named")
    backdate_everything(store)
    young = client.backend.put_blob_bytes(b"uploaded just now, not named yet")

    dry = client.collect_garbage(dry_run=True, min_age_seconds=3600)
    assert dry.dry_run
    assert [b.sha256 for b in dry.blobs] == [orphan.sha256]
    assert (dry.unreferenced, dry.unreferenced_bytes, dry.deleted) == (1, orphan.size, 0)
    assert dry.candidates == dry.stored - 1  # all but the young one
    assert store.local.blobs.exists(orphan.sha256)

    report = client.collect_garbage(min_age_seconds=3600, reason="disk is full")
    assert (report.deleted, report.bytes_freed, report.spared) == (1, orphan.size, 0)
    assert report.live == report.candidates - 1
    assert not store.local.blobs.exists(orphan.sha256)
    assert store.local.blobs.exists(young.sha256)
    # Everything named is still whole: the run's file, the version's, the step's output.
    client.download_artifacts(run.id, "weights.bin", tmp_path / "back")
    assert (tmp_path / "back" / "weights.bin").read_bytes() == b"weights"
    client.registry.download("models:/churn/1", tmp_path / "version")
    assert (tmp_path / "version" / "model.bin").read_bytes() == b"a model"
    again = run_pipeline(squared, backend=client.backend, staging_root=tmp_path / "stage2")
    assert again.steps["square"].cache_hit
    assert again.steps["square"].cached_from == pipeline.steps["square"].run_id

    with store.local.db.read() as conn:
        (record,) = conn.execute(
            select(audit_records).where(audit_records.c.action == "store.gc")
        ).mappings()
    assert (record["actor"], record["reason"]) == ("tester", "disk is full")
    assert record["after"]["deleted"] == 1
    assert record["after"]["bytes_freed"] == orphan.size


def test_a_deleted_version_keeps_its_files(store: Store, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.bin").write_bytes(b"retired model")
    version = store.client.registry.register("churn", model_dir)
    store.client.registry.delete_version("churn", version.version)
    backdate_everything(store)
    report = store.client.collect_garbage(min_age_seconds=0)
    assert report.deleted == 0
    assert store.local.blobs.exists(version.manifest)


def test_min_age_zero_with_nothing_unnamed_deletes_nothing(store: Store) -> None:
    report = store.client.collect_garbage(min_age_seconds=0)
    assert (report.stored, report.deleted) == (0, 0)


def test_the_grace_period_is_bounded(store: Store) -> None:
    with pytest.raises(InvalidInput):
        store.client.collect_garbage(min_age_seconds=-1)
