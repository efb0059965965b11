"""Which old runs a rule deletes, and why it keeps the others.

A rule looks at *root* runs, those with no parent: for ``runs`` the ones outside pipelines
(a run and its nested runs), for ``pipeline_runs`` the pipeline runs (each with its step
runs). A root goes with every active run under it, or stays with them: a run is never
deleted from under a parent that is kept, nor a parent from over a run that is kept. A root
is old when it ended (or, still running, started) before the rule's cutoff, and it is kept
when any of its runs

* is not finished (RUNNING, SCHEDULED), or ended after the cutoff;
* is the run a model version (not a deleted one) was registered from, and so the run of
  whatever deployment serves that version;
* produced outputs a step run outside it reuses from the cache;
* is being changed by another writer (PostgreSQL: its row is locked; the next pass looks
  again).

Deleting is tracking's ``delete_run`` through ``ctx.call``: each run is audited as
``run.deleted`` and announced by its ``run.deleted`` event, like a deletion by hand. The
runs of a root are locked before what references them is read (PostgreSQL), and
registering a version locks its run for share (registry), so a version registered while a
pass runs either waits for it (and finds the run deleted) or keeps the run from it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, exists, func, or_, select

from modelyard.core.operations import OperationContext
from modelyard.retention import limits
from modelyard.retention.models import RetentionItem, RetentionRule, RuleOutcome
from modelyard.storage.db.tables import (
    deployments,
    experiments,
    model_versions,
    pipeline_runs,
    runs,
    step_runs,
)
from modelyard.tracking import operations as tracking
from modelyard.tracking.models import DeleteRun, RunStatus

TERMINAL = tuple(s.value for s in RunStatus if s.terminal)
# The registry's VersionStatus.DELETED (retention sits below the registry): a deleted
# version keeps its row, but no longer keeps its run.
_DELETED_VERSION = "DELETED"
# Roots read per query, and ids per IN (...) list (SQLite bounds a statement's variables).
_BATCH = 200
_IN_CHUNK = 500


@dataclass(slots=True)
class Budget:
    """What one pass may still do: runs to delete (or list as going), roots to look at."""

    left: int
    examined: int = 0

    @property
    def spent(self) -> bool:
        return self.left <= 0 or self.examined >= limits.MAX_EXAMINED


@dataclass(slots=True)
class Listing:
    """The items one answer lists, the first ``limits.LISTED`` of each."""

    deleted: list[RetentionItem] = field(default_factory=list)
    kept: list[RetentionItem] = field(default_factory=list)
    truncated: bool = False
    # Roots a rule of this pass already decided on: a later rule does not list them again.
    seen: set[str] = field(default_factory=set)

    def add(self, item: RetentionItem) -> None:
        items = self.kept if item.reasons else self.deleted
        if len(items) < limits.LISTED:
            items.append(item)
        else:
            self.truncated = True


@dataclass(slots=True)
class _Unit:
    """A root run and the active runs under it, the root first, then level by level."""

    root: Row[Any]
    runs: list[Row[Any]]


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _IN_CHUNK):
        yield list(ids[start : start + _IN_CHUNK])


def _roots(
    rule: RetentionRule, cutoff: int, *, dry_run: bool, after: tuple[int, str] | None
) -> Select[Any]:
    """The rule's old root runs, oldest first, after the keyset ``after``."""
    r, e = runs.c, experiments.c
    ended = func.coalesce(r.end_time, r.start_time)
    in_pipeline = exists().where(pipeline_runs.c.run_id == r.id)
    query = (
        select(r.id, r.name, r.status, r.end_time, e.name.label("experiment"), ended.label("ended"))
        .join(experiments, e.id == r.experiment_id)
        .where(e.workspace == rule.workspace, r.lifecycle == "active", r.parent_run_id.is_(None))
        .where(
            or_(
                and_(r.status.in_(TERMINAL), ended < cutoff),
                and_(r.status.not_in(TERMINAL), r.start_time < cutoff),
            )
        )
    )
    if rule.kind == "pipeline_runs":
        of_pipeline = pipeline_runs.c.run_id == r.id
        if rule.pipeline is not None:
            of_pipeline = and_(of_pipeline, pipeline_runs.c.pipeline == rule.pipeline)
        query = query.where(exists().where(of_pipeline))
    else:
        query = query.where(~in_pipeline)
        if rule.experiment is not None:
            query = query.where(e.name == rule.experiment)
    if not dry_run:
        # What a pass would read only to keep: a run still running, or registered itself.
        # Skipping it here keeps a store with many such runs from slowing every pass.
        registered = exists().where(
            model_versions.c.run_id == r.id, model_versions.c.status != _DELETED_VERSION
        )
        query = query.where(r.status.in_(TERMINAL), ~registered)
    if after is not None:
        query = query.where(or_(ended > after[0], and_(ended == after[0], r.id > after[1])))
    return query.order_by(ended, r.id).limit(_BATCH)


def _units(conn: Connection, roots: Sequence[Row[Any]]) -> list[_Unit]:
    """Each root with the active runs under it (nested runs, step runs), at any depth."""
    r = runs.c
    units = {root.id: _Unit(root, [root]) for root in roots}
    owner = {root.id: root.id for root in roots}
    frontier = list(owner)
    while frontier:
        below: list[Any] = []
        for chunk in _chunks(frontier):
            below += conn.execute(
                select(r.id, r.name, r.status, r.end_time, r.start_time, r.parent_run_id).where(
                    r.parent_run_id.in_(chunk), r.lifecycle == "active"
                )
            ).all()
        frontier = []
        for run in below:
            if run.id not in owner:
                owner[run.id] = owner[run.parent_run_id]
                units[owner[run.id]].runs.append(run)
                frontier.append(run.id)
    return list(units.values())


def _locked(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Lock the runs about to be judged (PostgreSQL; SQLite's writer is alone anyway);
    those another writer holds are left out, and kept this pass."""
    found: set[str] = set()
    for chunk in _chunks(ids):
        query = (
            select(runs.c.id)
            .where(runs.c.id.in_(chunk), runs.c.lifecycle == "active")
            .with_for_update(skip_locked=True)
        )
        found.update(conn.execute(query).scalars())
    return found


# A reason a run is kept, given how to name the run ("it", "its run ...").
Reason = Callable[..., str]


def _references(conn: Connection, units: Sequence[_Unit]) -> dict[str, list[Reason]]:
    """What still needs each run of ``units``: run id -> its reasons (none for most). Each
    reason is a sentence's ``format`` with the names filled in (a brace in a name stays as
    it is). A run of the same unit reusing outputs from the cache needs nothing: they go
    together."""
    mv, d, sr, r = model_versions.c, deployments.c, step_runs.c, runs.c
    needed: dict[str, list[Reason]] = defaultdict(list)
    unit_of = {run.id: unit.root.id for unit in units for run in unit.runs}
    ids = list(unit_of)
    for chunk in _chunks(ids):
        live = and_(mv.run_id.in_(chunk), mv.status != _DELETED_VERSION)
        for model, version, run_id in conn.execute(
            select(mv.model, mv.version, mv.run_id).where(live).order_by(mv.model, mv.version)
        ):
            sentence = "model version {model}/{version} was registered from {who}"
            needed[run_id].append(partial(sentence.format, model=model, version=version))
        served = (
            select(d.endpoint, d.name, mv.model, mv.version, mv.run_id)
            .join(model_versions, and_(mv.model == d.model, mv.version == d.version))
            .where(live)
            .order_by(d.endpoint, d.name)
        )
        for endpoint, name, model, version, run_id in conn.execute(served):
            sentence = (
                "deployment {endpoint}/{name} serves model version {model}/{version}, "
                "registered from {who}"
            )
            needed[run_id].append(
                partial(sentence.format, endpoint=endpoint, name=name, model=model, version=version)
            )
        reusing = (
            select(sr.run_id, sr.pipeline_run_id, sr.cached_from)
            .join(runs, r.id == sr.run_id)
            .where(sr.cached_from.in_(chunk), r.lifecycle == "active")
            .order_by(sr.run_id)
        )
        for run_id, pipeline_run_id, cached_from in conn.execute(reusing):
            if unit_of.get(run_id) != unit_of[cached_from]:
                sentence = (
                    "step run {run} of pipeline run {pipeline_run} reuses the outputs of "
                    "{who} from the cache"
                )
                needed[cached_from].append(
                    partial(sentence.format, run=run_id, pipeline_run=pipeline_run_id)
                )
    return needed


def _why_kept(
    unit: _Unit, cutoff: int, needed: dict[str, list[Reason]], locked: set[str] | None
) -> list[str]:
    reasons = []
    for run in unit.runs:
        who = "it" if run is unit.root else f"its run {run.id} ({run.name})"
        if run.status not in TERMINAL:
            reasons.append(f"{who} is {run.status}")
        elif run is not unit.root and (run.end_time or run.start_time) >= cutoff:
            reasons.append(f"{who} ended after the cutoff")
        reasons += [reason(who=who) for reason in needed.get(run.id, [])]
        if locked is not None and run.id not in locked:
            reasons.append(f"another writer is changing {who}: the next pass looks again")
    return reasons


def _item(rule: RetentionRule, unit: _Unit, runs_going: int, reasons: list[str]) -> RetentionItem:
    root = unit.root
    return RetentionItem(
        rule_id=rule.id,
        kind=rule.kind,
        run_id=root.id,
        name=root.name,
        experiment=root.experiment,
        status=root.status,
        ended_at=root.end_time,
        runs=runs_going,
        reasons=reasons,
    )


def apply_rule(
    ctx: OperationContext,
    rule: RetentionRule,
    cutoff: int,
    *,
    dry_run: bool,
    budget: Budget,
    listing: Listing,
) -> RuleOutcome:
    """Delete (or with ``dry_run`` only list) the rule's old runs that nothing keeps, as
    far as ``budget`` allows, oldest first."""
    deleted = kept = 0
    after: tuple[int, str] | None = None
    while not budget.spent:
        roots = ctx.conn.execute(_roots(rule, cutoff, dry_run=dry_run, after=after)).all()
        if not roots:
            return RuleOutcome(rule=rule, cutoff=cutoff, deleted=deleted, kept=kept, more=False)
        after = (roots[-1].ended, roots[-1].id)
        fresh = [root for root in roots if root.id not in listing.seen]
        listing.seen.update(root.id for root in fresh)
        units = _units(ctx.conn, fresh)
        ids = [run.id for unit in units for run in unit.runs]
        locked = None if dry_run else _locked(ctx.conn, ids)
        needed = _references(ctx.conn, units)
        for unit in units:
            if budget.spent:
                break
            budget.examined += 1
            reasons = _why_kept(unit, cutoff, needed, locked)
            if reasons:
                kept += 1
                listing.add(_item(rule, unit, 0, reasons))
                continue
            # Deepest first, the root last: a pass that runs out midway leaves the root,
            # and the next one finds it again with what is left under it.
            going = list(reversed(unit.runs))[: budget.left]
            if not dry_run:
                for run in going:
                    ctx.call(tracking.delete_run, DeleteRun(run_id=run.id))
            budget.left -= len(going)
            deleted += len(going)
            listing.add(_item(rule, unit, len(going), []))
    return RuleOutcome(rule=rule, cutoff=cutoff, deleted=deleted, kept=kept, more=True)
