"""The notebook API: ``with modelyard.start_run(): modelyard.log_metric(...)``.

One process-wide session holds the client, the metric buffer and the stack of active
runs. Metrics go through the buffer (sent in batches by a background thread); params,
tags, inputs and artifacts are sent at once, so a conflict is reported where it happens.
At interpreter exit the buffer is flushed and runs still open are ended.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from modelyard.client.batching import MetricBuffer
from modelyard.client.client import Client
from modelyard.config import Settings, get_settings
from modelyard.errors import InvalidInput
from modelyard.pipelines.context import step_datasets, step_metrics
from modelyard.tracking.models import (
    Artifact,
    Metric,
    Run,
    RunStatus,
    check_step,
    validate_key,
)

if TYPE_CHECKING:
    from modelyard.executors import Executor
    from modelyard.pipelines.definition import PipelineDef
    from modelyard.pipelines.dsl import Pipeline
    from modelyard.pipelines.runner import PipelineRunResult, StepEvent

DEFAULT_EXPERIMENT = "Default"


class ActiveRun:
    """A started run; as a context manager it ends the run FINISHED, FAILED or KILLED."""

    def __init__(self, run: Run, session: _Session) -> None:
        self.run = run
        self._session = session

    @property
    def id(self) -> str:
        return self.run.id

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self._session.end_run(RunStatus.FINISHED, run_id=self.id)
        elif issubclass(exc_type, KeyboardInterrupt):
            self._session.end_run(RunStatus.KILLED, run_id=self.id, failure="interrupted")
        else:
            failure = "".join(traceback.format_exception(exc_type, exc, tb))
            self._session.end_run(RunStatus.FAILED, run_id=self.id, failure=failure)


class _Session:
    def __init__(self, settings: Settings) -> None:
        self.client = Client(settings=settings)
        self.buffer = MetricBuffer(
            self._send_metrics,
            batch_size=settings.metric_batch_size,
            flush_seconds=settings.metric_flush_seconds,
        )
        self.stack: list[str] = []
        self.lock = threading.RLock()
        self._valid_keys: set[str] = set()

    def _send_metrics(self, run_id: str, metrics: list[Metric]) -> None:
        self.client.log_batch(run_id, metrics=metrics)

    def active_run_id(self) -> str:
        with self.lock:
            if not self.stack:
                raise InvalidInput(
                    "no active run: call modelyard.start_run() first "
                    "(or use `with modelyard.start_run():`)"
                )
            return self.stack[-1]

    def log_metric(self, key: str, value: float, step: int, timestamp: int | None) -> None:
        if key not in self._valid_keys:
            validate_key(key, "metric name")
            self._valid_keys.add(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                value = float(value)  # NumPy scalars and the like
            except (TypeError, ValueError):
                raise InvalidInput(
                    f"metric '{key}' must be a number, got {type(value).__name__}"
                ) from None
        metric = Metric.model_construct(
            key=key,
            value=float(value),
            step=check_step(step, key),
            timestamp=timestamp if timestamp is not None else time.time_ns() // 1_000_000,
        )
        self.buffer.add(self.active_run_id(), metric)

    def end_run(
        self, status: RunStatus, *, run_id: str | None = None, failure: str | None = None
    ) -> None:
        with self.lock:
            target = run_id or self.active_run_id()
            if target in self.stack:
                # Nested runs opened inside this one end with it.
                while self.stack and self.stack[-1] != target:
                    self.client.set_terminated(self.stack.pop(), status)
                self.stack.pop()
        try:
            self.buffer.flush()
        finally:
            self.client.set_terminated(target, status, failure=failure)

    def close(self) -> None:
        try:
            with self.lock:
                while self.stack:
                    self.end_run(RunStatus.FINISHED, run_id=self.stack[-1])
        finally:
            self.buffer.close()
            self.client.close()


_session: _Session | None = None
_session_lock = threading.Lock()


def _current() -> _Session:
    global _session
    with _session_lock:
        if _session is None:
            _session = _Session(get_settings())
        return _session


def connect(uri: str | None = None, **overrides: Any) -> Client:
    """Point the notebook API at a backend (``sqlite:///...``, ``postgresql://...``, ``http://...``).

    Ends the previous session (flushing its metrics). With no argument, re-reads the
    environment.
    """
    global _session
    with _session_lock:
        previous, _session = _session, None
    if previous is not None:
        previous.close()
    get_settings.cache_clear()
    settings = get_settings()
    updates = {**overrides, **({"uri": uri} if uri is not None else {})}
    if updates:
        settings = settings.model_copy(update=updates)
    with _session_lock:
        _session = _Session(settings)
        return _session.client


def start_run(
    experiment: str | None = None,
    *,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    nested: bool = False,
    workspace: str | None = None,
) -> ActiveRun:
    """Start a run and make it active; use it as a context manager to end it.

    The run records its source (git) and its environment: this interpreter's packages,
    captured and registered once per process (``Client.create_run``).
    """
    # git is asked only when a run starts.
    from modelyard.client.source import capture_source

    session = _current()
    with session.lock:
        parent = session.stack[-1] if session.stack else None
        if parent is not None and not nested:
            raise InvalidInput(
                f"run '{parent}' is already active: end it with modelyard.end_run(), or pass "
                "nested=True to start a child run"
            )
        name = experiment or os.environ.get("MODELYARD_EXPERIMENT") or DEFAULT_EXPERIMENT
        exp = session.client.get_or_create_experiment(name, workspace=workspace)
        run = session.client.create_run(
            exp.id,
            name=run_name,
            tags={k: str(v) for k, v in (tags or {}).items()},
            description=description,
            parent_run_id=parent,
            source=capture_source(),
        )
        session.stack.append(run.id)
        return ActiveRun(run, session)


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the active run (flushing its metrics first)."""
    _current().end_run(RunStatus(status))


def active_run() -> Run | None:
    """The active run as stored now, or None."""
    session = _current()
    with session.lock:
        if not session.stack:
            return None
        run_id = session.stack[-1]
    session.buffer.flush()
    return session.client.get_run(run_id)


def log_metric(key: str, value: float, step: int = 0, *, timestamp: int | None = None) -> None:
    """Log a metric to the active run (buffered; sent in batches).

    Inside a pipeline step, the metric goes to the step's run instead.
    """
    collector = step_metrics()
    if collector is not None:
        validate_key(key, "metric name")
        collector.append((key, float(value), check_step(step, key)))
        return
    _current().log_metric(key, value, step, timestamp)


def log_metrics(values: Mapping[str, float], step: int = 0) -> None:
    """Log several metrics at one step to the active run (or the running step's run)."""
    if step_metrics() is not None:
        for key, value in values.items():
            log_metric(key, value, step)
        return
    session = _current()
    now = time.time_ns() // 1_000_000
    for key, value in values.items():
        session.log_metric(key, value, step, now)


def log_param(key: str, value: Any) -> None:
    """Log a param; logging a different value for the same key is an error."""
    session = _current()
    session.client.log_param(session.active_run_id(), key, value)


def log_params(params: Mapping[str, Any]) -> None:
    session = _current()
    session.client.log_batch(session.active_run_id(), params=params)


def set_tag(key: str, value: Any) -> None:
    session = _current()
    session.client.set_tag(session.active_run_id(), key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    session = _current()
    session.client.log_batch(session.active_run_id(), tags=tags)


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> Artifact:
    """Upload a file to the active run."""
    session = _current()
    return session.client.log_artifact(session.active_run_id(), local_path, artifact_path)


def log_artifacts(
    local_dir: str | os.PathLike[str], artifact_path: str | None = None
) -> list[Artifact]:
    """Upload a folder to the active run, keeping its layout."""
    session = _current()
    return session.client.log_artifacts(session.active_run_id(), local_dir, artifact_path)


def log_input(
    data: Any,
    *,
    name: str | None = None,
    source: str | None = None,
    context: str | None = "training",
) -> None:
    """Record a dataset (DataFrame, array, or file/folder path) the active run read.

    Inside a pipeline step, the dataset is recorded on the step's run instead.
    """
    # Hashing DataFrames and arrays (pandas, pyarrow) loads only when a dataset is logged.
    from modelyard.client.datasets import describe_dataset

    dataset = describe_dataset(data, name=name, source=source, context=context)
    collector = step_datasets()
    if collector is not None:
        collector.append(dataset.model_dump(mode="json", by_alias=True))
        return
    session = _current()
    session.client.log_input(session.active_run_id(), dataset)


def run_pipeline(
    pipeline: Pipeline | PipelineDef,
    params: Mapping[str, Any] | None = None,
    *,
    executor: str | Executor | None = "inline",
    no_cache: bool = False,
    on_event: Callable[[StepEvent], None] | None = None,
    **param_values: Any,
) -> PipelineRunResult:
    """Run a pipeline on the backend MODELYARD_URI names and record it.

    ``executor`` is ``inline`` (default), ``processes[:N]``, ``dask`` (a local cluster) or
    ``dask://host:port``. Parameters come as a mapping or as keyword arguments.
    """
    # The runner (executors, materializers) loads only when a pipeline runs.
    from modelyard.pipelines.runner import run_pipeline as run

    session = _current()
    settings = session.client.settings
    return run(
        pipeline,
        backend=session.client.backend,
        params={**(params or {}), **param_values},
        executor=executor,
        no_cache=no_cache,
        staging_root=settings.home.resolve() / "staging",
        env_cache=settings.resolved_env_cache,
        workspace=settings.workspace,
        on_event=on_event,
    )


def flush() -> None:
    """Send every buffered metric now; raises if the store refused any."""
    if _session is not None:
        _session.buffer.flush()


def _at_exit() -> None:
    global _session
    if _session is not None:
        session, _session = _session, None
        session.close()


atexit.register(_at_exit)
