"""A step output in the blob store: one blob per file plus a manifest blob listing them.

The manifest's SHA-256 is the output's identity: the same content always gives the same
manifest, so downstream cache keys depend on what an output contains, not where it came
from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInput
from modelyard.pipelines.materializers import StoredOutput
from modelyard.storage.artifacts import (
    BlobStore,
    files_in,
    files_of,
    safe_target,
)
from modelyard.storage.artifacts.manifests import (
    Manifest,
    manifest_blobs,
    manifest_bytes,
    parse_manifest,
)

__all__ = [
    "OutputManifest",
    "fetch_folder",
    "manifest_blobs",
    "read_manifest",
    "store_external",
    "store_folder",
]


@dataclass(frozen=True)
class OutputManifest(Manifest):
    """A step output's manifest: its files and the materializer that reads them back."""

    materializer: str


def _store(blobs: BlobStore, files: Iterable[tuple[str, Path]], materializer: str) -> StoredOutput:
    listed: dict[str, dict[str, Any]] = {}
    total = 0
    for rel, path in files:
        info = blobs.put_file(path)
        listed[rel] = {"sha256": info.sha256, "size": info.size}
        total += info.size
    body = manifest_bytes(listed, materializer=materializer)
    return StoredOutput(blobs.put_bytes(body).sha256, total, materializer)


def store_folder(blobs: BlobStore, folder: Path, materializer: str) -> StoredOutput:
    """Store every file under ``folder`` and a manifest describing them."""
    return _store(blobs, files_in(folder), materializer)


def store_external(blobs: BlobStore, path: Path) -> StoredOutput:
    """Store a file or folder a pipeline reads from outside, laid out as a ``path`` output.

    Links are followed only while they stay inside the folder, and every file is checked
    before the first is stored (``files_of``).
    """
    if not path.exists():
        raise InvalidInput(f"input '{path}' does not exist")
    return _store(blobs, [(f"data/{rel}", file) for rel, file in files_of(path)], "path")


def read_manifest(blobs: BlobStore, manifest_sha: str) -> OutputManifest:
    return parse_manifest(blobs.read_bytes(manifest_sha), manifest_sha, OutputManifest)


def fetch_folder(
    blobs: BlobStore, manifest_sha: str, dest: Path, *, durable: bool = True
) -> OutputManifest:
    """Write an output's files under ``dest`` (verifying each hash); returns the manifest.

    ``durable=False`` for a step's scratch copies: they are deleted when the step ends, so
    syncing them to disk would only cost time.
    """
    manifest = read_manifest(blobs, manifest_sha)
    targets = [(info.sha256, safe_target(dest, rel)) for rel, info in manifest.files.items()]
    dest.mkdir(parents=True, exist_ok=True)
    for sha256, target in targets:
        blobs.get_file(sha256, target, durable=durable)
    return manifest
