"""``EnvironmentsClient``: declare, look up, capture, materialize and export environments.

Resolving a spec and building a virtual environment happen on this machine (with uv); the
registered record lives in whichever backend ``MODELYARD_URI`` names. Reach it as
``Client().environments``.
"""

from __future__ import annotations

import builtins
import os
import re
from pathlib import Path

from modelyard.config import Settings
from modelyard.core.backend import Backend
from modelyard.environments import operations as ops
from modelyard.environments.capture import DEFAULT_NAME, capture
from modelyard.environments.export import render
from modelyard.environments.materialize import cached_path, materialize
from modelyard.environments.models import (
    Environment,
    EnvironmentSource,
    EnvironmentSpec,
    FindEnvironmentByHash,
    GetEnvironment,
    ListEnvironments,
    RegisterEnvironment,
)
from modelyard.environments.resolve import pinned_requirements, resolve_spec
from modelyard.environments.spec import load_spec
from modelyard.errors import InvalidInput, NotFound

_HASH = re.compile(r"^[0-9a-fA-F]{64}$")

EnvironmentRef = Environment | str


class EnvironmentsClient:
    """Environments on a backend; materialized ones go under ``settings.resolved_env_cache``."""

    def __init__(self, backend: Backend, settings: Settings) -> None:
        self.backend = backend
        self.settings = settings

    def create(
        self,
        spec: EnvironmentSpec | str | os.PathLike[str],
        *,
        resolve: bool = True,
        reason: str | None = None,
    ) -> Environment:
        """Register a spec (or a YAML file of one): a new version, or the same if unchanged.

        A spec without a lock is resolved here first with uv; ``resolve=False`` registers
        its requirements as the lock instead, which then must pin every package with ``==``.
        """
        if not isinstance(spec, EnvironmentSpec):
            spec = load_spec(spec)
        locked = resolve_spec(spec) if resolve else pinned_requirements(spec)
        return self._register(locked, "spec", reason)

    def capture(
        self, name: str = DEFAULT_NAME, *, description: str | None = None, reason: str | None = None
    ) -> Environment:
        """Register the running interpreter's Python version and installed packages."""
        return self._register(capture(name, description), "capture", reason)

    def _register(
        self, spec: EnvironmentSpec, source: EnvironmentSource, reason: str | None
    ) -> Environment:
        request = RegisterEnvironment(
            name=spec.name,
            python=spec.python,
            requirements=spec.requirements,
            lock=spec.lock or [],
            source=source,
            description=spec.description,
        )
        return self.backend.call(ops.register_environment, request, reason=reason)

    def get(self, name: str, version: int | None = None) -> Environment:
        """An environment by name: the latest version, or ``version``."""
        return self.backend.call(ops.get_environment, GetEnvironment(name=name, version=version))

    def get_by_hash(self, hash: str) -> Environment:
        """The environment with this content hash."""
        request = FindEnvironmentByHash(hash=hash.lower())
        return self.backend.call(ops.find_environment_by_hash, request)

    def list(self, name: str | None = None) -> builtins.list[Environment]:
        """The latest version of every environment, or every version of ``name``."""
        request = ListEnvironments(name=name)
        return self.backend.call(ops.list_environments, request).environments

    def lookup(self, ref: EnvironmentRef) -> Environment:
        """An environment by ``name``, ``name:version`` or hash (or itself)."""
        if isinstance(ref, Environment):
            return ref
        if _HASH.match(ref):
            try:
                return self.get_by_hash(ref)
            except NotFound:
                pass  # a 64-hex-character name is unlikely, but allowed
        name, sep, version = ref.rpartition(":")
        if not sep:
            return self.get(ref)
        if not version.isdigit() or int(version) < 1:
            raise InvalidInput(
                f"'{ref}' is not NAME, NAME:VERSION or a hash: the version after ':' must "
                "be a number such as train:3"
            )
        return self.get(name, int(version))

    def cached(self, ref: EnvironmentRef) -> Path | None:
        """The environment's folder if it is already materialized on this machine."""
        return cached_path(self.lookup(ref), self.settings.resolved_env_cache)

    def materialize(self, ref: EnvironmentRef) -> Path:
        """A virtual environment with exactly the environment's packages (built once)."""
        return materialize(self.lookup(ref), self.settings.resolved_env_cache)

    def export(
        self, ref: EnvironmentRef, fmt: str, dest: str | os.PathLike[str] | None = None
    ) -> str:
        """The environment as ``requirements``, ``conda`` or ``dockerfile``; written to
        ``dest`` when given."""
        text = render(self.lookup(ref), fmt)
        if dest is not None:
            target = Path(dest)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return text
