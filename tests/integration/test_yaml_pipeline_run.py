"""A YAML pipeline of command steps runs end to end on a real embedded store.

The commands are real processes: ``python`` resolves to this interpreter because its
folder is put first on PATH.
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.core.backend import LocalBackend, open_local_backend
from modelyard.pipelines.manifests import fetch_folder
from modelyard.pipelines.runner import PipelineRunResult, run_pipeline
from modelyard.pipelines.yaml_pipeline import load_yaml_pipeline
from tests.conftest import make_settings

PREPARE_PY = """\
import pathlib, sys

raw, factor, out = pathlib.Path(sys.argv[1]), int(sys.argv[2]), pathlib.Path(sys.argv[3])
header, *rows = raw.read_text().splitlines()
scaled = [",".join(str(int(v) * factor) for v in row.split(",")) for row in rows]
(out / "scaled.csv").write_text("\\n".join([header, *scaled]) + "\\n")
(out / "rows.txt").write_text(str(len(rows)))
"""

REPORT_PY = """\
import pathlib, sys

total, label, out = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
out.write_text(f"{label}: {pathlib.Path(total).read_text()}\\n")
"""

REPORT_COMPONENT = """\
name: yaml-it-report
command: python report.py ${{inputs.total}} ${{parameters.label}} ${{outputs.report}}
code: ../report_src
inputs:
  total: {type: uri_file}
outputs:
  report: {type: uri_file}
parameters:
  label: {type: string, default: total}
"""

PIPELINE = """\
name: yaml-it
parameters:
  factor: {type: integer, default: 10}
steps:
  report:
    component: ./components/report.yaml
    inputs:
      total: ${{steps.summarize.outputs.total}}
    parameters:
      label: sum of x
  prepare:
    command: python prepare.py ${{inputs.raw}} ${{parameters.factor}} ${{outputs.data}}
    code: ./prepare_src
    parameters:
      factor: ${{pipeline.parameters.factor}}
    inputs:
      raw: {type: uri_file, path: data/raw.csv}
    outputs:
      data: {type: uri_folder}
  summarize:
    command: >-
      python -c "import csv, pathlib, sys;
      rows = list(csv.DictReader(open(pathlib.Path(sys.argv[1]) / 'scaled.csv')));
      pathlib.Path(sys.argv[2]).write_text(str(sum(int(r['x']) for r in rows)))"
      ${{inputs.data}} ${{outputs.total}}
    inputs:
      data: ${{steps.prepare.outputs.data}}
    outputs:
      total: {type: uri_file}
outputs:
  report: ${{steps.report.outputs.report}}
  data: ${{steps.prepare.outputs.data}}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(autouse=True)
def python_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent), prepend=os.pathsep)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    opened = open_local_backend(make_settings(tmp_path))
    yield opened
    opened.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write(root / "data" / "raw.csv", "id,x\n1,2\n2,3\n")
    write(root / "prepare_src" / "prepare.py", PREPARE_PY)
    write(root / "report_src" / "report.py", REPORT_PY)
    write(root / "components" / "report.yaml", REPORT_COMPONENT)
    return write(root / "pipeline.yaml", PIPELINE)


def output_files(backend: LocalBackend, result: PipelineRunResult, name: str, dest: Path) -> Path:
    """Where an output's files land when fetched (``data/...`` inside the folder)."""
    fetch_folder(backend.blobs, result.outputs[name].manifest, dest / name)
    return dest / name / "data"


def reasons(result: PipelineRunResult) -> dict[str, str | None]:
    return {node: info.cache_reason for node, info in result.steps.items()}


def test_runs_caches_and_explains_misses(
    project: Path, backend: LocalBackend, tmp_path: Path
) -> None:
    first = run_pipeline(load_yaml_pipeline(project), backend=backend)
    assert first.status == "FINISHED"
    assert {n: s.status for n, s in first.steps.items()} == dict.fromkeys(
        ["prepare", "summarize", "report"], "FINISHED"
    )
    data = output_files(backend, first, "data", tmp_path / "out1")
    assert (data / "scaled.csv").read_bytes() == b"id,x\n10,20\n20,30\n"
    assert (data / "rows.txt").read_bytes() == b"2"
    report = output_files(backend, first, "report", tmp_path / "out1")
    assert (report / "report").read_bytes() == b"sum of x: 50\n"

    again = run_pipeline(load_yaml_pipeline(project), backend=backend)
    assert sorted(again.cached) == ["prepare", "report", "summarize"]
    assert again.outputs == first.outputs

    # New external data: the step reading it and everything downstream runs again.
    (project.parent / "data" / "raw.csv").write_text("id,x\n1,2\n2,4\n")
    changed = run_pipeline(load_yaml_pipeline(project), backend=backend)
    assert changed.cached == []
    assert reasons(changed) == {
        "prepare": "miss: input raw changed",
        "summarize": "miss: input data changed",
        "report": "miss: input total changed",
    }
    report = output_files(backend, changed, "report", tmp_path / "out2")
    assert (report / "report").read_bytes() == b"sum of x: 60\n"

    # A change in one code folder re-runs only the step that uses it.
    (project.parent / "report_src" / "report.py").write_text(REPORT_PY.replace(": ", " = "))
    recoded = run_pipeline(load_yaml_pipeline(project), backend=backend)
    assert sorted(recoded.cached) == ["prepare", "summarize"]
    assert reasons(recoded)["report"] == "miss: code changed"
    report = output_files(backend, recoded, "report", tmp_path / "out3")
    assert (report / "report").read_bytes() == b"sum of x = 60\n"

    # A pipeline parameter flows into the command.
    scaled = run_pipeline(load_yaml_pipeline(project), backend=backend, params={"factor": 1})
    assert reasons(scaled)["prepare"] == "miss: param factor: 10 -> 1"
    report = output_files(backend, scaled, "report", tmp_path / "out4")
    assert (report / "report").read_bytes() == b"sum of x = 6\n"


def test_a_failing_command_fails_its_step_and_skips_downstream(
    tmp_path: Path, backend: LocalBackend
) -> None:
    path = write(
        tmp_path / "failing.yaml",
        """\
        name: yaml-it-failing
        steps:
          broken:
            command: >-
              python -c "import sys; print('reading'); sys.stderr.write('bad row 7'); sys.exit(3)"
              ${{outputs.out}}
            outputs: {out: {type: uri_file}}
          after:
            command: python -c "print('never')" ${{inputs.x}}
            inputs: {x: "${{steps.broken.outputs.out}}"}
          independent:
            command: python -c "print('fine')"
        """,
    )
    result = run_pipeline(load_yaml_pipeline(path), backend=backend)
    assert result.status == "FAILED"
    steps = result.steps
    assert {n: s.status for n, s in steps.items()} == {
        "broken": "FAILED",
        "after": "SKIPPED",
        "independent": "FINISHED",
    }
    assert steps["broken"].error is not None
    assert "command exited with 3" in steps["broken"].error
    assert "bad row 7" in steps["broken"].error
    assert steps["after"].cache_reason == "skipped: upstream step 'broken' failed"


def test_a_timeout_kills_a_sleeping_command(tmp_path: Path, backend: LocalBackend) -> None:
    path = write(
        tmp_path / "slow.yaml",
        """\
        name: yaml-it-slow
        steps:
          sleepy:
            command: python -c "import time; time.sleep(60)"
            timeout: 0.5
        """,
    )
    started = time.monotonic()
    result = run_pipeline(load_yaml_pipeline(path), backend=backend)
    assert time.monotonic() - started < 15
    assert result.status == "FAILED"
    assert result.steps["sleepy"].error is not None
    assert "timed out after 0.5 s" in result.steps["sleepy"].error


def test_a_folder_with_one_file_is_passed_as_a_folder(
    tmp_path: Path, backend: LocalBackend
) -> None:
    path = write(
        tmp_path / "folder.yaml",
        """\
        name: yaml-it-folder
        steps:
          make:
            command: python -c "import sys; open(sys.argv[1] + '/only.txt', 'w').write('x')"
              ${{outputs.data}}
            outputs: {data: {type: uri_folder}}
          use:
            command: python -c "import os, sys; sys.exit(0 if os.path.isdir(sys.argv[1]) else 1)"
              ${{inputs.data}}
            inputs: {data: "${{steps.make.outputs.data}}"}
        """,
    )
    result = run_pipeline(load_yaml_pipeline(path), backend=backend)
    assert result.steps["use"].status == "FINISHED", result.steps["use"].error


def test_the_documented_example_runs(tmp_path: Path, backend: LocalBackend) -> None:
    """docs/pipelines-yaml.md's example, file by file, exactly as written there."""
    doc = (Path(__file__).parents[2] / "docs" / "pipelines-yaml.md").read_text()
    files = re.findall(r"\*\*`(churn/[^`]+)`\*\*\n\n```\w+\n(.*?)```", doc, flags=re.S)
    assert len(files) == 5
    for name, body in files:
        write(tmp_path / name, body)
    first = run_pipeline(load_yaml_pipeline(tmp_path / "churn" / "pipeline.yaml"), backend=backend)
    assert first.status == "FINISHED", {n: s.error for n, s in first.steps.items()}
    model = output_files(backend, first, "model", tmp_path / "out") / "model"
    assert json.loads(model.read_text()) == {"tenure_below": 3.5}
    again = run_pipeline(load_yaml_pipeline(tmp_path / "churn" / "pipeline.yaml"), backend=backend)
    assert sorted(again.cached) == ["prepare", "train"]
