"""Running pipelines from Python: ``modelyard.run_pipeline(my_pipeline, n_rows=1000)``."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from typing import Any

from modelyard.core.backend import Backend
from modelyard.pipelines import operations as ops
from modelyard.pipelines.definition import PipelineDef
from modelyard.pipelines.dsl import Pipeline
from modelyard.pipelines.executors import Executor
from modelyard.pipelines.models import (
    GetPipeline,
    GetPipelineRun,
    ListPipelineRuns,
    ListPipelines,
    PipelineInfo,
    PipelineRunInfo,
    PipelineSummary,
)
from modelyard.pipelines.runner import PipelineRunResult, StepEvent
from modelyard.pipelines.runner import run_pipeline as _run


def run_pipeline(
    pipeline: Pipeline | PipelineDef,
    params: Mapping[str, Any] | None = None,
    *,
    executor: str | Executor | None = "inline",
    no_cache: bool = False,
    on_event: Callable[[StepEvent], None] | None = None,
    **param_values: Any,
) -> PipelineRunResult:
    """Run a pipeline on the backend MODELYARD_URI names and record it.

    ``executor`` is ``inline`` (default), ``processes[:N]``, ``dask`` (a local cluster) or
    ``dask://host:port``. Parameters come as a mapping or as keyword arguments.
    """
    from modelyard.client.fluent import _current

    session = _current()
    settings = session.client.settings
    return _run(
        pipeline,
        backend=session.client.backend,
        params={**(params or {}), **param_values},
        executor=executor,
        no_cache=no_cache,
        staging_root=settings.home.resolve() / "staging",
        env_cache=settings.resolved_env_cache,
        workspace=settings.workspace,
        on_event=on_event,
    )


class PipelinesClient:
    """Pipeline records on a backend: definitions, runs, step runs."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def list(self) -> builtins.list[PipelineSummary]:
        return self._backend.call(ops.list_pipelines, ListPipelines()).pipelines

    def get(self, name: str) -> PipelineInfo:
        return self._backend.call(ops.get_pipeline, GetPipeline(name=name))

    def runs(self, name: str, max_results: int = 20) -> builtins.list[PipelineRunInfo]:
        request = ListPipelineRuns(pipeline=name, max_results=max_results)
        return self._backend.call(ops.list_pipeline_runs, request).runs

    def get_run(self, run_id: str) -> PipelineRunInfo:
        return self._backend.call(ops.get_pipeline_run, GetPipelineRun(run_id=run_id))
