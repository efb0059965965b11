"""Environments for real: resolved from PyPI and built with uv, cached by hash, captured.

Needs network access to PyPI and a Python of the running version that uv can find.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from modelyard.client.client import Client
from modelyard.environments.hashing import environment_hash
from modelyard.environments.materialize import (
    MARKER,
    cached_path,
    materialize,
    python_executable,
)
from modelyard.environments.models import Environment, EnvironmentSpec
from modelyard.environments.resolve import resolve_requirements
from modelyard.errors import InvalidInput
from tests.conftest import make_settings

pytestmark = pytest.mark.slow

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
MISSING = "modelyard-no-such-package-xyz"


def environment(lock: list[str], python: str = PYTHON, name: str = "t") -> Environment:
    return Environment(
        name=name,
        version=1,
        hash=environment_hash(python, lock),
        python=python,
        requirements=[],
        lock=lock,
        source="spec",
        description=None,
        created_at=0,
        created_by="tester",
    )


def cache_contents(root: Path) -> list[str]:
    """Everything in the cache except the lock files (which may outlive a build)."""
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock"))


@pytest.fixture
def client(tmp_path: Path) -> Client:
    settings = make_settings(tmp_path, env_cache=tmp_path / "envs")
    return Client(settings=settings)


def test_resolve_materialize_and_import(
    client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = EnvironmentSpec(name="six", python=PYTHON, requirements=["six==1.16.0"])
    env = client.environments.create(spec)
    assert env.lock == ["six==1.16.0"]
    assert env.requirements == ["six==1.16.0"]

    with caplog.at_level(logging.INFO, logger="modelyard.environments"):
        venv = client.environments.materialize("six")
    assert venv == tmp_path / "envs" / env.hash
    assert (venv / MARKER).read_text() == env.hash + "\n"
    assert sum("building environment" in r.getMessage() for r in caplog.records) == 1
    python = python_executable(venv)
    done = subprocess.run(
        [str(python), "-c", "import six, sys; print(six.__version__, sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["1.16.0", str(venv)]
    # Built elsewhere and renamed: nothing inside may point at the temporary folder.
    for file in venv.rglob("*"):
        if file.is_file() and not file.is_symlink():
            assert b".tmp-" not in file.read_bytes(), file

    # The second time is a cache hit: the same folder, untouched, and no build.
    marker = (venv / MARKER).stat()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="modelyard.environments"):
        started = time.perf_counter()
        again = client.environments.materialize(env)
        elapsed = time.perf_counter() - started
    assert again == venv
    assert (venv / MARKER).stat().st_mtime_ns == marker.st_mtime_ns
    assert not [r for r in caplog.records if "building environment" in r.getMessage()]
    assert elapsed < 0.1
    assert client.environments.cached("six:1") == venv


def test_resolution_pins_the_dependencies_too() -> None:
    lock = resolve_requirements(["packaging"], PYTHON)
    assert len(lock) == 1
    assert lock[0].startswith("packaging==")
    installed = metadata.version("packaging")
    assert resolve_requirements([f"Packaging=={installed}"], PYTHON) == [f"packaging=={installed}"]


MATERIALIZE = """
import json, logging, pathlib, sys, time
from modelyard.environments.materialize import materialize
from modelyard.environments.models import Environment

logging.basicConfig(level=logging.INFO, format="%(message)s")
env = Environment.model_validate_json(pathlib.Path(sys.argv[1]).read_text())
work = pathlib.Path(sys.argv[2])
(work / f"ready-{sys.argv[3]}").touch()
while not (work / "go").exists():
    time.sleep(0.005)
print(materialize(env, work / "envs"))
"""


def test_two_processes_materializing_at_once_build_once(tmp_path: Path) -> None:
    env = environment(["six==1.16.0"])
    spec_file = tmp_path / "env.json"
    spec_file.write_text(env.model_dump_json())
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", MATERIALIZE, str(spec_file), str(tmp_path), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.01)
    (tmp_path / "go").touch()
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert {out.strip() for out, _ in outputs} == {str(tmp_path / "envs" / env.hash)}
    logs = "".join(err for _, err in outputs)
    assert logs.count("building environment") == 1, logs
    assert cache_contents(tmp_path / "envs") == [env.hash]


def test_unresolvable_requirement_says_what_uv_said() -> None:
    with pytest.raises(InvalidInput) as caught:
        resolve_requirements([f"{MISSING}==1"], PYTHON)
    message = caught.value.message
    assert f"{MISSING} was not found in the package registry" in message
    assert "Check the package names" in message
    assert "\n" not in message


def test_a_lock_that_cannot_be_installed_leaves_nothing_built(tmp_path: Path) -> None:
    env = environment(["six==1.16.0", f"{MISSING}==1"])
    with pytest.raises(InvalidInput, match=f"cannot build environment t:1.*{MISSING}"):
        materialize(env, tmp_path)
    assert cache_contents(tmp_path) == []


def test_an_unavailable_python_is_refused_with_uvs_message(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"No interpreter found for Python 3\.99.*uv python"):
        resolve_requirements(["six==1.16.0"], "3.99")
    env = environment(["six==1.16.0"], python="3.99")
    with pytest.raises(
        InvalidInput, match=r"No interpreter found for Python 3\.99.*Install Python"
    ):
        materialize(env, tmp_path)
    assert cache_contents(tmp_path) == []


def test_a_killed_build_is_cleaned_up_by_the_next_one(tmp_path: Path) -> None:
    env = environment([])  # a bare interpreter: no download needed
    (tmp_path / f".{env.hash}.tmp-deadbeef" / "bin").mkdir(parents=True)
    (tmp_path / env.hash / "half").mkdir(parents=True)  # a folder without its marker
    assert cached_path(env, tmp_path) is None
    venv = materialize(env, tmp_path)
    assert cache_contents(tmp_path) == [env.hash]
    assert not (venv / "half").exists()
    assert python_executable(venv).exists()


def test_an_altered_record_is_not_built(tmp_path: Path) -> None:
    env = environment(["six==1.16.0"]).model_copy(update={"lock": ["six==1.17.0"]})
    with pytest.raises(InvalidInput, match="the record was altered"):
        materialize(env, tmp_path)
    assert cache_contents(tmp_path) == []


def test_capture_lists_the_running_interpreter(client: Client) -> None:
    env = client.environments.capture("here")
    assert env.source == "capture"
    assert env.python == PYTHON
    assert f"pydantic=={metadata.version('pydantic')}" in env.lock
    assert f"sqlalchemy=={metadata.version('sqlalchemy')}" in env.lock
    assert not [line for line in env.lock if line.startswith("modelyard==")]
    assert env.description is not None
    assert "modelyard (" in env.description
    assert env.lock == sorted(env.lock)
    assert client.environments.capture("here") == env  # nothing changed: the same version
    assert json.loads(env.model_dump_json())["lock"] == env.lock
