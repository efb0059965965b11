"""Registry operations: models, versions that number themselves, aliases with history.

A version's files are a manifest of blobs (see ``storage/artifacts/manifests.py``): they
are immutable and hashed. Registering from a run snapshots the run's latest metrics, its
input datasets and its environment. When the files hold a model descriptor at their root,
the version records its flavor and signature unless the request gives them
(``flavors.registered_metadata``): the descriptor is read here, from its one stored blob,
whatever the files came from (a run, a step, a folder, a download).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from modelyard.core.guards import Guard, ProtectedKind
from modelyard.core.operations import Done, OperationContext, OperationSet
from modelyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from modelyard.registry.flavors import (
    DESCRIPTOR,
    MAX_DESCRIPTOR_BYTES,
    parse_descriptor,
    registered_metadata,
)
from modelyard.registry.models import (
    AliasChange,
    AliasHistory,
    ArchiveVersion,
    CreateModel,
    DeleteAlias,
    DeleteVersion,
    Evaluation,
    EvaluationList,
    GetAliasHistory,
    GetModel,
    GetVersion,
    ListEvaluations,
    ListModels,
    ListVersions,
    ModelList,
    ModelUri,
    ModelVersion,
    RecordEvaluation,
    RegisteredModel,
    RegisterVersion,
    ResolveModelUri,
    SetAlias,
    UpdateModel,
    VersionList,
    VersionStatus,
)
from modelyard.storage.artifacts.manifests import Manifest, manifest_blobs, parse_manifest
from modelyard.storage.db.inserts import insert_if_absent
from modelyard.storage.db.tables import (
    alias_history,
    deployments,
    model_aliases,
    model_evaluations,
    model_versions,
    registered_models,
)
from modelyard.tracking import records as tracking_records

ops = OperationSet("registry")


def _model_row(ctx: OperationContext, name: str, *, lock: bool = False) -> Any:
    query = select(registered_models).where(registered_models.c.name == name)
    row = ctx.conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound.of("model", name)
    return row


def _aliases(ctx: OperationContext, name: str) -> dict[str, int]:
    rows = ctx.conn.execute(
        select(model_aliases.c.alias, model_aliases.c.version).where(model_aliases.c.model == name)
    )
    return {str(alias): int(version) for alias, version in rows}


def _model(ctx: OperationContext, row: Any) -> RegisteredModel:
    latest = ctx.conn.execute(
        select(func.max(model_versions.c.version)).where(
            model_versions.c.model == row["name"], _visible()
        )
    ).scalar()
    return RegisteredModel(
        name=row["name"],
        description=row["description"],
        tags=row["tags"] or {},
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        created_by=row["created_by"],
        owner=row.get("owner"),
        intended_use=row.get("intended_use"),
        limitations=row.get("limitations"),
        aliases=_aliases(ctx, row["name"]),
        latest_version=latest,
    )


def _version(row: Any, aliases: dict[str, int]) -> ModelVersion:
    return ModelVersion(
        model=row["model"],
        version=row["version"],
        status=VersionStatus(row["status"]),
        source=row["source"],
        run_id=row["run_id"],
        manifest=row["manifest"],
        size=row["size"],
        flavor=row["flavor"],
        signature=row["signature"],
        environment_hash=row["environment_hash"],
        metrics=row["metrics"] or {},
        datasets=row["datasets"] or [],
        trusted=row["trusted"],
        description=row["description"],
        tags=row["tags"] or {},
        created_at=row["created_at"],
        created_by=row["created_by"],
        aliases=sorted(a for a, v in aliases.items() if v == row["version"]),
    )


def _visible() -> Any:
    return model_versions.c.status != VersionStatus.DELETED.value


def _version_row(ctx: OperationContext, name: str, version: int) -> Any:
    row = (
        ctx.conn.execute(
            select(model_versions).where(
                model_versions.c.model == name, model_versions.c.version == version
            )
        )
        .mappings()
        .first()
    )
    if row is None or row["status"] == VersionStatus.DELETED.value:
        gone = "" if row is None else " (it was deleted)"
        raise NotFound(
            f"model '{name}' has no version {version}{gone}",
            details={"kind": "model version", "id": f"{name}/{version}"},
        )
    return row


def _insert_model(ctx: OperationContext, req: CreateModel) -> dict[str, Any] | None:
    """Insert the model's row unless the name is taken (decided by the key, so concurrent
    creators cannot both win): the row, or None when it already existed."""
    now = ctx.now_ms()
    row = {
        "name": req.name,
        "description": req.description,
        "tags": req.tags,
        "created_at": now,
        "updated_at": now,
        "created_by": ctx.actor.name,
    }
    if not insert_if_absent(ctx.conn, registered_models, row):
        return None
    ctx.work.record("model", req.name, after=row)
    ctx.work.emit("model.created", req.name, {"model": req.name})
    return row


@ops.write("POST", "/models", permission="models:write", audit="model.created")
def create_model(ctx: OperationContext, req: CreateModel) -> RegisteredModel:
    """Create a registered model (versions are added by registering)."""
    row = _insert_model(ctx, req)
    if row is None:
        raise AlreadyExists(f"model '{req.name}' already exists", details={"id": req.name})
    return _model(ctx, row)


@ops.read("/models/{name}", permission="models:read")
def get_model(ctx: OperationContext, req: GetModel) -> RegisteredModel:
    """A registered model with its aliases and latest version."""
    return _model(ctx, _model_row(ctx, req.name))


@ops.write("PATCH", "/models/{name}", permission="models:write", audit="model.updated")
def update_model(ctx: OperationContext, req: UpdateModel) -> RegisteredModel:
    """Change the description, owner, intended use or limitations (what a model card
    shows); the audit record keeps what each was before."""
    row = dict(_model_row(ctx, req.name, lock=True))
    # None (or left out) keeps a field; "" clears it. The same over every adapter: JSON
    # carries an unset field as null.
    asked = {k: v for k, v in req.model_dump(exclude={"name"}).items() if v is not None}
    changes = {k: (v or None) for k, v in asked.items() if (v or None) != row.get(k)}
    if changes:
        changes["updated_at"] = ctx.now_ms()
        ctx.conn.execute(
            update(registered_models).where(registered_models.c.name == req.name).values(changes)
        )
        ctx.work.record("model", req.name, before={k: row.get(k) for k in changes}, after=changes)
        ctx.work.emit("model.updated", req.name, {"model": req.name, "fields": sorted(changes)})
        row.update(changes)
    return _model(ctx, row)


@ops.read("/models", permission="models:read")
def list_models(ctx: OperationContext, req: ListModels) -> ModelList:
    """Every registered model, by name."""
    rows = ctx.conn.execute(select(registered_models).order_by(registered_models.c.name))
    return ModelList(models=[_model(ctx, r) for r in rows.mappings()])


def _metadata(
    ctx: OperationContext, req: RegisterVersion, manifest: Manifest
) -> tuple[str | None, dict[str, Any] | None]:
    """The flavor and signature the version records: the request's, completed from the
    descriptor at the root of its files when there is one."""
    entry = manifest.files.get(DESCRIPTOR)
    if entry is None:
        return req.flavor, req.signature
    with ctx.blobs.open(entry.sha256) as stored:
        # One byte over the limit is enough to refuse it; the rest is never read.
        data = stored.read(MAX_DESCRIPTOR_BYTES + 1)
    descriptor = parse_descriptor(data, f"'{req.source}'")
    return registered_metadata(descriptor, req.flavor, req.signature, source=f"'{req.source}'")


@ops.write(
    "POST", "/models/{model}/versions", permission="models:write", audit="model.version.registered"
)
def register_version(ctx: OperationContext, req: RegisterVersion) -> ModelVersion:
    """Register a new version from stored files; versions number themselves."""
    if not ctx.blobs.exists(req.manifest):
        raise InvalidInput(
            f"manifest {req.manifest} is not in the artifact store: upload the model's files first"
        )
    # A client wrote this manifest; its paths are refused here, before any version lists them.
    manifest = parse_manifest(ctx.blobs.read_bytes(req.manifest), req.manifest)
    missing = [s for s in manifest_blobs(req.manifest, manifest) if not ctx.blobs.exists(s)]
    if missing:
        raise InvalidInput(f"{len(missing)} file(s) of manifest {req.manifest} are not stored")
    if not manifest.files:
        raise InvalidInput(f"'{req.source}' holds no files: a model version needs at least one")
    flavor, signature = _metadata(ctx, req, manifest)
    metrics, datasets, environment = dict(req.metrics or {}), [], req.environment_hash
    bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
    if bad:
        raise InvalidInput(f"version metrics must be finite numbers: {', '.join(bad)}")
    if req.run_id is not None:
        # Locked for share: a retention pass deleting old runs waits for this version, or
        # this waits for it and finds the run gone, never both (retention/runs.py).
        run = tracking_records.load_run(ctx.conn, req.run_id, share_lock=True)
        if req.metrics is None:
            # A snapshot is for comparing versions: NaN and infinities compare to nothing
            # (and JSON columns cannot hold them).
            metrics = {k: v for k, v in run.metrics.items() if math.isfinite(v)}
        datasets = [d.model_dump(mode="json", by_alias=True) for d in run.inputs]
        environment = environment or run.environment_hash
    # A first version creates its model, recorded as the declared model.created would be.
    with ctx.acting_as(create_model):
        _insert_model(ctx, CreateModel(name=req.model))
    _model_row(ctx, req.model, lock=True)  # serialises version numbering per model
    version = 1 + (
        ctx.conn.execute(
            select(func.max(model_versions.c.version)).where(model_versions.c.model == req.model)
        ).scalar()
        or 0
    )
    now = ctx.now_ms()
    row = {
        "model": req.model,
        "version": version,
        "status": VersionStatus.READY.value,
        "source": req.source,
        "run_id": req.run_id,
        "manifest": req.manifest,
        "size": sum(f.size for f in manifest.files.values()),
        "flavor": flavor,
        "signature": signature,
        "environment_hash": environment,
        "metrics": metrics,
        "datasets": datasets,
        "trusted": req.trusted,
        "description": req.description,
        "tags": req.tags,
        "created_at": now,
        "created_by": ctx.actor.name,
    }
    ctx.conn.execute(insert(model_versions).values(row))
    ctx.conn.execute(
        update(registered_models)
        .where(registered_models.c.name == req.model)
        .values(updated_at=now)
    )
    ctx.work.record("model", f"{req.model}/{version}", after=row)
    ctx.work.emit(
        "model.version.registered",
        f"{req.model}/{version}",
        {"model": req.model, "version": version, "source": req.source, "run_id": req.run_id},
    )
    return _version(row, {})


@ops.read("/models/{model}/versions/{version}", permission="models:read")
def get_version(ctx: OperationContext, req: GetVersion) -> ModelVersion:
    """One version of a model."""
    return _version(_version_row(ctx, req.model, req.version), _aliases(ctx, req.model))


@ops.read("/models/{model}/versions", permission="models:read")
def list_versions(ctx: OperationContext, req: ListVersions) -> VersionList:
    """Every version of a model, newest first."""
    _model_row(ctx, req.model)
    aliases = _aliases(ctx, req.model)
    rows = ctx.conn.execute(
        select(model_versions)
        .where(model_versions.c.model == req.model, _visible())
        .order_by(model_versions.c.version.desc())
    ).mappings()
    return VersionList(versions=[_version(r, aliases) for r in rows])


def _record_alias(
    ctx: OperationContext, model: str, alias: str, version: int | None, previous: int | None
) -> None:
    ctx.conn.execute(
        insert(alias_history).values(
            model=model,
            alias=alias,
            version=version,
            previous_version=previous,
            at=ctx.now_ms(),
            actor=ctx.actor.name,
            reason=ctx.work.reason,
        )
    )


def _alias_target(req: SetAlias | DeleteAlias) -> str:
    return f"{req.model}@{req.alias}"


@ops.write(
    "PUT",
    "/models/{model}/aliases/{alias}",
    permission="models:write",
    audit="model.alias.set",
    guard=Guard(
        ProtectedKind.ALIAS,
        _alias_target,
        lambda req: f"point {req.model}@{req.alias} at version {req.version}",
    ),
)
def set_alias(ctx: OperationContext, req: SetAlias) -> ModelVersion:
    """Point an alias (``champion``, ``challenger``...) at a version; the move is kept."""
    _model_row(ctx, req.model, lock=True)
    row = _version_row(ctx, req.model, req.version)
    if row["status"] == VersionStatus.ARCHIVED.value:
        raise Conflict(
            f"version {req.version} of '{req.model}' is archived; an alias cannot point at it"
        )
    previous = _aliases(ctx, req.model).get(req.alias)
    if previous != req.version:
        values = {"version": req.version, "updated_at": ctx.now_ms(), "updated_by": ctx.actor.name}
        if previous is None:
            ctx.conn.execute(
                insert(model_aliases).values(model=req.model, alias=req.alias, **values)
            )
        else:
            ctx.conn.execute(
                update(model_aliases)
                .where(model_aliases.c.model == req.model, model_aliases.c.alias == req.alias)
                .values(values)
            )
        _record_alias(ctx, req.model, req.alias, req.version, previous)
        ctx.work.record(
            "model",
            f"{req.model}@{req.alias}",
            before={"version": previous},
            after={"version": req.version},
        )
        ctx.work.emit(
            "model.alias.set",
            f"{req.model}@{req.alias}",
            {
                "model": req.model,
                "alias": req.alias,
                "version": req.version,
                "previous_version": previous,
            },
        )
    return _version(row, _aliases(ctx, req.model))


@ops.write(
    "DELETE",
    "/models/{model}/aliases/{alias}",
    permission="models:write",
    audit="model.alias.deleted",
    guard=Guard(ProtectedKind.ALIAS, _alias_target, lambda req: f"remove {req.model}@{req.alias}"),
)
def delete_alias(ctx: OperationContext, req: DeleteAlias) -> Done:
    """Remove an alias; its history keeps the removal."""
    previous = _aliases(ctx, req.model).get(req.alias)
    if previous is None:
        raise NotFound(
            f"model '{req.model}' has no alias '{req.alias}'",
            details={"kind": "alias", "id": f"{req.model}@{req.alias}"},
        )
    ctx.conn.execute(
        delete(model_aliases).where(
            model_aliases.c.model == req.model, model_aliases.c.alias == req.alias
        )
    )
    _record_alias(ctx, req.model, req.alias, None, previous)
    ctx.work.record(
        "model",
        f"{req.model}@{req.alias}",
        before={"version": previous},
        after=None,
    )
    ctx.work.emit(
        "model.alias.deleted",
        f"{req.model}@{req.alias}",
        {"model": req.model, "alias": req.alias, "previous_version": previous},
    )
    return Done()


@ops.read("/models/{model}/aliases/{alias}/history", permission="models:read")
def get_alias_history(ctx: OperationContext, req: GetAliasHistory) -> AliasHistory:
    """Every move of an alias, oldest first, with who moved it and why."""
    _model_row(ctx, req.model)
    h = alias_history.c
    rows = ctx.conn.execute(
        select(alias_history).where(h.model == req.model, h.alias == req.alias).order_by(h.id)
    ).mappings()
    return AliasHistory(
        changes=[
            AliasChange(
                alias=r["alias"],
                version=r["version"],
                previous_version=r["previous_version"],
                at=r["at"],
                actor=r["actor"],
                reason=r["reason"],
            )
            for r in rows
        ]
    )


@ops.read("/model-uris/resolve", permission="models:read")
def resolve_uri(ctx: OperationContext, req: ResolveModelUri) -> ModelVersion:
    """The version a ``models:/name/3``, ``models:/name/latest`` or ``models:/name@alias`` means."""
    uri = ModelUri.parse(req.uri)
    aliases = _aliases(ctx, uri.name)
    if uri.alias is not None:
        if uri.alias not in aliases:
            _model_row(ctx, uri.name)
            raise NotFound(
                f"model '{uri.name}' has no alias '{uri.alias}'",
                details={"kind": "alias", "id": f"{uri.name}@{uri.alias}"},
            )
        version = aliases[uri.alias]
    elif uri.version is not None:
        version = uri.version
    else:
        latest = _model(ctx, _model_row(ctx, uri.name)).latest_version
        if latest is None:
            raise NotFound(
                f"model '{uri.name}' has no versions yet",
                details={"kind": "model version", "id": f"{uri.name}/latest"},
            )
        version = latest
    return _version(_version_row(ctx, uri.name, version), aliases)


@ops.write(
    "POST",
    "/models/{model}/versions/{version}/archive",
    permission="models:write",
    audit="model.version.archived",
    idempotent=True,
)
def archive_version(ctx: OperationContext, req: ArchiveVersion) -> ModelVersion:
    """Archive a version: it stays loadable by number but no alias may point at it."""
    row = _version_row(ctx, req.model, req.version)
    _refuse_if_pointed_at(ctx, req.model, req.version, "archive")
    if row["status"] != VersionStatus.ARCHIVED.value:
        _set_status(ctx, row, VersionStatus.ARCHIVED, "model.version.archived")
    return _version(_version_row(ctx, req.model, req.version), _aliases(ctx, req.model))


def _set_status(ctx: OperationContext, row: Any, status: VersionStatus, event: str) -> None:
    """Change a version's status, with its audit record and event."""
    model, version = row["model"], row["version"]
    ctx.conn.execute(
        update(model_versions)
        .where(model_versions.c.model == model, model_versions.c.version == version)
        .values(status=status.value)
    )
    target = f"{model}/{version}"
    ctx.work.record(
        "model", target, before={"status": row["status"]}, after={"status": status.value}
    )
    ctx.work.emit(event, target, {"model": model, "version": version})


def _refuse_if_pointed_at(ctx: OperationContext, model: str, version: int, action: str) -> None:
    pointing = sorted(a for a, v in _aliases(ctx, model).items() if v == version)
    if pointing:
        raise Conflict(
            f"version {version} of '{model}' is {', '.join(pointing)}: move the alias "
            f"before you {action} it",
            details={"aliases": pointing},
        )


@ops.write(
    "DELETE",
    "/models/{model}/versions/{version}",
    permission="models:delete",
    audit="model.version.deleted",
)
def delete_version(ctx: OperationContext, req: DeleteVersion) -> Done:
    """Delete a version; refused while an alias or a deployment uses it.

    The row stays, marked DELETED and hidden from every read, so its number is never reused
    for other files. Its files stay in the artifact store (other versions or runs may share
    them).
    """
    _model_row(ctx, req.model, lock=True)
    row = _version_row(ctx, req.model, req.version)
    _refuse_if_pointed_at(ctx, req.model, req.version, "delete")
    d = deployments.c
    users = [
        f"{endpoint}/{name}"
        for endpoint, name in ctx.conn.execute(
            select(d.endpoint, d.name)
            .where(d.model == req.model, d.version == req.version)
            .order_by(d.endpoint, d.name)
        )
    ]
    if users:
        raise Conflict(
            f"version {req.version} of '{req.model}' is deployed as {', '.join(users)}: "
            "delete or move those deployments first",
            details={"deployments": users},
        )
    _set_status(ctx, row, VersionStatus.DELETED, "model.version.deleted")
    return Done()


def _evaluation(row: Any) -> Evaluation:
    return Evaluation.model_validate(dict(row))


@ops.write(
    "POST",
    "/models/{model}/versions/{version}/evaluations",
    permission="models:write",
    audit="model.version.evaluated",
)
def record_evaluation(ctx: OperationContext, req: RecordEvaluation) -> Evaluation:
    """Keep a ``model compare`` result on the candidate version."""
    _version_row(ctx, req.model, req.version)
    if (req.baseline_model is None) != (req.baseline_version is None):
        raise InvalidInput("give both baseline_model and baseline_version, or neither")
    if req.baseline_model is not None and req.baseline_version is not None:
        _version_row(ctx, req.baseline_model, req.baseline_version)
    bad = sorted(
        k
        for values in (req.metrics, req.baseline_metrics or {})
        for k, v in values.items()
        if v is not None and not math.isfinite(v)
    )
    if bad:
        raise InvalidInput(f"metric values must be finite numbers or null: {', '.join(bad)}")
    row = {
        **req.model_dump(),
        "created_at": ctx.now_ms(),
        "created_by": ctx.actor.name,
    }
    new_id = ctx.conn.execute(insert(model_evaluations).values(row)).inserted_primary_key
    assert new_id is not None
    row["id"] = int(new_id[0])
    target = f"{req.model}/{req.version}"
    ctx.work.record("model", target, after=row)
    ctx.work.emit(
        "model.version.evaluated",
        target,
        {"model": req.model, "version": req.version, "passed": req.passed},
    )
    return _evaluation(row)


@ops.read("/models/{model}/versions/{version}/evaluations", permission="models:read")
def list_evaluations(ctx: OperationContext, req: ListEvaluations) -> EvaluationList:
    """A version's ``model compare`` results, oldest first."""
    _version_row(ctx, req.model, req.version)
    e = model_evaluations.c
    rows = ctx.conn.execute(
        select(model_evaluations)
        .where(e.model == req.model, e.version == req.version)
        .order_by(e.id)
    ).mappings()
    return EvaluationList(evaluations=[_evaluation(r) for r in rows])


OPERATIONS = ops.operations
