"""Pipeline operations: recording pipeline and step runs, the step cache, lineage.

Pipeline runs and step runs are tracking runs (through tracking's operations, in the same
unit of work), with the pipeline-specific facts beside them in ``pipeline_runs`` and
``step_runs``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, insert, select

from modelyard.core.operations import Done, OperationContext, OperationSet
from modelyard.errors import NotFound
from modelyard.pipelines.manifests import manifest_blobs, read_manifest
from modelyard.pipelines.models import (
    CacheAnswer,
    CachedStep,
    CacheLookup,
    FinishPipelineRun,
    GetPipeline,
    GetPipelineRun,
    ListPipelineRuns,
    ListPipelines,
    PipelineInfo,
    PipelineList,
    PipelineRunInfo,
    PipelineRunList,
    PipelineRunRef,
    PipelineSummary,
    RecordStepRun,
    StartPipelineRun,
    StepOutputInfo,
    StepRunInfo,
)
from modelyard.storage.db.inserts import insert_if_absent
from modelyard.storage.db.tables import (
    lineage_edges,
    pipeline_definitions,
    pipeline_runs,
    run_artifacts,
    runs,
    step_runs,
)
from modelyard.tracking import operations as tracking
from modelyard.tracking.models import (
    CreateRun,
    EnsureExperiment,
    LogBatch,
    LogInput,
    RunStatus,
    UpdateRun,
    validate_key,
)

ops = OperationSet("pipelines")

KIND_TAG = "modelyard.kind"
PIPELINE_TAG = "modelyard.pipeline"
VERSION_TAG = "modelyard.pipeline.version"


def experiment_name(pipeline: str) -> str:
    return f"pipeline/{pipeline}"


def _experiment_id(ctx: OperationContext, pipeline: str, workspace: str | None) -> str:
    request = EnsureExperiment(
        name=experiment_name(pipeline),
        workspace=workspace,
        description=f"runs of pipeline {pipeline}",
    )
    return ctx.call(tracking.ensure_experiment, request).id


def _params_as_strings(params: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}


@ops.write("POST", "/pipeline-runs", permission="pipelines:run", audit="pipeline.run.started")
def start_pipeline_run(ctx: OperationContext, req: StartPipelineRun) -> PipelineRunRef:
    """Start a pipeline run: a run in the experiment ``pipeline/<name>``."""
    experiment_id = _experiment_id(ctx, req.pipeline, req.workspace)
    # Concurrent first runs of one definition: the (name, hash) key keeps one row.
    insert_if_absent(
        ctx.conn,
        pipeline_definitions,
        {
            "name": req.pipeline,
            "hash": req.definition_hash,
            "definition": req.definition,
            "source": req.source,
            "created_at": ctx.now_ms(),
        },
    )
    run = ctx.call(
        tracking.create_run,
        CreateRun(
            experiment_id=experiment_id,
            name=f"{req.pipeline}-{ctx.now_ms()}",
            tags={
                KIND_TAG: "pipeline",
                PIPELINE_TAG: req.pipeline,
                "executor": req.executor,
                **({VERSION_TAG: req.registered} if req.registered else {}),
            },
        ),
    )
    if req.params:
        ctx.call(tracking.log_batch, LogBatch(run_id=run.id, params=_params_as_strings(req.params)))
    ctx.conn.execute(
        insert(pipeline_runs).values(
            run_id=run.id,
            pipeline=req.pipeline,
            definition_hash=req.definition_hash,
            params=req.params,
            executor=req.executor,
        )
    )
    ctx.work.record(
        "run",
        run.id,
        after={
            "pipeline": req.pipeline,
            "definition_hash": req.definition_hash,
            "params": req.params,
            "executor": req.executor,
        },
    )
    ctx.work.emit("pipeline.started", run.id, {"run_id": run.id, "pipeline": req.pipeline})
    return PipelineRunRef(run_id=run.id, experiment_id=experiment_id, pipeline=req.pipeline)


def _outputs_exist(ctx: OperationContext, outputs: dict[str, Any]) -> bool:
    for output in outputs.values():
        if not ctx.blobs.exists(output["manifest"]):
            return False
        manifest = read_manifest(ctx.blobs, output["manifest"])
        if not all(ctx.blobs.exists(sha) for sha in manifest_blobs(output["manifest"], manifest)):
            return False
    return True


def _producer(ctx: OperationContext, run_id: str, cached_from: str | None) -> str:
    """The step run that computed the outputs a step run has: itself, or the run its
    ``cached_from`` leads to.

    A cache hit records the producer it was given, so one step is enough; the loop also
    walks chains recorded before hits named their producer (each copy naming the previous).
    """
    seen = {run_id}
    while cached_from is not None and cached_from not in seen:
        seen.add(cached_from)
        run_id = cached_from
        cached_from = ctx.conn.execute(
            select(step_runs.c.cached_from).where(step_runs.c.run_id == run_id)
        ).scalar()
    return run_id


@ops.read("/step-cache/lookup", method="POST", permission="pipelines:read")
def lookup_cache(ctx: OperationContext, req: CacheLookup) -> CacheAnswer:
    """Find a finished step run with this cache key whose outputs all still exist.

    The hit names the step run that computed those outputs, not the last copy of them.
    """
    sr = step_runs.c
    candidates = ctx.conn.execute(
        select(sr.run_id, sr.cached_from, sr.outputs)
        .where(sr.cache_key == req.cache_key, sr.status == "FINISHED")
        .order_by(sr.ended_at.desc())
        .limit(5)
    ).all()
    hit, stale = None, None
    for run_id, cached_from, outputs in candidates:
        if _outputs_exist(ctx, outputs):
            hit = CachedStep(
                run_id=_producer(ctx, run_id, cached_from),
                outputs={k: StepOutputInfo.model_validate(v) for k, v in outputs.items()},
            )
            break
        stale = stale or _producer(ctx, run_id, cached_from)
    previous = ctx.conn.execute(
        select(sr.key_parts, sr.status)
        .where(sr.step == req.step, sr.key_parts.is_not(None))
        .order_by(sr.ended_at.desc())
        .limit(1)
    ).first()
    return CacheAnswer(
        hit=hit,
        previous_key_parts=previous.key_parts if previous else None,
        previous_status=previous.status if previous else None,
        stale_run_id=stale,
    )


def _lineage(ctx: OperationContext, run_id: str, req: RecordStepRun) -> None:
    now = ctx.now_ms()
    edges = [
        {
            "src_kind": "blob",
            "src_id": sha,
            "dst_kind": "run",
            "dst_id": run_id,
            "role": f"input:{name}",
            "created_at": now,
        }
        for name, sha in req.inputs.items()
    ] + [
        {
            "src_kind": "run",
            "src_id": run_id,
            "dst_kind": "blob",
            "dst_id": out.manifest,
            "role": f"output:{name}",
            "created_at": now,
        }
        for name, out in req.outputs.items()
    ]
    if edges:
        ctx.conn.execute(insert(lineage_edges), edges)


def _index_outputs(ctx: OperationContext, run_id: str, req: RecordStepRun) -> None:
    """Make a step's outputs browsable as the step run's artifacts.

    The manifests come from the client; reading them refuses any path that could not be
    written back under a download's destination.
    """
    now = ctx.now_ms()
    rows = []
    for name, out in req.outputs.items():
        folder = f"outputs/{name}"  # the request model allows one plain word
        manifest = read_manifest(ctx.blobs, out.manifest)
        rows.append(
            {
                "run_id": run_id,
                "path": f"{folder}.manifest.json",
                "sha256": out.manifest,
                "size": 0,
                "created_at": now,
            }
        )
        rows += [
            {
                "run_id": run_id,
                "path": f"{folder}/{rel}",
                "sha256": f.sha256,
                "size": f.size,
                "created_at": now,
            }
            for rel, f in manifest.files.items()
        ]
    if req.log:
        log = ctx.blobs.put_bytes(req.log.encode())
        rows.append(
            {
                "run_id": run_id,
                "path": "logs/step.log",
                "sha256": log.sha256,
                "size": log.size,
                "created_at": now,
            }
        )
    if rows:
        ctx.conn.execute(insert(run_artifacts), rows)


@ops.write(
    "POST",
    "/pipeline-runs/{pipeline_run_id}/steps",
    permission="pipelines:run",
    audit="pipeline.step.recorded",
)
def record_step_run(ctx: OperationContext, req: RecordStepRun) -> StepRunInfo:
    """Record a finished, failed, skipped or cached step as a child run of the pipeline run."""
    parent = ctx.conn.execute(
        select(runs.c.experiment_id).where(runs.c.id == req.pipeline_run_id)
    ).first()
    if parent is None:
        raise NotFound.of("pipeline run", req.pipeline_run_id)
    for key in req.params:
        validate_key(key, "param name")
    run_id = tracking.insert_run(
        ctx,
        experiment_id=parent.experiment_id,
        name=req.node,
        status=RunStatus.FINISHED
        if req.status == "FINISHED"
        else RunStatus.KILLED
        if req.status == "SKIPPED"
        else RunStatus.FAILED,
        start_time=req.started_at if req.started_at is not None else ctx.now_ms(),
        end_time=req.ended_at if req.ended_at is not None else ctx.now_ms(),
        parent_run_id=req.pipeline_run_id,
        failure=req.error,
        tags={
            KIND_TAG: "step",
            "step": req.step,
            "cache_hit": "true" if req.cache_hit else "false",
        },
        params=_params_as_strings(req.params),
        metrics=req.metrics,
        environment_hash=req.environment_hash,
    )
    for dataset in req.datasets:
        ctx.call(tracking.log_input, LogInput(run_id=run_id, dataset=dataset))
    outputs = {k: v.model_dump() for k, v in req.outputs.items()}
    row = {
        "run_id": run_id,
        "pipeline_run_id": req.pipeline_run_id,
        "step": req.step,
        "status": req.status,
        "cache_key": req.cache_key,
        "key_parts": req.key_parts,
        "cache_hit": req.cache_hit,
        "cached_from": req.cached_from,
        "cache_reason": req.cache_reason,
        "attempts": req.attempts,
        "environment_hash": req.environment_hash,
        "outputs": outputs,
        "started_at": req.started_at,
        "ended_at": req.ended_at,
    }
    ctx.conn.execute(insert(step_runs).values(row))
    _lineage(ctx, run_id, req)
    _index_outputs(ctx, run_id, req)
    ctx.work.record(
        "run",
        run_id,
        after={
            "node": req.node,
            "status": req.status,
            "cache_hit": req.cache_hit,
            "cache_reason": req.cache_reason,
        },
    )
    ctx.work.emit(
        f"step.{req.status.lower()}",
        run_id,
        {
            "run_id": run_id,
            "pipeline_run_id": req.pipeline_run_id,
            "step": req.node,
            "cache_hit": req.cache_hit,
            "cached_from": req.cached_from,
            "error": req.error,
        },
    )
    return _step_info(row, req.node, req.error)


def _step_info(row: Any, node: str, error: str | None) -> StepRunInfo:
    return StepRunInfo(
        run_id=row["run_id"],
        node=node,
        status=row["status"],
        cache_hit=row["cache_hit"],
        cached_from=row["cached_from"],
        cache_reason=row["cache_reason"],
        attempts=row["attempts"],
        environment_hash=row["environment_hash"],
        outputs={k: StepOutputInfo.model_validate(v) for k, v in row["outputs"].items()},
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        error=error,
    )


@ops.write(
    "PATCH", "/pipeline-runs/{run_id}", permission="pipelines:run", audit="pipeline.run.finished"
)
def finish_pipeline_run(ctx: OperationContext, req: FinishPipelineRun) -> Done:
    """End a pipeline run; emits pipeline.completed or pipeline.failed."""
    row = ctx.conn.execute(
        select(pipeline_runs.c.pipeline).where(pipeline_runs.c.run_id == req.run_id)
    ).first()
    if row is None:
        raise NotFound.of("pipeline run", req.run_id)
    ctx.call(
        tracking.update_run, UpdateRun(run_id=req.run_id, status=req.status, failure=req.failure)
    )
    ctx.work.record("run", req.run_id, after={"status": req.status.value})
    event = "pipeline.completed" if req.status == RunStatus.FINISHED else "pipeline.failed"
    ctx.work.emit(
        event,
        req.run_id,
        {
            "run_id": req.run_id,
            "pipeline": row.pipeline,
            "status": req.status.value,
            "failure": req.failure,
        },
    )
    return Done()


def _pipeline_run_infos(ctx: OperationContext, run_ids: list[str]) -> list[PipelineRunInfo]:
    if not run_ids:
        return []
    pr, r = pipeline_runs.c, runs.c
    heads = (
        ctx.conn.execute(
            select(
                pr.run_id,
                pr.pipeline,
                pr.definition_hash,
                pr.params,
                pr.executor,
                r.status,
                r.start_time,
                r.end_time,
                r.failure,
            )
            .join(runs, runs.c.id == pr.run_id)
            .where(pr.run_id.in_(run_ids))
        )
        .mappings()
        .all()
    )
    sr = step_runs.c
    steps: dict[str, list[StepRunInfo]] = {rid: [] for rid in run_ids}
    for row in ctx.conn.execute(
        select(step_runs, r.name, r.failure)
        .join(runs, runs.c.id == sr.run_id)
        .where(sr.pipeline_run_id.in_(run_ids))
        .order_by(sr.started_at, sr.ended_at)
    ).mappings():
        steps[row["pipeline_run_id"]].append(_step_info(row, row["name"], row["failure"]))
    by_id = {h["run_id"]: h for h in heads}
    return [
        PipelineRunInfo(
            run_id=rid,
            pipeline=h["pipeline"],
            definition_hash=h["definition_hash"],
            params=h["params"],
            executor=h["executor"],
            status=h["status"],
            start_time=h["start_time"],
            end_time=h["end_time"],
            failure=h["failure"],
            steps=steps[rid],
        )
        for rid in run_ids
        if (h := by_id.get(rid)) is not None
    ]


@ops.read("/pipeline-runs/{run_id}", permission="pipelines:read")
def get_pipeline_run(ctx: OperationContext, req: GetPipelineRun) -> PipelineRunInfo:
    """A pipeline run with each step's status, cache decision and outputs."""
    found = _pipeline_run_infos(ctx, [req.run_id])
    if not found:
        raise NotFound.of("pipeline run", req.run_id)
    return found[0]


@ops.read("/pipelines/{pipeline}/runs", permission="pipelines:read")
def list_pipeline_runs(ctx: OperationContext, req: ListPipelineRuns) -> PipelineRunList:
    """The latest runs of a pipeline, newest first."""
    ids = (
        ctx.conn.execute(
            select(pipeline_runs.c.run_id)
            .join(runs, runs.c.id == pipeline_runs.c.run_id)
            .where(pipeline_runs.c.pipeline == req.pipeline)
            .order_by(runs.c.start_time.desc())
            .limit(req.max_results)
        )
        .scalars()
        .all()
    )
    return PipelineRunList(runs=_pipeline_run_infos(ctx, list(ids)))


@ops.read("/pipelines", permission="pipelines:read")
def list_pipelines(ctx: OperationContext, req: ListPipelines) -> PipelineList:
    """Every pipeline that has run, with its latest run."""
    pr, r = pipeline_runs.c, runs.c
    latest = (
        select(pr.pipeline, func.max(r.start_time).label("last"), func.count().label("n"))
        .join(runs, runs.c.id == pr.run_id)
        .group_by(pr.pipeline)
        .subquery()
    )
    rows = ctx.conn.execute(
        select(pr.pipeline, pr.definition_hash, pr.run_id, r.status, r.start_time, latest.c.n)
        .join(runs, runs.c.id == pr.run_id)
        .join(latest, (latest.c.pipeline == pr.pipeline) & (latest.c.last == r.start_time))
        .order_by(pr.pipeline)
    ).all()
    seen: dict[str, PipelineSummary] = {}
    for name, definition_hash, run_id, status, start, count in rows:
        seen.setdefault(
            name,
            PipelineSummary(
                name=name,
                definition_hash=definition_hash,
                runs=count,
                last_run_id=run_id,
                last_status=status,
                last_start=start,
            ),
        )
    return PipelineList(pipelines=list(seen.values()))


@ops.read("/pipelines/{name}", permission="pipelines:read")
def get_pipeline(ctx: OperationContext, req: GetPipeline) -> PipelineInfo:
    """The latest definition of a pipeline."""
    pd = pipeline_definitions.c
    row = (
        ctx.conn.execute(
            select(pipeline_definitions)
            .where(pd.name == req.name)
            .order_by(pd.created_at.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound.of("pipeline", req.name)
    return PipelineInfo(
        name=row["name"],
        definition_hash=row["hash"],
        definition=row["definition"],
        source=row["source"],
        created_at=row["created_at"],
    )


OPERATIONS = ops.operations
