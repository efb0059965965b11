"""The scheduler: fires due schedules by claiming them, running their pipeline, recording it.

It talks to the store through a ``Backend`` like any runner, so it runs embedded
(``modelyard scheduler``), beside a server (``modelyard server --scheduler``) or against a
server over HTTP. Any number may run at once: each occurrence is claimed by exactly one
(``schedules.claim_due_schedule``).

A schedule names a registered pipeline (``train`` for its latest version, or ``train:3``).
Firing resolves it, materializes that version's code snapshot on this machine and runs it
in a child process (``snapshot_run.py``); the scheduler never imports pipeline code, so a
scheduler inside the server runs only what someone registered. A pipeline that fails, a
snapshot that does not load or parameters it refuses are recorded on the schedule as
``last_error``; the loop goes on.

After the due schedules, each poll applies the retention rules when their interval
(``MODELYARD_RETENTION_INTERVAL_SECONDS``) has passed: one bounded pass, and one more per
poll while a backlog lasts (``retention/scheduled.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from modelyard.config import Settings
from modelyard.core.backend import Backend
from modelyard.core.unit_of_work import Clock, system_clock_ms
from modelyard.errors import ModelyardError
from modelyard.pipelines import registered, schedules, snapshots
from modelyard.pipelines.models import ResolvePipelineRef
from modelyard.pipelines.snapshot_run import SnapshotJob, outcome_path, run_snapshot
from modelyard.retention.models import RetentionReport
from modelyard.retention.scheduled import RetentionJob

log = logging.getLogger(__name__)

# Claims per poll at most, so one poll ends even when a cron fires faster than it runs.
MAX_FIRINGS_PER_POLL = 100


@dataclass(frozen=True, slots=True)
class Firing:
    """One firing of a schedule: the occurrence, the pipeline run and how it ended."""

    schedule: str
    pipeline_ref: str
    due_at: int
    started_at: int
    run_id: str | None
    status: str  # FINISHED, FAILED (the run failed) or ERROR (it could not start)
    error: str | None = None
    version: str | None = None  # the registered version that ran (``train:3``)


class Scheduler:
    """Polls the store for due schedules and runs their pipelines' snapshots.

    ``settings`` name the store the pipelines record to (the same one ``backend`` reaches)
    and where snapshots are materialized; ``clock`` (ms) decides what is due, so tests can
    move time; ``on_firing`` is told of each firing (the CLI prints them), ``on_retention``
    of each retention pass. Retention runs every ``settings.retention_interval_seconds``
    (0: never), at most ``retention_limit`` runs deleted per pass.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        settings: Settings,
        clock: Clock = system_clock_ms,
        poll_seconds: float = 10.0,
        on_firing: Callable[[Firing], None] | None = None,
        on_retention: Callable[[RetentionReport], None] | None = None,
        retention_limit: int | None = None,
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.on_firing = on_firing
        self.snapshot_root: Path = settings.home.resolve() / "pipeline-snapshots"
        limit = {} if retention_limit is None else {"limit": retention_limit}
        self.retention = RetentionJob(
            backend,
            every_seconds=settings.retention_interval_seconds,
            on_pass=on_retention,
            **limit,
        )

    def run_once(self) -> list[Firing]:
        """Fire every schedule due now, one after the other, then apply the retention rules
        if they are due; return the firings."""
        firings = []
        for _ in range(MAX_FIRINGS_PER_POLL):
            claim = schedules.ClaimDueSchedule(now=self.clock())
            claimed = self.backend.call(schedules.claim_due_schedule, claim)
            if claimed.schedule is None or claimed.due_at is None:
                break
            firings.append(self.fire(claimed.schedule, claimed.due_at))
        self.retention.tick(self.clock())
        return firings

    def fire(self, schedule: schedules.ScheduleInfo, due_at: int) -> Firing:
        """Run a claimed schedule's pipeline and record the outcome on the schedule."""
        started = self.clock()
        run_id: str | None = None
        version_ref: str | None = None
        try:
            request = ResolvePipelineRef(ref=schedule.pipeline_ref)
            version = self.backend.call(registered.resolve_pipeline_ref, request)
            version_ref = version.ref
            folder = snapshots.materialize(self.backend, version, self.snapshot_root)
            job = SnapshotJob(
                folder=str(folder),
                entry=version.entry,
                version_ref=version.ref,
                params=schedule.params,
                executor=schedule.executor,
                outcome_file=outcome_path(),
            )
            try:
                outcome = run_snapshot(job, self.settings)
            finally:
                Path(job.outcome_file).unlink(missing_ok=True)
            run_id, status, error = outcome.run_id, outcome.status, outcome.error
        except ModelyardError as exc:  # not registered, or the store is away
            status, error = "ERROR", exc.message
        except OSError as exc:  # no room for the snapshot, no interpreter to run it
            status, error = "ERROR", f"cannot run {version_ref or schedule.pipeline_ref}: {exc}"
        if error:
            log.warning("schedule %s: %s", schedule.name, error)
        else:
            log.info("schedule %s: pipeline run %s %s", schedule.name, run_id, status)
        firing = Firing(
            schedule.name,
            schedule.pipeline_ref,
            due_at,
            started,
            run_id,
            status,
            error,
            version_ref,
        )
        record = schedules.RecordScheduleResult(
            name=schedule.name, run_at=started, run_id=run_id, error=error
        )
        try:
            self.backend.call(schedules.record_schedule_result, record)
        except ModelyardError as exc:  # deleted while it ran, or the store is away
            log.warning("schedule %s: could not record its run: %s", schedule.name, exc.message)
        if self.on_firing is not None:
            self.on_firing(firing)
        return firing

    def run_forever(self, stop: threading.Event) -> None:
        """Poll every ``poll_seconds`` until ``stop`` is set; store outages are waited out."""
        log.info("scheduler started (polling every %ss)", self.poll_seconds)
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # the store is unreachable, a bug: log it, keep the loop alive
                log.exception("scheduler poll failed; trying again in %ss", self.poll_seconds)
            stop.wait(self.poll_seconds)
        log.info("scheduler stopped")

    @contextmanager
    def in_background(self) -> Iterator[threading.Thread]:
        """Run ``run_forever`` in a daemon thread for the duration of the block."""
        stop = threading.Event()
        thread = threading.Thread(
            target=self.run_forever, args=(stop,), name="modelyard-scheduler", daemon=True
        )
        thread.start()
        try:
            yield thread
        finally:
            stop.set()
            thread.join(timeout=60)
