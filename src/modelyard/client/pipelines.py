"""``PipelinesClient``: pipeline definitions, runs and step runs on any backend."""

from __future__ import annotations

import builtins
import os
from pathlib import Path

from modelyard.core.backend import Backend
from modelyard.pipelines import operations as ops
from modelyard.pipelines import registered, snapshots
from modelyard.pipelines.loader import load_pipeline
from modelyard.pipelines.models import (
    GetPipeline,
    GetPipelineRun,
    ListPipelineRuns,
    ListPipelines,
    ListPipelineVersions,
    PipelineInfo,
    PipelineRunInfo,
    PipelineSummary,
    PipelineVersion,
    RegisterPipeline,
    ResolvePipelineRef,
)


class PipelinesClient:
    """Pipeline records on a backend: registered versions, definitions, runs, step runs."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def register(
        self,
        ref: str,
        *,
        code: str | os.PathLike[str] | None = None,
        description: str | None = None,
        reason: str | None = None,
    ) -> PipelineVersion:
        """Register the pipeline ``ref`` names here (``FILE.py[:NAME]``, ``FILE.yaml`` or
        ``package.module:NAME``) with a snapshot of its code, so schedules and triggers can
        run it: a new version, or the latest one if the code and entry are unchanged.

        The snapshot holds the pipeline file's folder, or ``code`` (a folder containing it).
        """
        root, entry = snapshots.locate(ref, Path(code) if code is not None else None)
        definition = load_pipeline(ref)
        snapshot = snapshots.snapshot_code(self._backend, root, entry)
        request = RegisterPipeline(
            name=definition.name,
            snapshot=snapshot.manifest,
            entry=snapshot.entry,
            definition=definition.describe(),
            definition_hash=definition.definition_hash,
            description=description or definition.description,
        )
        return self._backend.call(registered.register_pipeline, request, reason=reason)

    def versions(self, name: str) -> builtins.list[PipelineVersion]:
        """Every registered version of a pipeline, newest first."""
        request = ListPipelineVersions(name=name)
        return self._backend.call(registered.list_pipeline_versions, request).versions

    def version(self, ref: str) -> PipelineVersion:
        """The registered version ``NAME`` (latest) or ``NAME:VERSION`` means now."""
        request = ResolvePipelineRef(ref=ref)
        return self._backend.call(registered.resolve_pipeline_ref, request)

    def list(self) -> builtins.list[PipelineSummary]:
        return self._backend.call(ops.list_pipelines, ListPipelines()).pipelines

    def get(self, name: str) -> PipelineInfo:
        return self._backend.call(ops.get_pipeline, GetPipeline(name=name))

    def runs(self, name: str, max_results: int = 20) -> builtins.list[PipelineRunInfo]:
        request = ListPipelineRuns(pipeline=name, max_results=max_results)
        return self._backend.call(ops.list_pipeline_runs, request).runs

    def get_run(self, run_id: str) -> PipelineRunInfo:
        return self._backend.call(ops.get_pipeline_run, GetPipelineRun(run_id=run_id))
