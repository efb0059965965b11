"""``Client``: the typed Python face of the tracking operations, on any backend.

Each method builds the operation's request model and hands it to the backend; the logic
lives in the operation (``modelyard.tracking.operations``), not here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.config import Settings, get_settings
from modelyard.core.backend import Backend, open_backend
from modelyard.environments.current import register_current
from modelyard.errors import InvalidInput, NotFound
from modelyard.housekeeping import operations as housekeeping
from modelyard.housekeeping.models import CollectGarbage, GarbageReport
from modelyard.storage.artifacts import files_in, files_of, normalize_artifact_path, safe_target
from modelyard.tracking import operations as ops
from modelyard.tracking.models import (
    Artifact,
    CreateExperiment,
    CreateRun,
    DatasetInput,
    DeleteRun,
    EnsureExperiment,
    Experiment,
    FindExperiment,
    GetExperiment,
    GetMetricHistory,
    GetRun,
    ListArtifacts,
    ListExperiments,
    LogArtifact,
    LogBatch,
    LogInput,
    Metric,
    Run,
    RunPage,
    RunStatus,
    SearchRuns,
    Source,
    UpdateRun,
)

if TYPE_CHECKING:
    from modelyard.client.accounts import AccountsClient
    from modelyard.client.approvals import ApprovalsClient
    from modelyard.client.audit import AuditClient
    from modelyard.client.environments import EnvironmentsClient
    from modelyard.client.lineage import LineageClient
    from modelyard.client.pipelines import PipelinesClient
    from modelyard.client.registry import RegistryClient
    from modelyard.client.retention import RetentionClient
    from modelyard.client.schedules import SchedulesClient
    from modelyard.client.secrets import SecretsClient
    from modelyard.client.serving import ServingClient

MetricLike = Metric | Mapping[str, Any]


class Client:
    """Tracking client. ``Client()`` uses ``MODELYARD_URI``; pass ``backend=`` to inject one."""

    def __init__(
        self,
        uri: str | None = None,
        *,
        settings: Settings | None = None,
        backend: Backend | None = None,
    ) -> None:
        if settings is None:
            settings = (
                get_settings() if uri is None else get_settings().model_copy(update={"uri": uri})
            )
        self.settings = settings
        if backend is None:
            backend = open_backend(settings)
        self.backend = backend

    @cached_property
    def environments(self) -> EnvironmentsClient:
        """Environments: create from specs, look up, capture, materialize and export."""
        # Each sub-client loads on first use, so `import modelyard` stays fast.
        from modelyard.client.environments import EnvironmentsClient

        return EnvironmentsClient(self.backend, self.settings)

    @property
    def registry(self) -> RegistryClient:
        """Registered models, versions and aliases."""
        # Each sub-client loads on first use, so `import modelyard` stays fast.
        from modelyard.client.registry import RegistryClient

        return RegistryClient(self.backend, self.settings)

    @property
    def pipelines(self) -> PipelinesClient:
        """Pipeline definitions, runs and step runs."""
        # Each sub-client loads on first use, so `import modelyard` stays fast.
        from modelyard.client.pipelines import PipelinesClient

        return PipelinesClient(self.backend)

    @property
    def serving(self) -> ServingClient:
        """Endpoints, deployments, traffic splits and rollouts."""
        # Each sub-client loads on first use, so `import modelyard` stays fast.
        from modelyard.client.serving import ServingClient

        return ServingClient(self.backend)

    @property
    def schedules(self) -> SchedulesClient:
        """Pipeline schedules (cron) and one-off triggers."""
        # Each sub-client loads on first use, so `import modelyard` stays fast.
        from modelyard.client.schedules import SchedulesClient

        return SchedulesClient(self.backend)

    @property
    def accounts(self) -> AccountsClient:
        """Users, service accounts and API tokens; who you are to the backend."""
        # Each sub-client loads on first use, so `import modelyard` stays fast.
        from modelyard.client.accounts import AccountsClient

        return AccountsClient(self.backend)

    @property
    def approvals(self) -> ApprovalsClient:
        """Protection rules on aliases and traffic, and the approval requests they make."""
        # Each sub-client loads on first use, so `import modelyard` stays fast.
        from modelyard.client.approvals import ApprovalsClient

        return ApprovalsClient(self.backend)

    @property
    def secrets(self) -> SecretsClient:
        """Named secrets the store keeps encrypted: set, list (names only), delete."""
        # Each sub-client loads on first use, so `import modelyard` stays fast.
        from modelyard.client.secrets import SecretsClient

        return SecretsClient(self.backend)

    @property
    def audit(self) -> AuditClient:
        """The audit log: query, verify, checkpoint and export it."""
        # Each sub-client loads on first use, so `import modelyard` stays fast.
        from modelyard.client.audit import AuditClient

        return AuditClient(self.backend)

    @property
    def retention(self) -> RetentionClient:
        """Retention rules (what may go once old) and passes applying them."""
        # Each sub-client loads on first use, so `import modelyard` stays fast.
        from modelyard.client.retention import RetentionClient

        return RetentionClient(self.backend)

    @property
    def lineage(self) -> LineageClient:
        """Lineage: ``client.lineage("models:/churn/3")``; ``client.lineage.events()`` for
        OpenLineage."""
        # Each sub-client loads on first use, so `import modelyard` stays fast.
        from modelyard.client.lineage import LineageClient

        return LineageClient(self.backend, self.settings)

    # experiments ---------------------------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        *,
        workspace: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        reason: str | None = None,
    ) -> Experiment:
        request = CreateExperiment(
            name=name, workspace=workspace, description=description, tags=dict(tags or {})
        )
        return self.backend.call(ops.create_experiment, request, reason=reason)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.backend.call(ops.get_experiment, GetExperiment(experiment_id=experiment_id))

    def get_experiment_by_name(self, name: str, *, workspace: str | None = None) -> Experiment:
        request = FindExperiment(name=name, workspace=workspace)
        return self.backend.call(ops.find_experiment, request)

    def get_or_create_experiment(self, name: str, *, workspace: str | None = None) -> Experiment:
        """The experiment ``name``, created if missing; concurrent callers get the same one."""
        try:
            # A read first: it takes no write lock, and the experiment usually exists.
            return self.get_experiment_by_name(name, workspace=workspace)
        except NotFound:
            request = EnsureExperiment(name=name, workspace=workspace)
            return self.backend.call(ops.ensure_experiment, request)

    def list_experiments(self, *, workspace: str | None = None) -> list[Experiment]:
        request = ListExperiments(workspace=workspace)
        return self.backend.call(ops.list_experiments, request).experiments

    # runs ----------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        *,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        parent_run_id: str | None = None,
        source: Source | None = None,
        environment_hash: str | None = None,
        start_time: int | None = None,
    ) -> Run:
        """Start a run in ``experiment_id``.

        Its environment is ``environment_hash``, else this interpreter's: captured once per
        process and registered in the store the first time (``environments.current``), so
        ``modelyard env show`` resolves what the run records.
        """
        if environment_hash is None:
            environment_hash = register_current(self.backend)
        request = CreateRun(
            experiment_id=experiment_id,
            name=name,
            tags=dict(tags or {}),
            description=description,
            parent_run_id=parent_run_id,
            source=source or Source(),
            environment_hash=environment_hash,
            start_time=start_time,
        )
        return self.backend.call(ops.create_run, request)

    def get_run(self, run_id: str) -> Run:
        return self.backend.call(ops.get_run, GetRun(run_id=run_id))

    def set_terminated(
        self,
        run_id: str,
        status: RunStatus | str = RunStatus.FINISHED,
        *,
        failure: str | None = None,
        end_time: int | None = None,
    ) -> Run:
        request = UpdateRun(
            run_id=run_id, status=RunStatus(status), failure=failure, end_time=end_time
        )
        return self.backend.call(ops.update_run, request)

    def update_run(
        self, run_id: str, *, name: str | None = None, description: str | None = None
    ) -> Run:
        request = UpdateRun(run_id=run_id, name=name, description=description)
        return self.backend.call(ops.update_run, request)

    def delete_run(self, run_id: str, *, reason: str | None = None) -> None:
        self.backend.call(ops.delete_run, DeleteRun(run_id=run_id), reason=reason)

    def search_runs(
        self,
        experiment_ids: Iterable[str],
        filter: str | None = None,
        *,
        order_by: Iterable[str] = (),
        max_results: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        """Runs matching ``filter`` (e.g. ``"metrics.acc > 0.9 and params.model = 'rf'"``)."""
        request = SearchRuns(
            experiment_ids=list(experiment_ids),
            filter=filter,
            order_by=list(order_by),
            max_results=max_results,
            page_token=page_token,
            include_deleted=include_deleted,
        )
        return self.backend.call(ops.search_runs, request)

    def iter_runs(
        self,
        experiment_ids: Iterable[str],
        filter: str | None = None,
        *,
        order_by: Iterable[str] = (),
        page_size: int = 1000,
    ) -> Iterator[Run]:
        """Every matching run, fetching pages as needed."""
        ids, order = list(experiment_ids), list(order_by)
        token: str | None = None
        while True:
            page = self.search_runs(
                ids, filter, order_by=order, max_results=page_size, page_token=token
            )
            yield from page.runs
            if page.next_page_token is None:
                return
            token = page.next_page_token

    # logging -------------------------------------------------------------------------------

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Iterable[MetricLike] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Log metrics, params and tags in one call and one transaction."""
        request = LogBatch(
            run_id=run_id,
            metrics=list(metrics),  # dicts are validated into Metric
            params={k: str(v) for k, v in (params or {}).items()},
            tags={k: str(v) for k, v in (tags or {}).items()},
        )
        self.backend.call(ops.log_batch, request)

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        *,
        step: int = 0,
        timestamp: int | None = None,
    ) -> None:
        self.log_batch(
            run_id, metrics=[{"key": key, "value": value, "step": step, "timestamp": timestamp}]
        )

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.log_batch(run_id, params={key: value})

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.log_batch(run_id, tags={key: value})

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        request = GetMetricHistory(run_id=run_id, key=key)
        return self.backend.call(ops.get_metric_history, request).metrics

    def log_input(self, run_id: str, dataset: DatasetInput) -> None:
        self.backend.call(ops.log_input, LogInput(run_id=run_id, dataset=dataset))

    # artifacts -----------------------------------------------------------------------------

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> Artifact:
        """Upload a file; it is stored under ``artifact_path/<file name>`` of the run."""
        source = Path(local_path)
        if not source.is_file():
            raise InvalidInput(f"'{source}' is not a file: pass a file, or use log_artifacts")
        [(name, file)] = files_of(source)
        target = f"{artifact_path.rstrip('/')}/{name}" if artifact_path else name
        return self._log_file(run_id, file, normalize_artifact_path(target))

    def _log_file(self, run_id: str, file: Path, target: str) -> Artifact:
        """Upload ``file`` and index it at ``target``, a path already normalized: checked
        before the upload, so a refused path leaves no blob behind."""
        blob = self.backend.put_blob(file)
        request = LogArtifact(run_id=run_id, path=target, sha256=blob.sha256, size=blob.size)
        return self.backend.call(ops.log_artifact, request)

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[Artifact]:
        """Upload every file under a folder, keeping its layout under ``artifact_path``.

        Links are followed only while they stay inside the folder (``files_in``); every file
        and every artifact path is checked before the first is uploaded.
        """
        root = Path(local_dir)
        if not root.is_dir():
            raise InvalidInput(f"'{root}' is not a folder: pass a folder, or use log_artifact")
        prefix = f"{artifact_path.rstrip('/')}/" if artifact_path else ""
        # Every path is checked before the first upload: one refused name (a file called
        # "a?b") logs nothing, rather than the files that happened to come before it.
        targets = [(normalize_artifact_path(prefix + rel), file) for rel, file in files_in(root)]
        return [self._log_file(run_id, file, target) for target, file in targets]

    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[Artifact]:
        request = ListArtifacts(run_id=run_id, prefix=prefix)
        return self.backend.call(ops.list_artifacts, request).artifacts

    def download_artifacts(
        self, run_id: str, path: str | None = None, dest: str | os.PathLike[str] = "."
    ) -> list[Path]:
        """Download one artifact or a folder of them into ``dest``, verifying each hash."""
        artifacts = self.list_artifacts(run_id, path)
        if not artifacts:
            raise NotFound(
                f"run '{run_id}' has no artifact at '{path or ''}'",
                details={"kind": "artifact", "id": f"{run_id}/{path or ''}"},
            )
        root = Path(dest)
        # The store's paths are data: each is checked before the first file is written, so a
        # path that would leave ``dest`` writes nothing at all.
        targets = [(artifact.sha256, safe_target(root, artifact.path)) for artifact in artifacts]
        for sha256, target in targets:
            self.backend.get_blob(sha256, target)
        return [target for _, target in targets]

    # housekeeping ----------------------------------------------------------------------------

    def collect_garbage(
        self,
        *,
        dry_run: bool = False,
        min_age_seconds: int | None = None,
        reason: str | None = None,
    ) -> GarbageReport:
        """Delete blobs no record names, older than ``min_age_seconds`` (default: the
        setting ``MODELYARD_GC_MIN_AGE_SECONDS``); ``dry_run`` only counts them."""
        if min_age_seconds is None:
            min_age_seconds = self.settings.gc_min_age_seconds
        request = CollectGarbage(dry_run=dry_run, min_age_seconds=min_age_seconds)
        return self.backend.call(housekeeping.collect, request, reason=reason)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
