"""A user's journey through `modelyard retention`: a rule, a dry run that says why what stays
stays, a pass that deletes the rest (audited), and mistakes answered with what to do."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Cli, store_env

MAKE_RUNS = """
import time
import modelyard
from modelyard.tracking.models import RunStatus

c = modelyard.Client()
exp = c.get_or_create_experiment("churn")
long_ago = time.time_ns() // 1_000_000 - 200 * 86_400_000
old = c.create_run(exp.id, start_time=long_ago)
c.set_terminated(old.id, RunStatus.FINISHED, end_time=long_ago + 1000)
running = c.create_run(exp.id, start_time=long_ago)
fresh = c.create_run(exp.id)
c.set_terminated(fresh.id)
print(old.id, running.id, fresh.id)
"""


def test_a_rule_a_dry_run_then_a_pass_that_deletes_and_audits(tmp_path: Path) -> None:
    cli = Cli(store_env(tmp_path), cwd=tmp_path)
    old, running, fresh = cli.python(MAKE_RUNS).split()

    (line,) = cli("retention", "set", "runs", "--older-than", "soon", expect=2).assert_user_error()
    assert line == "error: --older-than 'soon': write a period such as 90d, 365d or 36h"
    (line,) = cli("retention", "set", "files", "--older-than", "90d", expect=2).assert_user_error()
    assert "'files' is not something retention deletes: use runs" in line
    assert cli("retention", "set", "runs", "--older-than", "90d").stdout == (
        "rule 1: delete runs ended over 90 days ago\n"
    )
    cli("retention", "set", "audit", "--older-than", "365d", "--reason", "keep a year")
    listed = cli("retention", "list", "--json").json()
    assert [(r["id"], r["kind"], r["older_than_ms"]) for r in listed] == [
        (1, "runs", 90 * 86_400_000),
        (2, "audit", 365 * 86_400_000),
    ]

    dry = cli("retention", "apply", "--dry-run").stdout
    assert "rule 1 (runs ended over 90 days ago): would delete 1 runs, kept 1" in dry
    assert f"run {old} " in dry
    assert f"kept: run {running} " in dry
    assert "it is RUNNING" in dry
    assert fresh not in dry

    [report] = cli("retention", "apply", "--json", "--reason", "cleanup").json()
    assert [o["deleted"] for o in report["rules"]] == [1, 0]
    assert "does not exist" in cli("runs", "show", old, expect=2).stderr
    assert {r["id"] for r in cli("runs", "list", "--json").json()["runs"]} == {running, fresh}
    deleted = cli("audit", "log", "--action", "run.deleted", "--json").json()
    assert [(r["target_id"], r["reason"]) for r in deleted] == [(old, "cleanup")]

    assert cli("retention", "delete", "1").stdout == "deleted rule 1\n"
    assert "retention list" in cli("retention", "delete", "1", expect=2).assert_user_error()[0]
