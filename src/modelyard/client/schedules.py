"""``SchedulesClient``: pipeline schedules and one-off triggers on any backend."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelyard.client.pipelines import PipelinesClient
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


def is_local_pipeline(ref: str) -> bool:
    """Whether ``ref`` names pipeline code on this machine (a file, or ``module:NAME``)
    rather than a registered pipeline (``NAME`` or ``NAME:VERSION``)."""
    location, sep, tail = ref.rpartition(":")
    if not sep:
        location = ref
    if Path(location).suffix in (".py", ".yaml", ".yml") or Path(ref).is_file():
        return True
    return bool(sep) and not tail.isdigit()


class SchedulesClient:
    """Create, list, enable, disable and delete schedules; trigger a pipeline once."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def _registered(self, ref: str) -> str:
        """A registered reference for ``ref``: pipeline code on this machine is registered
        first (schedules run only registered code) and pinned to the version it became."""
        if not is_local_pipeline(ref):
            return ref
        return PipelinesClient(self._backend).register(ref).ref

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
        """Run ``pipeline_ref`` on ``cron`` (UTC), e.g. ``"*/15 * * * *"`` or ``"@daily"``.

        ``pipeline_ref`` is a registered pipeline (``train``: its latest version when it
        fires; ``train:3``), or pipeline code here (``flows/train.py:train``), which is
        registered first and scheduled as the version it became.
        """
        request = CreateSchedule(
            name=name,
            pipeline_ref=self._registered(pipeline_ref),
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
        """Ask for one run now; a running scheduler fires it (a ``trigger-...`` schedule).

        ``pipeline_ref`` is as for ``create``: local code is registered first.
        """
        request = TriggerPipeline(
            pipeline_ref=self._registered(pipeline_ref),
            params=dict(params or {}),
            executor=executor,
        )
        return self._backend.call(ops.trigger_pipeline, request)
