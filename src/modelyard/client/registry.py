"""The registry from Python: ``Client().registry.register("churn", "runs:/<id>/model")``."""

from __future__ import annotations

import builtins
import hashlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.client import remote_files
from modelyard.client.local_files import check_local_source, file_uri_path
from modelyard.config import Settings, get_settings
from modelyard.core.backend import Backend
from modelyard.environments import operations as env_ops
from modelyard.environments.models import FindEnvironmentByHash
from modelyard.errors import InvalidInput, NotFound
from modelyard.pipelines import operations as pipeline_ops
from modelyard.pipelines.models import GetPipelineRun
from modelyard.registry import operations as ops
from modelyard.registry.loading import LoadedModel, fetch_version, load_folder
from modelyard.registry.models import (
    AliasChange,
    ArchiveVersion,
    CreateModel,
    DeleteAlias,
    DeleteVersion,
    Evaluation,
    GetAliasHistory,
    GetModel,
    GetVersion,
    ListEvaluations,
    ListModels,
    ListVersions,
    ModelVersion,
    RecordEvaluation,
    RegisteredModel,
    RegisterVersion,
    ResolveModelUri,
    SetAlias,
    UpdateModel,
)
from modelyard.registry.packaging import write_package
from modelyard.storage.artifacts import files_of, normalize_artifact_path
from modelyard.storage.artifacts.manifests import manifest_bytes
from modelyard.tracking import operations as tracking_ops
from modelyard.tracking.models import ListArtifacts

if TYPE_CHECKING:
    from modelyard.cards.models import ModelCard
    from modelyard.registry.evaluation import Comparison


# Sources that look like ours but are not a place files come from.
_NOT_SOURCES = ("models:/", "runs:", "pipelines:")


class RegistryClient:
    """Registered models, their versions and aliases, on any backend."""

    def __init__(self, backend: Backend, settings: Settings | None = None) -> None:
        self._backend = backend
        self._settings = settings

    def _put_manifest(self, files: dict[str, dict[str, Any]]) -> str:
        return self._backend.put_blob_bytes(manifest_bytes(files)).sha256

    def _files_of_run(self, source: str) -> tuple[str, dict[str, dict[str, Any]]]:
        rest = source.removeprefix("runs:/")
        run_id, _, path = rest.partition("/")
        if not run_id:
            raise InvalidInput(f"'{source}': use runs:/RUN_ID/PATH")
        prefix = normalize_artifact_path(path) if path else None
        artifacts = self._backend.call(
            tracking_ops.list_artifacts, ListArtifacts(run_id=run_id, prefix=prefix)
        ).artifacts
        if not artifacts:
            raise InvalidInput(
                f"run '{run_id}' has no artifacts under '{path}'",
                details={"run_id": run_id, "path": path},
            )
        files = {}
        for artifact in artifacts:
            rel = artifact.path if prefix is None else artifact.path[len(prefix) :].lstrip("/")
            files[rel or Path(artifact.path).name] = {
                "sha256": artifact.sha256,
                "size": artifact.size,
            }
        return run_id, files

    def _files_of_step(self, source: str) -> tuple[str, dict[str, dict[str, Any]], str]:
        """``pipelines:/RUN_ID/STEP/OUTPUT``: the files of one output of a step run."""
        parts = source.removeprefix("pipelines:/").split("/")
        if len(parts) != 3 or not all(parts):
            raise InvalidInput(f"'{source}': use pipelines:/PIPELINE_RUN_ID/STEP/OUTPUT")
        run_id, step, output = parts
        run = self._backend.call(pipeline_ops.get_pipeline_run, GetPipelineRun(run_id=run_id))
        step_run = next((s for s in run.steps if s.node == step), None)
        if step_run is None:
            raise NotFound(
                f"pipeline run '{run_id}' has no step '{step}' (steps: "
                f"{', '.join(s.node for s in run.steps) or 'none'})",
                details={"kind": "step", "id": f"{run_id}/{step}"},
            )
        if output not in step_run.outputs:
            raise NotFound(
                f"step '{step}' of pipeline run '{run_id}' has no output '{output}' (outputs: "
                f"{', '.join(step_run.outputs) or 'none'})",
                details={"kind": "step output", "id": f"{run_id}/{step}/{output}"},
            )
        # A step run indexes each output's files as its artifacts under outputs/NAME/; a
        # returned file or folder (the "path" materializer) sits in its data/ subfolder.
        where = f"outputs/{output}"
        materializer = step_run.outputs[output].materializer
        if materializer == "path":
            where += "/data"
        run_id, files = self._files_of_run(f"runs:/{step_run.run_id}/{where}")
        return run_id, files, materializer

    def _files_of_path(self, path: Path) -> dict[str, dict[str, Any]]:
        files = {}
        # Every file is checked (links, special files) before the first is uploaded.
        for rel, file in files_of(path):
            blob = self._backend.put_blob(file)
            files[rel] = {"sha256": blob.sha256, "size": blob.size}
        return files

    def _files_of_local(
        self, path: Path, allow_outside_cwd: bool
    ) -> tuple[dict[str, dict[str, Any]], str]:
        """A local file or folder's files and the absolute path the version records."""
        check_local_source(path, allow_outside_cwd=allow_outside_cwd)
        return self._files_of_path(path), str(path.resolve())

    def register(
        self,
        name: str,
        source: str | os.PathLike[str],
        *,
        flavor: str | None = None,
        signature: dict[str, Any] | None = None,
        environment_hash: str | None = None,
        metrics: dict[str, float] | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        trusted: bool = False,
        reason: str | None = None,
        allow_outside_cwd: bool = False,
        recorded_source: str | None = None,
    ) -> ModelVersion:
        """Register a new version from ``runs:/RUN_ID/PATH``, ``pipelines:/RUN_ID/STEP/OUTPUT``,
        ``s3://BUCKET/KEY``, ``http(s)://...``, a local file or folder, or its ``file:///`` URI.

        From a run or a step, the files are not copied (they are already stored) and the
        run's latest metrics, input datasets and environment are snapshotted on the version.
        Remote files are downloaded and stored, so the version cannot change under its users;
        an ``http(s)://`` URL may not reach a loopback, private or link-local address unless
        the settings allow it (``MODELYARD_ALLOW_PRIVATE_URLS``,
        ``MODELYARD_PRIVATE_URL_HOSTS``). A local path must lead inside the current working
        folder unless ``allow_outside_cwd`` is true; a folder's links must stay inside it.

        When the files hold a ``modelyard-model.json`` (a saved model), the version records
        its flavor and signature unless given; a ``flavor`` that contradicts it is refused.
        ``trusted`` is never read from the files. ``recorded_source`` is what the version
        records as its source when ``source`` is not where the files come from (files saved
        for this call into a temporary folder: ``modelyard.models.register`` records the
        model's class); by default, the source itself (a local path made absolute).
        """
        text = os.fspath(source)
        run_id = None
        if text.startswith("runs:/"):
            run_id, files = self._files_of_run(text)
        elif text.startswith("pipelines:/"):
            run_id, files, materializer = self._files_of_step(text)
            # A step's scikit-learn output is stored with skops: the sklearn flavor.
            if flavor is None and materializer == "sklearn.skops":
                flavor = "sklearn"
        elif remote_files.is_remote(text):
            with tempfile.TemporaryDirectory(prefix="modelyard-fetch-") as tmp:
                settings = self._settings or get_settings()
                files = self._files_of_path(remote_files.fetch(text, Path(tmp), settings))
        elif text.startswith("file:"):
            files, text = self._files_of_local(file_uri_path(text), allow_outside_cwd)
        elif "://" in text or text.startswith(_NOT_SOURCES):
            raise InvalidInput(
                f"'{text}': register from runs:/RUN_ID/PATH, pipelines:/RUN_ID/STEP/OUTPUT, "
                "s3://, http(s)://, file:///PATH or a local file or folder",
                details={"source": text},
            )
        else:
            files, text = self._files_of_local(Path(text), allow_outside_cwd)
        request = RegisterVersion(
            model=name,
            source=text if recorded_source is None else recorded_source,
            manifest=self._put_manifest(files),
            run_id=run_id,
            flavor=flavor,
            signature=signature,
            environment_hash=environment_hash,
            metrics=metrics,
            trusted=trusted,
            description=description,
            tags=dict(tags or {}),
        )
        return self._backend.call(ops.register_version, request, reason=reason)

    def create(
        self, name: str, *, description: str | None = None, tags: dict[str, str] | None = None
    ) -> RegisteredModel:
        request = CreateModel(name=name, description=description, tags=dict(tags or {}))
        return self._backend.call(ops.create_model, request)

    def get(self, name: str) -> RegisteredModel:
        return self._backend.call(ops.get_model, GetModel(name=name))

    def card(self, uri: str) -> ModelCard:
        """The model card of a version (``models:/churn@champion``): details, parameters,
        quantitative analysis and considerations, from the records. Render it with
        ``modelyard.cards.render.markdown`` or ``html_page``."""
        # Cards load on first use, so `import modelyard` stays fast.
        from modelyard.cards import operations as cards
        from modelyard.cards.models import GetModelCard

        return self._backend.call(cards.get_model_card, GetModelCard(uri=uri))

    def update(
        self,
        name: str,
        *,
        description: str | None = None,
        owner: str | None = None,
        intended_use: str | None = None,
        limitations: str | None = None,
        reason: str | None = None,
    ) -> RegisteredModel:
        """Change what the model's card says; None leaves a field as it is, "" clears it."""
        given = {
            "description": description,
            "owner": owner,
            "intended_use": intended_use,
            "limitations": limitations,
        }
        request = UpdateModel(name=name, **{k: v for k, v in given.items() if v is not None})
        return self._backend.call(ops.update_model, request, reason=reason)

    def list(self) -> builtins.list[RegisteredModel]:
        return self._backend.call(ops.list_models, ListModels()).models

    def versions(self, name: str) -> builtins.list[ModelVersion]:
        return self._backend.call(ops.list_versions, ListVersions(model=name)).versions

    def version(self, name: str, version: int) -> ModelVersion:
        return self._backend.call(ops.get_version, GetVersion(model=name, version=version))

    def resolve(self, uri: str) -> ModelVersion:
        """The version ``models:/NAME/VERSION``, ``models:/NAME/latest`` or ``models:/NAME@ALIAS``
        means now."""
        return self._backend.call(ops.resolve_uri, ResolveModelUri(uri=uri))

    def set_alias(
        self, name: str, alias: str, version: int, *, reason: str | None = None
    ) -> ModelVersion:
        request = SetAlias(model=name, alias=alias, version=version)
        return self._backend.call(ops.set_alias, request, reason=reason)

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None) -> None:
        self._backend.call(ops.delete_alias, DeleteAlias(model=name, alias=alias), reason=reason)

    def alias_history(self, name: str, alias: str) -> builtins.list[AliasChange]:
        request = GetAliasHistory(model=name, alias=alias)
        return self._backend.call(ops.get_alias_history, request).changes

    def archive(self, name: str, version: int, *, reason: str | None = None) -> ModelVersion:
        request = ArchiveVersion(model=name, version=version)
        return self._backend.call(ops.archive_version, request, reason=reason)

    def delete_version(self, name: str, version: int, *, reason: str | None = None) -> None:
        """Delete a version's record (refused while an alias or a deployment uses it)."""
        request = DeleteVersion(model=name, version=version)
        self._backend.call(ops.delete_version, request, reason=reason)

    def record_evaluation(
        self, request: RecordEvaluation, *, reason: str | None = None
    ) -> Evaluation:
        """Keep a comparison result on its candidate version."""
        return self._backend.call(ops.record_evaluation, request, reason=reason)

    def evaluations(self, name: str, version: int) -> builtins.list[Evaluation]:
        request = ListEvaluations(model=name, version=version)
        return self._backend.call(ops.list_evaluations, request).evaluations

    def load(self, uri: str) -> LoadedModel:
        """Download the version ``uri`` names and load it (``modelyard.models.load`` for
        ``models:/`` URIs)."""
        folder = Path(tempfile.mkdtemp(prefix="modelyard-load-"))
        try:
            version, _ = fetch_version(self._backend, uri, folder)
            loaded = load_folder(folder, version)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        # A python model may read its artifacts lazily: keep the folder while the model lives.
        weakref.finalize(loaded, shutil.rmtree, folder, ignore_errors=True)
        return loaded

    def compare(
        self,
        candidate: str,
        baseline: str | None,
        data: str | os.PathLike[str],
        *,
        target: str,
        metrics: Sequence[str],
        gates: Sequence[str] = (),
        record: bool = True,
        reason: str | None = None,
    ) -> tuple[ModelVersion, ModelVersion | None, Comparison, Evaluation | None]:
        """Evaluate ``candidate`` (and ``baseline``) on the table ``data`` and check ``gates``
        such as ``"auc >= baseline + 0.01"``; the result is kept on the candidate version
        unless ``record`` is false."""
        # Evaluation needs pandas and scikit-learn's metrics: loaded only to compare.
        from modelyard.registry.evaluation import compare, read_table
        from modelyard.registry.gates import Gate

        parsed = [Gate.parse(g) for g in gates]  # refuse a bad gate before any download
        path = Path(data)
        frame = read_table(path)
        loaded = self.load(candidate)
        base = None if baseline is None else self.load(baseline)
        comparison = compare(loaded, base, frame, target, metrics, parsed)
        assert loaded.version is not None
        base_version = None if base is None else base.version
        if not record:
            return loaded.version, base_version, comparison, None
        table = comparison.to_dict()
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        request = RecordEvaluation(
            model=loaded.version.model,
            version=loaded.version.version,
            baseline_model=None if base_version is None else base_version.model,
            baseline_version=None if base_version is None else base_version.version,
            data=str(path.resolve()),
            data_sha256=digest,
            rows=len(frame),
            target=target,
            metrics={row["metric"]: row["candidate"] for row in table["metrics"]},
            baseline_metrics=None
            if base_version is None
            else {row["metric"]: row["baseline"] for row in table["metrics"]},
            gates=table["gates"],
            passed=comparison.passed if parsed else None,
        )
        stored = self.record_evaluation(request, reason=reason)
        return loaded.version, base_version, comparison, stored

    def download(self, uri: str, dest: str | os.PathLike[str]) -> Path:
        """Write a version's files under ``dest`` (each hash checked); returns ``dest``."""
        return fetch_version(self._backend, uri, Path(dest))[1]

    def package(self, uri: str, out: str | os.PathLike[str]) -> Path:
        """Write a self-contained package of the version ``uri`` names into the new or empty
        folder ``out``: its files, environment, scorer, Dockerfile, k8s manifests, manifest."""
        version = self.resolve(uri)
        root = Path(out)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise InvalidInput(f"'{root}' is not empty: package into a new or empty folder")
        environment = None
        if version.environment_hash is not None:
            request = FindEnvironmentByHash(hash=version.environment_hash)
            environment = self._backend.call(env_ops.find_environment_by_hash, request).model_dump(
                mode="json"
            )
        created = not root.exists()
        try:
            # Download the resolved version, not the URI again: an alias may move meanwhile.
            self.download(version.uri, root / "model")
            return write_package(version, root / "model", root, environment=environment)
        except BaseException:
            # Leave the folder as it was (absent or empty), so the same command can run again.
            for leftover in [root] if created else list(root.iterdir()):
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
            raise
