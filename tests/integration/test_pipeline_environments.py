"""A step runs in its own materialized environment, not in the runner's interpreter."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from modelyard.client.client import Client
from modelyard.core.backend import open_local_backend
from modelyard.environments.models import EnvironmentSpec
from modelyard.errors import InvalidInput
from modelyard.pipelines import manifests
from modelyard.pipelines.loader import load_pipeline
from modelyard.pipelines.runner import run_pipeline
from modelyard.tracking.models import RunStatus
from tests.conftest import make_settings

PIPELINE = """
import sys

import modelyard


@modelyard.step(environment="{env}")
def where(n: int = 1) -> dict:
    import six  # only in the step's environment

    return {{"python": sys.executable, "six": six.__version__, "n": n}}


@modelyard.pipeline
def envpipe(n: int = 1):
    return where(n=n)
"""


@pytest.mark.slow
def test_a_step_runs_in_its_environment(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, env_cache=tmp_path / "envs")
    backend = open_local_backend(settings)
    try:
        client = Client(settings=settings, backend=backend)
        env = client.environments.create(
            EnvironmentSpec(name="six-env", python="3.11", requirements=["six==1.16.0"]),
            resolve=False,
        )
        module = tmp_path / "envpipe.py"
        module.write_text(textwrap.dedent(PIPELINE.format(env="six-env")))
        result = run_pipeline(
            load_pipeline(str(module)), backend=backend, env_cache=settings.resolved_env_cache
        )
        assert result.status == RunStatus.FINISHED, result.steps
        step = result.steps["where"]
        assert step.environment_hash == env.hash
        folder = tmp_path / "out"
        manifests.fetch_folder(backend.blobs, step.outputs["output"].manifest, folder)
        value = json.loads((folder / "value.json").read_text())
        assert value["six"] == "1.16.0"
        assert value["python"].startswith(str(settings.resolved_env_cache))
        again = run_pipeline(
            load_pipeline(str(module)), backend=backend, env_cache=settings.resolved_env_cache
        )
        assert again.cached == ["where"]
    finally:
        backend.close()


def test_an_unknown_environment_fails_before_anything_runs(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    backend = open_local_backend(settings)
    try:
        module = tmp_path / "envpipe_missing.py"
        module.write_text(textwrap.dedent(PIPELINE.format(env="no-such-env")))
        with pytest.raises(InvalidInput, match="step 'where' uses environment 'no-such-env'"):
            run_pipeline(
                load_pipeline(str(module)), backend=backend, env_cache=settings.resolved_env_cache
            )
        client = Client(settings=settings, backend=backend)
        assert client.pipelines.list() == []  # no run was started
    finally:
        backend.close()
