"""``PipelinesClient``: pipeline definitions, runs and step runs on any backend."""

from __future__ import annotations

import builtins

from modelyard.core.backend import Backend
from modelyard.pipelines import operations as ops
from modelyard.pipelines.models import (
    GetPipeline,
    GetPipelineRun,
    ListPipelineRuns,
    ListPipelines,
    PipelineInfo,
    PipelineRunInfo,
    PipelineSummary,
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
