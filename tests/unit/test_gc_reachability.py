"""Which blobs gc counts as live: every column naming a blob, and what manifests list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert

from modelyard.core.backend import LocalBackend, open_local_backend
from modelyard.errors import Conflict
from modelyard.housekeeping.reachability import live_blobs
from modelyard.storage.artifacts.manifests import manifest_bytes
from modelyard.storage.db.tables import (
    lineage_edges,
    model_versions,
    pipeline_versions,
    registered_models,
)
from tests.conftest import make_settings


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    backend = open_local_backend(make_settings(tmp_path))
    yield backend
    backend.close()


def manifest_of(backend: LocalBackend, *contents: bytes) -> tuple[str, list[str]]:
    files = [backend.blobs.put_bytes(data) for data in contents]
    listed = {f"f{i}": {"sha256": f.sha256, "size": f.size} for i, f in enumerate(files)}
    return backend.blobs.put_bytes(manifest_bytes(listed)).sha256, [f.sha256 for f in files]


def version_row(manifest: str) -> dict[str, object]:
    return {
        "model": "m",
        "version": 1,
        "status": "DELETED",  # deleted, but its row still names its files
        "source": "x",
        "manifest": manifest,
        "size": 0,
        "metrics": {},
        "datasets": [],
        "trusted": False,
        "tags": {},
        "created_at": 0,
        "created_by": "t",
    }


def add_model(backend: LocalBackend, manifest: str) -> None:
    with backend.db.write() as conn:
        conn.execute(
            insert(registered_models).values(
                name="m", tags={}, created_at=0, updated_at=0, created_by="t"
            )
        )
        conn.execute(insert(model_versions).values(version_row(manifest)))


def test_manifests_of_versions_snapshots_and_lineage_keep_their_files(
    backend: LocalBackend,
) -> None:
    version, version_files = manifest_of(backend, b"weights")
    snapshot, snapshot_files = manifest_of(backend, b"pipeline.py")
    step_input, input_files = manifest_of(backend, b"data.csv")
    plain = backend.blobs.put_bytes(b"not a manifest").sha256
    unnamed = backend.blobs.put_bytes(b"orphan").sha256
    add_model(backend, version)
    with backend.db.write() as conn:
        conn.execute(
            insert(pipeline_versions).values(
                name="p",
                version=1,
                snapshot=snapshot,
                entry="pipeline:main",
                definition={},
                definition_hash="0" * 64,
                created_at=0,
                created_by="t",
            )
        )
        edge = {"dst_kind": "run", "dst_id": "r", "created_at": 0, "src_kind": "blob"}
        conn.execute(
            insert(lineage_edges),
            [
                {**edge, "src_id": step_input, "role": "input:a"},
                {**edge, "src_id": plain, "role": "input:b"},
            ],
        )
    with backend.db.read() as conn:
        live = live_blobs(conn, backend.blobs)
    expected = {version, snapshot, step_input, plain, *version_files, *snapshot_files, *input_files}
    assert live == expected
    assert unnamed not in live


def test_a_recorded_manifest_that_no_longer_parses_stops_gc(backend: LocalBackend) -> None:
    broken = backend.blobs.put_bytes(b"{not json").sha256
    add_model(backend, broken)
    with backend.db.read() as conn, pytest.raises(Conflict, match="before deleting anything"):
        live_blobs(conn, backend.blobs)


def test_a_missing_manifest_is_still_named_and_lists_nothing(backend: LocalBackend) -> None:
    add_model(backend, "a" * 64)
    with backend.db.read() as conn:
        assert live_blobs(conn, backend.blobs) == {"a" * 64}
