"""Artifact storage: content-addressed blobs and the rules for artifact paths.

The per-run index (run -> artifact path -> sha256) lives in the metadata database; this package
stores the bytes and decides which artifact paths are acceptable.
"""

from modelyard.storage.artifacts.blobs import BlobInfo, BlobStore
from modelyard.storage.artifacts.paths import (
    canonical_artifact_path,
    normalize_artifact_path,
    safe_target,
)

__all__ = [
    "BlobInfo",
    "BlobStore",
    "canonical_artifact_path",
    "normalize_artifact_path",
    "safe_target",
]
