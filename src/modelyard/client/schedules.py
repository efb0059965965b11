"""``SchedulesClient``: pipeline schedules and one-off triggers on any backend."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelyard.core.backend import Backend
from modelyard.pipelines import schedules as ops
from modelyard.pipelines.schedules import (
    CreateSchedule,
    DeleteSchedule,
    GetSchedule,
    ListSchedules,
    ScheduleInfo,
    SetScheduleEnabled,
    TriggerPipeline,
)


def absolute_ref(ref: str) -> str:
    """A pipeline reference whose file exists here, made absolute.

    A scheduler runs in another folder (or process) than the one the schedule is made in;
    a module reference (``package.module:NAME``) is left as it is.
    """
    location, sep, name = ref, "", ""
    if ":" in ref and not Path(ref).exists():
        location, sep, name = ref.rpartition(":")
    path = Path(location)
    if path.suffix in (".py", ".yaml", ".yml") and path.is_file():
        return f"{path.resolve()}{sep}{name}"
    return ref


class SchedulesClient:
    """Create, list, enable, disable and delete schedules; trigger a pipeline once."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def create(
        self,
        name: str,
        pipeline_ref: str,
        cron: str,
        *,
        params: Mapping[str, Any] | None = None,
        executor: str = "inline",
        enabled: bool = True,
    ) -> ScheduleInfo:
        """Run ``pipeline_ref`` on ``cron`` (UTC), e.g. ``"*/15 * * * *"`` or ``"@daily"``."""
        request = CreateSchedule(
            name=name,
            pipeline_ref=absolute_ref(pipeline_ref),
            cron=cron,
            params=dict(params or {}),
            executor=executor,
            enabled=enabled,
        )
        return self._backend.call(ops.create_schedule, request)

    def list(self, *, enabled: bool | None = None) -> builtins.list[ScheduleInfo]:
        return self._backend.call(ops.list_schedules, ListSchedules(enabled=enabled)).schedules

    def get(self, name: str) -> ScheduleInfo:
        return self._backend.call(ops.get_schedule, GetSchedule(name=name))

    def enable(self, name: str) -> ScheduleInfo:
        """Enable a schedule; its next run is the next occurrence from now."""
        request = SetScheduleEnabled(name=name, enabled=True)
        return self._backend.call(ops.set_schedule_enabled, request)

    def disable(self, name: str) -> ScheduleInfo:
        request = SetScheduleEnabled(name=name, enabled=False)
        return self._backend.call(ops.set_schedule_enabled, request)

    def delete(self, name: str) -> None:
        self._backend.call(ops.delete_schedule, DeleteSchedule(name=name))

    def trigger(
        self,
        pipeline_ref: str,
        *,
        params: Mapping[str, Any] | None = None,
        executor: str = "inline",
    ) -> ScheduleInfo:
        """Ask for one run now; a running scheduler fires it (a ``trigger-...`` schedule)."""
        request = TriggerPipeline(
            pipeline_ref=absolute_ref(pipeline_ref), params=dict(params or {}), executor=executor
        )
        return self._backend.call(ops.trigger_pipeline, request)
