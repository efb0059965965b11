"""Manifests: a set of files stored as blobs, described by one more blob.

A manifest lists relative paths with their SHA-256 and size (plus any extra fields its
owner adds). Its own hash identifies the whole set: the same files always give the same
manifest. Pipeline step outputs and model versions are both stored this way.
"""

from __future__ import annotations

import json
from typing import Any

from modelyard.errors import InvalidInput


def manifest_bytes(files: dict[str, dict[str, Any]], **extra: Any) -> bytes:
    """The canonical JSON of a manifest (sorted keys, no spaces)."""
    return json.dumps({**extra, "files": files}, sort_keys=True, separators=(",", ":")).encode()


def parse_manifest(data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except ValueError:
        raise InvalidInput("the blob is not a manifest (not JSON)") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise InvalidInput("the blob is not a manifest (no 'files' mapping)")
    return manifest


def manifest_blobs(manifest_sha: str, manifest: dict[str, Any]) -> list[str]:
    """Every blob the set needs: the manifest itself and each file."""
    return [manifest_sha, *(f["sha256"] for f in manifest["files"].values())]
