"""The step cache behaves the same on every backend: a hit names the run that computed it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from modelyard.pipelines import operations as ops
from modelyard.pipelines.models import CacheLookup, RecordStepRun
from modelyard.pipelines.runner import PipelineRunResult, run_pipeline
from modelyard.storage.db.tables import step_runs
from tests.contract.conftest import Store
from tests.contract.pipeline_steps import squared


def run(store: Store, tmp_path: Path) -> PipelineRunResult:
    return run_pipeline(squared, backend=store.client.backend, staging_root=tmp_path / "stage")


def test_a_hit_on_a_cached_copy_names_the_run_that_computed_the_output(
    store: Store, tmp_path: Path
) -> None:
    computed = run(store, tmp_path).steps["square"]
    copy = run(store, tmp_path).steps["square"]
    again = run(store, tmp_path).steps["square"]
    assert not computed.cache_hit
    assert copy.cache_hit
    assert again.cache_hit
    assert copy.cached_from == computed.run_id
    # The latest copy is the one found; the run named is the one that produced it.
    assert again.cached_from == computed.run_id
    assert again.cache_reason is not None
    assert again.cache_reason.endswith(f"as run {computed.run_id}")


def test_a_chain_of_copies_recorded_earlier_leads_to_the_producer(
    store: Store, tmp_path: Path
) -> None:
    first = run(store, tmp_path)
    computed = first.steps["square"]
    with store.local.db.read() as conn:
        key = conn.execute(
            select(step_runs.c.cache_key).where(step_runs.c.run_id == computed.run_id)
        ).scalar_one()
    # Copies as hits recorded them before they named the producer: each names the last.
    previous = computed.run_id
    for _ in range(3):
        previous = store.client.backend.call(
            ops.record_step_run,
            RecordStepRun(
                pipeline_run_id=first.run_id,
                node="square",
                step="square",
                status="FINISHED",
                cache_key=key,
                cache_hit=True,
                cached_from=previous,
                outputs=computed.outputs,
                started_at=computed.ended_at,
                ended_at=(computed.ended_at or 0) + 1,
            ),
        ).run_id
    answer = store.client.backend.call(ops.lookup_cache, CacheLookup(cache_key=key, step="square"))
    assert answer.hit is not None
    assert answer.hit.run_id == computed.run_id
