"""A model card: the Model Card Toolkit's four parts, filled from the records."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from modelyard.core.operations import Model, Request
from modelyard.core.protection import ApprovalRequest


class AliasMove(Model):
    """An alias moved to or away from this version."""

    alias: str
    to_version: int | None
    from_version: int | None
    at: int
    actor: str
    reason: str | None


class Served(Model):
    endpoint: str
    deployment: str
    traffic: int
    mirror: int


class TrainingData(Model):
    name: str | None
    digest: str | None
    source: str | None
    context: str | None  # training, validation... as logged
    via: str  # the run or step run that read it


class ModelDetails(Model):
    name: str
    version: int
    uri: str
    status: str
    description: str | None
    owner: str | None
    flavor: str | None
    source: str
    run_id: str | None
    registered_by: str
    registered_at: int
    registered_reason: str | None
    aliases: list[str]
    tags: dict[str, str]


class ModelParameters(Model):
    signature: dict[str, Any] | None
    environment: dict[str, Any] | None
    training_params: dict[str, str]
    training_data: list[TrainingData]


class QuantitativeAnalysis(Model):
    metrics: dict[str, float]
    evaluations: list[dict[str, Any]]


class Considerations(Model):
    intended_use: str | None
    limitations: str | None
    alias_history: list[AliasMove]
    # Approval requests to point an alias at this version (protected aliases).
    approvals: list[ApprovalRequest]
    deployed: list[Served]


class ModelCard(Model):
    generated_at: int
    model_details: ModelDetails
    model_parameters: ModelParameters
    quantitative_analysis: QuantitativeAnalysis
    considerations: Considerations


class GetModelCard(Request):
    uri: Annotated[
        str,
        Field(
            min_length=1,
            max_length=600,
            description="models:/NAME/VERSION, models:/NAME@ALIAS or models:/NAME/latest",
            examples=["models:/churn@champion"],
        ),
    ]
