"""The model card operation: one read that asks each area for its part of the story.

It composes other areas' read operations (``ctx.call``) rather than reading their tables,
so each fact is told the way its area tells it everywhere else: the version and its
evaluations by the registry, the training run by tracking, the environment by
environments, the training data by lineage, the deployments by serving, and who did what
and why by the audit log.
"""

from __future__ import annotations

from typing import Any

from modelyard.approvals import operations as approvals
from modelyard.approvals.models import MAX_APPROVALS_PAGE, ListApprovals, StateFilter
from modelyard.cards.models import (
    AliasMove,
    Considerations,
    GetModelCard,
    ModelCard,
    ModelDetails,
    ModelParameters,
    QuantitativeAnalysis,
    Served,
    TrainingData,
)
from modelyard.core.operations import OperationContext, OperationSet
from modelyard.core.protection import ApprovalRequest
from modelyard.environments import operations as environments
from modelyard.environments.models import FindEnvironmentByHash
from modelyard.errors import NotFound
from modelyard.governance import operations as audit
from modelyard.governance.models import MAX_PAGE, AuditRecord, ListAuditRecords
from modelyard.lineage import operations as lineage
from modelyard.lineage.models import Direction, GetLineage
from modelyard.registry import operations as registry
from modelyard.registry.models import GetModel, ListEvaluations, ModelVersion, ResolveModelUri
from modelyard.serving import operations as serving
from modelyard.serving.models import ListEndpoints
from modelyard.tracking import operations as tracking
from modelyard.tracking.models import GetRun

ops = OperationSet("cards")


@ops.read("/model-cards", permission="models:read")
def get_model_card(ctx: OperationContext, req: GetModelCard) -> ModelCard:
    """The model card of a registered version (``models:/churn@champion``)."""
    version = ctx.call(registry.resolve_uri, ResolveModelUri(uri=req.uri))
    model = ctx.call(registry.get_model, GetModel(name=version.model))
    records = _model_records(ctx, version.model)
    params: dict[str, str] = {}
    if version.run_id is not None:
        try:
            params = dict(ctx.call(tracking.get_run, GetRun(run_id=version.run_id)).params)
        except NotFound:  # the run was deleted; the version keeps what it snapshotted
            params = {}
    return ModelCard(
        generated_at=ctx.now_ms(),
        model_details=ModelDetails(
            name=version.model,
            version=version.version,
            uri=version.uri,
            status=version.status.value,
            description=version.description or model.description,
            owner=model.owner,
            flavor=version.flavor,
            source=version.source,
            run_id=version.run_id,
            registered_by=version.created_by,
            registered_at=version.created_at,
            registered_reason=_registered_reason(records, version),
            aliases=sorted(a for a, v in model.aliases.items() if v == version.version),
            tags=version.tags,
        ),
        model_parameters=ModelParameters(
            signature=version.signature,
            environment=_environment(ctx, version),
            training_params=params,
            training_data=_training_data(ctx, version),
        ),
        quantitative_analysis=QuantitativeAnalysis(
            metrics=version.metrics,
            evaluations=[
                e.model_dump(mode="json", exclude={"model", "version"})
                for e in ctx.call(
                    registry.list_evaluations,
                    ListEvaluations(model=version.model, version=version.version),
                ).evaluations
            ],
        ),
        considerations=Considerations(
            intended_use=model.intended_use,
            limitations=model.limitations,
            alias_history=_alias_moves(records, version),
            approvals=_approvals(ctx, version),
            deployed=_deployed(ctx, version),
        ),
    )


def _model_records(ctx: OperationContext, name: str) -> list[AuditRecord]:
    """Every audit record of the model, its versions and its aliases, in chain order."""
    records: list[AuditRecord] = []
    after: int | None = 0
    while after is not None:
        request = ListAuditRecords(target=f"models:/{name}", after=after, limit=MAX_PAGE)
        page = ctx.call(audit.list_audit_records, request)
        records.extend(page.records)
        after = page.next
    return records


def _approvals(ctx: OperationContext, version: ModelVersion) -> list[ApprovalRequest]:
    """Requests to point one of the model's aliases at this version, oldest first."""
    request = ListApprovals(
        state=StateFilter.ALL, target=f"models:/{version.model}", limit=MAX_APPROVALS_PAGE
    )
    found = ctx.call(approvals.list_approvals, request).approvals
    mine = [
        a
        for a in found
        if a.operation == registry.set_alias.name and a.request.get("version") == version.version
    ]
    return sorted(mine, key=lambda a: a.id)


def _registered_reason(records: list[AuditRecord], version: ModelVersion) -> str | None:
    target = f"{version.model}/{version.version}"
    for record in records:
        if record.action == "model.version.registered" and record.target_id == target:
            return record.reason
    return None


def _alias_moves(records: list[AuditRecord], version: ModelVersion) -> list[AliasMove]:
    moves = []
    for record in records:
        if not record.action.startswith("model.alias.") or "@" not in record.target_id:
            continue
        to = (record.after or {}).get("version")
        were = (record.before or {}).get("version")
        if version.version not in (to, were):
            continue
        moves.append(
            AliasMove(
                alias=record.target_id.split("@", 1)[1],
                to_version=to,
                from_version=were,
                at=record.at,
                actor=record.actor,
                reason=record.reason,
            )
        )
    return moves


def _environment(ctx: OperationContext, version: ModelVersion) -> dict[str, Any] | None:
    if version.environment_hash is None:
        return None
    try:
        env = ctx.call(
            environments.find_environment_by_hash,
            FindEnvironmentByHash(hash=version.environment_hash),
        )
    except NotFound:
        return {"hash": version.environment_hash, "registered": False}
    return {"ref": env.ref, "hash": env.hash, "python": env.python, "packages": env.lock}


def _training_data(ctx: OperationContext, version: ModelVersion) -> list[TrainingData]:
    """The datasets the version's training read: its run's logged inputs, and for a step
    run, what the steps upstream of it read (from lineage), each by its content hash."""
    found: dict[str, TrainingData] = {}
    for dataset in version.datasets:
        digest = dataset.get("digest")
        found[str(digest)] = TrainingData(
            name=dataset.get("name"),
            digest=digest,
            source=dataset.get("source"),
            context=dataset.get("context"),
            via=f"runs:/{version.run_id}" if version.run_id else version.source,
        )
    graph = ctx.call(lineage.get_lineage, GetLineage(uri=version.uri, direction=Direction.upstream))
    feeds = {edge.src: edge.dst for edge in graph.edges}
    by_id = {node.id: node for node in graph.nodes}
    for node in graph.nodes:
        if node.kind != "dataset" or node.key in found:
            continue
        reader = by_id.get(feeds.get(node.id, ""))
        found[node.key] = TrainingData(
            name=node.label,
            digest=node.attributes.get("content_hash", node.key),
            source=node.attributes.get("source"),
            context=node.attributes.get("context"),
            via=reader.uri if reader is not None else version.uri,
        )
    return list(found.values())


def _deployed(ctx: OperationContext, version: ModelVersion) -> list[Served]:
    served = []
    for endpoint in ctx.call(serving.list_endpoints, ListEndpoints()).endpoints:
        for deployment in endpoint.deployments:
            if (deployment.model, deployment.version) == (version.model, version.version):
                served.append(
                    Served(
                        endpoint=endpoint.name,
                        deployment=deployment.name,
                        traffic=endpoint.traffic.get(deployment.name, 0),
                        mirror=endpoint.mirror.get(deployment.name, 0),
                    )
                )
    return served


OPERATIONS = ops.operations
