"""Resolve requirements into a lock that pins every package, with ``uv pip compile``.

The lock is resolved for the spec's Python version on this machine's platform, with an
interpreter of that version (so packages built from source get the right metadata): a
version that is not installed is an error, never a silent fallback to another one.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

from modelyard.environments.hashing import normalize_lock
from modelyard.environments.models import EnvironmentSpec
from modelyard.environments.uv_runner import UvFailed, missing_python_hint, run_uv
from modelyard.errors import InvalidInput

log = logging.getLogger(__name__)


def resolve_requirements(requirements: Sequence[str], python: str) -> list[str]:
    """Pin the requirements and everything they need for Python ``python`` (a lock)."""
    with tempfile.TemporaryDirectory(prefix="modelyard-resolve-") as tmp:
        source = Path(tmp) / "requirements.in"
        source.write_text("".join(f"{r}\n" for r in requirements), encoding="utf-8")
        args = ["pip", "compile", str(source), "--no-header", "--no-annotate"]
        args += ["--python", python, "--python-version", python]
        try:
            output = run_uv(args)
        except UvFailed as exc:
            hint = (
                missing_python_hint(python)
                if exc.missing_python
                else "Check the package names and versions on the package index, "
                "or relax the version constraints"
            )
            raise InvalidInput(
                f"cannot resolve the requirements for Python {python}: {exc.message}. {hint}",
                details={"uv": exc.message, "requirements": list(requirements)},
            ) from None
    lines = [
        line.strip()
        for line in output.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "-"))
    ]
    try:
        lock = normalize_lock(lines)
    except InvalidInput as exc:
        raise InvalidInput(
            f"the requirements resolved to a package that cannot be pinned by version "
            f"({exc.message}); only packages from a package index can be locked"
        ) from None
    log.info("resolved %d requirements to %d pinned packages", len(requirements), len(lock))
    return lock


def resolve_spec(spec: EnvironmentSpec) -> EnvironmentSpec:
    """The spec with a lock: its own if it has one (used as is), else the resolved one."""
    if spec.lock is not None:
        return spec
    lock = resolve_requirements(spec.requirements, spec.python)
    return spec.model_copy(update={"lock": lock})


def pinned_requirements(spec: EnvironmentSpec) -> EnvironmentSpec:
    """The spec with a lock, without resolving: its own, or its requirements if all pinned."""
    if spec.lock is not None:
        return spec
    try:
        lock = normalize_lock(spec.requirements)
    except InvalidInput as exc:
        raise InvalidInput(
            f"environment '{spec.name}' has no lock and is not resolved: {exc.message}. "
            "Resolve it, add a lock, or pin every requirement with =="
        ) from None
    return spec.model_copy(update={"lock": lock})
