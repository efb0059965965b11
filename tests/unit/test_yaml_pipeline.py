"""YAML pipelines load into the same model as the Python DSL; every mistake is named."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelyard.errors import InvalidInput
from modelyard.pipelines.cache import command_code_hash
from modelyard.pipelines.definition import (
    ExternalInput,
    IOSpec,
    Node,
    ParamSpec,
    PipelineDef,
    PipelineParamRef,
    StepDef,
    StepOutputRef,
)
from modelyard.pipelines.loader import load_pipeline
from modelyard.pipelines.yaml_pipeline import load_component, load_yaml_pipeline

PREPARE = (
    "python prepare.py --rows ${{parameters.rows}} --raw ${{inputs.raw}} --out ${{outputs.data}}"
)
TRAIN = "python train.py --data ${{inputs.data}} --C ${{parameters.C}} --model ${{outputs.model}}"

PIPELINE = f"""\
name: churn-yaml
description: Churn, from YAML
parameters:
  n_rows: {{type: integer, default: 1000}}
  tag: {{type: string}}
steps:
  prepare:
    command: {PREPARE}
    code: ./src
    environment: churn-env
    parameters:
      rows: ${{{{pipeline.parameters.n_rows}}}}
    inputs:
      raw: {{type: uri_file, path: data/raw.csv}}
    outputs:
      data: {{type: uri_folder}}
    cache: true
    retries: 1
    retry_backoff: 0.5
    timeout: 600
    version: "1"
  train:
    component: ./components/train.yaml
    inputs:
      data: ${{{{steps.prepare.outputs.data}}}}
    parameters:
      C: 0.5
outputs:
  model: ${{{{steps.train.outputs.model}}}}
"""

COMPONENT = f"""\
name: train
type: command
command: {TRAIN}
code: ../train_src
inputs:
  data: {{type: uri_folder}}
  extra: {{type: uri_file, optional: true}}
outputs:
  model: {{type: uri_file}}
parameters:
  C: {{type: number, default: 1.0}}
version: 2
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "data" / "raw.csv", "id,x\n1,2\n")
    write(tmp_path / "src" / "prepare.py", "print('prepare')\n")
    write(tmp_path / "train_src" / "train.py", "print('train')\n")
    write(tmp_path / "components" / "train.yaml", COMPONENT)
    return write(tmp_path / "pipeline.yaml", PIPELINE)


def test_parses_into_the_exact_model(project: Path) -> None:
    root = project.parent
    pipeline = load_yaml_pipeline(project)
    prepare = StepDef(
        name="churn-yaml.prepare",
        kind="command",
        target=PREPARE,
        inputs={"raw": IOSpec("uri_file")},
        outputs={"data": IOSpec("uri_folder")},
        params={"rows": ParamSpec(type="integer", required=True)},
        code_hash=command_code_hash(PREPARE, str(root / "src")),
        environment="churn-env",
        cache=True,
        retries=1,
        retry_backoff_seconds=0.5,
        timeout_seconds=600.0,
        version="1",
        source_file=str(project),
        code_dir=str(root / "src"),
    )
    train = StepDef(
        name="train",
        kind="command",
        target=TRAIN,
        inputs={"data": IOSpec("uri_folder"), "extra": IOSpec("uri_file", optional=True)},
        outputs={"model": IOSpec("uri_file")},
        params={"C": ParamSpec(type="number", default=1.0)},
        code_hash=command_code_hash(TRAIN, str(root / "train_src")),
        version="2",
        source_file=str(root / "components" / "train.yaml"),
        code_dir=str(root / "train_src"),
    )
    assert pipeline.nodes == (
        Node(
            "prepare",
            prepare,
            {"raw": ExternalInput(str(root / "data" / "raw.csv"), "uri_file")},
            {"rows": PipelineParamRef("n_rows")},
        ),
        Node("train", train, {"data": StepOutputRef("prepare", "data")}, {"C": 0.5}),
    )
    assert pipeline.name == "churn-yaml"
    assert pipeline.description == "Churn, from YAML"
    assert pipeline.source == str(project)
    assert pipeline.params == {
        "n_rows": ParamSpec(type="integer", default=1000),
        "tag": ParamSpec(type="string", required=True),
    }
    assert pipeline.outputs == {"model": StepOutputRef("train", "model")}
    assert load_component(root / "components" / "train.yaml") == train
    # The loader dispatches .yaml files here.
    assert load_pipeline(str(project)).describe() == pipeline.describe()


def test_order_types_and_bindings(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml",
        """\
        name: order
        parameters:
          ratio: {default: 0.5}
        steps:
          last:
            command: echo ${{inputs.x}} ${{parameters.flag}} ${{parameters.opts}} ${{parameters.r}}
            inputs:
              x: {type: uri_file, path: "${{steps.first.outputs.out}}"}
            parameters: {flag: true, opts: {a: 1}, r: "${{pipeline.parameters.ratio}}"}
          first:
            command: echo ${{ outputs.out }} ${{parameters.n}} ${{parameters.s}} ${{parameters.f}}
            outputs: {out: {type: uri_file}}
            parameters: {n: 3, s: text, f: 1.5}
        """,
    )
    pipeline = load_yaml_pipeline(path)
    assert [n.name for n in pipeline.nodes] == ["first", "last"]  # dependencies first
    first, last = pipeline.nodes
    assert {k: v.type for k, v in first.step.params.items()} == {
        "n": "integer",
        "s": "string",
        "f": "number",
    }
    assert {k: v.type for k, v in last.step.params.items()} == {
        "flag": "boolean",
        "opts": "json",
        "r": "number",
    }
    assert last.step.inputs == {"x": IOSpec("uri_file")}
    assert last.params == {"flag": True, "opts": {"a": 1}, "r": PipelineParamRef("ratio")}
    assert pipeline.params["ratio"] == ParamSpec(type="number", default=0.5)
    assert first.step.code_dir is None
    assert first.step.code_hash == command_code_hash(str(first.step.target), None)
    assert pipeline.node_params(last, {"ratio": 0.5}) == {
        "flag": True,
        "opts": {"a": 1},
        "r": 0.5,
    }


def test_a_component_is_one_step_whichever_pipeline_uses_it(project: Path) -> None:
    other = write(
        project.parent / "elsewhere" / "other.yaml",
        """\
        name: another
        steps:
          make:
            command: python -c "print(1)" ${{outputs.data}}
            outputs: {data: {type: uri_folder}}
          fit:
            component: ../components/train.yaml
            inputs: {data: "${{steps.make.outputs.data}}"}
            retries: 3
            timeout: 5
        """,
    )
    first = load_yaml_pipeline(project).node("train").step
    second = load_yaml_pipeline(other).node("fit").step
    assert second.name == first.name == "train"
    assert second.code_hash == first.code_hash
    # Run policy may differ per use; identity (and so the cache) does not.
    assert (second.retries, second.timeout_seconds) == (3, 5.0)
    assert (first.retries, first.timeout_seconds) == (0, None)


def test_code_folder_changes_the_hash_a_yaml_comment_does_not(project: Path) -> None:
    before = load_yaml_pipeline(project)
    project.write_text("# a comment\n" + PIPELINE.replace("  train:", "  # why\n  train:"))
    commented = load_yaml_pipeline(project)
    assert commented.definition_hash == before.definition_hash
    assert [n.step.code_hash for n in commented.nodes] == [n.step.code_hash for n in before.nodes]

    (project.parent / "src" / "prepare.py").write_text("print('prepare, better')\n")
    changed = load_yaml_pipeline(project)
    assert changed.node("prepare").step.code_hash != before.node("prepare").step.code_hash
    assert changed.node("train").step.code_hash == before.node("train").step.code_hash
    (project.parent / "train_src" / "helpers.py").write_text("X = 1\n")  # a new file counts
    assert load_yaml_pipeline(project).node("train").step.code_hash != (
        before.node("train").step.code_hash
    )


def test_missing_pipeline_parameter_is_reported_before_running(project: Path) -> None:
    pipeline = load_yaml_pipeline(project)
    with pytest.raises(InvalidInput, match="needs parameter 'tag'"):
        pipeline.resolve_params({})
    assert pipeline.resolve_params({"tag": "x"}) == {"n_rows": 1000, "tag": "x"}


# Each case: what to replace in PIPELINE (or a whole file), the step named, the message.
ERRORS: list[tuple[str, dict[str, str] | str, str | None, str]] = [
    ("top-level typo", {"steps:": "stepz:"}, None, "unknown key 'stepz' in the pipeline"),
    (
        "step typo",
        {"retries: 1": "retires: 1"},
        "prepare",
        "unknown key 'retires' in the step (did you mean 'retries'?)",
    ),
    (
        "no command",
        {f"command: {PREPARE}": "code_: x"},
        "prepare",
        "unknown key 'code_'",
    ),
    (
        "command missing",
        {f"    command: {PREPARE}\n": ""},
        "prepare",
        "a step needs a 'command' or a 'component'",
    ),
    (
        "command and component",
        {"component: ./components/train.yaml": "component: x.yaml\n    command: echo"},
        "train",
        "either a 'command' or a 'component', not both",
    ),
    (
        "unknown placeholder",
        {"--out ${{outputs.data}}": "--out ${{outputs.dat}}"},
        "prepare",
        "the command uses ${{outputs.dat}}, which is not an input, output or parameter",
    ),
    (
        "unclosed placeholder",
        {"--out ${{outputs.data}}": "--out ${{outputs.data}"},
        "prepare",
        "a '${{' without its closing '}}'",
    ),
    (
        "unknown step",
        {"steps.prepare.outputs.data": "steps.prep.outputs.data"},
        "train",
        "input 'data' refers to unknown step 'prep'",
    ),
    (
        "unknown output",
        {"steps.prepare.outputs.data": "steps.prepare.outputs.frame"},
        "train",
        "refers to output 'frame', which step 'prepare' lacks (['data'])",
    ),
    (
        "unknown pipeline output step",
        {"${{steps.train.outputs.model}}": "${{steps.tran.outputs.model}}"},
        None,
        "pipeline output 'model' refers to unknown step 'tran'",
    ),
    (
        "unknown pipeline parameter",
        {"pipeline.parameters.n_rows": "pipeline.parameters.rows"},
        "prepare",
        "parameter 'rows' refers to unknown pipeline parameter 'rows'",
    ),
    (
        "bad parameter reference",
        {"${{pipeline.parameters.n_rows}}": "${{parent.inputs.n_rows}}"},
        "prepare",
        "parameter 'rows' must be a literal or ${{pipeline.parameters.P}}",
    ),
    (
        "missing external input",
        {"data/raw.csv": "data/missing.csv"},
        "prepare",
        "input 'raw': the file 'data/missing.csv' does not exist",
    ),
    (
        "input without a path",
        {"raw: {type: uri_file, path: data/raw.csv}": "raw: {type: uri_file}"},
        "prepare",
        "input 'raw' needs a 'path'",
    ),
    (
        "folder input is a file",
        {"type: uri_file, path: data/raw.csv": "type: uri_folder, path: data/raw.csv"},
        "prepare",
        "input 'raw': the folder 'data/raw.csv' does not exist",
    ),
    (
        "bare path input",
        {"${{steps.prepare.outputs.data}}": "data/raw.csv"},
        "train",
        "input 'data' must be ${{steps.STEP.outputs.OUTPUT}}",
    ),
    (
        "missing code folder",
        {"code: ./src": "code: ./nope"},
        "prepare",
        "code: the folder './nope' does not exist",
    ),
    (
        "NUL byte in a path",
        {"code: ./src": 'code: "./s\\0rc"'},
        "prepare",
        r"code: the folder './s\x00rc' does not exist",
    ),
    (
        "timeout not a number",
        {"timeout: 600": "timeout: soon"},
        "prepare",
        "'timeout' must be a number of seconds > 0, got 'soon'",
    ),
    (
        "negative retries",
        {"retries: 1": "retries: -1"},
        "prepare",
        "'retries' must be an integer >= 0, got -1",
    ),
    ("cache not a bool", {"cache: true": "cache: 1"}, "prepare", "'cache' must be true or false"),
    (
        "bad parameter type",
        {"type: integer": "type: int"},
        None,
        "parameter 'n_rows' has type 'int'; use one of string, integer",
    ),
    (
        "default of the wrong type",
        {"default: 1000": "default: many"},
        None,
        "parameter 'n_rows' must be integer, got 'many'",
    ),
    (
        "literal of the wrong type",
        {"C: 0.5": "C: high"},
        "train",
        "parameter 'C' must be number, got 'high'",
    ),
    (
        "pipeline parameter of the wrong type",
        {"C: 0.5": "C: ${{pipeline.parameters.tag}}"},
        "train",
        "parameter 'C' is number; pipeline parameter 'tag' is string",
    ),
    (
        "component input typo",
        {"      data: ${{steps": "      dta: ${{steps"},
        "train",
        "unknown key 'dta' in the inputs of component 'train' (did you mean 'data'?)",
    ),
    (
        "missing component file",
        {"./components/train.yaml": "./components/tran.yaml"},
        "train",
        "component: the file './components/tran.yaml' does not exist",
    ),
    (
        "cycle",
        {
            "raw: {type: uri_file, path: data/raw.csv}": "raw: ${{steps.train.outputs.model}}",
        },
        None,
        "pipeline 'churn-yaml' has a cycle: prepare -> train -> prepare",
    ),
    (
        "repeated step",
        {"  train:": "  prepare:"},
        None,
        "invalid YAML at line 22, column 3: the key 'prepare' appears twice",
    ),
    (
        "invalid YAML",
        "name: x\nsteps:\n  a: [unclosed\n",
        None,
        "invalid YAML at line 4, column 1",
    ),
    ("not a mapping", "- a\n- b\n", None, "must be a mapping of keys, not list"),
    ("no steps", "name: x\n", None, "a pipeline needs at least one step"),
    ("no name", "steps: {a: {command: echo}}\n", None, "a pipeline needs a 'name'"),
    ("bad step name", "name: x\nsteps: {a.b: {command: echo}}\n", None, "step name 'a.b'"),
]


@pytest.mark.parametrize(
    ("change", "step", "message"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS]
)
def test_mistakes_are_named(
    project: Path, change: dict[str, str] | str, step: str | None, message: str
) -> None:
    if isinstance(change, str):
        project.write_text(change)
    else:
        text = PIPELINE
        for old, new in change.items():
            assert old in text, old
            text = text.replace(old, new, 1)
        project.write_text(text)
    with pytest.raises(InvalidInput) as raised:
        load_yaml_pipeline(project)
    where = f"{project}: step '{step}': " if step else f"{project}: "
    assert raised.value.message.startswith(where), raised.value.message
    assert message in raised.value.message
    assert raised.value.details["file"] == str(project)


COMPONENT_ERRORS = [
    ("no name", {"name: train\n": ""}, "a component needs a 'name'"),
    ("no command", {f"command: {TRAIN}\n": ""}, "step 'train': a step needs a 'command'"),
    ("typo", {"version: 2": "verison: 2"}, "unknown key 'verison' in the component"),
    ("bad io type", {"type: uri_folder": "type: folder"}, "input 'data' has type 'folder'"),
    ("not a command", {"type: command": "type: pipeline"}, "only 'type: command' components"),
    ("optional not bool", {"optional: true": "optional: maybe"}, "'optional' must be true"),
    (
        "unknown placeholder",
        {"${{parameters.C}}": "${{parameters.c}}"},
        "the command uses ${{parameters.c}}",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), [c[1:] for c in COMPONENT_ERRORS], ids=[c[0] for c in COMPONENT_ERRORS]
)
def test_component_mistakes_name_the_component_file(
    project: Path, change: dict[str, str], message: str
) -> None:
    component = project.parent / "components" / "train.yaml"
    text = COMPONENT
    for old, new in change.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    component.write_text(text)
    with pytest.raises(InvalidInput, match=r"^" + str(component).replace("\\", "\\\\")) as raised:
        load_yaml_pipeline(project)
    assert message in raised.value.message


def test_a_component_use_must_bind_what_it_needs(project: Path) -> None:
    component = project.parent / "components" / "train.yaml"
    component.write_text(COMPONENT.replace("--data", "--extra ${{inputs.extra}} --data"))
    with pytest.raises(InvalidInput, match=r"uses \$\{\{inputs.extra}}, but this optional"):
        load_yaml_pipeline(project)
    component.write_text(COMPONENT.replace("{type: number, default: 1.0}", "{type: number}"))
    project.write_text(PIPELINE.replace("    parameters:\n      C: 0.5\n", ""))
    with pytest.raises(InvalidInput, match=r"step 'train': component 'train' needs \['C'\] bound"):
        load_yaml_pipeline(project)


def test_an_unreadable_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot be read"):
        load_yaml_pipeline(tmp_path / "missing.yaml")
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidInput, match="cannot be read"):
        load_yaml_pipeline(tmp_path / "bin.yaml")


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
_STEP_KEYS = ["command", "code", "environment", "parameters", "inputs", "outputs", "cache"]
_STEP_KEYS += ["retries", "retry_backoff", "timeout", "version", "component", "typo"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    step=st.dictionaries(st.sampled_from(_STEP_KEYS), _VALUES | st.just("${{steps.a.outputs.x}}")),
    params=_VALUES,
)
def test_any_content_loads_or_is_invalid_input(
    tmp_path: Path, step: dict[str, Any], params: Any
) -> None:
    """Whatever a user writes, the answer is a pipeline or an InvalidInput, never a crash."""
    path = tmp_path / "fuzz.yaml"
    body = {"name": "fuzz", "parameters": params, "steps": {"a": step}}
    path.write_text(yaml.safe_dump(body))
    outcome: PipelineDef | str
    try:
        outcome = load_yaml_pipeline(path)
    except InvalidInput as exc:
        outcome = exc.message
    assert isinstance(outcome, PipelineDef) or outcome.startswith(f"{path}: ")
