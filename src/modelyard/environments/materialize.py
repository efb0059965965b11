"""Materialize an environment: a virtual environment built with uv, cached by content hash.

``materialize(env, cache_root)`` returns ``<cache_root>/<hash>``, building it first if it is
not there. A build happens in a temporary sibling folder (uv makes the venv relocatable),
installs exactly the lock, writes a marker file holding the hash, and is renamed into place
in one step: a folder named by a hash is always complete. A cache hit only reads the marker.

Processes that materialize the same environment at once take turns on
``<cache_root>/<hash>.lock``; the one that waited finds the marker and builds nothing. A
failed build leaves nothing behind but that lock file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from modelyard.environments.export import to_requirements
from modelyard.environments.hashing import environment_hash
from modelyard.environments.models import Environment
from modelyard.environments.uv_runner import UvFailed, missing_python_hint, run_uv
from modelyard.errors import InvalidInput

log = logging.getLogger(__name__)

MARKER = ".modelyard-environment"
LOCK_FILE = "modelyard-requirements.txt"


def python_executable(path: str | os.PathLike[str]) -> Path:
    """The Python interpreter of a materialized environment."""
    if sys.platform == "win32":
        return Path(path) / "Scripts" / "python.exe"
    return Path(path) / "bin" / "python"


def _key(env: Environment, extra: Sequence[str]) -> str:
    """The cache folder's name: the environment's hash, or with requirements installed on
    top (a serving environment adds Modelyard), a hash of both. A requirement naming a
    file names it by a path that holds the file's hash, so new content is a new key."""
    if not extra:
        return env.hash
    return hashlib.sha256("\n".join([env.hash, *extra]).encode()).hexdigest()


def cached_path(
    env: Environment, cache_root: str | os.PathLike[str], extra: Sequence[str] = ()
) -> Path | None:
    """The environment's folder if it is already materialized (its marker names its key)."""
    key = _key(env, extra)
    target = Path(cache_root) / key
    try:
        marker = (target / MARKER).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None
    return target if marker.strip() == key else None


def materialize(
    env: Environment, cache_root: str | os.PathLike[str], extra: Sequence[str] = ()
) -> Path:
    """The folder of a virtual environment with exactly ``env``'s lock, built if needed.

    ``extra`` requirements are installed on top, with what they require (a deployment's
    environment gets the running Modelyard this way, to serve from); they are part of the
    cache key.
    """
    hit = cached_path(env, cache_root, extra)
    if hit is not None:
        return hit
    from filelock import FileLock, Timeout  # only builds need it

    key = _key(env, extra)
    root = Path(cache_root)
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / f"{key}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for another process to build environment %s", env.ref)
        lock.acquire()
    try:
        hit = cached_path(env, root, extra)
        if hit is not None:
            return hit
        return _build(env, root, key, extra)
    finally:
        lock.release()


def _build(env: Environment, root: Path, key: str, extra: Sequence[str]) -> Path:
    actual = environment_hash(env.python, env.lock)
    if actual != env.hash:
        raise InvalidInput(
            f"environment {env.ref} says its hash is {env.hash} but its content hashes to "
            f"{actual}: the record was altered; register the environment again"
        )
    target = root / key
    _remove_leftovers(root, target)
    building = root / f".{key}.tmp-{uuid.uuid4().hex[:12]}"
    log.info("building environment %s (%s) in %s", env.ref, env.hash[:12], target)
    try:
        _run(env, ["venv", str(building), "--python", env.python, "--relocatable", "--no-project"])
        python = str(python_executable(building))
        if env.lock:
            requirements = building / LOCK_FILE
            requirements.write_text(to_requirements(env), encoding="utf-8")
            _run(env, ["pip", "sync", str(requirements), "--python", python])
        if extra:
            _run(env, ["pip", "install", *extra, "--python", python])
        (building / MARKER).write_text(key + "\n", encoding="ascii")
        os.rename(building, target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return target


def _remove_leftovers(root: Path, target: Path) -> None:
    """Remove what a killed build left: temporary folders, a target without its marker.

    Only called while holding the hash's lock, so no other process is building them.
    """
    for stale in root.glob(f".{target.name}.tmp-*"):
        log.warning("removing the unfinished build %s", stale)
        shutil.rmtree(stale, ignore_errors=True)
    if target.exists():
        log.warning("removing %s: it has no valid marker", target)
        shutil.rmtree(target)


def _run(env: Environment, args: list[str]) -> None:
    try:
        run_uv(args)
    except UvFailed as exc:
        hint = (
            missing_python_hint(env.python)
            if exc.missing_python
            else "Check that every locked package exists for this platform and Python "
            "version, or register the environment with a lock that does"
        )
        raise InvalidInput(
            f"cannot build environment {env.ref} for Python {env.python}: {exc.message}. {hint}",
            details={"uv": exc.message, "environment": env.ref, "hash": env.hash},
        ) from None
