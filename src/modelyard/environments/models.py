"""Environments' domain models: the spec a user writes, the registered environment, requests.

An ``EnvironmentSpec`` is what a user declares (a Python version, requirements and maybe a
lock); an ``Environment`` is a registered, resolved version of one: its lock pins every
package, and its hash (``hashing.environment_hash``) identifies its content.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from modelyard.core.fields import Description, Sha256, VersionNumber, name_field
from modelyard.core.operations import Model, Request
from modelyard.environments.hashing import check_python, normalize_lock
from modelyard.errors import InvalidInput

MAX_NAME_LENGTH = 250
MAX_REQUIREMENTS = 2_000
MAX_LOCK_LINES = 10_000
MAX_REQUIREMENT_LENGTH = 1_000

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
# A requirement starts with a project name; uv checks the rest of PEP 508 when resolving.
_REQUIREMENT = re.compile(r"^[A-Za-z0-9][^\r\n]*$")


def check_requirement(requirement: str) -> str:
    """A PEP 508 requirement string; options (``-r``, ``--index-url``) are refused."""
    value = requirement.strip()
    if not _REQUIREMENT.match(value) or len(value) > MAX_REQUIREMENT_LENGTH:
        raise InvalidInput(
            f"requirement '{requirement}' is not a package requirement such as "
            "'scikit-learn>=1.4' or 'pandas==2.2.2' (options like -r and --index-url "
            "are not supported)",
            details={"requirement": requirement},
        )
    return value


EnvironmentName = Annotated[
    str,
    name_field(
        _NAME,
        max_length=MAX_NAME_LENGTH,
        rule="letters, digits, '.', '_' and '-', starting with a letter or digit",
        example="train",
    ),
]
PythonVersion = Annotated[
    str,
    Field(
        max_length=16,
        examples=["3.11"],
        json_schema_extra={"pattern": r"^(0|[1-9]\d*)\.(0|[1-9]\d*)$"},
    ),
    AfterValidator(check_python),
]
Requirement = Annotated[
    str, Field(max_length=MAX_REQUIREMENT_LENGTH), AfterValidator(check_requirement)
]
Requirements = Annotated[list[Requirement], Field(max_length=MAX_REQUIREMENTS)]
Lock = Annotated[
    list[Annotated[str, Field(max_length=MAX_REQUIREMENT_LENGTH)]],
    Field(max_length=MAX_LOCK_LINES),
    AfterValidator(normalize_lock),
]
EnvironmentHash = Sha256
EnvironmentSource = Literal["spec", "capture"]


class EnvironmentSpec(Request):
    """What a user declares: a Python version, requirements, and optionally a lock.

    Without a lock, the requirements are resolved (``resolve.resolve_spec``) into one that
    pins every package; a given lock is used as is.
    """

    name: EnvironmentName
    python: PythonVersion
    requirements: Requirements = Field(default_factory=list)
    lock: Lock | None = None
    description: Description | None = None


class Environment(Model):
    """One registered version of an environment: resolved, pinned and hashed."""

    name: str
    version: int
    hash: str
    python: str
    requirements: list[str]
    lock: list[str]
    source: EnvironmentSource
    description: str | None
    created_at: int
    created_by: str

    @property
    def ref(self) -> str:
        """``name:version``, the way the CLI names it."""
        return f"{self.name}:{self.version}"


class EnvironmentList(Model):
    environments: list[Environment]


# Requests -------------------------------------------------------------------------------


class RegisterEnvironment(Request):
    name: EnvironmentName
    python: PythonVersion
    requirements: Requirements = Field(default_factory=list)
    lock: Lock = Field(default_factory=list)
    source: EnvironmentSource = "spec"
    description: Description | None = None


class GetEnvironment(Request):
    name: EnvironmentName
    version: VersionNumber | None = None


class FindEnvironmentByHash(Request):
    hash: EnvironmentHash


class ListEnvironments(Request):
    name: EnvironmentName | None = None
