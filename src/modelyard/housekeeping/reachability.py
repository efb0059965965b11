"""Which blobs are live: named by a record, or listed by a manifest a record names.

Every column that holds the SHA-256 of a stored blob, and what it holds:

| record | column | holds |
|---|---|---|
| a run's artifact (steps' outputs and logs too) | ``run_artifacts.sha256`` | a file |
| a model version | ``model_versions.manifest`` | a manifest of its files |
| a step run's outputs | ``step_runs.outputs[*].manifest`` | a manifest per output |
| a registered pipeline | ``pipeline_versions.snapshot`` | a manifest of its code |
| a step's inputs and outputs | ``lineage_edges`` of kind ``blob`` | a manifest each |

Hashes that are not blobs: a dataset's digest (``run_inputs``, ``model_versions.datasets``)
and an evaluation's ``data_sha256`` hash data that stays where the user keeps it;
environment, definition and cache-key hashes hash specifications; a package is a folder
written outside the store; the inference log is Parquet under the artifact root, outside
``blobs/``, and is left to its own retention.

Deleted runs and model versions keep their rows (hidden from reads, their numbers never
reused), and their rows keep naming their blobs: deleting is not purging, so gc frees
nothing a deleted record names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import Connection, select, union

from modelyard.errors import Conflict, InvalidInput, NotFound
from modelyard.storage.artifacts import BlobStore
from modelyard.storage.artifacts.manifests import parse_manifest
from modelyard.storage.db.tables import (
    lineage_edges,
    model_versions,
    pipeline_versions,
    run_artifacts,
    step_runs,
)

log = logging.getLogger(__name__)

# Rows fetched per round trip while streaming a column through.
_BATCH = 10_000


def _column(conn: Connection, query: object) -> Iterable[str]:
    result = conn.execute(query.execution_options(yield_per=_BATCH))  # type: ignore[attr-defined]
    return (str(value) for value in result.scalars())


def _recorded_manifests(conn: Connection) -> set[str]:
    """Manifests the server checked when it recorded them: each must still parse."""
    found = set(_column(conn, select(model_versions.c.manifest).distinct()))
    found |= set(_column(conn, select(pipeline_versions.c.snapshot).distinct()))
    outputs = conn.execute(select(step_runs.c.outputs).execution_options(yield_per=_BATCH))
    for row in outputs.scalars():
        found.update(str(output["manifest"]) for output in (row or {}).values())
    return found


def _lineage_blobs(conn: Connection) -> set[str]:
    e = lineage_edges.c
    named = union(
        select(e.src_id).where(e.src_kind == "blob"),
        select(e.dst_id).where(e.dst_kind == "blob"),
    )
    return set(_column(conn, select(named.subquery().c[0])))


def _files_of(blobs: BlobStore, sha256: str, *, strict: bool) -> list[str]:
    """The files a manifest lists; none if it is gone (nothing can reach them through it)."""
    try:
        data = blobs.read_bytes(sha256)
    except NotFound:
        log.warning("manifest %s is named by a record but not stored", sha256)
        return []
    try:
        manifest = parse_manifest(data, sha256)
    except InvalidInput as exc:
        if not strict:
            return []  # a lineage edge may name a plain blob: it is live itself, and a leaf
        # Its files cannot be told, so none may be deleted: a damaged manifest is a matter
        # for a person, never a reason to delete what it might have listed.
        raise Conflict(
            f"gc stopped before deleting anything: {exc.message}; restore the manifest from "
            "a backup (or delete the record naming it) and run gc again",
            details={"manifest": sha256},
        ) from None
    return [f.sha256 for f in manifest.files.values()]


def live_blobs(conn: Connection, blobs: BlobStore) -> set[str]:
    """Every blob a record names, directly or through a manifest it names."""
    live = set(_column(conn, select(run_artifacts.c.sha256).distinct()))
    strict = _recorded_manifests(conn)
    lenient = _lineage_blobs(conn) - strict
    for sha256 in sorted(strict):
        live.add(sha256)
        live.update(_files_of(blobs, sha256, strict=True))
    for sha256 in sorted(lenient):
        live.add(sha256)
        live.update(_files_of(blobs, sha256, strict=False))
    return live
