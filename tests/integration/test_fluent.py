"""The notebook API: run lifecycle, nesting, buffering, inputs, artifacts, source capture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelyard
from modelyard.client.client import Client
from modelyard.environments.current import current_hash
from modelyard.errors import Conflict, InvalidInput
from modelyard.tracking.models import RunStatus
from tests.conftest import LEAK, leaky_folder


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MODELYARD_URI", raising=False)
    monkeypatch.setenv("MODELYARD_METRIC_FLUSH_SECONDS", "0.05")
    client = modelyard.connect(f"sqlite:///{tmp_path / 'm.db'}")
    yield client
    modelyard.connect(f"sqlite:///{tmp_path / 'closed.db'}")  # ends this session's runs


def test_context_manager_finishes_the_run_with_every_metric(client: Client) -> None:
    with modelyard.start_run("fluent", run_name="ok", tags={"k": 1}) as run:
        for step in range(2500):
            modelyard.log_metric("loss", 1 / (step + 1), step=step)
        modelyard.log_metrics({"a": 1.0, "b": np.float32(2.5)}, step=3)
        modelyard.log_params({"lr": 0.1})
        modelyard.set_tags({"stage": "dev"})
    stored = client.get_run(run.id)
    assert stored.status == RunStatus.FINISHED
    assert stored.end_time is not None
    assert len(client.get_metric_history(run.id, "loss")) == 2500
    assert stored.metrics == {"loss": 1 / 2500, "a": 1.0, "b": 2.5}
    assert stored.tags == {"k": "1", "stage": "dev"}
    assert stored.name == "ok"


def test_an_exception_fails_the_run_with_its_traceback(client: Client) -> None:
    def train() -> str:
        with modelyard.start_run("fluent") as run:
            modelyard.log_metric("before", 1.0)
            raise ZeroDivisionError("division by zero")
        return run.id

    with pytest.raises(ZeroDivisionError):
        train()
    [run] = client.search_runs([client.get_experiment_by_name("fluent").id]).runs
    stored = client.get_run(run.id)
    assert stored.status == RunStatus.FAILED
    assert stored.failure is not None
    assert "ZeroDivisionError" in stored.failure
    assert "train" in stored.failure  # the traceback, not only the message
    assert stored.metrics == {"before": 1.0}


def test_keyboard_interrupt_kills_the_run(client: Client) -> None:
    with pytest.raises(KeyboardInterrupt), modelyard.start_run("fluent") as run:
        raise KeyboardInterrupt
    assert client.get_run(run.id).status == RunStatus.KILLED


def test_nested_runs(client: Client) -> None:
    with modelyard.start_run("fluent") as parent:
        with pytest.raises(InvalidInput, match="nested=True"):
            modelyard.start_run("fluent")
        with modelyard.start_run("fluent", nested=True) as child:
            modelyard.log_metric("child_metric", 1.0)
        modelyard.log_metric("parent_metric", 2.0)
    assert client.get_run(child.id).parent_run_id == parent.id
    assert client.get_run(child.id).metrics == {"child_metric": 1.0}
    assert client.get_run(parent.id).metrics == {"parent_metric": 2.0}


def test_logging_without_a_run_says_what_to_do(client: Client) -> None:
    with pytest.raises(InvalidInput, match="start_run"):
        modelyard.log_metric("m", 1.0)
    with pytest.raises(InvalidInput, match="start_run"):
        modelyard.log_param("p", 1)


def test_bad_metrics_fail_where_they_are_logged(client: Client) -> None:
    with modelyard.start_run("fluent") as run:
        with pytest.raises(InvalidInput, match="metric name"):
            modelyard.log_metric("bad$name", 1.0)
        with pytest.raises(InvalidInput, match="step"):
            modelyard.log_metric("m", 1.0, step=2**70)
        with pytest.raises(InvalidInput, match="number"):
            modelyard.log_metric("m", "high")  # type: ignore[arg-type]
        modelyard.log_metric("m", 3.0, step=1)
    assert client.get_run(run.id).metrics == {"m": 3.0}


def test_param_conflict_is_raised_at_once(client: Client) -> None:
    with modelyard.start_run("fluent"):
        modelyard.log_param("lr", 0.1)
        with pytest.raises(Conflict, match="lr"):
            modelyard.log_param("lr", 0.2)


def test_inputs_from_frames_arrays_and_files(client: Client, tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1, 2, 3]})
    data_file = tmp_path / "data.csv"
    frame.to_csv(data_file, index=False)
    with modelyard.start_run("fluent") as run:
        modelyard.log_input(frame, name="frame")
        modelyard.log_input(np.zeros((4, 2)), name="array", context="eval")
        modelyard.log_input(data_file)
        with pytest.raises(InvalidInput, match="DataFrame"):
            modelyard.log_input({"not": "data"})
    inputs = {d.name: d for d in client.get_run(run.id).inputs}
    assert inputs["frame"].row_count == 3
    assert inputs["frame"].schema_ == {
        "columns": [{"name": "x", "type": "float64"}, {"name": "y", "type": "int64"}]
    }
    assert inputs["array"].schema_ == {"dtype": "float64", "shape": [4, 2]}
    assert inputs["array"].context == "eval"
    assert inputs["data.csv"].source == str(data_file.resolve())


def test_same_data_same_digest(client: Client) -> None:
    from modelyard.client.datasets import describe_dataset

    a = describe_dataset(pd.DataFrame({"x": [1, 2]}))
    b = describe_dataset(pd.DataFrame({"x": [1, 2]}))
    c = describe_dataset(pd.DataFrame({"x": [1, 3]}))
    assert a.digest == b.digest
    assert a.digest != c.digest


def test_artifacts_go_to_the_active_run(client: Client, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "f.txt").write_text("x")
    with modelyard.start_run("fluent") as run:
        modelyard.log_artifacts(tmp_path / "out", "outputs")
        modelyard.log_artifact(tmp_path / "out" / "f.txt")
        active = modelyard.active_run()
    assert active is not None
    assert active.id == run.id
    assert modelyard.active_run() is None
    assert [a.path for a in client.list_artifacts(run.id)] == ["f.txt", "outputs/f.txt"]


def test_source_records_the_git_commit_and_dirty_state(tmp_path: Path) -> None:
    from modelyard.client.source import capture_source

    repo = tmp_path / "repo"
    repo.mkdir()
    script = repo / "train.py"
    script.write_text("print('hi')\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    clean = capture_source(str(script))
    assert (clean.commit, clean.dirty, clean.entry_point) == (head, False, str(script))
    script.write_text("print('changed')\n")
    assert capture_source(str(script)).dirty is True
    outside = capture_source(str(tmp_path / "missing.py"))
    assert outside.entry_point == str(tmp_path / "missing.py")


def test_interpreter_exit_flushes_and_finishes_open_runs(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'exit.db'}"
    code = (
        "import modelyard\n"
        "run = modelyard.start_run('exit')\n"
        "for i in range(3000):\n"
        "    modelyard.log_metric('m', i, step=i)\n"
        "print(run.id)\n"
    )
    env = {"MODELYARD_URI": uri, "MODELYARD_METRIC_FLUSH_SECONDS": "30", "PATH": "/usr/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
        timeout=120,
    )
    run_id = done.stdout.strip()
    client = Client(uri)
    try:
        assert client.get_run(run_id).status == RunStatus.FINISHED
        assert len(client.get_metric_history(run_id, "m")) == 3000
    finally:
        client.close()


def test_a_folder_with_a_link_leaving_it_is_not_logged(client: Client, tmp_path: Path) -> None:
    out = leaky_folder(tmp_path, "out")
    with modelyard.start_run("fluent") as run, pytest.raises(InvalidInput, match=LEAK):
        modelyard.log_artifacts(out, "outputs")
    assert client.list_artifacts(run.id) == []  # refused before anything was uploaded


def test_a_run_records_its_environment_and_env_show_resolves_it(
    client: Client, tmp_path: Path
) -> None:
    with modelyard.start_run("fluent") as first:
        pass
    with modelyard.start_run("fluent") as second:
        pass
    stored = [client.get_run(r.id).environment_hash for r in (first, second)]
    assert stored == [current_hash(), current_hash()]
    assert [e.version for e in client.environments.list("captured")] == [1]
    shown = subprocess.run(
        [sys.executable, "-m", "modelyard", "env", "show", current_hash(), "--json"],
        env={**os.environ, "MODELYARD_URI": f"sqlite:///{tmp_path / 'm.db'}"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(shown.stdout)["hash"] == current_hash()
