"""Registry records as users and the REST API see them, and the ``models:/`` URIs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from modelyard.core.fields import (
    MAX_ENTRIES,
    NUMBER_ONLY,
    Count,
    Description,
    Flag,
    JsonObject,
    Sha256,
    ShortText,
    Tags,
    VersionNumber,
    name_field,
    number,
)
from modelyard.core.operations import Model, Request
from modelyard.errors import InvalidInput
from modelyard.tracking.models import Id

# Kept apart from the field: a models:/ URI is held to the same names (``ModelUri.parse``).
_MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,249}$"
_ALIAS_NAME = r"^[a-z][a-z0-9_\-]{0,99}$"

ModelName = Annotated[
    str,
    name_field(
        _MODEL_NAME,
        max_length=250,
        rule="letters, digits, '_', '.' and '-', starting with a letter or digit",
        example="churn-model",
    ),
]


def _not_latest(alias: str) -> str:
    # "latest" always means the newest version; an alias may not take its place.
    if alias == "latest":
        raise ValueError("'latest' is reserved for the newest version; pick another alias")
    return alias


# An alias never looks like a version number (it starts with a letter).
AliasName = Annotated[
    Annotated[
        str,
        name_field(
            _ALIAS_NAME,
            max_length=100,
            rule="lowercase letters, digits, '_' and '-', starting with a letter",
            example="champion",
        ),
    ],
    AfterValidator(_not_latest),
]
Version = VersionNumber
Metrics = Annotated[
    dict[ShortText, Annotated[float, NUMBER_ONLY, number()]], Field(max_length=MAX_ENTRIES)
]
Evaluated = Annotated[
    dict[ShortText, Annotated[float, NUMBER_ONLY, number()] | None], Field(max_length=MAX_ENTRIES)
]


class VersionStatus(StrEnum):
    READY = "READY"
    ARCHIVED = "ARCHIVED"
    # Kept as a row so its number is never given to other files; invisible to every read.
    DELETED = "DELETED"


class ModelVersion(Model):
    model: str
    version: int
    status: VersionStatus
    source: str
    run_id: str | None
    manifest: str
    size: int
    flavor: str | None
    signature: dict[str, Any] | None
    environment_hash: str | None
    metrics: dict[str, float]
    datasets: list[dict[str, Any]]
    trusted: bool
    description: str | None
    tags: dict[str, str]
    created_at: int
    created_by: str
    aliases: list[str] = Field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"models:/{self.model}/{self.version}"


class RegisteredModel(Model):
    name: str
    description: str | None
    tags: dict[str, str]
    created_at: int
    updated_at: int
    created_by: str
    # A model card's editable parts: who answers for the model, what it is for and not.
    owner: str | None = None
    intended_use: str | None = None
    limitations: str | None = None
    aliases: dict[str, int] = Field(default_factory=dict)
    latest_version: int | None = None


class ModelList(Model):
    models: list[RegisteredModel]


class VersionList(Model):
    versions: list[ModelVersion]


class AliasChange(Model):
    alias: str
    version: int | None
    previous_version: int | None
    at: int
    actor: str
    reason: str | None


class AliasHistory(Model):
    changes: list[AliasChange]


class CreateModel(Request):
    name: ModelName
    description: Description | None = None
    tags: Tags = Field(default_factory=dict)


class GetModel(Request):
    name: ModelName


class UpdateModel(Request):
    """Change a model's description and card fields; a field left out (or null) stays as
    it is, an empty string clears it."""

    name: ModelName
    description: Description | None = None
    owner: ShortText | None = None
    intended_use: Description | None = None
    limitations: Description | None = None


class ListModels(Request):
    pass


class RegisterVersion(Request):
    model: ModelName
    source: Annotated[str, Field(min_length=1, max_length=1000)]
    manifest: Sha256
    run_id: Id | None = None
    flavor: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    signature: JsonObject | None = None
    environment_hash: Sha256 | None = None
    metrics: Metrics | None = None
    trusted: Flag = False
    description: Description | None = None
    tags: Tags = Field(default_factory=dict)


class GetVersion(Request):
    model: ModelName
    version: Version


class ListVersions(Request):
    model: ModelName


class SetAlias(Request):
    model: ModelName
    alias: AliasName
    version: Version


class DeleteAlias(Request):
    model: ModelName
    alias: AliasName


class GetAliasHistory(Request):
    model: ModelName
    alias: AliasName


class ResolveModelUri(Request):
    uri: Annotated[str, Field(min_length=1, max_length=1100)]


class ArchiveVersion(Request):
    model: ModelName
    version: Version


class DeleteVersion(Request):
    model: ModelName
    version: Version


class Evaluation(Model):
    """One ``model compare`` result, stored on the candidate version."""

    id: int
    model: str
    version: int
    baseline_model: str | None
    baseline_version: int | None
    data: str
    data_sha256: str
    rows: int
    target: str
    metrics: dict[str, float | None]
    baseline_metrics: dict[str, float | None] | None
    gates: list[dict[str, Any]]
    passed: bool | None
    created_at: int
    created_by: str


class EvaluationList(Model):
    evaluations: list[Evaluation]


class RecordEvaluation(Request):
    model: ModelName
    version: Version
    baseline_model: ModelName | None = None
    baseline_version: Version | None = None
    data: Annotated[str, Field(min_length=1, max_length=1000)]
    data_sha256: Sha256
    rows: Count
    target: Annotated[str, Field(min_length=1, max_length=250)]
    # None stands for a value that is not a number (auc on one class): JSON has no NaN.
    metrics: Evaluated
    baseline_metrics: Evaluated | None = None
    gates: Annotated[list[JsonObject], Field(max_length=1000)] = Field(default_factory=list)
    passed: Flag | None = None


class ListEvaluations(Request):
    model: ModelName
    version: Version


_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/@]+)|@(?P<alias>[^/@]+))$")


@dataclass(frozen=True, slots=True)
class ModelUri:
    """``models:/name/3``, ``models:/name/latest`` or ``models:/name@alias``."""

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, uri: str) -> ModelUri:
        match = _URI.match(uri)
        if match is None:
            raise InvalidInput(
                f"'{uri}' is not a model URI: use models:/NAME/VERSION, models:/NAME/latest "
                "or models:/NAME@ALIAS",
                details={"uri": uri},
            )
        name, alias = match.group("name"), match.group("alias")
        # "models:/../1" or "models:/a%2f..%2fb/1" names no model that could exist: said so
        # here, rather than answered as a model that was not found.
        if not re.fullmatch(_MODEL_NAME, name):
            raise InvalidInput(
                f"'{uri}': {name!r} is not a model name (letters, digits, '_', '.' and '-', "
                "starting with a letter or digit)",
                details={"uri": uri, "name": name},
            )
        if alias is not None and not re.fullmatch(_ALIAS_NAME, alias):
            raise InvalidInput(
                f"'{uri}': {alias!r} is not an alias (lowercase letters, digits, '_' and '-', "
                "starting with a letter)",
                details={"uri": uri, "alias": alias},
            )
        version = match.group("version")
        if version is not None and version != "latest":
            if not version.isdigit() or int(version) < 1:
                raise InvalidInput(
                    f"'{uri}': the version must be a positive number or 'latest'",
                    details={"uri": uri},
                )
            return cls(name, version=int(version))
        return cls(name, alias=alias)
