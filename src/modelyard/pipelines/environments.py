"""The environments steps run in: resolved by name, materialized before the run starts.

A step that names no environment runs in the running interpreter's (captured once per
process, ``environments.current``): its hash is part of the step's cache key and recorded
on its step run like a named environment's, so upgrading a library in the venv reruns it.
An unknown environment is an error naming the step, raised before any step runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from modelyard.core.backend import Backend
from modelyard.environments.current import register_current
from modelyard.environments.models import GetEnvironment
from modelyard.environments.operations import get_environment
from modelyard.errors import InvalidInput, NotFound
from modelyard.pipelines.definition import PipelineDef


@dataclass(frozen=True, slots=True)
class StepEnvironment:
    """The environment of one step: its hash, and the interpreter to run it with (None:
    this one)."""

    hash: str
    python: str | None = None
    bin: str | None = None


def resolve_environments(
    backend: Backend, definition: PipelineDef, cache_root: Path | None
) -> Mapping[str, StepEnvironment]:
    """For each node: its environment's hash and, for a named one, its materialized
    interpreter."""
    resolved = _named_environments(backend, definition, cache_root)
    if len(resolved) < len(definition.nodes):
        here = StepEnvironment(register_current(backend))
        resolved.update({n.name: here for n in definition.nodes if n.name not in resolved})
    return resolved


def _named_environments(
    backend: Backend, definition: PipelineDef, cache_root: Path | None
) -> dict[str, StepEnvironment]:
    wanted = {n.name: n.step.environment for n in definition.nodes if n.step.environment}
    if not wanted:
        return {}
    # uv and virtual environments are needed only when a step names an environment.
    from modelyard.environments.materialize import materialize, python_executable

    if cache_root is None:
        raise InvalidInput("steps with environments need an environment cache folder")
    resolved: dict[str, StepEnvironment] = {}
    by_name: dict[str, StepEnvironment] = {}
    for node, ref in wanted.items():
        if ref not in by_name:
            name, _, version = ref.partition(":")
            try:
                env = backend.call(
                    get_environment,
                    GetEnvironment(
                        name=name,
                        version=int(version) if version.isdigit() else None,
                    ),
                )
            except NotFound:
                raise InvalidInput(
                    f"step '{node}' uses environment '{ref}', which is not registered: "
                    "create it with `modelyard env create FILE`",
                    details={"step": node, "environment": ref},
                ) from None
            venv = materialize(env, cache_root)
            python = python_executable(venv)
            by_name[ref] = StepEnvironment(env.hash, str(python), str(Path(python).parent))
        resolved[node] = by_name[ref]
    return resolved
