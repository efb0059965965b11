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


def test_a_step_output_cannot_feed_a_parameter() -> None:
    @modelyard.pipeline
    def wrong():
        return load(n=load())

    with pytest.raises(InvalidInput, match="parameter 'n' cannot take a step output"):
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
