"""What an audit query's ``--target`` names, in the URIs users already know.

Audit records name their target by kind and id (``model`` ``churn/3``, ``deployment``
``churn/blue``). A user names it as elsewhere in Modelyard: ``models:/churn`` (the model,
its versions and aliases), ``models:/churn/3``, ``models:/churn@champion``, ``runs:/ID``,
``endpoints:/churn`` (the endpoint, its deployments and rollouts), ``workspaces:/default``
(the workspace, its members and its secrets), and so on.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_

from modelyard.errors import InvalidInput
from modelyard.storage.db.tables import audit_records

# URI scheme -> the record kind it names, and the kinds of the things inside it (their ids
# start with the owner's id and a separator).
_SCHEMES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "models": ("model", (("model", "/"), ("model", "@"))),
    "runs": ("run", ()),
    "experiments": ("experiment", ()),
    "endpoints": ("endpoint", (("deployment", "/"), ("rollout", "/"))),
    "environments": ("environment", (("environment", ":"),)),
    "pipelines": ("pipeline", (("pipeline", ":"),)),
    "schedules": ("schedule", ()),
    "workspaces": ("workspace", (("member", "/"), ("secret", "/"))),
}
FORMS = ", ".join(f"{scheme}:/NAME" for scheme in _SCHEMES)


def escape_like(text: str) -> str:
    """``text`` matched literally by LIKE (with ``escape='\\'``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True)
class Target:
    """The records of one thing, and of what it holds unless ``exact``."""

    kind: str
    id: str
    within: tuple[tuple[str, str], ...] = ()

    def condition(self) -> ColumnElement[bool]:
        c = audit_records.c
        matches = [and_(c.target_kind == self.kind, c.target_id == self.id)]
        for kind, separator in self.within:
            prefix = escape_like(self.id + separator) + "%"
            matches.append(and_(c.target_kind == kind, c.target_id.like(prefix, escape="\\")))
        return or_(*matches)


def parse_target(uri: str) -> Target:
    """``models:/churn`` -> the model's records and its versions' and aliases'."""
    scheme, sep, rest = uri.partition(":/")
    rest = rest.strip("/")
    if not sep or scheme not in _SCHEMES or not rest:
        raise InvalidInput(
            f"'{uri}' is not a target the audit log knows: use {FORMS}, or "
            "models:/NAME/VERSION, models:/NAME@ALIAS, endpoints:/NAME/DEPLOYMENT",
            details={"target": uri},
        )
    kind, within = _SCHEMES[scheme]
    if scheme == "models" and ("/" in rest or "@" in rest):
        return Target("model", rest)  # one version or one alias
    if scheme == "endpoints" and "/" in rest:
        return Target("deployment", rest)
    return Target(kind, rest, within)
