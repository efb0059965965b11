"""Pipeline schedules: cron expressions kept in the store and fired by a scheduler.

A schedule names a registered pipeline (``train``, its latest version when it fires, or
``train:3``), its parameters, an executor and a cron expression evaluated in UTC;
``next_run_at`` is the next occurrence. A reference to a file or a module is refused: the
scheduler runs only code someone registered (``pipelines/registered.py``). A one-off
trigger is a schedule with the cron ``@once``, due at once and disabled when it is claimed.

Firing is claim-then-run: ``claim_due_schedule`` takes the oldest due schedule and, in the
same transaction, advances its ``next_run_at`` past now (or disables an ``@once``) with a
compare-and-set on the old value, so two schedulers never fire the same occurrence.
Occurrences missed while no scheduler ran are fired once, not once each.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, field_validator
from sqlalchemy import delete, select, update

from modelyard.core.fields import Flag, JsonObject, Text, TimestampMs, name_field
from modelyard.core.operations import Done, Model, OperationContext, OperationSet, Request
from modelyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from modelyard.executors import parse_executor_spec
from modelyard.pipelines import registered
from modelyard.pipelines.models import ExecutorSpec
from modelyard.storage.db.inserts import insert_if_absent
from modelyard.storage.db.tables import schedules
from modelyard.tracking.models import Id

ops = OperationSet("schedules")

ONCE = "@once"
CRON_EXAMPLE = "'*/15 * * * *' (every 15 minutes) or '0 3 * * 1-5' (03:00 UTC on weekdays)"
_CLAIM_ATTEMPTS = 20

ScheduleName = Annotated[
    str,
    name_field(
        r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        max_length=250,
        rule="letters, digits, '.', '_' and '-', starting with a letter or digit",
        example="nightly-train",
    ),
]
# A registered pipeline: NAME (its latest version when the schedule fires) or NAME:VERSION.
PipelineRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=220,
        # Stated for clients; registered.parse_ref decides, with a sentence when refused.
        json_schema_extra={"pattern": r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}(:[1-9][0-9]{0,9})?$"},
        description="a registered pipeline: NAME (its latest version) or NAME:VERSION",
        examples=["train", "train:3"],
    ),
]


def next_occurrence(cron: str, after_ms: int) -> int:
    """The first occurrence of ``cron`` (UTC) strictly after ``after_ms``, in ms."""
    from croniter import croniter

    start = datetime.fromtimestamp(after_ms / 1000, tz=UTC)
    return int(croniter(cron, start).get_next(float) * 1000)


def check_cron(cron: str) -> str:
    """``cron`` if it is a valid five-field expression, ``@hourly``-style alias or ``@once``."""
    from croniter import croniter

    cron = " ".join(cron.split())
    if cron == ONCE:
        return cron
    five_fields = cron.startswith("@") or len(cron.split()) == 5  # no seconds or years
    if not five_fields or not croniter.is_valid(cron):
        raise InvalidInput(
            f"'{cron}' is not a cron expression: use five fields (minute hour day-of-month "
            f"month day-of-week), e.g. {CRON_EXAMPLE}, or @hourly, @daily, @weekly, @once",
            details={"cron": cron},
        )
    try:
        croniter(cron).get_next(float)
    except ValueError:  # croniter's CroniterBadDateError: valid fields, no such date
        raise InvalidInput(
            f"'{cron}' never fires: no date matches it (such as 30 February); e.g. {CRON_EXAMPLE}",
            details={"cron": cron},
        ) from None
    return cron


def check_executor(executor: str) -> str:
    parse_executor_spec(executor)
    return executor


# models -------------------------------------------------------------------------------------


class ScheduleInfo(Model):
    name: str
    pipeline_ref: str
    cron: str
    params: dict[str, Any]
    executor: str
    enabled: bool
    next_run_at: int
    last_run_at: int | None = None
    last_run_id: str | None = None
    last_error: str | None = None
    created_at: int


class CreateSchedule(Request):
    name: ScheduleName
    pipeline_ref: PipelineRef
    cron: Annotated[str, Field(min_length=1, max_length=100, examples=["0 3 * * *"])]
    params: JsonObject = Field(default_factory=dict)
    executor: ExecutorSpec = "inline"
    enabled: Flag = True


class TriggerPipeline(Request):
    pipeline_ref: PipelineRef
    params: JsonObject = Field(default_factory=dict)
    executor: ExecutorSpec = "inline"


class ListSchedules(Request):
    enabled: Flag | None = None


class ScheduleList(Model):
    schedules: list[ScheduleInfo]


class GetSchedule(Request):
    name: ScheduleName


class SetScheduleEnabled(Request):
    name: ScheduleName
    enabled: Flag


class DeleteSchedule(Request):
    name: ScheduleName


class ClaimDueSchedule(Request):
    """``now`` is the scheduler's clock (ms); the store's clock when not given."""

    now: TimestampMs | None = None


class ClaimedSchedule(Model):
    schedule: ScheduleInfo | None = None
    due_at: int | None = None  # the occurrence that was claimed


class RecordScheduleResult(Request):
    name: ScheduleName
    run_at: TimestampMs
    run_id: Id | None = None
    error: Text | None = None

    @field_validator("error")
    @classmethod
    def _bounded(cls, value: str | None) -> str | None:
        return value if value is None or len(value) <= 20_000 else value[:20_000] + "..."


# operations ---------------------------------------------------------------------------------


def _info(row: Any) -> ScheduleInfo:
    return ScheduleInfo.model_validate(dict(row))


def _row(ctx: OperationContext, name: str) -> Any:
    row = ctx.conn.execute(select(schedules).where(schedules.c.name == name)).mappings().first()
    if row is None:
        raise NotFound.of("schedule", name)
    return row


def _insert(ctx: OperationContext, row: dict[str, Any], event: str) -> ScheduleInfo:
    if not insert_if_absent(ctx.conn, schedules, row):
        raise AlreadyExists(
            f"schedule '{row['name']}' already exists: pick another name, or delete it first",
            details={"kind": "schedule", "id": row["name"]},
        )
    ctx.work.record("schedule", row["name"], after=row)
    ctx.work.emit(
        event,
        row["name"],
        {k: row[k] for k in ("name", "pipeline_ref", "cron", "executor", "next_run_at")},
    )
    return ScheduleInfo.model_validate(row)


def _new_row(
    ctx: OperationContext, name: str, ref: str, cron: str, params: dict[str, Any], executor: str
) -> dict[str, Any]:
    now = ctx.now_ms()
    return {
        "name": name,
        "pipeline_ref": ref,
        "params": params,
        "cron": cron,
        "executor": check_executor(executor),
        "enabled": True,
        "next_run_at": now if cron == ONCE else next_occurrence(cron, now),
        "last_run_at": None,
        "last_run_id": None,
        "last_error": None,
        "created_at": now,
    }


@ops.write("POST", "/schedules", permission="schedules:write", audit="schedule.created")
def create_schedule(ctx: OperationContext, req: CreateSchedule) -> ScheduleInfo:
    """Create a schedule; its first run is the next occurrence of its cron after now."""
    registered.resolve(ctx, req.pipeline_ref)  # a registered pipeline, or a clear refusal
    cron = check_cron(req.cron)
    row = _new_row(ctx, req.name, req.pipeline_ref, cron, req.params, req.executor)
    row["enabled"] = req.enabled
    return _insert(ctx, row, "schedule.created")


@ops.write("POST", "/pipelines/trigger", permission="pipelines:run", audit="pipeline.triggered")
def trigger_pipeline(ctx: OperationContext, req: TriggerPipeline) -> ScheduleInfo:
    """Ask for one run of a pipeline now: a one-off ``@once`` schedule a scheduler will fire."""
    registered.resolve(ctx, req.pipeline_ref)
    name = f"trigger-{uuid.uuid4().hex}"
    row = _new_row(ctx, name, req.pipeline_ref, ONCE, req.params, req.executor)
    return _insert(ctx, row, "pipeline.triggered")


@ops.read("/schedules", permission="schedules:read")
def list_schedules(ctx: OperationContext, req: ListSchedules) -> ScheduleList:
    """Every schedule (or only the enabled or disabled ones), by name."""
    query = select(schedules).order_by(schedules.c.name)
    if req.enabled is not None:
        query = query.where(schedules.c.enabled == req.enabled)
    return ScheduleList(schedules=[_info(r) for r in ctx.conn.execute(query).mappings()])


@ops.read("/schedules/{name}", permission="schedules:read")
def get_schedule(ctx: OperationContext, req: GetSchedule) -> ScheduleInfo:
    """One schedule: its cron, next run and the outcome of its last run."""
    return _info(_row(ctx, req.name))


@ops.write("PATCH", "/schedules/{name}", permission="schedules:write", audit="schedule.updated")
def set_schedule_enabled(ctx: OperationContext, req: SetScheduleEnabled) -> ScheduleInfo:
    """Enable or disable a schedule; enabling counts its next run from now (none missed)."""
    before = _row(ctx, req.name)
    if before["enabled"] == req.enabled:
        return _info(before)
    values: dict[str, Any] = {"enabled": req.enabled}
    if req.enabled:
        now = ctx.now_ms()
        cron = before["cron"]
        values["next_run_at"] = now if cron == ONCE else next_occurrence(cron, now)
    ctx.conn.execute(update(schedules).where(schedules.c.name == req.name).values(values))
    ctx.work.record(
        "schedule",
        req.name,
        before={"enabled": before["enabled"], "next_run_at": before["next_run_at"]},
        after=values,
    )
    ctx.work.emit("schedule.updated", req.name, {"name": req.name, **values})
    return _info({**before, **values})


@ops.write("DELETE", "/schedules/{name}", permission="schedules:write", audit="schedule.deleted")
def delete_schedule(ctx: OperationContext, req: DeleteSchedule) -> Done:
    """Delete a schedule; runs it already started are kept."""
    before = _row(ctx, req.name)
    ctx.conn.execute(delete(schedules).where(schedules.c.name == req.name))
    ctx.work.record("schedule", req.name, before=dict(before))
    ctx.work.emit("schedule.deleted", req.name, {"name": req.name})
    return Done()


@ops.write("POST", "/schedule-claims", permission="schedules:run", audit="schedule.fired")
def claim_due_schedule(ctx: OperationContext, req: ClaimDueSchedule) -> ClaimedSchedule:
    """Claim the oldest due schedule for one firing, advancing it; nothing when none is due."""
    now = ctx.now_ms() if req.now is None else req.now
    s = schedules.c
    for _ in range(_CLAIM_ATTEMPTS):
        row = (
            ctx.conn.execute(
                select(schedules)
                .where(s.enabled.is_(True), s.next_run_at <= now)
                .order_by(s.next_run_at, s.name)
                .limit(1)
            )
            .mappings()
            .first()
        )
        if row is None:
            return ClaimedSchedule()
        if row["cron"] == ONCE:
            values: dict[str, Any] = {"enabled": False}
        else:
            values = {"next_run_at": next_occurrence(row["cron"], now)}
        # Compare-and-set: a concurrent PostgreSQL claimer that advanced it first wins.
        claimed = ctx.conn.execute(
            update(schedules)
            .where(s.name == row["name"], s.next_run_at == row["next_run_at"], s.enabled.is_(True))
            .values(values)
        )
        if claimed.rowcount != 1:
            continue
        due = int(row["next_run_at"])
        ctx.work.record("schedule", row["name"], after={"due_at": due, **values})
        ctx.work.emit(
            "schedule.fired",
            row["name"],
            {"name": row["name"], "pipeline_ref": row["pipeline_ref"], "due_at": due},
        )
        return ClaimedSchedule(schedule=_info({**row, **values}), due_at=due)
    raise Conflict("other schedulers are claiming the same schedules; retry")


@ops.write(
    "POST",
    "/schedules/{name}/results",
    permission="schedules:run",
    audit="schedule.run.recorded",
)
def record_schedule_result(ctx: OperationContext, req: RecordScheduleResult) -> ScheduleInfo:
    """Keep the outcome of a firing on its schedule: when, which run, and the error if any."""
    before = _row(ctx, req.name)
    values = {"last_run_at": req.run_at, "last_run_id": req.run_id, "last_error": req.error}
    ctx.conn.execute(update(schedules).where(schedules.c.name == req.name).values(values))
    ctx.work.record("schedule", req.name, after=values)
    outcome = "schedule.completed" if req.error is None else "schedule.failed"
    error = None if req.error is None else req.error[:2000]
    ctx.work.emit(outcome, req.name, {"name": req.name, "run_id": req.run_id, "error": error})
    return _info({**before, **values})


OPERATIONS = ops.operations
