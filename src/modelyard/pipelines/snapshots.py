"""Code snapshots of pipelines: taken on the user's machine, materialized where they run.

``snapshot_code`` stores the files of a pipeline's code folder as blobs and returns the
manifest and the entry that loads the pipeline from it; ``materialize`` writes a stored
snapshot into a local folder once per snapshot hash (atomically, so a half-written folder
is never used), for a scheduler to run.

What a snapshot holds: every file under the code folder (the pipeline file's own folder
unless another is given), except version-control data, virtual environments, caches and
Modelyard's own store, within ``MAX_SNAPSHOT_FILES`` and ``MAX_SNAPSHOT_BYTES`` so a
pipeline in a home folder is refused rather than uploaded whole. The folder is walked like
every user folder Modelyard stores (``storage/artifacts/folders.py``): a link that stays
inside is followed, one that leaves it is refused.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from modelyard.core.backend import Backend, LocalBackend
from modelyard.errors import InvalidInput
from modelyard.pipelines.models import PipelineVersion
from modelyard.storage.artifacts import files_in, safe_target
from modelyard.storage.artifacts.manifests import manifest_bytes, parse_manifest

MAX_SNAPSHOT_FILES = 2_000
MAX_SNAPSHOT_BYTES = 100 * 1024 * 1024
# Never part of a pipeline's code: version control, environments, caches, stores.
EXCLUDED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "env",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
        "node_modules",
        ".modelyard",
        ".tox",
    }
)
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class Snapshot:
    """A stored code snapshot: its manifest's hash and the entry inside it."""

    manifest: str
    entry: str
    files: int
    size: int


def locate(ref: str, code: Path | None = None) -> tuple[Path, str]:
    """The code folder of a local pipeline reference and the entry relative to it.

    ``FILE.py[:NAME]`` and ``FILE.yaml`` snapshot the file's folder (or ``code``, which
    must contain the file); ``package.module:NAME`` snapshots the top-level package.
    """
    location, sep, name = ref, "", ""
    if ":" in ref and not Path(ref).exists():
        location, sep, name = ref.rpartition(":")
    path = Path(location)
    if path.suffix in (".py", ".yaml", ".yml"):
        if not path.is_file():
            raise InvalidInput(f"pipeline file '{path}' does not exist")
        file = path.resolve()
        root = (code or file.parent).resolve()
        if not file.is_relative_to(root):
            raise InvalidInput(
                f"pipeline file '{path}' is not inside the code folder '{code}': give a "
                "folder that contains it",
                details={"ref": ref},
            )
        return root, f"{file.relative_to(root).as_posix()}{sep}{name}"
    spec = importlib.util.find_spec(location.split(".")[0]) if location else None
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInput(
            f"'{ref}' is neither a .py/.yaml file nor a module of an importable package: "
            "register FILE.py[:NAME], FILE.yaml or package.module:NAME",
            details={"ref": ref},
        )
    package = Path(next(iter(spec.submodule_search_locations))).resolve()
    return package.parent, ref


def store_paths(backend: Backend) -> frozenset[Path]:
    """The files and folders of an embedded store, never part of a code snapshot (a store
    may live in the project folder: ``sqlite:///./m.db``)."""
    if not isinstance(backend, LocalBackend):
        return frozenset()
    found = set()
    if backend.db.dialect == "sqlite":
        database = Path(backend.db.engine.url.database or "").resolve()
        found |= {database.with_name(database.name + end) for end in ("", "-wal", "-shm")}
        found.add(database.with_name(database.name + "-journal"))
    if "://" not in backend.blobs.root:
        found.add(Path(backend.blobs.root).resolve())
    return frozenset(found)


def _code_files(root: Path, store: frozenset[Path]) -> dict[str, Path]:
    def skip(rel: str, path: Path) -> bool:
        name = path.name
        return name in EXCLUDED_DIRS or name.endswith(EXCLUDED_SUFFIXES) or path.absolute() in store

    # The one walk of a user's folder: a link that leaves it is refused, naming the link.
    found = dict(files_in(root, skip=skip))
    total = sum(path.stat().st_size for path in found.values())
    if len(found) > MAX_SNAPSHOT_FILES or total > MAX_SNAPSHOT_BYTES:
        raise InvalidInput(
            f"the pipeline's code folder {root} holds {len(found)} files ({total:,} bytes), "
            f"more than a snapshot takes ({MAX_SNAPSHOT_FILES} files, "
            f"{MAX_SNAPSHOT_BYTES // (1024 * 1024)} MiB): give a smaller folder with --code "
            "(data belongs in the pipeline's inputs)",
            details={"root": str(root), "files": len(found), "bytes": total},
        )
    return found


def snapshot_code(backend: Backend, root: Path, entry: str) -> Snapshot:
    """Store every code file under ``root`` and the manifest that lists them."""
    files = {}
    size = 0
    for rel, path in _code_files(root.resolve(), store_paths(backend)).items():
        blob = backend.put_blob(path)
        files[rel] = {"sha256": blob.sha256, "size": blob.size}
        size += blob.size
    manifest = backend.put_blob_bytes(manifest_bytes(files)).sha256
    return Snapshot(manifest, entry, len(files), size)


def materialize(backend: Backend, version: PipelineVersion, cache_root: Path) -> Path:
    """The folder holding the version's snapshot, written once per snapshot hash."""
    final = cache_root / version.snapshot
    if final.is_dir():
        return final
    cache_root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{version.snapshot[:12]}-", dir=cache_root))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            listing = Path(tmp) / "manifest.json"
            backend.get_blob(version.snapshot, listing)
            # Checked again here: the store's copy is what this machine is about to run.
            manifest = parse_manifest(listing.read_bytes(), version.snapshot)
        for rel, entry in manifest.files.items():
            backend.get_blob(entry.sha256, safe_target(partial, rel))
        try:
            os.replace(partial, final)
        except OSError:
            if not final.is_dir():  # not another process that finished first
                raise
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    return final
