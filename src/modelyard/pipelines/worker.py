"""Execute one step: load its inputs from the blob store, run it, store its outputs.

A ``Task`` is everything a step needs, so it can run here, in a forked process, on a Dask
worker, or in another interpreter (a step's own environment, or an isolated process that
enforces a timeout): ``python -m modelyard.pipelines.worker TASK.json RESULT.json``.
This module imports only the standard library and Modelyard's storage layer, so it runs in
a step environment that has nothing but the step's own packages.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInput, ModelyardError
from modelyard.pipelines import context, materializers
from modelyard.pipelines.manifests import fetch_folder, store_folder
from modelyard.storage.artifacts import BlobStore

LOG_TAIL = 20_000


class StepFailed(ModelyardError):
    """The step's own code failed (an exception, a non-zero exit, a timeout)."""

    code = "step_failed"
    http_status = 422


@dataclass
class Task:
    node: str
    step: str
    kind: str
    params: dict[str, Any]
    inputs: dict[str, str]  # input name -> manifest sha256
    input_types: dict[str, str]
    outputs: dict[str, str]  # output name -> declared type
    blob_root: str
    storage_options: dict[str, Any] | None = None
    command: str | None = None
    code_dir: str | None = None
    source_file: str | None = None
    module: str | None = None
    qualname: str | None = None
    python: str | None = None  # another interpreter (a step environment)
    env_bin: str | None = None
    timeout_seconds: float | None = None
    isolated: bool = False  # run in a child interpreter even without an environment
    function: Callable[..., Any] | None = field(default=None, repr=False)


@dataclass
class Result:
    outputs: dict[str, dict[str, Any]]
    metrics: list[tuple[str, float, int]]
    log: str
    seconds: float
    # The datasets the step read (``modelyard.log_input``), as DatasetInput JSON.
    datasets: list[dict[str, Any]] = field(default_factory=list)


def _blobs(task: Task) -> BlobStore:
    return BlobStore(task.blob_root, storage_options=task.storage_options)


def _load_function(task: Task) -> Callable[..., Any]:
    if task.function is not None:
        return task.function
    if not (task.module and task.qualname):
        raise InvalidInput(f"step '{task.node}': no function to run")
    module = sys.modules.get(task.module)
    if module is None:
        try:
            module = importlib.import_module(task.module)
        except ImportError:
            if not task.source_file:
                raise
            # A module loaded from a file path (`modelyard pipeline run FILE.py`): load the
            # same file under the same name.
            spec = importlib.util.spec_from_file_location(task.module, task.source_file)
            if spec is None or spec.loader is None:
                raise InvalidInput(f"step '{task.node}': cannot load {task.source_file}") from None
            module = importlib.util.module_from_spec(spec)
            sys.modules[task.module] = module
            spec.loader.exec_module(module)
    target: Any = module
    for part in task.qualname.split("."):
        target = getattr(target, part)
    fn = getattr(target, "fn", target)  # a Step wraps the plain function
    if not callable(fn):
        raise InvalidInput(f"step '{task.node}': {task.module}.{task.qualname} is not callable")
    return fn  # type: ignore[no-any-return]


def _load_inputs(task: Task, blobs: BlobStore, scratch: Path) -> dict[str, Any]:
    values = {}
    for name, manifest_sha in task.inputs.items():
        folder = scratch / "inputs" / name
        manifest = fetch_folder(blobs, manifest_sha, folder, durable=False)
        values[name] = materializers.by_name(manifest.materializer).load(folder)
    return values


def _store_outputs(task: Task, result: Any, blobs: BlobStore, scratch: Path) -> dict[str, Any]:
    names = list(task.outputs)
    if not names:
        return {}
    if len(names) == 1:
        values = {names[0]: result}
    else:
        if not isinstance(result, tuple) or len(result) != len(names):
            raise StepFailed(
                f"step '{task.node}' must return a tuple of {len(names)} values ({names})"
            )
        values = dict(zip(names, result, strict=True))
    stored = {}
    for name, value in values.items():
        materializer = materializers.for_value(value, task.node, name)
        folder = scratch / "outputs" / name
        folder.mkdir(parents=True)
        materializer.save(value, folder)
        stored[name] = asdict(store_folder(blobs, folder, materializer.name))
    return stored


def _run_python(
    task: Task, blobs: BlobStore, scratch: Path
) -> tuple[dict[str, Any], list[Any], list[dict[str, Any]]]:
    fn = _load_function(task)
    kwargs = {**_load_inputs(task, blobs, scratch), **task.params}
    with context.collecting() as (metrics, datasets):
        try:
            result = fn(**kwargs)
        except ModelyardError:
            raise
        except Exception as exc:
            raise StepFailed(
                f"step '{task.node}' raised {type(exc).__name__}: {exc}",
                details={"traceback": traceback.format_exc()[-LOG_TAIL:]},
            ) from exc
    return _store_outputs(task, result, blobs, scratch), metrics, datasets


def _placeholders(task: Task, blobs: BlobStore, scratch: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, manifest_sha in task.inputs.items():
        folder = scratch / "inputs" / name
        fetch_folder(blobs, manifest_sha, folder, durable=False)
        # A folder input stays a folder even when it holds a single file.
        if task.input_types.get(name) == "uri_folder":
            values[f"inputs.{name}"] = str(folder / "data")
        else:
            values[f"inputs.{name}"] = str(materializers.PathCopy().load(folder))
    for name, kind in task.outputs.items():
        folder = scratch / "outputs" / name / "data"
        folder.mkdir(parents=True)
        values[f"outputs.{name}"] = str(folder / name if kind == "uri_file" else folder)
    for name, value in task.params.items():
        values[f"parameters.{name}"] = value if isinstance(value, str) else json.dumps(value)
    return values


def render_command(template: str, values: dict[str, str], node: str) -> list[str]:
    """Substitute ``${{inputs.x}}``-style placeholders, each as one shell-quoted word."""
    import re

    def replace(match: re.Match[str]) -> str:
        key = match.group(1).strip()
        if key not in values:
            raise InvalidInput(
                f"step '{node}': the command uses ${{{{{key}}}}}, which is not "
                f"an input, output or parameter of the step"
            )
        return shlex.quote(values[key])

    return shlex.split(re.sub(r"\$\{\{([^}]*)\}\}", replace, template))


def run_process(
    argv: list[str], *, cwd: Path | str | None, env: dict[str, str], timeout: float | None
) -> tuple[int, str] | None:
    """Run a process in its own session; on timeout kill all of it (children included).

    Returns (exit code, output tail), or None when it timed out.
    """
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return None
    return process.returncode, output[-LOG_TAIL:]


def _run_command(task: Task, blobs: BlobStore, scratch: Path) -> tuple[dict[str, Any], str]:
    assert task.command is not None
    argv = render_command(task.command, _placeholders(task, blobs, scratch), task.node)
    env = dict(os.environ)
    if task.env_bin:
        env["PATH"] = f"{task.env_bin}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(Path(task.env_bin).parent)
    cwd = scratch
    if task.code_dir:
        # Run in a copy: what the command writes cannot change the code the cache hashed,
        # and edits made to the folder during the run do not leak into it.
        cwd = scratch / "code"
        shutil.copytree(task.code_dir, cwd, symlinks=True)
    try:
        done = run_process(argv, cwd=cwd, env=env, timeout=task.timeout_seconds)
    except FileNotFoundError as exc:
        raise StepFailed(f"step '{task.node}': command not found: {exc.filename}") from None
    if done is None:
        raise StepFailed(f"step '{task.node}' timed out after {task.timeout_seconds} s")
    returncode, log = done
    if returncode != 0:
        raise StepFailed(
            f"step '{task.node}': command exited with {returncode}", details={"log": log}
        )
    stored = {}
    for name in task.outputs:
        folder = scratch / "outputs" / name
        stored[name] = asdict(store_folder(blobs, folder, "path"))
    return stored, log


def portable(task: Task) -> Task:
    """A task another interpreter can run: the function travels as module + name."""
    if task.kind != "python" or task.function is None:
        return task
    fn = getattr(task.function, "fn", task.function)
    if fn.__module__ == "__main__" and not task.source_file:
        raise InvalidInput(
            f"step '{task.node}' is defined in an interactive session; running it in another "
            "process (process or Dask executor, an environment, a timeout) needs it in a .py "
            "module (or use the inline executor without a timeout)"
        )
    return replace(task, function=None, module=fn.__module__, qualname=fn.__qualname__)


def _run_isolated(task: Task) -> Result:
    """Run the task in another interpreter (its environment's, or ours for a timeout)."""
    task = portable(task)
    with tempfile.TemporaryDirectory(prefix="modelyard-task-") as tmp:
        spec = {**asdict(task), "isolated": False, "python": None}
        task_file, result_file = Path(tmp) / "task.json", Path(tmp) / "result.json"
        task_file.write_text(json.dumps(spec))
        env = dict(os.environ)
        # The child imports this very package, and nothing else of this interpreter's
        # site-packages: a folder holding only a link to the package goes on its path.
        root = Path(tmp) / "path"
        root.mkdir()
        (root / "modelyard").symlink_to(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
        argv = [
            task.python or sys.executable,
            "-m",
            "modelyard.pipelines.worker",
            str(task_file),
            str(result_file),
        ]
        done = run_process(argv, cwd=None, env=env, timeout=task.timeout_seconds)
        if done is None:
            raise StepFailed(f"step '{task.node}' timed out after {task.timeout_seconds} s")
        returncode, log = done
        if not result_file.exists():
            raise StepFailed(
                f"step '{task.node}': its process exited with {returncode}", details={"log": log}
            )
        body = json.loads(result_file.read_text())
        if "error" in body:
            error = body["error"]
            raise StepFailed(error["message"], details={**error.get("details", {}), "log": log})
        metrics = [tuple(m) for m in body["metrics"]]
        return Result(body["outputs"], metrics, log, body["seconds"], body.get("datasets", []))


def execute(task: Task) -> Result:
    """Run one step task and return where its outputs are stored."""
    if task.isolated or task.python:
        return _run_isolated(task)
    started = time.perf_counter()
    blobs = _blobs(task)
    with tempfile.TemporaryDirectory(prefix=f"modelyard-{task.node}-") as tmp:
        scratch = Path(tmp)
        if task.kind == "command":
            outputs, log = _run_command(task, blobs, scratch)
            metrics: list[Any] = []
            datasets: list[dict[str, Any]] = []
        else:
            outputs, metrics, datasets = _run_python(task, blobs, scratch)
            log = ""
    return Result(outputs, metrics, log, time.perf_counter() - started, datasets)


@contextlib.contextmanager
def _result_file(path: Path) -> Iterator[dict[str, Any]]:
    body: dict[str, Any] = {}
    try:
        yield body
    except ModelyardError as exc:
        body.clear()
        body["error"] = exc.to_dict()
    except Exception as exc:  # the child reports every failure; the parent decides
        body.clear()
        body["error"] = {
            "code": "step_failed",
            "message": f"{type(exc).__name__}: {exc}",
            "details": {"traceback": traceback.format_exc()[-LOG_TAIL:]},
        }
    path.write_text(json.dumps(body, default=str))


def main(argv: list[str]) -> int:
    task_file, result_file = Path(argv[0]), Path(argv[1])
    with _result_file(result_file) as body:
        task = Task(**json.loads(task_file.read_text()))
        result = execute(task)
        body.update(
            outputs=result.outputs,
            metrics=result.metrics,
            seconds=result.seconds,
            datasets=result.datasets,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
