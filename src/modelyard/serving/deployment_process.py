"""A deployment's process: one registered version served on one port, as the supervisor asks.

The supervisor starts ``python -m modelyard.serving.deployment_process`` with a
``DeploymentLaunch`` (in ``MODELYARD_DEPLOYMENT``) and the store's settings in the
environment. The process runs in two stages:

1. In the supervisor's interpreter it resolves the version, downloads its files into a
   folder of its own, and finds the interpreter to serve from: the version's environment,
   materialized with the running Modelyard installed into it (``MODELYARD_SERVE_ENVIRONMENT
   =version``, the default, when the version records one), or this interpreter
   (``current``). The training run, the pipeline steps and the deployment then share one
   environment (DESIGN capability C2).
2. Replaced (``exec``) by that interpreter, it serves the folder with the scoring server;
   it needs the store no more. Its folder is removed when it exits.

No command line is parsed: the configuration is the validated ``DeploymentLaunch``, so an
error names the field that was wrong, never an option of a command.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

from pydantic import BaseModel, Field

from modelyard.config import Settings, get_settings
from modelyard.core.backend import Backend, open_backend
from modelyard.environments import operations as env_ops
from modelyard.environments.materialize import materialize, python_executable
from modelyard.environments.models import FindEnvironmentByHash
from modelyard.environments.modelyard_wheel import DISTRIBUTION, modelyard_wheel
from modelyard.errors import ModelyardError
from modelyard.registry.loading import fetch_version
from modelyard.registry.models import ModelVersion
from modelyard.serving.models import DeploymentConfig, DeploymentName, EndpointName, Workers
from modelyard.serving.server import ServeOptions, serve_model

log = logging.getLogger("modelyard.serving.deployment")

LAUNCH_ENV = "MODELYARD_DEPLOYMENT"
# Not __name__: run with -m, this module is __main__.
MODULE = "modelyard.serving.deployment_process"


class DeploymentLaunch(BaseModel):
    """What one deployment process serves, and how."""

    endpoint: EndpointName
    deployment: DeploymentName
    model_uri: str = Field(min_length=1, max_length=1100)
    port: int = Field(ge=1, le=65535)
    workers: Workers
    config: DeploymentConfig = Field(default_factory=DeploymentConfig)
    # Filled in by the first stage for the second.
    folder: str | None = None
    version: ModelVersion | None = None

    def options(self) -> ServeOptions:
        return ServeOptions(
            port=self.port,
            workers=self.workers,
            batching=self.config.batching,
            log_level="warning",
            log_sample_rate=self.config.sample_rate,
            endpoint=self.endpoint,
            deployment=self.deployment,
        )


def command() -> list[str]:
    """How the supervisor starts a deployment process (the launch goes in ``LAUNCH_ENV``)."""
    return [sys.executable, "-m", MODULE]


def serving_interpreter(backend: Backend, version: ModelVersion, settings: Settings) -> str:
    """The Python that serves ``version``: its environment's, with Modelyard added, or this
    one's when the setting says so or the version records no environment."""
    if settings.serve_environment == "current" or version.environment_hash is None:
        return sys.executable
    environment = backend.call(
        env_ops.find_environment_by_hash, FindEnvironmentByHash(hash=version.environment_hash)
    )
    built = modelyard_wheel()
    # Under its hash: the same file name holds other code after an upgrade.
    wheel = built.write_to(settings.resolved_env_cache / "wheels" / built.sha256[:16])
    # The scoring server's own libraries come with the "serve" extra.
    modelyard = f"{DISTRIBUTION}[serve] @ {wheel.as_uri()}"
    log.info("serving %s in environment %s", version.uri, environment.ref)
    venv = materialize(environment, settings.resolved_env_cache, [modelyard])
    return str(python_executable(venv))


def _prepare(launch: DeploymentLaunch, settings: Settings) -> tuple[DeploymentLaunch, str]:
    folder = (
        settings.home.resolve()
        / "serving"
        / "models"
        / (f"{launch.endpoint}-{launch.deployment}-{launch.port}")
    )
    shutil.rmtree(folder, ignore_errors=True)  # a previous process's, on this same port
    backend = open_backend(settings)
    try:
        version, files = fetch_version(backend, launch.model_uri, folder)
        python = serving_interpreter(backend, version, settings)
    finally:
        backend.close()
    return launch.model_copy(update={"folder": str(files), "version": version}), python


def _serve(launch: DeploymentLaunch) -> None:
    assert launch.folder is not None  # the first stage filled it in
    folder = Path(launch.folder)
    try:
        serve_model(folder, launch.version, launch.options())
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if LAUNCH_ENV not in os.environ:
        sys.exit(
            f"{MODULE} serves a deployment for modelyard supervisor, which sets {LAUNCH_ENV}; "
            "to serve a model yourself, run: modelyard serve MODEL_URI"
        )
    launch = DeploymentLaunch.model_validate_json(os.environ[LAUNCH_ENV])
    if launch.folder is not None:
        _serve(launch)
        return
    try:
        launch, python = _prepare(launch, get_settings())
    except ModelyardError as exc:  # one readable line in the deployment's log, then exit 2
        log.error(
            "deployment %s/%s (%s) cannot start: %s",
            launch.endpoint,
            launch.deployment,
            launch.model_uri,
            exc,
        )
        sys.exit(2)
    if Path(python) == Path(sys.executable):
        _serve(launch)
        return
    # The version's own interpreter takes this process over: same pid, so the supervisor
    # keeps supervising it, and it imports nothing of this interpreter's packages.
    env = {**os.environ, LAUNCH_ENV: launch.model_dump_json()}
    env.pop("PYTHONPATH", None)
    os.execve(python, [python, "-m", MODULE], env)


if __name__ == "__main__":
    main()
