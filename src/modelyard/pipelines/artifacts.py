"""Where step workers read and write outputs.

With a local backend, workers use the store's own blob store (a folder or S3). With a
server, they use a local staging blob store, and the runner copies what a step needs from
the server before it runs and what it produced to the server after.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from modelyard.core.backend import Backend, LocalBackend
from modelyard.pipelines.manifests import manifest_blobs, read_manifest, store_external
from modelyard.storage.artifacts import BlobStore


class StepArtifacts:
    def __init__(self, blobs: BlobStore, remote: Backend | None) -> None:
        self.blobs = blobs
        self.remote = remote

    @classmethod
    def for_backend(cls, backend: Backend, staging_root: Path | None) -> StepArtifacts:
        if isinstance(backend, LocalBackend):
            return cls(backend.blobs, None)
        root = staging_root or Path(tempfile.gettempdir()) / "modelyard-staging"
        return cls(BlobStore(str(root)), backend)

    def store_external(self, path: Path) -> str:
        stored = store_external(self.blobs, path)
        self.push(stored.manifest)
        return stored.manifest

    def pull(self, manifest_sha: str) -> None:
        """Make an output stored on the server available to local workers."""
        if self.remote is None:
            return
        with tempfile.TemporaryDirectory() as tmp:
            self._fetch(manifest_sha, Path(tmp))
            manifest = read_manifest(self.blobs, manifest_sha)
            for sha in manifest_blobs(manifest_sha, manifest)[1:]:
                self._fetch(sha, Path(tmp))

    def _fetch(self, sha: str, tmp: Path) -> None:
        assert self.remote is not None
        if not self.blobs.exists(sha):
            self.remote.get_blob(sha, tmp / sha)
            self.blobs.put_file(tmp / sha)

    def push(self, manifest_sha: str) -> None:
        """Send an output a local worker produced to the server."""
        if self.remote is None:
            return
        manifest = read_manifest(self.blobs, manifest_sha)
        with tempfile.TemporaryDirectory() as tmp:
            for sha in manifest_blobs(manifest_sha, manifest):
                target = Path(tmp) / sha
                self.blobs.get_file(sha, target)
                self.remote.put_blob(target)
