"""Run a pipeline: validate, resolve, consult the cache, execute the DAG, record it all.

The runner lives with the caller (a notebook, the CLI, the scheduler) and talks to the
store through a ``Backend``, so the same run works embedded and against a server. Steps
execute on an executor; their outputs go to the blob store through materializers.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from modelyard.core.backend import Backend
from modelyard.errors import InvalidInput, ModelyardError
from modelyard.executors import Executor, make_executor, parse_executor_spec
from modelyard.pipelines import cache
from modelyard.pipelines import operations as ops
from modelyard.pipelines.artifacts import StepArtifacts
from modelyard.pipelines.definition import ExternalInput, Node, PipelineDef, StepOutputRef
from modelyard.pipelines.dsl import Pipeline
from modelyard.pipelines.environments import StepEnvironment, resolve_environments
from modelyard.pipelines.models import (
    CacheLookup,
    FinishPipelineRun,
    RecordStepRun,
    StartPipelineRun,
    StepOutputInfo,
    StepRunInfo,
)
from modelyard.pipelines.worker import Result, Task, execute, portable
from modelyard.tracking.models import DatasetInput, Metric, RunStatus

log = logging.getLogger(__name__)

EventKind = Literal["started", "running", "cached", "finished", "failed", "retrying", "skipped"]


@dataclass(frozen=True, slots=True)
class StepEvent:
    """Progress of one step, for displays."""

    node: str
    kind: EventKind
    detail: str | None = None


@dataclass
class PipelineRunResult:
    run_id: str
    status: RunStatus
    steps: dict[str, StepRunInfo] = field(default_factory=dict)
    outputs: dict[str, StepOutputInfo] = field(default_factory=dict)

    @property
    def cached(self) -> list[str]:
        return [n for n, s in self.steps.items() if s.cache_hit]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class _Attempt:
    node: Node
    task: Task
    parts: dict[str, Any]
    key: str
    reason: str
    inputs: dict[str, str]
    started: int
    attempt: int = 1


class _Run:
    """The state of one pipeline run while it executes."""

    def __init__(
        self,
        definition: PipelineDef,
        params: dict[str, Any],
        backend: Backend,
        executor: Executor,
        artifacts: StepArtifacts,
        environments: Mapping[str, StepEnvironment],
        *,
        no_cache: bool,
        on_event: Callable[[StepEvent], None],
    ) -> None:
        self.definition = definition
        self.params = params
        self.backend = backend
        self.executor = executor
        self.artifacts = artifacts
        self.environments = environments
        self.no_cache = no_cache
        self.on_event = on_event
        self.outputs: dict[str, dict[str, StepOutputInfo]] = {}
        self.external: dict[tuple[str, str], str] = {}
        self.steps: dict[str, StepRunInfo] = {}
        self.run_id = ""

    # preparation ---------------------------------------------------------------------------

    def store_external_inputs(self) -> None:
        """Hash and store every file the pipeline reads from outside, before it starts."""
        for node in self.definition.nodes:
            for name, binding in node.inputs.items():
                if isinstance(binding, ExternalInput):
                    path = Path(binding.path)
                    if not path.exists():
                        raise InvalidInput(
                            f"step '{node.name}': input '{name}' reads "
                            f"'{binding.path}', which does not exist"
                        )
                    self.external[(node.name, name)] = self.artifacts.store_external(path)

    def input_manifests(self, node: Node) -> dict[str, str]:
        manifests = {}
        for name, binding in node.inputs.items():
            if isinstance(binding, StepOutputRef):
                manifests[name] = self.outputs[binding.node][binding.output].manifest
            else:
                manifests[name] = self.external[(node.name, name)]
        return manifests

    # one step ------------------------------------------------------------------------------

    def prepare(self, node: Node) -> _Attempt:
        step = node.step
        params = self.definition.node_params(node, self.params)
        inputs = self.input_manifests(node)
        env = self.environments[node.name]
        parts = cache.key_parts(
            step=step.name,
            code=step.code_hash,
            version=step.version,
            params=params,
            inputs=inputs,
            environment=env.hash,
        )
        task = Task(
            node=node.name,
            step=step.name,
            kind=step.kind,
            params=params,
            inputs=inputs,
            input_types={
                k: spec.type for k in {*step.inputs, *inputs} if (spec := step.input_spec(k))
            },
            outputs={k: v.type for k, v in step.outputs.items()},
            blob_root=self.artifacts.blobs.root,
            storage_options=self.artifacts.blobs.storage_options or None,
            command=step.target if isinstance(step.target, str) else None,
            function=None if isinstance(step.target, str) else step.target,
            code_dir=step.code_dir,
            source_file=step.source_file,
            python=env.python,
            env_bin=env.bin,
            timeout_seconds=step.timeout_seconds,
            # A Python step with a timeout runs in a child process that can be stopped.
            isolated=step.kind == "python" and step.timeout_seconds is not None,
        )
        return _Attempt(node, task, parts, cache.cache_key(parts), "", inputs, _now_ms())

    def try_cache(self, attempt: _Attempt) -> bool:
        step = attempt.node.step
        if self.no_cache or not step.cache:
            attempt.reason = (
                "miss: cache disabled (--no-cache)"
                if self.no_cache
                else "miss: cache disabled for this step"
            )
            return False
        answer = self.backend.call(
            ops.lookup_cache, CacheLookup(cache_key=attempt.key, step=step.name)
        )
        if answer.hit is None:
            if answer.stale_run_id:
                attempt.reason = (
                    f"miss: the outputs of cached run {answer.stale_run_id} no longer exist"
                )
            else:
                attempt.reason = cache.explain_miss(
                    attempt.parts, answer.previous_key_parts, answer.previous_status
                )
            return False
        reason = f"hit: same code, parameters, inputs and environment as run {answer.hit.run_id}"
        for output in answer.hit.outputs.values():
            self.artifacts.pull(output.manifest)
        self.record(
            attempt,
            "FINISHED",
            outputs=answer.hit.outputs,
            cache_hit=True,
            cached_from=answer.hit.run_id,
            reason=reason,
        )
        self.on_event(StepEvent(attempt.node.name, "cached", reason))
        return True

    def record(
        self,
        attempt: _Attempt,
        status: Literal["FINISHED", "FAILED", "SKIPPED"],
        *,
        outputs: dict[str, StepOutputInfo] | None = None,
        cache_hit: bool = False,
        cached_from: str | None = None,
        reason: str | None = None,
        error: str | None = None,
        result: Result | None = None,
    ) -> None:
        node = attempt.node
        request = RecordStepRun(
            pipeline_run_id=self.run_id,
            node=node.name,
            step=node.step.name,
            status=status,
            cache_key=attempt.key or None,
            key_parts=attempt.parts or None,
            cache_hit=cache_hit,
            cached_from=cached_from,
            cache_reason=reason or attempt.reason,
            attempts=0 if cache_hit else attempt.attempt,
            environment_hash=self.environments[node.name].hash,
            params=attempt.task.params,
            inputs=attempt.inputs,
            outputs=outputs or {},
            metrics=[
                Metric(key=k, value=v, step=s) for k, v, s in (result.metrics if result else [])
            ],
            datasets=[DatasetInput.model_validate(d) for d in (result.datasets if result else [])],
            started_at=attempt.started,
            ended_at=_now_ms(),
            error=error,
            log=result.log if result and result.log else None,
        )
        info = self.backend.call(ops.record_step_run, request)
        self.steps[node.name] = info
        if outputs:
            self.outputs[node.name] = outputs

    def finish(self, attempt: _Attempt, result: Result) -> None:
        outputs = {k: StepOutputInfo.model_validate(v) for k, v in result.outputs.items()}
        for output in outputs.values():
            self.artifacts.push(output.manifest)
        self.record(attempt, "FINISHED", outputs=outputs, result=result)
        self.on_event(StepEvent(attempt.node.name, "finished", f"{result.seconds:.2f}s"))

    def skip_downstream(self, failed: str, pending: dict[str, Node]) -> None:
        for name in sorted(self.definition.downstream(failed)):
            node = pending.pop(name, None)
            if node is None:
                continue
            skipped = _Attempt(node, self.prepare_blank(node), {}, "", "", {}, _now_ms(), 0)
            self.record(skipped, "SKIPPED", reason=f"skipped: upstream step '{failed}' failed")
            self.on_event(StepEvent(name, "skipped", f"upstream '{failed}' failed"))

    def prepare_blank(self, node: Node) -> Task:
        return Task(
            node=node.name,
            step=node.step.name,
            kind=node.step.kind,
            params={},
            inputs={},
            input_types={},
            outputs={},
            blob_root="",
        )

    # the DAG -------------------------------------------------------------------------------

    def execute(self) -> RunStatus:
        pending = {n.name: n for n in self.definition.nodes}
        running: dict[cf.Future[Result], _Attempt] = {}
        retry_at: list[tuple[float, _Attempt]] = []
        failed: list[str] = []
        while pending or running or retry_at:
            for name, node in list(pending.items()):
                if not node.upstream <= self._finished():
                    continue
                del pending[name]
                attempt = self.prepare(node)
                if self.try_cache(attempt):
                    continue
                self.on_event(StepEvent(name, "running", attempt.reason))
                running[self.submit(attempt.task)] = attempt
            now = time.monotonic()
            for due, attempt in [r for r in retry_at if r[0] <= now]:
                retry_at.remove((due, attempt))
                attempt.attempt += 1
                running[self.submit(attempt.task)] = attempt
            if not running:
                if retry_at:
                    time.sleep(max(0.0, min(t for t, _ in retry_at) - time.monotonic()))
                    continue
                if pending:  # nothing can start: every remaining step waits on a failure
                    break
                continue
            wait = min((t for t, _ in retry_at), default=now + 3600) - now
            done, _ = cf.wait(running, timeout=max(wait, 0.0), return_when=cf.FIRST_COMPLETED)
            for future in done:
                attempt = running.pop(future)
                try:
                    self.finish(attempt, future.result())
                except ModelyardError as exc:
                    self._failed(attempt, exc, retry_at, failed, pending)
                except Exception as exc:  # a worker died, a cluster error: the step failed
                    self._failed(attempt, exc, retry_at, failed, pending)
        return RunStatus.FAILED if failed else RunStatus.FINISHED

    def submit(self, task: Task) -> cf.Future[Result]:
        # Another process gets the task without its function object (it imports the step).
        return self.executor.submit(execute, task if self.executor.in_process else portable(task))

    def _finished(self) -> set[str]:
        return {n for n, s in self.steps.items() if s.status == "FINISHED"}

    def _failed(
        self,
        attempt: _Attempt,
        exc: BaseException,
        retry_at: list[tuple[float, _Attempt]],
        failed: list[str],
        pending: dict[str, Node],
    ) -> None:
        step = attempt.node.step
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        if attempt.attempt <= step.retries:
            delay = step.retry_backoff_seconds * 2 ** (attempt.attempt - 1)
            self.on_event(
                StepEvent(
                    attempt.node.name,
                    "retrying",
                    f"attempt {attempt.attempt} failed ({message}); retrying in {delay:.1f}s",
                )
            )
            retry_at.append((time.monotonic() + delay, attempt))
            return
        details = getattr(exc, "details", {}) or {}
        trace = details.get("traceback") or details.get("log") or ""
        self.record(
            attempt,
            "FAILED",
            error=f"{message}\n{trace}".strip(),
            result=Result({}, [], details.get("log", ""), 0.0),
        )
        self.on_event(StepEvent(attempt.node.name, "failed", message))
        failed.append(attempt.node.name)
        self.skip_downstream(attempt.node.name, pending)


def check_run(
    definition: PipelineDef, params: Mapping[str, Any], executor: str | Executor | None
) -> dict[str, Any]:
    """Everything that can be checked before a run starts; returns the resolved params."""
    resolved = definition.resolve_params(dict(params))
    for node in definition.nodes:
        definition.node_params(node, resolved)
    if isinstance(executor, str):
        parse_executor_spec(executor)
    return resolved


def run_pipeline(
    pipeline: Pipeline | PipelineDef,
    *,
    backend: Backend,
    params: Mapping[str, Any] | None = None,
    executor: str | Executor | None = "inline",
    no_cache: bool = False,
    staging_root: Path | None = None,
    env_cache: Path | None = None,
    workspace: str | None = None,
    on_event: Callable[[StepEvent], None] | None = None,
    registered: str | None = None,
) -> PipelineRunResult:
    """Run a pipeline and record it; failures are recorded, not raised (see ``status``).

    ``registered`` names the registered version (``train:3``) whose snapshot this is.
    """
    definition = pipeline.definition if isinstance(pipeline, Pipeline) else pipeline
    resolved = check_run(definition, params or {}, executor)
    environments = resolve_environments(backend, definition, env_cache)
    owned = not (executor is not None and not isinstance(executor, str))
    runner_executor = make_executor(executor)
    artifacts = StepArtifacts.for_backend(backend, staging_root)
    run = _Run(
        definition,
        resolved,
        backend,
        runner_executor,
        artifacts,
        environments,
        no_cache=no_cache,
        on_event=on_event or (lambda _e: None),
    )
    try:
        run.store_external_inputs()
        ref = backend.call(
            ops.start_pipeline_run,
            StartPipelineRun(
                pipeline=definition.name,
                definition=definition.describe(),
                definition_hash=definition.definition_hash,
                params=resolved,
                executor=runner_executor.name,
                source=definition.source,
                workspace=workspace,
                registered=registered,
            ),
        )
        run.run_id = ref.run_id
        status = run.execute()
        failed = [n for n, s in run.steps.items() if s.status == "FAILED"]
        backend.call(
            ops.finish_pipeline_run,
            FinishPipelineRun(
                run_id=ref.run_id,
                status=status,
                failure=f"failed steps: {', '.join(failed)}" if failed else None,
            ),
        )
    finally:
        if owned:
            runner_executor.close()
    outputs = {
        name: run.outputs[ref_.node][ref_.output]
        for name, ref_ in definition.outputs.items()
        if ref_.node in run.outputs
    }
    return PipelineRunResult(ref.run_id, status, run.steps, outputs)
