"""``modelyard model package``: a self-contained folder that scores without the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from modelyard import models
from modelyard.client.client import Client
from modelyard.environments.models import EnvironmentSpec
from modelyard.environments.modelyard_wheel import modelyard_wheel
from modelyard.environments.uv_runner import uv_binary
from modelyard.errors import InvalidInput, NotFound
from modelyard.registry.packaging import MANIFEST, verify_package
from tests.conftest import free_port, make_settings
from tests.integration.test_scoring_server import wait_ready

REQUIREMENTS = "environment/requirements.txt"
EXPECTED_FILES = {
    "Dockerfile",
    "score.py",
    "environment/requirements.txt",
    "environment/environment.json",
    "k8s/deployment.yaml",
    "k8s/service.yaml",
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    with Client(settings=make_settings(tmp_path)) as client:
        yield client


def _training_set() -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(80, 3)), columns=["a", "b", "c"])
    return x, (x["a"] - x["c"] > 0).to_numpy(dtype=int)


@pytest.fixture
def packaged(client: Client, tmp_path: Path) -> tuple[Path, pd.DataFrame, LogisticRegression]:
    x, y = _training_set()
    model = LogisticRegression().fit(x, y)
    version = models.register(model, "pkg", sample=x.head(), client=client)
    client.registry.set_alias("pkg", "champion", version.version)
    out = client.registry.package("models:/pkg@champion", tmp_path / "package")
    return out, x, model


def _clean_env() -> dict[str, str]:
    """This process's environment without its store, its venv or a PYTHONPATH."""
    leaks = ("MODELYARD_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if not k.startswith(leaks)}
    # An unreachable store: anything that tried to reach one would fail.
    env.update(MODELYARD_URI="http://127.0.0.1:9", MODELYARD_HTTP_RETRIES="0")
    return env


def _score(package: Path, input_file: Path) -> Any:
    # A fresh interpreter whose store is unreachable: any store access would fail.
    done = subprocess.run(
        [sys.executable, "score.py", str(input_file)],
        cwd=package,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["predictions"]


def test_package_is_complete_and_verifies(
    packaged: tuple[Path, pd.DataFrame, LogisticRegression],
) -> None:
    out, _, _ = packaged
    assert verify_package(out) == []
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["files"].keys() >= EXPECTED_FILES
    assert "model/modelyard-model.json" in manifest["files"]
    assert manifest["model"]["uri"] == "models:/pkg/1"
    assert manifest["model"]["flavor"] == "sklearn"
    assert [c["name"] for c in manifest["model"]["signature"]["columns"]] == ["a", "b", "c"]
    requirements = (out / "environment" / "requirements.txt").read_text().splitlines()
    for name in ("scikit-learn==", "skops==", "numpy=="):
        assert any(line.startswith(name) for line in requirements), name
    # Modelyard itself comes from the package, by its hash in the manifest.
    wheel = modelyard_wheel()
    assert requirements[-1] == f"./wheels/{wheel.filename}[serve]"
    assert not any(line.startswith("modelyard==") for line in requirements)
    assert manifest["files"][f"wheels/{wheel.filename}"]["sha256"] == wheel.sha256
    dockerfile = (out / "Dockerfile").read_text()
    major, minor = sys.version_info[:2]
    assert f"FROM python:{major}.{minor}-slim" in dockerfile
    assert 'CMD ["modelyard", "serve", "/package", "--host", "0.0.0.0", "--port", "8080"]' in (
        dockerfile
    )
    # The wheel is in the image before the requirements that name it are installed.
    assert dockerfile.index("COPY wheels/ wheels/") < dockerfile.index("RUN pip install -r")


def test_score_in_a_fresh_process_without_the_store(
    packaged: tuple[Path, pd.DataFrame, LogisticRegression], tmp_path: Path
) -> None:
    out, x, model = packaged
    rows = x.head(10)
    (tmp_path / "input.json").write_text(json.dumps(rows.to_dict("records")))
    assert _score(out, tmp_path / "input.json") == model.predict(rows).tolist()
    rows.to_csv(tmp_path / "input.csv", index=False)
    assert _score(out, tmp_path / "input.csv") == model.predict(rows).tolist()


def test_k8s_manifests_parse(packaged: tuple[Path, pd.DataFrame, LogisticRegression]) -> None:
    out, _, _ = packaged
    deployment = yaml.safe_load((out / "k8s" / "deployment.yaml").read_text())
    service = yaml.safe_load((out / "k8s" / "service.yaml").read_text())
    assert (deployment["kind"], service["kind"]) == ("Deployment", "Service")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "modelyard/pkg:1"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8080}
    assert set(container["resources"]) == {"requests", "limits"}
    assert service["spec"]["type"] == "ClusterIP"


def test_verify_reports_tampered_missing_and_extra_files(
    packaged: tuple[Path, pd.DataFrame, LogisticRegression],
) -> None:
    out, _, _ = packaged
    with (out / "model" / "model.skops").open("ab") as fh:
        fh.write(b"\0")
    (out / "k8s" / "service.yaml").unlink()
    (out / "notes.txt").write_text("hi")
    problems = verify_package(out)
    assert problems == [
        "missing k8s/service.yaml",
        "extra notes.txt",
        f"changed model/model.skops (SHA-256 does not match {MANIFEST})",
    ]


def test_package_of_an_unknown_uri_is_not_found(client: Client, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        client.registry.package("models:/nope@champion", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_registered_environment_pins_its_lock(client: Client, tmp_path: Path) -> None:
    x, y = _training_set()
    # A lock may pin a Modelyard no index has; the package's own wheel replaces that pin.
    spec = EnvironmentSpec(
        name="serve", python="3.11", requirements=["scikit-learn==1.5.2", "modelyard==0.0.1"]
    )
    env = client.environments.create(spec, resolve=False)
    models.save(LogisticRegression().fit(x, y), tmp_path / "saved", sample=x.head())
    client.registry.register(
        "pkg",
        tmp_path / "saved",
        flavor="sklearn",
        environment_hash=env.hash,
        allow_outside_cwd=True,  # the test's own temporary folder
    )
    out = client.registry.package("models:/pkg/1", tmp_path / "package")
    lines = (out / "environment" / "requirements.txt").read_text().splitlines()
    assert env.hash in lines[1]
    assert next(line for line in lines if not line.startswith("#")) == "scikit-learn==1.5.2"
    assert lines[-1] == f"./wheels/{modelyard_wheel().filename}[serve]"
    assert "modelyard==0.0.1" not in lines
    info = json.loads((out / "environment" / "environment.json").read_text())
    assert (info["source"], info["hash"], info["python"]) == ("environment", env.hash, "3.11")
    assert "FROM python:3.11-slim" in (out / "Dockerfile").read_text()
    assert verify_package(out) == []


def test_package_refuses_a_folder_that_is_not_empty(client: Client, tmp_path: Path) -> None:
    x, y = _training_set()
    models.register(LogisticRegression().fit(x, y), "pkg", sample=x.head(), client=client)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file.txt").write_text("keep me")
    with pytest.raises(InvalidInput, match="not empty"):
        client.registry.package("models:/pkg/1", tmp_path / "busy")


def _run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_package_installs_into_a_fresh_venv_and_serves(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the Dockerfile does, without Docker: a new environment gets the package's
    requirements (Modelyard from the package's own wheel, the rest from the package index)
    and runs the image's command, the scoring server.

    The one test of its kind: it is the slowest (the server imports scikit-learn and skops
    from a cold environment), so ``score.py`` is left to the tests that run it directly."""
    x, y = _training_set()
    model = LogisticRegression().fit(x, y)
    # No registered environment, so the flavor's libraries are pinned as installed here
    # (uv's cache already holds them, which keeps the install short).
    models.save(model, tmp_path / "saved", sample=x.head())
    monkeypatch.chdir(tmp_path)  # a local folder registers from the working folder's tree
    client.registry.register("pkg", "saved", flavor="sklearn")
    package = client.registry.package("models:/pkg/1", tmp_path / "package")
    env = _clean_env()
    venv = tmp_path / "venv"
    python = str(venv / "bin" / "python")
    _run([uv_binary(), "venv", "--quiet", "--python", sys.executable, str(venv)], env)
    # From the package folder, as the Dockerfile's `pip install -r` runs.
    _run([uv_binary(), "pip", "install", "--quiet", "--python", python, "-r", REQUIREMENTS],
         env, cwd=package)  # fmt: skip

    # The venv's Modelyard is the package's wheel: installed there, it builds the same wheel.
    sha256, source = _run(
        [python, "-c", "import modelyard.environments.modelyard_wheel as w; "
         "print(w.modelyard_wheel().sha256, w.__file__)"],
        env,
    ).split()  # fmt: skip
    assert sha256 == modelyard_wheel().sha256
    assert Path(source).is_relative_to(venv)

    rows = x.head(5)
    port = free_port()
    server = subprocess.Popen(
        [str(venv / "bin" / "modelyard"), "serve", str(package), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", server, timeout=60)
        answer = httpx.post(
            f"http://127.0.0.1:{port}/invocations", json=rows.to_dict("records"), timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == model.predict(rows).tolist()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
