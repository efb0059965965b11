"""Run a registered pipeline's snapshot in a child process, for a scheduler.

The scheduler never imports pipeline code itself (it may run inside the REST server): it
materializes the registered snapshot and starts ``python -m modelyard.pipelines.snapshot_run``
in that folder, with the job on stdin and the store's settings in the environment. The child
loads the pipeline from the snapshot, runs and records it like ``modelyard pipeline run``,
and writes its outcome to a file (stdout belongs to the pipeline's own code). Two snapshots
never share a module cache, and a pipeline that crashes its interpreter takes only the
child with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import Field

from modelyard.config import Settings, get_settings
from modelyard.core.backend import open_backend
from modelyard.core.operations import Model
from modelyard.errors import ModelyardError
from modelyard.pipelines.definition import PipelineDef
from modelyard.pipelines.loader import load_pipeline
from modelyard.pipelines.runner import run_pipeline
from modelyard.tracking.models import RunStatus

# What the child printed is kept in an error for this many characters at most.
_OUTPUT_TAIL = 4000


class SnapshotJob(Model):
    """One firing: which snapshot, how to load the pipeline from it, and how to run it."""

    folder: str
    entry: str
    version_ref: str
    params: dict[str, Any] = Field(default_factory=dict)
    executor: str = "inline"
    outcome_file: str


class SnapshotOutcome(Model):
    """How the run ended: a run id and its status, or why no run started (``ERROR``)."""

    status: str
    run_id: str | None = None
    failed_steps: list[str] = Field(default_factory=list)
    error: str | None = None


def load_from_snapshot(folder: Path, entry: str) -> PipelineDef:
    """The pipeline an entry names inside a materialized snapshot."""
    location, sep, name = entry.rpartition(":")
    if not sep:
        location = entry
    if location.endswith((".py", ".yaml", ".yml")):
        return load_pipeline(f"{folder / location}{sep}{name}")
    # A module entry: the snapshot's root is where its top-level package is imported from.
    sys.path.insert(0, str(folder))
    return load_pipeline(entry)


def run_snapshot(job: SnapshotJob, settings: Settings) -> SnapshotOutcome:
    """Run ``job`` in a child process on the store ``settings`` name; wait for its outcome."""
    env = {**os.environ, **settings.for_child_process()}
    command = [sys.executable, "-m", "modelyard.pipelines.snapshot_run"]
    finished = subprocess.run(
        command,
        input=job.model_dump_json(),
        capture_output=True,
        text=True,
        cwd=job.folder,
        env=env,
        check=False,
    )
    outcome = Path(job.outcome_file)
    if finished.returncode == 0 and outcome.is_file():
        return SnapshotOutcome.model_validate_json(outcome.read_text())
    output = (finished.stderr or finished.stdout or "")[-_OUTPUT_TAIL:]
    return SnapshotOutcome(
        status="ERROR",
        error=f"the pipeline process for {job.version_ref} exited with code "
        f"{finished.returncode}: {output.strip() or 'no output'}",
    )


def outcome_path() -> str:
    """A fresh file for a child's outcome."""
    fd, path = tempfile.mkstemp(prefix="modelyard-outcome-", suffix=".json")
    os.close(fd)
    return path


def _run(job: SnapshotJob) -> SnapshotOutcome:
    settings = get_settings()
    backend = open_backend(settings)
    try:
        definition = load_from_snapshot(Path(job.folder), job.entry)
        result = run_pipeline(
            definition,
            backend=backend,
            params=job.params,
            executor=job.executor,
            staging_root=settings.home.resolve() / "staging",
            env_cache=settings.resolved_env_cache,
            workspace=settings.workspace,
            registered=job.version_ref,
        )
    except ModelyardError as exc:
        return SnapshotOutcome(status="ERROR", error=exc.message)
    except Exception as exc:  # user code: a pipeline file that does not import, a bug
        return SnapshotOutcome(status="ERROR", error=f"{type(exc).__name__}: {exc}")
    finally:
        backend.close()
    failed = [n for n, s in result.steps.items() if s.status == "FAILED"]
    error = (
        None
        if result.status == RunStatus.FINISHED
        else f"pipeline run {result.run_id} {result.status.value}: failed steps: "
        f"{', '.join(failed)}"
    )
    return SnapshotOutcome(
        status=result.status.value, run_id=result.run_id, failed_steps=failed, error=error
    )


def main() -> None:
    job = SnapshotJob.model_validate_json(sys.stdin.read())
    outcome = _run(job)
    Path(job.outcome_file).write_text(outcome.model_dump_json())


if __name__ == "__main__":
    main()
