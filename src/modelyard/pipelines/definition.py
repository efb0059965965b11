"""A pipeline definition is a value: steps, the DAG that binds them, and its parameters.

Python pipelines (``dsl.py``) and YAML pipelines (``yaml_pipeline.py``) both produce a
``PipelineDef``; everything after that (validation, caching, execution, lineage) works on
this one model. This module stays free of heavy imports: it is loaded inside step workers,
possibly in a step's own minimal environment.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from modelyard.errors import InvalidInput

StepKind = Literal["python", "command"]
ParamType = Literal["string", "integer", "number", "boolean", "json"]

_PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "json": (object,),
}


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """A parameter of a step or a pipeline: a type and an optional default."""

    type: ParamType = "json"
    default: Any = None
    required: bool = False

    def check(self, owner: str, name: str, value: Any) -> Any:
        expected = _PARAM_TYPES[self.type]
        ok = isinstance(value, expected) and not (
            self.type in ("integer", "number") and isinstance(value, bool)
        )
        if not ok:
            raise InvalidInput(
                f"{owner}: parameter '{name}' must be {self.type}, got {value!r}",
                details={"owner": owner, "parameter": name},
            )
        if self.type == "json":
            try:
                # A parameter is hashed by value into the cache key: only JSON says it exactly.
                json.dumps(value, allow_nan=False, sort_keys=True)
            except (TypeError, ValueError):
                raise InvalidInput(
                    f"{owner}: parameter '{name}' must be a JSON value (numbers, strings, "
                    f"booleans, lists, mappings with string keys), not a "
                    f"{type(value).__module__}.{type(value).__qualname__}: pass other values "
                    "as a step's output",
                    details={"owner": owner, "parameter": name},
                ) from None
        if self.type == "number":
            if not math.isfinite(value):
                # It would be part of cache keys and JSON records, which hold no NaN or inf.
                raise InvalidInput(
                    f"{owner}: parameter '{name}' must be a finite number, got {value!r}",
                    details={"owner": owner, "parameter": name},
                )
            return float(value)
        return value


@dataclass(frozen=True, slots=True)
class IOSpec:
    """A typed input or output. ``type`` is a dotted type name (``pandas.DataFrame``),
    ``uri_file`` / ``uri_folder`` for files, or ``any``."""

    type: str = "any"
    optional: bool = False

    def accepts(self, produced: IOSpec) -> bool:
        if "any" in (self.type, produced.type):
            return True
        if {self.type, produced.type} <= {"uri_file", "uri_folder", "pathlib.Path"}:
            return True
        if (self.type, produced.type) == ("builtins.float", "builtins.int"):
            return True  # an int is a float for typing (PEP 484), and JSON keeps it exact
        return self.type == produced.type or _is_subtype(produced.type, self.type)


def _is_subtype(child: str, parent: str) -> bool:
    """Best effort: compare the real classes when both can be imported cheaply."""
    import importlib
    import sys

    def resolve(dotted: str) -> type | None:
        module, _, name = dotted.rpartition(".")
        if module not in sys.modules:  # never import a library just to compare names
            return None
        found = getattr(importlib.import_module(module), name, None)
        return found if isinstance(found, type) else None

    a, b = resolve(child), resolve(parent)
    return a is not None and b is not None and issubclass(a, b)


@dataclass(frozen=True)
class StepDef:
    """What a step is, independent of where a pipeline uses it.

    ``target`` is the Python function (kind "python") or the command template (kind
    "command"). ``code_hash`` identifies the code for the cache (see ``cache.py``).

    ``inputs`` must be bound to a step output or a file, ``params`` to values. A parameter
    also in ``param_inputs`` may instead be bound to a step output or a file, which it then
    reads as an input of that type: a Python step's argument annotated with a JSON type
    (``int``, ``float``, ``str``, ``bool``, ``dict``, ``list``, none) is a parameter where a
    pipeline passes it a value and an input where it passes a step's output. A command
    step's inputs and parameters are separate namespaces, so it has no ``param_inputs``.
    """

    name: str
    kind: StepKind
    target: Callable[..., Any] | str
    inputs: Mapping[str, IOSpec]
    outputs: Mapping[str, IOSpec]
    params: Mapping[str, ParamSpec]
    code_hash: str
    environment: str | None = None
    cache: bool = True
    retries: int = 0
    retry_backoff_seconds: float = 1.0
    timeout_seconds: float | None = None
    version: str | None = None
    source_file: str | None = None
    code_dir: str | None = None
    param_inputs: Mapping[str, IOSpec] = field(default_factory=dict)

    def input_spec(self, name: str) -> IOSpec | None:
        """What the input ``name`` accepts, whether it is an input or a parameter bound as one."""
        return self.inputs.get(name) or self.param_inputs.get(name)

    def describe(self) -> dict[str, Any]:
        """A JSON-able description (what is stored and shown; never the function itself)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "target": self.target if isinstance(self.target, str) else _qualname(self.target),
            "inputs": {k: v.type for k, v in self.inputs.items()},
            "outputs": {k: v.type for k, v in self.outputs.items()},
            "params": {
                k: {"type": p.type, "default": p.default, "required": p.required}
                for k, p in self.params.items()
            },
            "code_hash": self.code_hash,
            "environment": self.environment,
            "cache": self.cache,
            "retries": self.retries,
            "timeout_seconds": self.timeout_seconds,
            "version": self.version,
        }


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


@dataclass(frozen=True, slots=True)
class StepOutputRef:
    """An input bound to an output of an upstream node."""

    node: str
    output: str


@dataclass(frozen=True, slots=True)
class ExternalInput:
    """An input read from outside the pipeline: hashed by content on every run."""

    path: str
    type: Literal["uri_file", "uri_folder"] = "uri_file"


@dataclass(frozen=True, slots=True)
class PipelineParamRef:
    """A step parameter bound to a pipeline parameter."""

    name: str


InputBinding = StepOutputRef | ExternalInput
ParamBinding = PipelineParamRef | Any


@dataclass(frozen=True)
class Node:
    """One use of a step in a pipeline, with its inputs and parameters bound."""

    name: str
    step: StepDef
    inputs: Mapping[str, InputBinding]
    params: Mapping[str, ParamBinding]

    @property
    def upstream(self) -> set[str]:
        return {b.node for b in self.inputs.values() if isinstance(b, StepOutputRef)}


@dataclass(frozen=True)
class PipelineDef:
    """A validated DAG of nodes in topological order."""

    name: str
    nodes: tuple[Node, ...]
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    outputs: Mapping[str, StepOutputRef] = field(default_factory=dict)
    source: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        validate(self)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise InvalidInput(f"pipeline '{self.name}' has no step '{name}'")

    def downstream(self, name: str) -> set[str]:
        """Every node that depends, directly or not, on ``name``."""
        found: set[str] = set()
        frontier = {name}
        while frontier:
            frontier = {n.name for n in self.nodes if n.upstream & frontier} - found
            found |= frontier
        return found

    def describe(self) -> dict[str, Any]:
        """The JSON-able definition; its hash identifies this version of the pipeline."""

        def binding(b: Any) -> Any:
            if isinstance(b, StepOutputRef):
                return {"step": b.node, "output": b.output}
            if isinstance(b, ExternalInput):
                return {"path": b.path, "type": b.type}
            if isinstance(b, PipelineParamRef):
                return {"parameter": b.name}
            return {"value": b}

        return {
            "name": self.name,
            "params": {
                k: {"type": p.type, "default": p.default, "required": p.required}
                for k, p in self.params.items()
            },
            "steps": [
                {
                    "name": n.name,
                    "step": n.step.describe(),
                    "inputs": {k: binding(b) for k, b in n.inputs.items()},
                    "params": {k: binding(b) for k, b in n.params.items()},
                }
                for n in self.nodes
            ],
            "outputs": {k: binding(v) for k, v in self.outputs.items()},
        }

    @property
    def definition_hash(self) -> str:
        canonical = json.dumps(self.describe(), sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def resolve_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Pipeline parameters after defaults; unknown or mistyped ones are errors."""
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise InvalidInput(
                f"pipeline '{self.name}' has no parameter {', '.join(map(repr, unknown))}; "
                f"its parameters are: {', '.join(sorted(self.params)) or 'none'}",
                details={"unknown": unknown},
            )
        resolved = {}
        for name, spec in self.params.items():
            if name in given:
                resolved[name] = spec.check(f"pipeline '{self.name}'", name, given[name])
            elif spec.required:
                raise InvalidInput(f"pipeline '{self.name}' needs parameter '{name}'")
            else:
                resolved[name] = spec.default
        return resolved

    def node_params(self, node: Node, pipeline_params: Mapping[str, Any]) -> dict[str, Any]:
        """The concrete parameters of one node for a run."""
        values = {}
        for name, spec in node.step.params.items():
            if name in node.inputs and name in node.step.param_inputs:
                continue  # bound to a step output or a file: an input of this node
            bound = node.params.get(name, spec.default)
            value = pipeline_params[bound.name] if isinstance(bound, PipelineParamRef) else bound
            if value is None and spec.required:
                raise InvalidInput(f"step '{node.name}': parameter '{name}' has no value")
            values[name] = (
                value if value is None else spec.check(f"step '{node.name}'", name, value)
            )
        return values


def validate(pipeline: PipelineDef) -> None:
    """Check the DAG before anything runs; every error names the step."""
    names = [n.name for n in pipeline.nodes]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InvalidInput(f"pipeline '{pipeline.name}': step names repeat: {duplicated}")
    by_name = {n.name: n for n in pipeline.nodes}
    for node in pipeline.nodes:
        where = f"pipeline '{pipeline.name}', step '{node.name}'"
        step = node.step
        unknown_inputs = sorted(n for n in node.inputs if step.input_spec(n) is None)
        if unknown_inputs:
            raise InvalidInput(f"{where}: unknown input(s) {unknown_inputs}")
        for name, spec in step.inputs.items():
            if name not in node.inputs and not spec.optional:
                raise InvalidInput(f"{where}: input '{name}' is not connected")
        for name, bound in node.inputs.items():
            _check_input(pipeline, by_name, node, name, bound)
        unknown_params = sorted(set(node.params) - set(step.params))
        if unknown_params:
            raise InvalidInput(
                f"{where}: unknown parameter(s) {unknown_params}; the step takes "
                f"{sorted(step.params) or 'none'}"
            )
        for name, value in node.params.items():
            if name in node.inputs and name in step.param_inputs:
                raise InvalidInput(
                    f"{where}: '{name}' is given both a step output or file and a value; pass one"
                )
            if isinstance(value, PipelineParamRef):
                if value.name not in pipeline.params:
                    raise InvalidInput(
                        f"{where}: parameter '{name}' refers to unknown pipeline "
                        f"parameter '{value.name}'"
                    )
            elif value is not None:
                step.params[name].check(f"step '{node.name}'", name, value)
    _check_acyclic_and_ordered(pipeline, by_name)


def _check_input(
    pipeline: PipelineDef, by_name: Mapping[str, Node], node: Node, name: str, bound: InputBinding
) -> None:
    """An input's binding: a file, or an output that exists and is of a type it accepts."""
    where = f"pipeline '{pipeline.name}', step '{node.name}'"
    spec = node.step.input_spec(name)
    assert spec is not None  # unknown inputs were refused before
    what = "input" if name in node.step.inputs else "parameter"
    if isinstance(bound, ExternalInput):
        if what == "parameter" and not spec.accepts(IOSpec(bound.type)):
            raise InvalidInput(
                f"{where}: parameter '{name}' expects {spec.type}, but "
                f"modelyard.{'folder' if bound.type == 'uri_folder' else 'file'}() gives a "
                "path: annotate it pathlib.Path to read a file"
            )
        return
    source = by_name.get(bound.node)
    if source is None:
        raise InvalidInput(f"{where}: {what} '{name}' comes from unknown step '{bound.node}'")
    produced = source.step.outputs.get(bound.output)
    if produced is None:
        raise InvalidInput(
            f"{where}: {what} '{name}' reads output '{bound.output}' that step "
            f"'{bound.node}' does not have (it has: {sorted(source.step.outputs)})"
        )
    if not spec.accepts(produced):
        raise InvalidInput(
            f"{where}: {what} '{name}' expects {spec.type} but step "
            f"'{bound.node}' output '{bound.output}' is {produced.type}"
        )


def _check_acyclic_and_ordered(pipeline: PipelineDef, by_name: Mapping[str, Node]) -> None:
    seen: set[str] = set()
    for node in pipeline.nodes:
        if not node.upstream <= seen:
            # Either a cycle or nodes out of order: find which, and say so.
            order = topological_order(list(by_name.values()))
            if order is None:
                cycle = _find_cycle(by_name)
                raise InvalidInput(
                    f"pipeline '{pipeline.name}' has a cycle: {' -> '.join(cycle)}",
                    details={"cycle": cycle},
                )
            raise InvalidInput(f"pipeline '{pipeline.name}': steps are not in dependency order")
        seen.add(node.name)


def topological_order(nodes: list[Node]) -> list[Node] | None:
    """Kahn's algorithm, stable in the given order; None when there is a cycle."""
    names = {n.name for n in nodes}
    # An upstream that is not a node is validate()'s to report, with its name, not a cycle.
    remaining = {n.name: n.upstream & names for n in nodes}
    ordered: list[Node] = []
    by_name = {n.name: n for n in nodes}
    while remaining:
        ready = [name for name, deps in remaining.items() if not deps]
        if not ready:
            return None
        for name in ready:
            ordered.append(by_name[name])
            del remaining[name]
        for deps in remaining.values():
            deps.difference_update(ready)
    return ordered


def _find_cycle(by_name: Mapping[str, Node]) -> list[str]:
    visiting: list[str] = []
    done: set[str] = set()

    def walk(name: str) -> list[str] | None:
        if name in visiting:
            return [*visiting[visiting.index(name) :], name]
        if name in done or name not in by_name:
            return None
        visiting.append(name)
        for up in sorted(by_name[name].upstream):
            found = walk(up)
            if found:
                return found
        visiting.pop()
        done.add(name)
        return None

    for name in by_name:
        cycle = walk(name)
        if cycle:
            return list(reversed(cycle))
    return []


def build_pipeline(
    name: str,
    nodes: list[Node],
    *,
    params: Mapping[str, ParamSpec] | None = None,
    outputs: Mapping[str, StepOutputRef] | None = None,
    source: str | None = None,
    description: str | None = None,
) -> PipelineDef:
    """A ``PipelineDef`` from nodes in any order; a cycle is an error naming its steps."""
    by_name = {n.name: n for n in nodes}
    ordered = topological_order(nodes)
    if ordered is None:
        cycle = _find_cycle(by_name)
        raise InvalidInput(
            f"pipeline '{name}' has a cycle: {' -> '.join(cycle)}", details={"cycle": cycle}
        )
    return PipelineDef(
        name=name,
        nodes=tuple(ordered),
        params=dict(params or {}),
        outputs=dict(outputs or {}),
        source=source,
        description=description,
    )
