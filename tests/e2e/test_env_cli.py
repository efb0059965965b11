"""A user's journey through ``modelyard env``: declare, list, show, export, build, capture.

Specs carry explicit locks (or none), so nothing here resolves over the network. One store
is shared by the module; every call is a real subprocess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from modelyard.environments.hashing import environment_hash
from tests.e2e.conftest import Cli, Result, store_env

pytestmark = pytest.mark.slow

LOCK_V1 = ["numpy==1.26.4", "six==1.16.0"]
LOCK_V2 = ["numpy==2.0.0", "six==1.16.0"]
TRAIN = """\
name: train
python: "3.11"
requirements:
  - numpy
  - six
lock_file: train.lock
description: the training steps
"""


@dataclass(frozen=True)
class Journey:
    root: Path
    cli: Cli
    first: Result
    again: Result
    changed: Result
    bare: Result


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Journey:
    root = tmp_path_factory.mktemp("env-journey")
    cli = Cli({**store_env(root), "MODELYARD_ENV_CACHE": str(root / "envs")}, cwd=root)
    (root / "train.yaml").write_text(TRAIN)
    (root / "train.lock").write_text("# pinned by hand\nSix==1.16.0\nnumpy==1.26.4\n")
    first = cli("env", "create", "train.yaml")
    again = cli("env", "create", "train.yaml")
    (root / "train.lock").write_text("\n".join(LOCK_V2) + "\n")
    changed = cli("env", "create", "train.yaml", "--json")
    (root / "bare.yaml").write_text('name: bare\npython: "3.11"\n')
    bare = cli("env", "create", "bare.yaml", "--no-resolve")
    return Journey(root, cli, first, again, changed, bare)


def test_env_commands_are_listed_in_help(journey: Journey) -> None:
    help_text = journey.cli("env", "--help").stdout
    for command in ("create", "list", "show", "capture", "materialize", "export"):
        assert re.search(rf"^\W*{command}\b", help_text, re.MULTILINE), command


def test_create_registers_a_version_only_when_the_content_changes(journey: Journey) -> None:
    hash_v1 = environment_hash("3.11", LOCK_V1)
    assert journey.first.stdout == (
        f"registered: environment train:1 (python 3.11, 2 packages, sha256 {hash_v1})\n"
    )
    assert journey.again.stdout == (
        f"unchanged: environment train:1 (python 3.11, 2 packages, sha256 {hash_v1})\n"
    )
    changed = journey.changed.json()
    assert (changed["version"], changed["lock"]) == (2, LOCK_V2)
    assert changed["hash"] == environment_hash("3.11", LOCK_V2)
    assert journey.bare.stdout.startswith("registered: environment bare:1 (python 3.11, 0 ")


def test_list_latest_versions_and_one_name(journey: Journey) -> None:
    table = journey.cli("env", "list").stdout
    train_row = next(line for line in table.splitlines() if re.search(r"\btrain\b", line))
    assert re.search(r"\b2\b.*\b3\.11\b.*\bspec\b", train_row), train_row
    assert re.search(r"\bbare\b", table)
    versions = journey.cli("env", "list", "train", "--json").json()
    assert [(e["version"], e["lock"]) for e in versions] == [(1, LOCK_V1), (2, LOCK_V2)]


def test_show_by_name_version_and_hash(journey: Journey) -> None:
    by_version = journey.cli("env", "show", "train:1", "--json").json()
    assert by_version["lock"] == LOCK_V1
    assert by_version["requirements"] == ["numpy", "six"]
    assert by_version["description"] == "the training steps"
    by_hash = journey.cli("env", "show", by_version["hash"], "--json").json()
    assert by_hash == by_version
    table = journey.cli("env", "show", "train").stdout
    assert "Environment train:2" in table
    assert environment_hash("3.11", LOCK_V2) in table
    assert "lock:\n  numpy==2.0.0\n  six==1.16.0\n" in table


def test_export_in_three_formats(journey: Journey) -> None:
    digest = environment_hash("3.11", LOCK_V1)
    requirements = journey.cli("env", "export", "train:1").stdout
    assert requirements == (
        f"# Modelyard environment train:1 (Python 3.11)\n# sha256 {digest}\n"
        "numpy==1.26.4\nsix==1.16.0\n"
    )
    conda_file = journey.root / "out" / "environment.yml"
    out = journey.cli("env", "export", "train:1", "--format", "conda", "-o", str(conda_file))
    assert out.stdout == f"wrote {conda_file}\n"
    conda = yaml.safe_load(conda_file.read_text())
    assert conda["dependencies"] == ["python=3.11", "pip", {"pip": LOCK_V1}]
    dockerfile = journey.root / "out" / "Dockerfile"
    out = journey.cli("env", "export", "train:1", "-f", "dockerfile", "-o", str(dockerfile))
    assert "--format requirements -o" in out.stdout
    text = dockerfile.read_text()
    assert "FROM python:3.11-slim\n" in text
    assert f'org.modelyard.environment.hash="{digest}"' in text
    assert "RUN pip install --no-deps -r /tmp/requirements.txt\n" in text


def test_materialize_builds_once_then_reports_cached(journey: Journey) -> None:
    built = journey.cli("env", "materialize", "bare").stdout.splitlines()
    assert built[0].startswith("built: environment bare:1 ")
    venv = Path(built[1].removeprefix("venv:").strip())
    python = Path(built[2].removeprefix("python:").strip())
    assert venv.parent == journey.root / "envs"
    assert python.is_file()
    assert python.is_relative_to(venv)
    cached = journey.cli("env", "materialize", "bare:1").stdout.splitlines()
    assert cached[0].startswith("cached: environment bare:1 ")
    assert cached[1:] == built[1:]


def test_capture_registers_this_interpreter(journey: Journey) -> None:
    out = journey.cli("env", "capture", "--name", "here").stdout
    assert re.fullmatch(
        r"captured: environment here:1 \(python \d+\.\d+, \d+ packages, .*\)\n", out
    )
    again = journey.cli("env", "capture", "--name", "here", "--json").json()
    assert (again["version"], again["source"]) == (1, "capture")
    assert f"typer=={metadata.version('typer')}" in again["lock"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, r"error: environment file 'bad\.yaml' does not exist"),
        ("name: [oops\n", r"error: bad\.yaml is not valid YAML at line"),
        ('name: bad\npython: "3.11"\nlock: [numpy]\n', r"error: bad\.yaml: lock line 'numpy'"),
        ('name: bad\npython: "3.11"\nrequirements: [six]\n', r"error: .*'six' is not pinned"),
    ],
)
def test_bad_spec_files_are_one_error_line(
    journey: Journey, text: str | None, message: str
) -> None:
    bad = journey.root / "bad.yaml"
    bad.unlink(missing_ok=True)
    if text is not None:
        bad.write_text(text)
    args = ["env", "create", "bad.yaml"] + (["--no-resolve"] if "six" in (text or "") else [])
    lines = journey.cli(*args, expect=2).assert_user_error()
    assert re.match(message, lines[0]), lines
    assert len(lines) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["env", "show", "nope"], "error: environment 'nope' does not exist"),
        (["env", "show", "train:9"], "error: environment 'train' has no version 9"),
        (["env", "export", "train", "--format", "wheel"], "error: unknown export format"),
    ],
)
def test_unknown_things_are_one_error_line(journey: Journey, args: list[str], message: str) -> None:
    lines = journey.cli(*args, expect=2).assert_user_error()
    assert lines[0].startswith(message), lines
