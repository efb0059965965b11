"""The step worker's protocol: a task file in, a result file out, errors reported not raised."""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict
from pathlib import Path

import pytest

from modelyard.errors import InvalidInput
from modelyard.pipelines import manifests
from modelyard.pipelines.worker import Task, execute, main, portable, render_command
from modelyard.storage.artifacts import BlobStore

MODULE = """
import modelyard


@modelyard.step
def double(x: int = 2) -> dict:
    modelyard.log_metric("seen", x)
    return {"doubled": x * 2}


@modelyard.step
def explode(x: int = 1) -> dict:
    raise ZeroDivisionError("boom")
"""


@pytest.fixture
def module_file(tmp_path: Path) -> Path:
    path = tmp_path / "worker_steps_mod.py"
    path.write_text(textwrap.dedent(MODULE))
    return path


def task_for(qualname: str, module_file: Path, blob_root: Path, **extra: object) -> Task:
    return Task(
        node=qualname,
        step=qualname,
        kind="python",
        params={"x": 21},
        inputs={},
        input_types={},
        outputs={"output": "builtins.dict"},
        blob_root=str(blob_root),
        source_file=str(module_file),
        module="worker_steps_mod_not_importable",
        qualname=qualname,
        **extra,  # type: ignore[arg-type]
    )


def run_main(task: Task, tmp_path: Path) -> dict[str, object]:
    task_file, result_file = tmp_path / "task.json", tmp_path / "result.json"
    task_file.write_text(json.dumps({**asdict(task), "function": None}))
    assert main([str(task_file), str(result_file)]) == 0
    body: dict[str, object] = json.loads(result_file.read_text())
    return body


def test_main_runs_a_step_from_its_file_and_writes_the_result(
    module_file: Path, tmp_path: Path
) -> None:
    body = run_main(task_for("double", module_file, tmp_path / "blobs"), tmp_path)
    assert body["metrics"] == [["seen", 21.0, 0]]
    output = body["outputs"]["output"]  # type: ignore[index]
    folder = tmp_path / "out"
    manifests.fetch_folder(BlobStore(str(tmp_path / "blobs")), output["manifest"], folder)
    assert json.loads((folder / "value.json").read_text()) == {"doubled": 42}


def test_main_reports_a_failure_with_its_traceback(module_file: Path, tmp_path: Path) -> None:
    body = run_main(task_for("explode", module_file, tmp_path / "blobs"), tmp_path)
    error = body["error"]
    assert error["code"] == "step_failed"  # type: ignore[index]
    assert "ZeroDivisionError: boom" in error["message"]  # type: ignore[index]
    assert "Traceback" in error["details"]["traceback"]  # type: ignore[index]


def test_main_reports_an_unloadable_task(tmp_path: Path) -> None:
    task = task_for("missing", tmp_path / "nope.py", tmp_path / "blobs")
    body = run_main(task, tmp_path)
    assert "error" in body


def test_a_step_isolated_in_a_child_process(module_file: Path, tmp_path: Path) -> None:
    result = execute(task_for("double", module_file, tmp_path / "blobs", isolated=True))
    assert result.metrics == [("seen", 21.0, 0)]
    assert set(result.outputs) == {"output"}


def test_placeholders_are_quoted_words() -> None:
    values = {"inputs.data": "/tmp/my data/x.csv", "parameters.n": "3"}
    assert render_command("python run.py ${{inputs.data}} -n ${{ parameters.n }}", values, "s") == [
        "python",
        "run.py",
        "/tmp/my data/x.csv",
        "-n",
        "3",
    ]
    with pytest.raises(InvalidInput, match=r"\$\{\{outputs.model\}\}"):
        render_command("train ${{outputs.model}}", values, "train")


def test_a_notebook_function_cannot_leave_the_process(tmp_path: Path) -> None:
    def local(x: int = 1) -> int:
        return x

    local.__module__ = "__main__"
    task = Task(
        node="n",
        step="n",
        kind="python",
        params={},
        inputs={},
        input_types={},
        outputs={},
        blob_root=str(tmp_path),
        function=local,
    )
    with pytest.raises(InvalidInput, match="interactive session"):
        portable(task)
