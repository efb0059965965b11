"""The environments steps run in: resolved by name, materialized before the run starts.

An unknown environment is an error naming the step, raised before any step runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from modelyard.core.backend import Backend
from modelyard.errors import InvalidInput, NotFound
from modelyard.pipelines.definition import PipelineDef


@dataclass(frozen=True, slots=True)
class StepEnvironment:
    hash: str
    python: str
    bin: str


def resolve_environments(
    backend: Backend, definition: PipelineDef, cache_root: Path | None
) -> Mapping[str, StepEnvironment]:
    """For each node with an environment: its hash and materialized interpreter."""
    wanted = {n.name: n.step.environment for n in definition.nodes if n.step.environment}
    if not wanted:
        return {}
    # uv and virtual environments are needed only when a step names an environment.
    from modelyard.environments.materialize import materialize, python_executable
    from modelyard.environments.models import GetEnvironment
    from modelyard.environments.operations import get_environment

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
