"""Registered pipelines: a pipeline's code, snapshotted into the store, versioned by name.

Registering stores every file of the pipeline's code folder as a blob (a manifest, content
addressed like a model version's files) with the entry that loads the pipeline from it
(``flows/train.py:train``, ``pipeline.yaml`` or ``package.module:train``). Schedules and
triggers name a registered pipeline (``train`` or ``train:3``) and schedulers run its
snapshot; nothing that runs on a server ever imports a path or module named in a request
(DESIGN invariant 6).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from modelyard.core.operations import OperationContext, OperationSet
from modelyard.errors import Conflict, InvalidInput, NotFound
from modelyard.pipelines.models import (
    PIPELINE_NAME_PATTERN,
    GetPipelineVersion,
    ListPipelineVersions,
    PipelineVersion,
    PipelineVersionList,
    RegisterPipeline,
    ResolvePipelineRef,
)
from modelyard.storage.artifacts import normalize_artifact_path
from modelyard.storage.artifacts.manifests import manifest_blobs, parse_manifest
from modelyard.storage.db.inserts import insert_if_absent
from modelyard.storage.db.tables import pipeline_versions

ops = OperationSet("pipelines")

REF_EXAMPLE = "train (its latest version) or train:3"
_NAME = re.compile(PIPELINE_NAME_PATTERN)
_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_PIPELINE_SUFFIXES = (".py", ".yaml", ".yml")
# Concurrent registrations of one name race for the next number; each lost race is a retry.
_REGISTER_ATTEMPTS = 50


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME:VERSION`` of a registered pipeline; anything else (a file path, a
    module) is refused with what to do instead."""
    name, sep, version = ref.rpartition(":")
    if not sep:
        name, version = ref, ""
    if _NAME.match(name) and (not sep or (version.isdigit() and 0 < int(version) < 2**31)):
        return name, int(version) if sep else None
    raise InvalidInput(
        f"'{ref}' is not a registered pipeline: schedules and triggers run only pipelines "
        f"registered with their code (`modelyard pipeline register FILE`); name one as "
        f"{REF_EXAMPLE}",
        details={"pipeline_ref": ref},
    )


def check_entry(entry: str, files: dict[str, Any]) -> str:
    """The entry, if it names a pipeline file or module that the snapshot holds."""
    location, sep, name = entry.rpartition(":")
    if not sep:
        location, name = entry, ""
    if sep and not re.match(r"^[A-Za-z_]\w*$", name):
        raise InvalidInput(f"entry '{entry}': '{name}' is not a pipeline's Python name")
    if location.endswith(_PIPELINE_SUFFIXES):
        try:
            path = normalize_artifact_path(location)
        except InvalidInput as exc:
            raise InvalidInput(
                f"entry '{entry}': {exc.details.get('problem', exc.message)}; write the path "
                "relative to the snapshot's root",
                details={"entry": entry},
            ) from None
        if path != location:
            raise InvalidInput(
                f"entry '{entry}': write the path relative to the snapshot's root, as '{path}'",
                details={"entry": entry},
            )
        if path not in files:
            raise InvalidInput(
                f"entry '{entry}': the snapshot has no file '{path}'", details={"entry": entry}
            )
        return entry
    if _MODULE.match(location):
        module = location.replace(".", "/")
        if f"{module}.py" in files or f"{module}/__init__.py" in files:
            return entry
        raise InvalidInput(
            f"entry '{entry}': the snapshot has no module '{location}'", details={"entry": entry}
        )
    raise InvalidInput(
        f"entry '{entry}' is not FILE.py[:NAME], FILE.yaml or module:NAME inside the snapshot",
        details={"entry": entry},
    )


def _version(row: Any) -> PipelineVersion:
    return PipelineVersion.model_validate(dict(row))


def _latest(ctx: OperationContext, name: str) -> Any:
    pv = pipeline_versions.c
    query = select(pipeline_versions).where(pv.name == name).order_by(pv.version.desc()).limit(1)
    return ctx.conn.execute(query).mappings().first()


@ops.write(
    "POST",
    "/pipelines/{name}/versions",
    permission="pipelines:write",
    audit="pipeline.registered",
    idempotent=True,
)
def register_pipeline(ctx: OperationContext, req: RegisterPipeline) -> PipelineVersion:
    """Register a pipeline's code snapshot: the latest version if unchanged, else a new one."""
    if not ctx.blobs.exists(req.snapshot):
        raise InvalidInput(
            f"snapshot {req.snapshot} is not in the artifact store: upload the code first"
        )
    # Every path plain and relative, every entry a hash and a size, or refused here.
    manifest = parse_manifest(ctx.blobs.read_bytes(req.snapshot), req.snapshot)
    files = manifest.files
    missing = [s for s in manifest_blobs(req.snapshot, manifest) if not ctx.blobs.exists(s)]
    if missing:
        raise InvalidInput(f"{len(missing)} file(s) of snapshot {req.snapshot} are not stored")
    entry = check_entry(req.entry, files)
    for _ in range(_REGISTER_ATTEMPTS):
        latest = _latest(ctx, req.name)
        if latest is not None and (latest["snapshot"], latest["entry"]) == (req.snapshot, entry):
            return _version(latest)
        row: dict[str, Any] = {
            "name": req.name,
            "version": 1 if latest is None else int(latest["version"]) + 1,
            "snapshot": req.snapshot,
            "entry": entry,
            "definition": req.definition,
            "definition_hash": req.definition_hash,
            "description": req.description,
            "created_at": ctx.now_ms(),
            "created_by": ctx.actor.name,
        }
        if not insert_if_absent(ctx.conn, pipeline_versions, row):
            continue  # another writer took this number: try the next
        ref = f"{req.name}:{row['version']}"
        ctx.work.record("pipeline", ref, after={k: v for k, v in row.items() if k != "definition"})
        ctx.work.emit(
            "pipeline.registered",
            ref,
            {"pipeline": req.name, "version": row["version"], "snapshot": req.snapshot},
        )
        return _version(row)
    raise Conflict(f"pipeline '{req.name}' is being registered by many writers at once; retry")


@ops.read("/pipelines/{name}/versions/{version}", permission="pipelines:read")
def get_pipeline_version(ctx: OperationContext, req: GetPipelineVersion) -> PipelineVersion:
    """One registered version of a pipeline."""
    pv = pipeline_versions.c
    row = (
        ctx.conn.execute(
            select(pipeline_versions).where(pv.name == req.name, pv.version == req.version)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(
            f"pipeline '{req.name}' has no registered version {req.version}",
            details={"kind": "pipeline version", "id": f"{req.name}:{req.version}"},
        )
    return _version(row)


@ops.read("/pipelines/{name}/versions", permission="pipelines:read")
def list_pipeline_versions(ctx: OperationContext, req: ListPipelineVersions) -> PipelineVersionList:
    """Every registered version of a pipeline, newest first."""
    pv = pipeline_versions.c
    rows = ctx.conn.execute(
        select(pipeline_versions).where(pv.name == req.name).order_by(pv.version.desc())
    ).mappings()
    return PipelineVersionList(versions=[_version(r) for r in rows])


def resolve(ctx: OperationContext, ref: str) -> PipelineVersion:
    """The registered version ``NAME`` (latest) or ``NAME:VERSION`` means now."""
    name, version = parse_ref(ref)
    if version is not None:
        return ctx.call(get_pipeline_version, GetPipelineVersion(name=name, version=version))
    latest = _latest(ctx, name)
    if latest is None:
        count = ctx.conn.execute(select(func.count()).select_from(pipeline_versions)).scalar()
        hint = "" if count else " (no pipeline is registered yet)"
        raise NotFound(
            f"no pipeline '{name}' is registered{hint}: register it with "
            "`modelyard pipeline register FILE`",
            details={"kind": "pipeline", "id": name},
        )
    return _version(latest)


@ops.read("/pipeline-refs/resolve", permission="pipelines:read")
def resolve_pipeline_ref(ctx: OperationContext, req: ResolvePipelineRef) -> PipelineVersion:
    """The registered version a reference means now (``train`` is its latest version)."""
    return resolve(ctx, req.ref)


OPERATIONS = ops.operations
