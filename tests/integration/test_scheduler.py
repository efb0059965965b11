"""The scheduler fires real pipelines from stored schedules, on a clock the test moves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.client.client import Client
from modelyard.config import Settings
from modelyard.core.backend import LocalBackend, open_local_backend
from modelyard.core.remote import RemoteBackend
from modelyard.errors import InvalidInput, NotFound
from modelyard.pipelines.scheduler import Firing, Scheduler
from modelyard.tracking.models import RunStatus
from tests.conftest import make_settings, running_server

MINUTE = 60_000

PIPELINES = """
import modelyard

@modelyard.step
def double(n: int = 1) -> int:
    return n * 2

@modelyard.step
def explode(n: int = 1) -> int:
    raise ValueError(f"cannot take {n}")

@modelyard.pipeline
def tiny(n: int = 1):
    double(n=n)

@modelyard.pipeline
def broken(n: int = 1):
    explode(n=n)
"""


class FakeClock:
    """Milliseconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = time.time_ns() // 1_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def backend(settings: Settings) -> Iterator[LocalBackend]:
    local = open_local_backend(settings)
    yield local
    local.close()


@pytest.fixture
def pipelines(tmp_path: Path) -> Path:
    path = tmp_path / "flows" / "pipes.py"
    path.parent.mkdir()
    path.write_text(PIPELINES)
    return path


def test_a_schedule_fires_each_time_its_minute_comes(
    settings: Settings, backend: LocalBackend, pipelines: Path
) -> None:
    client = Client(settings=settings, backend=backend)
    created = client.schedules.create(
        "every-minute", f"{pipelines}:tiny", "* * * * *", params={"n": 21}
    )
    clock = FakeClock()
    seen: list[Firing] = []
    scheduler = Scheduler(backend, settings=settings, clock=clock, on_firing=seen.append)
    assert scheduler.run_once() == []  # not due yet

    clock.now = created.next_run_at + 1_000
    [firing] = scheduler.run_once()
    assert (firing.schedule, firing.status, firing.error) == ("every-minute", "FINISHED", None)
    assert firing.due_at == created.next_run_at
    assert seen == [firing]
    run = client.pipelines.get_run(firing.run_id or "")
    assert run.status == RunStatus.FINISHED
    assert run.pipeline == "tiny"
    assert run.params == {"n": 21}
    after = client.schedules.get("every-minute")
    assert (after.last_run_id, after.last_run_at, after.last_error) == (
        firing.run_id,
        clock.now,
        None,
    )
    assert after.next_run_at == created.next_run_at + MINUTE
    assert scheduler.run_once() == []  # that occurrence is done

    clock.advance(MINUTE)
    [again] = scheduler.run_once()
    assert again.run_id != firing.run_id
    assert again.status == "FINISHED"
    assert len(client.pipelines.runs("tiny")) == 2


def test_failures_are_recorded_and_the_loop_goes_on(
    settings: Settings, backend: LocalBackend, pipelines: Path
) -> None:
    client = Client(settings=settings, backend=backend)
    client.schedules.create("c-failing", f"{pipelines}:broken", "* * * * *")
    client.schedules.create("d-fine", f"{pipelines}:tiny", "* * * * *")
    client.schedules.create("e-bad-param", f"{pipelines}:tiny", "* * * * *", params={"x": 1})
    clock = FakeClock()
    clock.advance(MINUTE)
    firings = {f.schedule: f for f in Scheduler(backend, settings=settings, clock=clock).run_once()}
    assert {k: f.status for k, f in firings.items()} == {
        "c-failing": "FAILED",
        "d-fine": "FINISHED",
        "e-bad-param": "ERROR",
    }
    errors = {s.name: s.last_error or "" for s in client.schedules.list()}
    assert "failed steps: explode" in errors["c-failing"]
    assert errors["d-fine"] == ""
    assert "pipeline 'tiny' has no parameter 'x'" in errors["e-bad-param"]
    failed_run = client.pipelines.get_run(firings["c-failing"].run_id or "")
    assert failed_run.status == RunStatus.FAILED
    assert "cannot take 1" in (failed_run.steps[0].error or "")


def test_what_cannot_run_is_refused_when_the_schedule_is_made(
    settings: Settings, backend: LocalBackend, pipelines: Path
) -> None:
    client = Client(settings=settings, backend=backend)
    with pytest.raises(InvalidInput, match=r"gone\.py' does not exist"):
        client.schedules.create("a-missing", str(pipelines.parent / "gone.py"), "* * * * *")
    with pytest.raises(InvalidInput, match="has no pipeline 'nope'; it has: broken, tiny"):
        client.schedules.create("b-unknown", f"{pipelines}:nope", "* * * * *")
    with pytest.raises(NotFound, match="no pipeline 'ghost' is registered"):
        client.schedules.create("c-ghost", "ghost", "* * * * *")
    client.pipelines.register(f"{pipelines}:tiny")
    with pytest.raises(NotFound, match="pipeline 'tiny' has no registered version 7"):
        client.schedules.create("d-seven", "tiny:7", "* * * * *")
    assert client.schedules.list() == []


def test_a_schedule_runs_the_registered_snapshot_not_the_file_as_it_is_now(
    settings: Settings, backend: LocalBackend, pipelines: Path
) -> None:
    client = Client(settings=settings, backend=backend)
    first = client.pipelines.register(f"{pipelines}:tiny")
    assert (first.name, first.version, first.entry) == ("tiny", 1, "pipes.py:tiny")
    assert client.pipelines.register(f"{pipelines}:tiny") == first  # unchanged: the same
    client.schedules.create("pinned", "tiny:1", "* * * * *", params={"n": 3})
    # The file changes after registration; version 1 keeps the code it was registered with.
    pipelines.write_text(PIPELINES.replace("return n * 2", "return n * 1000"))
    clock = FakeClock()
    clock.advance(MINUTE)
    [firing] = Scheduler(backend, settings=settings, clock=clock).run_once()
    assert (firing.status, firing.version) == ("FINISHED", "tiny:1")
    run = client.pipelines.get_run(firing.run_id or "")
    output = run.steps[0].outputs["output"]
    assert _json_output(backend, output.manifest) == 6
    assert client.get_run(run.run_id).tags["modelyard.pipeline.version"] == "tiny:1"
    # Registering the changed file makes version 2; an unpinned schedule follows the latest.
    second = client.pipelines.register(f"{pipelines}:tiny")
    assert second.version == 2
    assert [v.version for v in client.pipelines.versions("tiny")] == [2, 1]
    client.schedules.create("latest", "tiny", "* * * * *", params={"n": 3})
    clock.advance(MINUTE)
    fired = {f.schedule: f for f in Scheduler(backend, settings=settings, clock=clock).run_once()}
    assert fired["latest"].version == "tiny:2"
    latest_run = client.pipelines.get_run(fired["latest"].run_id or "")
    assert _json_output(backend, latest_run.steps[0].outputs["output"].manifest) == 3000
    assert fired["pinned"].version == "tiny:1"


def _json_output(backend: LocalBackend, manifest_sha: str) -> object:
    import json

    from modelyard.storage.artifacts.manifests import parse_manifest

    manifest = parse_manifest(backend.blobs.read_bytes(manifest_sha), manifest_sha)
    [entry] = manifest.files.values()
    return json.loads(backend.blobs.read_bytes(entry.sha256))


def test_run_forever_fires_a_trigger_and_stops(
    settings: Settings, backend: LocalBackend, pipelines: Path
) -> None:
    client = Client(settings=settings, backend=backend)
    trigger = client.schedules.trigger(f"{pipelines}:tiny")
    scheduler = Scheduler(backend, settings=settings, poll_seconds=0.05)
    with scheduler.in_background() as thread:
        deadline = time.monotonic() + 20
        while client.schedules.get(trigger.name).last_run_id is None:
            assert time.monotonic() < deadline, "the background scheduler never fired"
            time.sleep(0.05)
    assert not thread.is_alive()
    done = client.schedules.get(trigger.name)
    assert done.enabled is False
    assert client.pipelines.get_run(done.last_run_id or "").status == RunStatus.FINISHED


def test_a_trigger_sent_over_rest_runs_on_the_servers_scheduler(
    settings: Settings, pipelines: Path
) -> None:
    with running_server(settings) as (server, server_backend):
        remote = RemoteBackend(server.url, user="tester", retries=1)
        client = Client(settings=settings, backend=remote)
        try:
            trigger = client.schedules.trigger(f"{pipelines}:tiny", params={"n": 4})
            [firing] = Scheduler(server_backend, settings=settings).run_once()
            assert (firing.schedule, firing.status) == (trigger.name, "FINISHED")
            seen = client.schedules.get(trigger.name)
            assert (seen.enabled, seen.last_run_id) == (False, firing.run_id)
            run = client.pipelines.get_run(firing.run_id or "")
            assert (run.status, run.params) == (RunStatus.FINISHED, {"n": 4})
            # A scheduler may also run against the server, over HTTP.
            again = client.schedules.trigger(f"{pipelines}:tiny", params={"n": 5})
            [remote_firing] = Scheduler(remote, settings=settings).run_once()
            assert (remote_firing.schedule, remote_firing.status) == (again.name, "FINISHED")
        finally:
            remote.close()


def test_a_server_never_runs_a_path_or_module_named_in_a_request(
    settings: Settings, tmp_path: Path
) -> None:
    import httpx

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.py"
    evil.write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "import modelyard\n\n@modelyard.step\ndef s() -> int:\n    return 1\n\n"
        "@modelyard.pipeline\ndef p():\n    s()\n"
    )
    with running_server(settings) as (server, server_backend):
        api = f"{server.url}/api/v1"
        refs = [str(evil), f"{evil}:p", "evil:p", "os:system", "../evil.py", "p:0", ""]
        for ref in refs:
            answer = httpx.post(f"{api}/pipelines/trigger", json={"pipeline_ref": ref})
            assert answer.status_code == 400, (ref, answer.text)
            assert answer.json()["error"]["code"] == "invalid_input"
            created = httpx.post(
                f"{api}/schedules",
                json={"name": "evil", "pipeline_ref": ref, "cron": "* * * * *"},
            )
            assert created.status_code == 400, (ref, created.text)
        refused = httpx.post(f"{api}/pipelines/trigger", json={"pipeline_ref": str(evil)})
        assert "is not a registered pipeline" in refused.json()["error"]["message"]
        unknown = httpx.post(f"{api}/pipelines/trigger", json={"pipeline_ref": "p"})
        assert unknown.status_code == 404
        assert Scheduler(server_backend, settings=settings).run_once() == []
    assert not marker.exists()
