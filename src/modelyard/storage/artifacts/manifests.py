"""Manifests: a set of files stored as blobs, described by one more blob.

A manifest lists relative paths with their SHA-256 and size (plus any extra fields its
owner adds). Its own hash identifies the whole set: the same files always give the same
manifest. Pipeline step outputs and model versions are both stored this way.

A manifest is data a client uploaded, and its paths later name files written on other
machines, so ``parse_manifest`` is the one door every reader goes through: each path must be
a canonical artifact path (nothing absolute, no "..", no backslash or NUL) and each entry a
SHA-256 and a size, or the manifest is refused with the file and the field that are wrong.

Plain dataclasses and hand-written checks, not pydantic: pipeline step workers read
manifests inside a step's own environment, which need not have pydantic installed.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from modelyard.errors import InvalidInput
from modelyard.storage.artifacts.paths import canonical_artifact_path

__all__ = ["Manifest", "ManifestFile", "manifest_blobs", "manifest_bytes", "parse_manifest"]


@dataclass(frozen=True)
class ManifestFile:
    """One file of a manifest: the blob holding its bytes and their length."""

    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest; owners with extra fields subclass it (pipelines' materializer),
    each extra field a string the manifest must hold."""

    files: dict[str, ManifestFile]


M = TypeVar("M", bound=Manifest)

# What each field must be, in the words of the error a user reads.
_EXPECTED = {
    "sha256": "64 lowercase hexadecimal characters (a SHA-256 digest)",
    "size": "a whole number of bytes, 0 or more",
}


def manifest_bytes(files: dict[str, dict[str, Any]], **extra: Any) -> bytes:
    """The canonical JSON of a manifest (sorted keys, no spaces)."""
    return json.dumps({**extra, "files": files}, sort_keys=True, separators=(",", ":")).encode()


def _refuse(sha256: str, message: str, **details: Any) -> InvalidInput:
    return InvalidInput(f"manifest {sha256}: {message}", details={"manifest": sha256, **details})


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _entry(sha256: str, path: str, entry: dict[str, Any]) -> ManifestFile:
    """One file's entry, strictly typed: a size of "12" or true is a broken writer."""
    for field in ("sha256", "size"):
        if field not in entry:
            raise _refuse(sha256, f"file {path!r}: {field} is missing", path=path, field=field)
    digest, size = entry["sha256"], entry["size"]
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise _refuse(
            sha256,
            f"file {path!r}: sha256 must be {_EXPECTED['sha256']}, not {digest!r}",
            path=path,
            field="sha256",
        )
    if type(size) is not int or size < 0:
        raise _refuse(
            sha256,
            f"file {path!r}: size must be {_EXPECTED['size']}, not {size!r}",
            path=path,
            field="size",
        )
    return ManifestFile(digest, size)


def _check_files(sha256: str, files: dict[str, Any]) -> None:
    for path, entry in files.items():
        try:
            canonical_artifact_path(path)
        except InvalidInput as exc:
            problem = exc.details["problem"]
            raise _refuse(
                sha256,
                f"file {path!r}: {problem}; {exc.details['remedy']}",
                path=path,
                problem=problem,
            ) from None
        if not isinstance(entry, dict):
            raise _refuse(
                sha256,
                f"file {path!r}: expected an object with sha256 and size, "
                f"not {type(entry).__name__}",
                path=path,
                field="entry",
            )
    # "a" and "a/b" cannot both be files: writing the second would find a file in its way.
    folders = {path.rsplit("/", n)[0] for path in files for n in range(1, path.count("/") + 1)}
    clash = sorted(folders & files.keys())
    if clash:
        raise _refuse(
            sha256,
            f"{clash[0]!r} is listed as a file and as the folder of other files",
            path=clash[0],
        )


@overload
def parse_manifest(data: bytes, sha256: str) -> Manifest: ...
@overload
def parse_manifest(data: bytes, sha256: str, kind: type[M]) -> M: ...
def parse_manifest(data: bytes, sha256: str, kind: type[Manifest] = Manifest) -> Manifest:
    """The manifest in ``data`` (the blob ``sha256``), or ``InvalidInput`` naming what is wrong.

    ``kind`` is the owner's subclass when its manifests carry fields of their own.
    """
    try:
        raw = json.loads(data)
    except ValueError:
        raise _refuse(sha256, "the blob is not a manifest (not JSON)") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("files"), dict):
        raise _refuse(sha256, "the blob is not a manifest (no 'files' mapping)")
    _check_files(sha256, raw["files"])
    files = {path: _entry(sha256, path, entry) for path, entry in raw["files"].items()}
    extra = {}
    for field in dataclasses.fields(kind):
        if field.name == "files":
            continue
        value = raw.get(field.name)
        if not isinstance(value, str):
            problem = "is missing" if value is None else f"must be a string, not {value!r}"
            raise _refuse(sha256, f"{field.name} {problem}", field=field.name)
        extra[field.name] = value
    return kind(files=files, **extra)


def manifest_blobs(manifest_sha: str, manifest: Manifest) -> list[str]:
    """Every blob the set needs: the manifest itself and each file."""
    return [manifest_sha, *(f.sha256 for f in manifest.files.values())]
