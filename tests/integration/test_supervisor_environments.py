"""A supervised deployment serves from its model version's environment, not the supervisor's.

The version records an environment holding a package this interpreter does not have; its
model imports that package when it predicts. The deployment can answer only if it runs in
the version's environment, materialized with Modelyard added, and it says which
interpreter answered.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from modelyard import models
from modelyard.client.client import Client
from modelyard.core.backend import open_local_backend
from modelyard.environments.models import EnvironmentSpec
from modelyard.serving.supervisor import Supervisor
from tests.conftest import free_port, make_settings

pytestmark = pytest.mark.slow

ONLY_IN_THE_ENVIRONMENT = "tomli_w"  # a small pure-Python package the dev tools lack

PROBE = """
import sys


class Probe:
    def load_context(self, context):
        pass

    def predict(self, data):
        import tomli_w

        return [tomli_w.dumps({"python": sys.executable}) for _ in range(len(data))]
"""


def _probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    file = tmp_path / "env_probe_model.py"
    file.write_text(textwrap.dedent(PROBE))
    spec = importlib.util.spec_from_file_location("env_probe_model", file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "env_probe_model", module)
    spec.loader.exec_module(module)
    return module.Probe()


def test_a_deployment_serves_in_its_versions_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert importlib.util.find_spec(ONLY_IN_THE_ENVIRONMENT) is None, "the premise broke"
    settings = make_settings(tmp_path, serve_environment="version")
    backend = open_local_backend(settings)
    client = Client(settings=settings, backend=backend)
    environment = client.environments.create(
        EnvironmentSpec(name="probe", python="3.11", requirements=["tomli-w==1.0.0"])
    )
    models.register(
        _probe(tmp_path, monkeypatch),
        "probe",
        sample=pd.DataFrame({"x": [1.0]}),
        environment=environment.hash,
        client=client,
    )
    port = free_port()
    client.serving.create_endpoint("probe", port=port)
    client.serving.create_deployment("probe", "blue", "models:/probe/1")
    supervisor = Supervisor(backend, settings, poll_seconds=0.2)
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 600  # the first start builds the environment
        state = None
        while time.monotonic() < deadline:
            endpoints = supervisor.status()["endpoints"]
            if "probe" in endpoints:
                state = endpoints["probe"]["deployments"]["blue"]["state"]
                if state == "ready":
                    break
            time.sleep(0.5)
        log = settings.home / "serving" / "logs" / "probe-blue.log"
        assert state == "ready", log.read_text() if log.exists() else "no log"
        answer = httpx.post(f"http://127.0.0.1:{port}/invocations", json=[{"x": 2.0}])
        assert answer.status_code == 200, answer.text
        [served_by] = answer.json()["predictions"]
        python = served_by.split('"')[1]
        assert Path(python).is_relative_to(settings.resolved_env_cache)
        assert Path(python) != Path(sys.executable)
        assert "in environment probe:1" in log.read_text()
    finally:
        supervisor.stop()
        thread.join(60)
        backend.close()


def test_a_deployment_that_cannot_start_says_why_in_one_line_of_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, serve_environment="current")
    backend = open_local_backend(settings)
    client = Client(settings=settings, backend=backend)
    models.register(_probe(tmp_path, monkeypatch), "probe", client=client)
    # The version's files are gone from the artifact store: nothing to download.
    for blob in (Path(settings.resolved_artifact_root) / "blobs").rglob("*"):
        if blob.is_file():
            blob.unlink()
    port = free_port()
    client.serving.create_endpoint("probe", port=port)
    client.serving.create_deployment("probe", "blue", "models:/probe/1")
    supervisor = Supervisor(backend, settings, poll_seconds=0.2)
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    log = settings.home / "serving" / "logs" / "probe-blue.log"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            blue = supervisor.status()["endpoints"].get("probe", {}).get("deployments", {})
            if blue.get("blue", {}).get("restarts", 0) >= 1:
                break
            time.sleep(0.3)
        text = log.read_text()
        assert "deployment probe/blue (models:/probe/1) cannot start: blob" in text
        assert "Traceback" not in text
        blue = supervisor.status()["endpoints"]["probe"]["deployments"]["blue"]
        assert blue["state"] != "ready"
        assert blue["last_exit"] == 2
    finally:
        supervisor.stop()
        thread.join(60)
        backend.close()
