"""Modelyard: self-hosted MLOps.

What a user writes in a notebook is here; everything is imported on first use so that
``import modelyard`` costs almost nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Client": "modelyard.client.client",
    "ActiveRun": "modelyard.client.fluent",
    "connect": "modelyard.client.fluent",
    "start_run": "modelyard.client.fluent",
    "end_run": "modelyard.client.fluent",
    "active_run": "modelyard.client.fluent",
    "log_metric": "modelyard.client.fluent",
    "log_metrics": "modelyard.client.fluent",
    "log_param": "modelyard.client.fluent",
    "log_params": "modelyard.client.fluent",
    "set_tag": "modelyard.client.fluent",
    "set_tags": "modelyard.client.fluent",
    "log_artifact": "modelyard.client.fluent",
    "log_artifacts": "modelyard.client.fluent",
    "log_input": "modelyard.client.fluent",
    "flush": "modelyard.client.fluent",
    "Metric": "modelyard.tracking.models",
    "Run": "modelyard.tracking.models",
    "RunStatus": "modelyard.tracking.models",
    "Experiment": "modelyard.tracking.models",
    "ModelyardError": "modelyard.errors",
    "step": "modelyard.pipelines.dsl",
    "pipeline": "modelyard.pipelines.dsl",
    "file": "modelyard.pipelines.dsl",
    "folder": "modelyard.pipelines.dsl",
    "run_pipeline": "modelyard.client.fluent",
    "register_materializer": "modelyard.pipelines.materializers",
    "Materializer": "modelyard.pipelines.materializers",
    "models": "modelyard.models",
}

# Exports that are whole modules (``modelyard.models.load(...)``), not names inside one.
_MODULE_EXPORTS = {"models"}

__all__ = [
    "ActiveRun",
    "Client",
    "Experiment",
    "Materializer",
    "Metric",
    "ModelyardError",
    "Run",
    "RunStatus",
    "__version__",
    "active_run",
    "connect",
    "end_run",
    "file",
    "flush",
    "folder",
    "log_artifact",
    "log_artifacts",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "models",
    "pipeline",
    "register_materializer",
    "run_pipeline",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
]

if TYPE_CHECKING:
    from modelyard import models
    from modelyard.client.client import Client
    from modelyard.client.fluent import (
        ActiveRun,
        active_run,
        connect,
        end_run,
        flush,
        log_artifact,
        log_artifacts,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        run_pipeline,
        set_tag,
        set_tags,
        start_run,
    )
    from modelyard.errors import ModelyardError
    from modelyard.pipelines.dsl import file, folder, pipeline, step
    from modelyard.pipelines.materializers import Materializer, register_materializer
    from modelyard.tracking.models import Experiment, Metric, Run, RunStatus


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelyard' has no attribute '{name}'")
    imported = import_module(module)
    value = imported if name in _MODULE_EXPORTS else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
