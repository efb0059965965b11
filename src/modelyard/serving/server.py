"""Run the scoring server: one process, or N uvicorn workers that share the port.

The model is resolved once, by the caller, into a local folder: a downloaded version, a
package written by ``modelyard model package`` (verified against its manifest first: a
tampered package is refused) or a folder saved by ``modelyard.models.save``. Each worker
loads it from there. Workers are uvicorn's: its supervisor restarts one that dies. They
get their configuration from the environment (``MODELYARD_SERVING_WORKER``), since a
uvicorn worker process receives nothing but the app's import string. Each worker keeps its
own inference log, writing files named after its host and process.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from modelyard.config import DEFAULT_MAX_REQUEST_BYTES, Settings, get_settings
from modelyard.core.operations import Request, invalid_input
from modelyard.errors import InvalidInput
from modelyard.registry.flavors import DESCRIPTOR, describe, read_descriptor
from modelyard.registry.loading import LoadedModel, load_folder
from modelyard.registry.models import ModelVersion
from modelyard.registry.packaging import MANIFEST, MODEL_DIR, verify_package
from modelyard.serving.inference_log import InferenceLog, LogObserver, default_endpoint
from modelyard.serving.limits import WORKERS
from modelyard.serving.models import Batching, DeploymentName, EndpointName, Workers

if TYPE_CHECKING:
    from starlette.applications import Starlette

log = logging.getLogger("modelyard.serving")

WORKER_ENV = "MODELYARD_SERVING_WORKER"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class InferenceLogConfig(BaseModel):
    """Where and how much a worker logs, and under which endpoint and deployment."""

    root: str
    storage_options: dict[str, Any] = Field(default_factory=dict)
    sample_rate: float = Field(default=0.0, ge=0, le=1)
    endpoint: EndpointName = "default"
    deployment: DeploymentName = "default"
    queue_size: int = Field(default=10_000, ge=1)
    flush_rows: int = Field(default=1_000, ge=1)
    flush_seconds: float = Field(default=10.0, gt=0)

    def open(self, model: dict[str, str], observer: LogObserver | None) -> InferenceLog:
        """The log of a worker serving the model labelled ``model`` (name, version)."""
        version = model.get("version", "")
        return InferenceLog(
            self.root,
            endpoint=self.endpoint,
            deployment=self.deployment,
            # A plain folder is no registered version: no model name, version 0.
            model=model.get("name") if version else None,
            version=int(version) if version.isdigit() else 0,
            sample_rate=self.sample_rate,
            storage_options=self.storage_options,
            queue_size=self.queue_size,
            flush_rows=self.flush_rows,
            flush_seconds=self.flush_seconds,
            observer=observer,
        )


def plan_inference_log(
    model: dict[str, str],
    *,
    sample_rate: float = 0.0,
    root: str | None = None,
    endpoint: str | None = None,
    deployment: str = "default",
    settings: Settings | None = None,
) -> InferenceLogConfig:
    """The inference log of a server for ``model``: under the configured artifact root
    unless ``root`` is given, named after the model unless ``endpoint`` is."""
    settings = settings or get_settings()
    root = root or settings.resolved_artifact_root
    options = settings.storage_options(root)
    try:
        return InferenceLogConfig(
            root=root,
            storage_options=options,
            sample_rate=sample_rate,
            endpoint=endpoint or default_endpoint(model.get("name", "")),
            deployment=deployment,
        )
    except ValidationError as exc:
        raise invalid_input(exc, "inference log") from None


class WorkerConfig(BaseModel):
    """What each worker needs to load the model and serve it."""

    folder: Path
    version: ModelVersion | None = None
    # A package's record of whether the version was registered trusted (pickle allowed).
    trusted: bool | None = None
    model: dict[str, str]
    batching: Batching = Field(default_factory=Batching)
    multiprocess_dir: Path | None = None
    inference_log: InferenceLogConfig | None = None
    max_request_bytes: Annotated[int, Field(ge=1)] = DEFAULT_MAX_REQUEST_BYTES


def plan_source(folder: Path, version: ModelVersion | None = None, **options: Any) -> WorkerConfig:
    """The worker configuration for ``folder``; refuses a tampered package or a folder that
    holds no model, before any worker starts."""
    if version is not None:
        labels = {"name": version.model, "version": str(version.version), "uri": version.uri}
        describe(folder, version.flavor, uri=version.uri)
        return WorkerConfig(folder=folder, version=version, model=labels, **options)
    if (folder / MANIFEST).is_file():
        problems = verify_package(folder)
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise InvalidInput(
                f"'{folder}' does not match its {MANIFEST}, refusing to serve it: "
                + "; ".join(problems[:3])
                + more,
                details={"problems": problems},
            )
        recorded = json.loads((folder / MANIFEST).read_bytes()).get("model") or {}
        labels = {
            "name": str(recorded.get("name", "")),
            "version": str(recorded.get("version", "")),
            "uri": str(recorded.get("uri", "")),
        }
        model_dir = folder / MODEL_DIR
        read_descriptor(model_dir)
        trusted = bool(recorded.get("trusted", False))
        return WorkerConfig(folder=model_dir, trusted=trusted, model=labels, **options)
    if (folder / DESCRIPTOR).is_file():
        read_descriptor(folder)
        labels = {"name": folder.name, "version": "", "uri": str(folder)}
        return WorkerConfig(folder=folder, model=labels, **options)
    raise InvalidInput(
        f"'{folder}' is neither a package (no {MANIFEST}) nor a saved model (no {DESCRIPTOR}): "
        "serve models:/NAME@ALIAS, a folder from `modelyard model package`, or a saved model"
    )


def load_served(config: WorkerConfig) -> LoadedModel:
    """Load the model ``config`` names, as a worker does at startup (a package's pickle
    only if its version was registered trusted: ``flavors.load_model`` decides)."""
    return load_folder(config.folder, config.version, trusted=config.trusted)


def build_app(config: WorkerConfig) -> Starlette:
    """The scoring app for ``config``; it loads the model at startup.

    A single process loads in the background (``/healthz`` answers meanwhile); one of
    several workers loads before it accepts connections, so a worker that replaces a dead
    one takes no request its siblings could have answered at once.
    """
    # Batch scoring imports this module and never needs the HTTP app (Starlette).
    from modelyard.serving.app import create_app

    return create_app(
        lambda: load_served(config),
        model=config.model,
        batching=config.batching,
        multiprocess_dir=config.multiprocess_dir,
        load_before_serving=config.multiprocess_dir is not None,
        max_request_bytes=config.max_request_bytes,
        inference_log=(
            partial(config.inference_log.open, config.model)
            if config.inference_log is not None
            else None
        ),
    )


def app_from_environment() -> Starlette:
    """The app factory uvicorn's worker processes call (configured by the parent)."""
    raw = os.environ.get(WORKER_ENV)
    if not raw:
        raise InvalidInput(f"{WORKER_ENV} is not set: start workers with `modelyard serve`")
    return build_app(WorkerConfig.model_validate_json(raw))


@contextmanager
def _worker_environment(config: WorkerConfig) -> Iterator[None]:
    """Set the variables the workers inherit, and put the previous values back after."""
    values = {WORKER_ENV: config.model_dump_json(), MULTIPROC_ENV: str(config.multiprocess_dir)}
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    # uvicorn re-raises the SIGTERM it handled once it has shut down; by default that ends
    # the process at once, and the caller's temporary folders would stay behind.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class ServeOptions(Request):
    """How a scoring server runs: its address, workers, batching, logs and limits.

    Bounds and defaults are written here once; ``modelyard serve`` reads its options from
    it, and the supervisor's deployments pass it whole.
    """

    host: Annotated[str, Field(min_length=1, max_length=253)] = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 5001
    workers: Workers = int(WORKERS.default)
    batching: Batching = Field(default_factory=Batching)
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"
    access_log: bool = False
    # The inference log: the share of requests it keeps, where, under which names.
    log_sample_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    log_root: str | None = None
    endpoint: EndpointName | None = None
    deployment: DeploymentName = "default"
    # A body over this is refused with 413 (None: MODELYARD_MAX_REQUEST_BYTES).
    max_request_bytes: Annotated[int, Field(ge=1)] | None = None


def serve_model(
    folder: Path, version: ModelVersion | None = None, options: ServeOptions | None = None
) -> None:
    """Serve the model in ``folder`` until interrupted.

    ``folder`` is a package, a saved model folder, or (with ``version``) the downloaded
    files of that registered version. One worker runs in this process; more run as uvicorn
    worker processes sharing the port, restarted if they die.

    A share ``log_sample_rate`` of the requests goes to the inference log under
    ``log_root`` (the configured artifact root by default), as ``endpoint`` (the model's
    name by default) and ``deployment``; ``POST /feedback`` writes there too.
    """
    import uvicorn

    options = options or ServeOptions()
    config = plan_source(
        folder,
        version,
        batching=options.batching,
        max_request_bytes=options.max_request_bytes or get_settings().max_request_bytes,
    )
    logging_to = plan_inference_log(
        config.model,
        sample_rate=options.log_sample_rate,
        root=options.log_root,
        endpoint=options.endpoint,
        deployment=options.deployment,
    )
    config = config.model_copy(update={"inference_log": logging_to})
    server: dict[str, Any] = {
        "host": options.host,
        "port": options.port,
        "log_level": options.log_level,
        "access_log": options.access_log,
    }
    if options.workers == 1:
        with _sigterm_as_exit():
            uvicorn.run(build_app(config), **server)
        return
    metrics_dir = Path(tempfile.mkdtemp(prefix="modelyard-serving-metrics-"))
    config = config.model_copy(update={"multiprocess_dir": metrics_dir})
    try:
        with _worker_environment(config):
            uvicorn.run(
                f"{__name__}:app_from_environment",
                factory=True,
                workers=options.workers,
                **server,
            )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
