"""Artifact storage: content-addressed blobs and the rules for artifact paths.

The per-run index (run -> artifact path -> sha256) lives in the metadata database; this package
stores the bytes and decides which artifact paths are acceptable.
"""

from modelyard.storage.artifacts.blobs import BlobInfo, BlobStore
from modelyard.storage.artifacts.paths import normalize_artifact_path

__all__ = ["BlobInfo", "BlobStore", "normalize_artifact_path"]
