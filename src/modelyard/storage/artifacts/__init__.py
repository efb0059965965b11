"""Artifact storage: content-addressed blobs and the rules for artifact paths.

The per-run index (run -> artifact path -> sha256) lives in the metadata database; this package
stores the bytes, decides which artifact paths are acceptable and which of a user's files may
be read into the store.
"""

from modelyard.storage.artifacts.blobs import BlobInfo, BlobStore
from modelyard.storage.artifacts.folders import copy_files, files_in, files_of
from modelyard.storage.artifacts.paths import (
    canonical_artifact_path,
    normalize_artifact_path,
    safe_target,
)

__all__ = [
    "BlobInfo",
    "BlobStore",
    "canonical_artifact_path",
    "copy_files",
    "files_in",
    "files_of",
    "normalize_artifact_path",
    "safe_target",
]
