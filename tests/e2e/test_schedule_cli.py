"""Schedules through the CLI: create, list, trigger, fire with ``modelyard scheduler``, and a
server that fires what is due with ``--scheduler``."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.e2e.conftest import Cli, store_env

pytestmark = pytest.mark.slow

PIPELINE = """
import modelyard

@modelyard.step
def double(n: int = 1) -> int:
    return n * 2

@modelyard.pipeline
def tiny(n: int = 1):
    double(n=n)
"""


def _cli(tmp_path: Path) -> Cli:
    (tmp_path / "pipes.py").write_text(PIPELINE)
    return Cli(store_env(tmp_path), cwd=tmp_path)


def test_create_list_trigger_and_fire(tmp_path: Path) -> None:
    cli = _cli(tmp_path)
    registered = cli("pipeline", "register", "pipes.py:tiny").stdout
    assert registered.startswith("registered pipeline tiny:1 (snapshot ")
    assert "entry pipes.py:tiny" in registered
    again = cli("pipeline", "register", "pipes.py:tiny").stdout
    assert again.startswith("registered pipeline tiny:1 ")  # unchanged code: the same version
    [version] = cli("pipeline", "versions", "tiny", "--json").json()
    assert (version["version"], version["entry"]) == (1, "pipes.py:tiny")
    cli("schedule", "create", "yearly", "tiny", "--cron", "0 0 1 1 *", "-p", "n=3")
    lines = cli("schedule", "create", "bad", "tiny", "--cron", "61 * * * *", expect=2)
    assert "'61 * * * *' is not a cron expression" in lines.assert_user_error()[0]
    never = cli("schedule", "create", "bad", "tiny", "--cron", "0 0 30 2 *", expect=2)
    assert "never fires" in never.assert_user_error()[0]
    unknown = cli("schedule", "create", "bad", "ghost", "--cron", "@daily", expect=2)
    assert "no pipeline 'ghost' is registered" in unknown.assert_user_error()[0]
    [yearly] = cli("schedule", "list", "--json").json()
    assert yearly["pipeline_ref"] == "tiny"  # follows the latest registered version
    assert (yearly["cron"], yearly["params"], yearly["enabled"]) == ("0 0 1 1 *", {"n": 3}, True)

    # Code given as a file is registered first, and the trigger pinned to that version.
    said = cli("schedule", "trigger", "pipes.py:tiny", "-p", "n=2").stdout
    name = said.split()[1].rstrip(":")
    assert name.startswith("trigger-")
    assert cli("schedule", "show", name, "--json").json()["pipeline_ref"] == "tiny:1"
    gone = cli("schedule", "trigger", "gone.py:tiny", expect=2).assert_user_error()
    assert gone[0] == "error: pipeline file 'gone.py' does not exist"
    fired = cli("scheduler", "--once").stdout.splitlines()
    assert len(fired) == 1  # the yearly schedule is not due
    assert f" {name} (tiny:1): pipeline run " in fired[0]
    assert fired[0].endswith(" FINISHED")
    done = {s["name"]: s for s in cli("schedule", "list", "--json").json()}
    assert (done[name]["enabled"], done[name]["last_error"]) == (False, None)
    assert f"pipeline run {done[name]['last_run_id']} FINISHED" in fired[0]
    assert done["yearly"]["last_run_id"] is None

    assert "disabled" in cli("schedule", "disable", "yearly").stdout
    cli("schedule", "delete", "yearly")
    missing = cli("schedule", "delete", "yearly", expect=2).assert_user_error()
    assert missing[0] == "error: schedule 'yearly' does not exist"


def test_server_with_scheduler_fires_a_waiting_trigger(tmp_path: Path) -> None:
    cli = _cli(tmp_path)
    name = cli("schedule", "trigger", "pipes.py:tiny").stdout.split()[1].rstrip(":")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v1/schedules/{name}"
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [cli.exe, "server", "--port", str(port), "--log-level", "warning", "--scheduler"],
            env=cli.env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log.read_text()
            try:
                seen = httpx.get(url, timeout=1).json()
                if seen.get("last_run_id"):
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the trigger never fired: {log.read_text()}"
            time.sleep(0.1)
        assert seen["enabled"] is False
        assert seen["last_error"] is None
    finally:
        server.terminate()
        server.wait(timeout=20)
    # uvicorn re-raises the SIGTERM it handled once it has shut down (the scheduler too).
    assert server.returncode in (0, -15), log.read_text()
    assert "Traceback" not in log.read_text()
