"""Schedules behave the same on every backend: cron checks, names, claims, results."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from modelyard.client.client import Client
from modelyard.errors import AlreadyExists, InvalidInput, NotFound
from modelyard.pipelines import schedules as ops
from modelyard.pipelines.schedules import ClaimDueSchedule, ClaimedSchedule, RecordScheduleResult
from modelyard.storage.db.tables import audit_records, outbox
from tests.contract.conftest import Store

MINUTE = 60_000

PIPELINES = """
import modelyard

@modelyard.step
def double(n: int = 1) -> int:
    return n * 2

@modelyard.pipeline
def train(n: int = 1):
    double(n=n)

@modelyard.pipeline
def tiny(n: int = 1):
    double(n=n)
"""


@pytest.fixture(autouse=True)
def registered(client: Client, tmp_path: Path) -> None:
    """Schedules name registered pipelines: register ``train`` and ``tiny``."""
    code = tmp_path / "flows"
    code.mkdir()
    (code / "pipes.py").write_text(PIPELINES)
    client.pipelines.register(f"{code / 'pipes.py'}:train")
    client.pipelines.register(f"{code / 'pipes.py'}:tiny")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def claim(client: Client, now: int) -> ClaimedSchedule:
    return client.backend.call(ops.claim_due_schedule, ClaimDueSchedule(now=now))


def recorded(store: Store, action: str, event: str) -> tuple[list[Any], list[Any]]:
    with store.local.db.read() as conn:
        audits = conn.execute(select(audit_records).where(audit_records.c.action == action))
        events = conn.execute(select(outbox).where(outbox.c.type == event))
        return list(audits.mappings()), list(events.mappings())


def test_create_computes_the_next_run_and_records_it(store: Store) -> None:
    before = now_ms()
    info = store.client.schedules.create(
        "nightly", "train", "0 3 * * *", params={"n": 10}, executor="processes:2"
    )
    assert (info.name, info.pipeline_ref, info.cron) == ("nightly", "train", "0 3 * * *")
    assert info.params == {"n": 10}
    assert info.executor == "processes:2"
    assert info.enabled is True
    assert before <= info.created_at <= now_ms()
    assert info.next_run_at == ops.next_occurrence("0 3 * * *", info.created_at)
    assert info.created_at < info.next_run_at <= info.created_at + 24 * 3600_000
    assert (info.next_run_at // 1000) % 86_400 == 3 * 3600  # 03:00 UTC
    assert (info.last_run_at, info.last_run_id, info.last_error) == (None, None, None)
    assert store.client.schedules.get("nightly") == info
    audits, events = recorded(store, "schedule.created", "schedule.created")
    assert [a["target_id"] for a in audits] == ["nightly"]
    assert audits[0]["actor"] == "tester"
    assert events[0]["payload"]["cron"] == "0 3 * * *"


def test_bad_cron_name_executor_or_ref_is_refused(client: Client) -> None:
    for bad in [
        "61 * * * *",
        "every minute",
        "* * * *",
        "0 0 * * * * *",
        "@sometimes",
        "* * 32 * *",
    ]:
        with pytest.raises(InvalidInput) as err:
            client.schedules.create("s", "train", bad)
        assert f"'{bad}' is not a cron expression" in err.value.message
        assert "*/15 * * * *" in err.value.message
    assert client.schedules.list() == []
    assert client.schedules.create("a", "train", "@hourly").cron == "@hourly"
    assert client.schedules.create("b", "train", " */5  *  * * * ").cron == "*/5 * * * *"
    with pytest.raises(InvalidInput, match="unknown executor 'threads'"):
        client.schedules.create("s", "train", "@daily", executor="threads")
    with pytest.raises(InvalidInput, match="name"):
        client.schedules.create("a/b", "train", "@daily")
    with pytest.raises(InvalidInput, match="pipeline_ref"):
        client.schedules.create("s", "", "@daily")
    for never in ("0 0 30 2 *", "0 0 31 4,6,9,11 *"):
        with pytest.raises(InvalidInput, match=re.escape(f"'{never}' never fires")):
            client.schedules.create("s", "train", never)


@pytest.mark.parametrize(
    "ref", ["/any/path/evil.py", "evil.py:p", "os:system", "../train", "train:0", "train:x"]
)
def test_a_schedule_or_trigger_naming_code_instead_of_a_registered_pipeline_is_refused(
    client: Client, ref: str
) -> None:
    create = ops.CreateSchedule(name="s", pipeline_ref=ref, cron="@daily")
    with pytest.raises(InvalidInput, match="is not a registered pipeline"):
        client.backend.call(ops.create_schedule, create)
    with pytest.raises(InvalidInput, match="is not a registered pipeline"):
        client.backend.call(ops.trigger_pipeline, ops.TriggerPipeline(pipeline_ref=ref))
    assert client.schedules.list() == []


def test_duplicates_and_unknown_names(client: Client) -> None:
    client.schedules.create("nightly", "train", "@daily")
    with pytest.raises(AlreadyExists, match="schedule 'nightly' already exists"):
        client.schedules.create("nightly", "tiny:1", "@hourly")
    assert client.schedules.get("nightly").pipeline_ref == "train"
    for call in (
        lambda: client.schedules.get("nope"),
        lambda: client.schedules.enable("nope"),
        lambda: client.schedules.disable("nope"),
        lambda: client.schedules.delete("nope"),
        lambda: client.backend.call(
            ops.record_schedule_result, RecordScheduleResult(name="nope", run_at=1)
        ),
    ):
        with pytest.raises(NotFound, match="schedule 'nope' does not exist"):
            call()


def test_list_enable_disable_delete(store: Store) -> None:
    schedules = store.client.schedules
    schedules.create("b", "train", "@daily")
    schedules.create("a", "train", "@hourly", enabled=False)
    assert [s.name for s in schedules.list()] == ["a", "b"]
    assert [s.name for s in schedules.list(enabled=False)] == ["a"]
    assert schedules.disable("b").enabled is False
    assert schedules.disable("b").enabled is False  # already disabled: unchanged
    before = now_ms()
    enabled = schedules.enable("a")
    assert enabled.enabled is True
    assert enabled.next_run_at == ops.next_occurrence("@hourly", enabled.next_run_at - 3600_000)
    assert before < enabled.next_run_at <= now_ms() + 3600_000
    assert [s.name for s in schedules.list(enabled=True)] == ["a"]
    schedules.delete("a")
    assert [s.name for s in schedules.list()] == ["b"]
    audits, _ = recorded(store, "schedule.updated", "schedule.updated")
    assert [(a["target_id"], a["after"]["enabled"]) for a in audits] == [("b", False), ("a", True)]
    audits, events = recorded(store, "schedule.deleted", "schedule.deleted")
    assert [a["target_id"] for a in audits] == ["a"]
    assert len(events) == 1


def test_trigger_stores_a_one_off_schedule_due_now(store: Store) -> None:
    info = store.client.schedules.trigger("tiny", params={"n": 2}, executor="inline")
    assert info.name.startswith("trigger-")
    assert len(info.name) == len("trigger-") + 32
    assert (info.cron, info.enabled, info.params) == ("@once", True, {"n": 2})
    assert info.next_run_at <= now_ms()
    assert store.client.schedules.trigger("tiny").name != info.name
    audits, events = recorded(store, "pipeline.triggered", "pipeline.triggered")
    assert len(audits) == 2
    assert len(events) == 2


def test_a_due_schedule_is_claimed_once_and_advanced(store: Store) -> None:
    client = store.client
    info = client.schedules.create("every-minute", "train", "* * * * *")
    due = info.next_run_at
    assert claim(client, due - 1).schedule is None
    first = claim(client, due + 5)
    assert first.schedule is not None
    assert first.schedule.name == "every-minute"
    assert first.due_at == due
    assert first.schedule.next_run_at == due + MINUTE
    assert claim(client, due + 5).schedule is None  # the same occurrence never fires twice
    assert client.schedules.get("every-minute").next_run_at == due + MINUTE
    # Ten missed occurrences fire once, then the schedule is back on time.
    late = claim(client, due + 10 * MINUTE + 1)
    assert late.schedule is not None
    assert late.due_at == due + MINUTE
    assert late.schedule.next_run_at == due + 11 * MINUTE
    assert claim(client, due + 10 * MINUTE + 1).schedule is None
    audits, events = recorded(store, "schedule.fired", "schedule.fired")
    assert [a["after"]["due_at"] for a in audits] == [due, due + MINUTE]
    assert len(events) == 2


def test_once_disables_itself_disabled_never_fires_oldest_first(client: Client) -> None:
    trigger = client.schedules.trigger("train")
    client.schedules.create("off", "train", "* * * * *", enabled=False)
    later = now_ms() + 5 * MINUTE
    claimed = claim(client, later)
    assert claimed.schedule is not None
    assert claimed.schedule.name == trigger.name
    assert claimed.schedule.enabled is False
    assert claim(client, later).schedule is None
    assert client.schedules.get(trigger.name).enabled is False
    # Several due: the oldest occurrence first.
    hourly = client.schedules.create("hourly", "train", "@hourly")
    minutely = client.schedules.create("minutely", "train", "* * * * *")
    client.schedules.trigger("train")
    later = now_ms() + 2 * 3600_000
    names = []
    while (claimed := claim(client, later)).schedule is not None:
        names.append(claimed.schedule.name)
    assert names[0].startswith("trigger-")
    # At a full hour both are due at the same minute: then the name decides.
    by_due = sorted([hourly, minutely], key=lambda s: (s.next_run_at, s.name))
    assert names[1:] == [s.name for s in by_due]


def test_concurrent_claims_fire_an_occurrence_once(client: Client) -> None:
    info = client.schedules.create("race", "train", "* * * * *")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: claim(client, info.next_run_at), range(8)))
    assert sum(a.schedule is not None for a in answers) == 1


def test_record_a_result_keeps_the_last_run(store: Store) -> None:
    client = store.client
    client.schedules.create("nightly", "train", "@daily")
    ok = RecordScheduleResult(name="nightly", run_at=1000, run_id="r1")
    info = client.backend.call(ops.record_schedule_result, ok)
    assert (info.last_run_at, info.last_run_id, info.last_error) == (1000, "r1", None)
    bad = RecordScheduleResult(name="nightly", run_at=2000, error="InvalidInput: no file")
    client.backend.call(ops.record_schedule_result, bad)
    got = client.schedules.get("nightly")
    assert (got.last_run_at, got.last_run_id, got.last_error) == (
        2000,
        None,
        "InvalidInput: no file",
    )
    audits, events = recorded(store, "schedule.run.recorded", "schedule.failed")
    assert len(audits) == 2
    assert [e["payload"]["error"] for e in events] == ["InvalidInput: no file"]
