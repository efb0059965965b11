"""Retention rules and what applying them did, as users and the REST API see them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from modelyard.core.fields import Count, Flag, ShortText, TimestampMs, whole
from modelyard.core.operations import Model, Request
from modelyard.retention import limits
from modelyard.retention.limits import describe_period
from modelyard.tracking.models import ExperimentName

KINDS = ("runs", "pipeline_runs", "audit")
_KINDS_SENTENCE = (
    "runs (finished runs outside pipelines), pipeline_runs (finished pipeline runs with "
    "their step runs) or audit (the oldest audit records)"
)


def _known_kind(value: Any) -> Any:
    if isinstance(value, str) and value not in KINDS:
        raise ValueError(f"'{value}' is not something retention deletes: use {_KINDS_SENTENCE}")
    return value


def _a_period(value: Any) -> Any:
    low, high = int(limits.OLDER_THAN_MS.ge), int(limits.OLDER_THAN_MS.le)
    if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
        raise ValueError(
            f"{value} ms is not a retention period: give at least {low} ms "
            f"({describe_period(low)}) and at most {describe_period(high)}, e.g. "
            f"{90 * limits.DAY_MS} for 90 days (the CLI takes --older-than 90d)"
        )
    return value


RetentionKind = Annotated[
    Literal["runs", "pipeline_runs", "audit"],
    BeforeValidator(_known_kind),
    Field(description=f"What the rule deletes: {_KINDS_SENTENCE}"),
]
OlderThanMs = Annotated[int, limits.OLDER_THAN_MS.field(), BeforeValidator(_a_period)]
PipelineName = Annotated[str, Field(min_length=1, max_length=200, examples=["train"])]
RuleId = Annotated[int, whole(ge=1, le=2**63 - 1)]


class SetRetentionRule(Request):
    """A rule for one kind (and one experiment or pipeline, or all): a new rule, or the
    period of the rule that covers the same things changed."""

    kind: RetentionKind
    older_than_ms: OlderThanMs = Field(
        description="How long ago (ms) a run must have ended, or an audit record been "
        "written, for the rule to delete it",
        examples=[90 * limits.DAY_MS],
    )
    experiment: ExperimentName | None = Field(
        default=None, description="runs: only this experiment's (default: every experiment's)"
    )
    pipeline: PipelineName | None = Field(
        default=None, description="pipeline_runs: only this pipeline's (default: every one's)"
    )

    @model_validator(mode="after")
    def _scope_fits_kind(self) -> SetRetentionRule:
        if self.experiment is not None and self.kind != "runs":
            raise ValueError(f"experiment narrows a rule for runs, not for {self.kind}")
        if self.pipeline is not None and self.kind != "pipeline_runs":
            raise ValueError(f"pipeline narrows a rule for pipeline_runs, not for {self.kind}")
        return self

    @property
    def scope(self) -> str:
        """What the rule is stored under beside its kind: a name, or '' for all."""
        return self.experiment or self.pipeline or ""


class RetentionRule(Model):
    id: int
    workspace: str
    kind: str
    experiment: str | None = None
    pipeline: str | None = None
    older_than_ms: int
    created_at: int
    created_by: str
    updated_at: int
    updated_by: str

    @property
    def scope(self) -> str:
        return self.experiment or self.pipeline or ""

    def describe(self) -> str:
        """``runs of experiment churn ended over 90 days ago``."""
        period = describe_period(self.older_than_ms)
        if self.kind == "audit":
            return f"audit records over {period} old"
        if self.kind == "pipeline_runs":
            what = f"pipeline runs of {self.pipeline}" if self.pipeline else "pipeline runs"
        else:
            what = f"runs of experiment {self.experiment}" if self.experiment else "runs"
        return f"{what} ended over {period} ago"


class ListRetentionRules(Request):
    """Every rule of the workspace (until workspaces are namespaces: ``default``)."""


class RetentionRuleList(Model):
    rules: list[RetentionRule]


class DeleteRetentionRule(Request):
    rule_id: RuleId


class ApplyRetention(Request):
    dry_run: Flag = Field(
        default=False,
        description="List what would be deleted and why each kept item is kept; delete nothing",
    )
    limit: Annotated[int, whole(ge=int(limits.PER_PASS.ge), le=int(limits.PER_PASS.le))] = Field(
        default=int(limits.PER_PASS.default),
        description="Runs deleted (or, in a dry run, listed as going) at most; the answer's "
        "`more` says whether a next pass has more to do",
    )


class RetentionItem(Model):
    """A run (with the runs under it) a rule deleted, would delete, or keeps, and why."""

    rule_id: int
    kind: str
    run_id: str
    name: ShortText
    experiment: str
    status: str
    ended_at: TimestampMs | None = Field(description="When it ended (ms); None while it runs")
    runs: Count = Field(description="Runs deleted (or that would be): it and the runs under it")
    reasons: list[str] = Field(description="Why it is kept; empty for what goes")


class AuditPrune(Model):
    """The oldest audit records a rule pruned, or would: ``first_seq`` to ``through_seq``."""

    first_seq: int
    through_seq: int
    through_hash: str
    records: Count
    newest_at: int = Field(description="When the newest of them was written (ms)")


class RuleOutcome(Model):
    rule: RetentionRule
    cutoff: int = Field(description="What ended (or was written) before this time (ms) may go")
    deleted: Count = Field(
        description="Runs deleted, or audit records pruned (in a dry run: that would be)"
    )
    kept: Count = Field(description="Runs (with the runs under them) that are old but kept")
    more: bool = Field(description="The pass stopped at its limit: more may go next time")
    audit: AuditPrune | None = None
    problem: str | None = Field(default=None, description="Why the rule did nothing")


class RetentionReport(Model):
    dry_run: bool
    rules: list[RuleOutcome]
    deleted: list[RetentionItem] = Field(
        description=f"What went (in a dry run: would go), the first {limits.LISTED}"
    )
    kept: list[RetentionItem] = Field(
        description=f"What is old but kept, with why, the first {limits.LISTED}. A pass "
        "skips runs that are still running or registered as model versions themselves "
        "without reading further; a dry run lists them too"
    )
    truncated: bool = Field(description="Whether `deleted` or `kept` stops short")
    more: bool = Field(description="A rule stopped at the limit: the next pass goes on")

    @property
    def deleted_runs(self) -> int:
        return sum(o.deleted for o in self.rules if o.rule.kind != "audit")

    @property
    def pruned_records(self) -> int:
        return sum(o.deleted for o in self.rules if o.rule.kind == "audit")
