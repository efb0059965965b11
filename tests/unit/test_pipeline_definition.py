"""Pipeline definitions: the DSL builds the DAG; validation names the step at fault."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import modelyard
from modelyard.errors import InvalidInput
from modelyard.pipelines.definition import (
    ExternalInput,
    IOSpec,
    Node,
    ParamSpec,
    PipelineParamRef,
    StepDef,
    StepOutputRef,
    build_pipeline,
)


@modelyard.step
def load(n: int = 10) -> pd.DataFrame:
    return pd.DataFrame({"x": range(n)})


@modelyard.step
def to_array(frame: pd.DataFrame) -> np.ndarray:
    return frame.to_numpy()


@modelyard.step
def total(values: np.ndarray, scale: float = 1.0) -> float:
    return float(values.sum()) * scale


def test_steps_are_plain_functions_outside_a_pipeline() -> None:
    assert total(to_array(load(n=4)), scale=2.0) == 12.0


def test_arguments_split_into_inputs_and_parameters() -> None:
    step = total.definition
    assert step.inputs == {"values": IOSpec("numpy.ndarray")}
    assert step.params == {"scale": ParamSpec("number", 1.0, required=False)}
    assert step.outputs == {"output": IOSpec("builtins.float")}


def test_a_pipeline_traces_into_a_dag() -> None:
    @modelyard.pipeline
    def sums(n: int = 5, scale: float = 1.0):
        return total(to_array(load(n=n)), scale=scale)

    definition = sums.definition
    assert [n.name for n in definition.nodes] == ["load", "to_array", "total"]
    assert definition.node("to_array").inputs == {"frame": StepOutputRef("load", "output")}
    assert definition.node("total").params == {"scale": PipelineParamRef("scale")}
    assert definition.outputs == {"output": StepOutputRef("total", "output")}
    assert definition.resolve_params({"n": 7}) == {"n": 7, "scale": 1.0}
    assert definition.definition_hash == sums.definition.definition_hash


def test_a_step_used_twice_gets_distinct_nodes() -> None:
    @modelyard.pipeline
    def twice():
        frame = load()
        return total(to_array(frame)), total.node("again")(to_array(frame), scale=2.0)

    names = [n.name for n in twice.definition.nodes]
    assert names == ["load", "to_array", "to_array_2", "total", "again"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"nope": 1}, r"no parameter 'nope'.*n, scale"),
        ({"n": "ten"}, "parameter 'n' must be integer"),
        ({"scale": True}, "parameter 'scale' must be number"),
        ({"scale": float("inf")}, "parameter 'scale' must be a finite number"),
    ],
)
def test_bad_pipeline_parameters(given: dict[str, object], message: str) -> None:
    @modelyard.pipeline
    def sums(n: int = 5, scale: float = 1.0):
        return total(to_array(load(n=n)), scale=scale)

    with pytest.raises(InvalidInput, match=message):
        sums.definition.resolve_params(given)


def test_an_input_must_come_from_a_step_or_a_file() -> None:
    @modelyard.pipeline
    def wrong():
        return to_array(pd.DataFrame())

    with pytest.raises(InvalidInput, match="step 'to_array': input 'frame' must come from"):
        _ = wrong.definition


@modelyard.step
def count(frame: pd.DataFrame) -> int:
    return len(frame)


@modelyard.step
def add(x: int, y: int) -> int:
    return x + y


@modelyard.step
def evaluate(values: np.ndarray) -> dict:
    return {"score": float(values.mean())}


@modelyard.step
def decide(metrics: dict, threshold: float, note=None) -> bool:
    return bool(metrics["score"] >= threshold)


def test_a_json_typed_argument_is_an_input_or_a_parameter_by_what_is_passed() -> None:
    @modelyard.pipeline
    def sized():
        return add(count(load()), 1)

    node = sized.definition.node("add")
    assert node.inputs == {"x": StepOutputRef("count", "output")}
    assert node.params == {"y": 1}
    # Only the value is a parameter: the output is an input, hashed by its content.
    assert sized.definition.node_params(node, {}) == {"y": 1}
    described = sized.definition.describe()["steps"][-1]
    assert described["inputs"] == {"x": {"step": "count", "output": "output"}}
    assert described["params"] == {"y": {"value": 1}}


def test_a_step_output_feeds_a_dict_and_a_float_of_another_step() -> None:
    @modelyard.pipeline
    def gate(level: float = 0.5):
        metrics = evaluate(to_array(load()))
        threshold = total(to_array(load.node("again")(n=3)), scale=level)
        return decide(metrics, threshold)

    node = gate.definition.node("decide")
    assert node.inputs == {
        "metrics": StepOutputRef("evaluate", "output"),
        "threshold": StepOutputRef("total", "output"),
    }
    assert gate.definition.node_params(node, {"level": 0.5}) == {"note": None}
    # The same argument can take a value in another pipeline.
    given = {"metrics": StepOutputRef("evaluate", "output")}
    decision = Node("decide", decide.definition, given, {"threshold": 0.7})
    nodes = [*gate.definition.nodes[:-1], decision]
    literal = build_pipeline("literal", nodes, params=gate.definition.params)
    params = literal.node_params(literal.node("decide"), {"level": 0.5})
    assert params == {"threshold": 0.7, "note": None}


def test_an_int_output_feeds_a_float_parameter() -> None:
    @modelyard.pipeline
    def scaled():
        return total(to_array(load()), scale=count(load.node("rows")()))

    assert scaled.definition.node("total").inputs["scale"] == StepOutputRef("count", "output")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            lambda: load(n=load()),
            r"step 'load_2': parameter 'n' expects builtins.int but step 'load' output "
            r"'output' is pandas.DataFrame",
        ),
        (
            lambda: add(to_array(load()), 1),
            r"step 'add': parameter 'x' expects builtins.int but step 'to_array' output "
            r"'output' is numpy.ndarray",
        ),
        (
            lambda: add(modelyard.file("data.csv"), 1),
            r"step 'add': parameter 'x' expects builtins.int, but modelyard.file\(\) gives a "
            r"path",
        ),
        (
            lambda: decide({"score": 1.0}, 0.5, note=pd.DataFrame()),
            r"step 'decide': parameter 'note' must be a JSON value .*not a "
            r"pandas.DataFrame",
        ),
        (lambda: add("one", 2), r"step 'add': parameter 'x' must be integer, got 'one'"),
    ],
    ids=["frame-to-int", "array-to-int", "file-to-int", "frame-literal", "mistyped-literal"],
)
def test_what_a_json_typed_argument_cannot_take_is_named(body: object, message: str) -> None:
    @modelyard.pipeline
    def wrong():
        return body()  # type: ignore[operator]

    with pytest.raises(InvalidInput, match=message):
        _ = wrong.definition


def test_a_literal_for_a_step_of_many_outputs_is_refused_naming_it() -> None:
    @modelyard.step(outputs=["a", "b"])
    def pair() -> tuple[int, int]:
        return 1, 2

    @modelyard.pipeline
    def wrong():
        return add(pair(), 1)

    with pytest.raises(InvalidInput, match="step 'add': 'x' got all outputs of a multi-output"):
        _ = wrong.definition


def test_a_mistyped_input_is_refused_naming_the_step() -> None:
    @modelyard.pipeline
    def wrong():
        return total(load())

    with pytest.raises(
        InvalidInput,
        match=r"step 'total': input 'values' expects "
        r"numpy.ndarray but step 'load' output",
    ):
        _ = wrong.definition


def test_unknown_parameters_are_refused() -> None:
    @modelyard.pipeline
    def wrong():
        return load(rows=3)  # type: ignore[call-arg]

    with pytest.raises(InvalidInput, match="step 'load'"):
        _ = wrong.definition


def test_pipeline_arguments_must_be_parameters() -> None:
    @modelyard.pipeline
    def wrong(frame: pd.DataFrame):
        return to_array(frame)

    with pytest.raises(InvalidInput, match=r"arguments \['frame'\] must be parameters"):
        _ = wrong.definition


def _node(name: str, upstream: list[str]) -> Node:
    step = StepDef(
        name=name,
        kind="command",
        target="true",
        code_hash="0",
        inputs={u: IOSpec() for u in upstream},
        outputs={"out": IOSpec()},
        params={},
    )
    return Node(name, step, {u: StepOutputRef(u, "out") for u in upstream}, {})


def test_a_cycle_is_named() -> None:
    nodes = [_node("a", ["c"]), _node("b", ["a"]), _node("c", ["b"]), _node("d", [])]
    with pytest.raises(InvalidInput, match="has a cycle: a -> b -> c -> a") as caught:
        build_pipeline("loop", nodes)
    assert caught.value.details["cycle"] == ["a", "b", "c", "a"]


def test_nodes_are_ordered_whatever_the_input_order() -> None:
    pipeline = build_pipeline("p", [_node("c", ["b"]), _node("b", ["a"]), _node("a", [])])
    assert [n.name for n in pipeline.nodes] == ["a", "b", "c"]
    assert pipeline.downstream("a") == {"b", "c"}


def test_unknown_upstream_and_output_are_named() -> None:
    with pytest.raises(InvalidInput, match="comes from unknown step 'ghost'"):
        build_pipeline("p", [_node("a", ["ghost"])])
    bad = _node("b", ["a"])
    bad = Node("b", bad.step, {"a": StepOutputRef("a", "nope")}, {})
    with pytest.raises(InvalidInput, match=r"output 'nope' that step 'a' does not have"):
        build_pipeline("p", [_node("a", []), bad])


def test_files_are_external_inputs(tmp_path: Path) -> None:
    @modelyard.step
    def read(raw: Path) -> pd.DataFrame:
        return pd.read_csv(raw)

    @modelyard.pipeline
    def ingest():
        return read(modelyard.file(tmp_path / "x.csv"))

    assert ingest.definition.node("read").inputs == {
        "raw": ExternalInput(str(tmp_path / "x.csv"), "uri_file")
    }


def test_a_pipeline_is_run_not_called() -> None:
    @modelyard.pipeline
    def p():
        return load()

    with pytest.raises(InvalidInput, match="run_pipeline"):
        p()
