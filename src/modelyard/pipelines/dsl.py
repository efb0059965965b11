"""The Python way to define pipelines: ``@modelyard.step`` and ``@modelyard.pipeline``.

A step is a plain function; called outside a pipeline it just runs, so it can be unit
tested. Inside a ``@pipeline`` function, calling a step records a node and returns a
reference to its output(s); the pipeline function runs once, with references for its
parameters, and the recorded nodes become the ``PipelineDef``.

Which arguments are inputs and which are parameters is decided by what a pipeline passes:
a step's output or ``modelyard.file(...)`` / ``modelyard.folder(...)`` makes the argument an
input (its cache key holds the output's content hash), a value makes it a parameter (its
cache key holds the value). Only arguments annotated with a JSON type (``int``, ``float``,
``str``, ``bool``, ``dict``, ``list``, or nothing) can take a value; the others (a
DataFrame, an array, a model, a ``Path``) are inputs and must be passed a step's output or
a file.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, ParamSpec, TypeVar, cast, get_args, get_origin, overload

from modelyard.errors import InvalidInput
from modelyard.pipelines.cache import python_code_hash
from modelyard.pipelines.definition import (
    ExternalInput,
    IOSpec,
    Node,
    ParamType,
    PipelineDef,
    PipelineParamRef,
    StepDef,
    StepOutputRef,
    build_pipeline,
)
from modelyard.pipelines.definition import (
    ParamSpec as ParamSpecDef,
)

P = ParamSpec("P")
R = TypeVar("R")

_SCALAR_TYPES: dict[Any, ParamType] = {
    int: "integer",
    float: "number",
    str: "string",
    bool: "boolean",
}


def file(path: str | Path) -> ExternalInput:
    """An input file read from outside the pipeline, hashed by content on each run."""
    return ExternalInput(str(path), "uri_file")


def folder(path: str | Path) -> ExternalInput:
    """An input folder read from outside the pipeline, hashed by content on each run."""
    return ExternalInput(str(path), "uri_folder")


def type_name(annotation: Any) -> str:
    if annotation in (inspect.Parameter.empty, Any, None):
        return "any"
    if annotation in (Path,) or (isinstance(annotation, type) and issubclass(annotation, Path)):
        return "uri_folder"
    if isinstance(annotation, type):
        return f"{annotation.__module__}.{annotation.__qualname__}"
    return "any"


@dataclass
class _Builder:
    nodes: list[Node] = field(default_factory=list)

    def unique_name(self, wanted: str) -> str:
        taken = {n.name for n in self.nodes}
        if wanted not in taken:
            return wanted
        i = 2
        while f"{wanted}_{i}" in taken:
            i += 1
        return f"{wanted}_{i}"


_BUILDER: ContextVar[_Builder | None] = ContextVar("modelyard_pipeline_builder", default=None)


def _classify(
    fn: Callable[..., Any],
) -> tuple[dict[str, IOSpec], dict[str, ParamSpecDef], dict[str, IOSpec]]:
    """A function's inputs, its parameters, and what each parameter accepts as an input."""
    try:
        signature = inspect.signature(fn, eval_str=True)
    except (NameError, TypeError):
        signature = inspect.signature(fn)
    inputs: dict[str, IOSpec] = {}
    params: dict[str, ParamSpecDef] = {}
    param_inputs: dict[str, IOSpec] = {}
    for name, p in signature.parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise InvalidInput(f"step '{fn.__name__}': *args and **kwargs are not supported")
        annotation = p.annotation
        has_default = p.default is not inspect.Parameter.empty
        members = [a for a in get_args(annotation) if a is not type(None)]
        base = get_origin(annotation) or annotation
        if base is not None and members and type(None) in get_args(annotation):
            base = get_origin(members[0]) or members[0]  # Optional[X] is about X
        if base in _SCALAR_TYPES or base in (dict, list, inspect.Parameter.empty, Any):
            params[name] = ParamSpecDef(
                type=_SCALAR_TYPES.get(base, "json"),
                default=p.default if has_default else None,
                required=not has_default,
            )
            param_inputs[name] = IOSpec(type_name(base))
        else:
            inputs[name] = IOSpec(type_name(base), optional=has_default)
    return inputs, params, param_inputs


def _outputs(fn: Callable[..., Any], names: Sequence[str] | None) -> dict[str, IOSpec]:
    try:
        annotation = inspect.signature(fn, eval_str=True).return_annotation
    except (NameError, TypeError):
        annotation = inspect.signature(fn).return_annotation
    if annotation is None or annotation is type(None):
        return {}
    if names is not None and len(names) > 1:
        parts = get_args(annotation) if get_origin(annotation) is tuple else ()
        if parts and len(parts) != len(names):
            raise InvalidInput(
                f"step '{fn.__name__}': {len(names)} output names for a tuple of {len(parts)}"
            )
        return {n: IOSpec(type_name(parts[i]) if parts else "any") for i, n in enumerate(names)}
    return {(names[0] if names else "output"): IOSpec(type_name(annotation))}


class Step(Generic[P, R]):
    """A function made a pipeline step. Calling it outside a pipeline runs the function."""

    def __init__(self, fn: Callable[P, R], definition: StepDef) -> None:
        self.fn = fn
        self.definition = definition
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        builder = _BUILDER.get()
        if builder is None:
            return self.fn(*args, **kwargs)
        return cast(R, self._record(builder, self.definition.name, args, kwargs))

    def node(self, name: str) -> Callable[P, R]:
        """Use this step under another node name (to use it twice in one pipeline)."""

        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            builder = _BUILDER.get()
            if builder is None:
                raise InvalidInput(f"step.node('{name}') is only meaningful inside a pipeline")
            return cast(R, self._record(builder, name, args, kwargs))

        return call

    def _record(self, builder: _Builder, wanted: str, args: Any, kwargs: Any) -> Any:
        step = self.definition
        node_name = builder.unique_name(wanted)
        try:
            bound = inspect.signature(self.fn).bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(f"step '{node_name}': {exc}") from None
        inputs: dict[str, StepOutputRef | ExternalInput] = {}
        params: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            # What is passed decides: a step output or a file is an input, a value a parameter.
            if isinstance(value, tuple) and value and isinstance(value[0], StepOutputRef):
                raise InvalidInput(
                    f"step '{node_name}': '{name}' got all outputs of a multi-output step; "
                    "unpack them and pass one"
                )
            if isinstance(value, StepOutputRef | ExternalInput):
                inputs[name] = value
            elif name in step.inputs:
                raise InvalidInput(
                    f"step '{node_name}': input '{name}' must come from another step or from "
                    f"modelyard.file()/folder(), not a {type(value).__name__} (only arguments "
                    "annotated with a JSON type such as int, float, str, bool, dict or list "
                    "take values)"
                )
            else:
                params[name] = value
        builder.nodes.append(Node(node_name, step, inputs, params))
        refs = [StepOutputRef(node_name, out) for out in step.outputs]
        if not refs:
            return None
        return refs[0] if len(refs) == 1 else tuple(refs)


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(
    *,
    name: str | None = None,
    outputs: Sequence[str] | None = None,
    environment: str | None = None,
    cache: bool = True,
    retries: int = 0,
    retry_backoff_seconds: float = 1.0,
    timeout_seconds: float | None = None,
    version: str | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    outputs: Sequence[str] | None = None,
    environment: str | None = None,
    cache: bool = True,
    retries: int = 0,
    retry_backoff_seconds: float = 1.0,
    timeout_seconds: float | None = None,
    version: str | None = None,
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Make a function a pipeline step.

    ``outputs`` names the outputs (several when the function returns a tuple);
    ``environment`` runs the step in that registered environment; ``cache=False`` always
    re-runs it; ``retries`` with exponential backoff and ``timeout_seconds`` bound it;
    ``version`` is part of the cache key (bump it when code the step calls changes).
    """

    def decorate(f: Callable[P, R]) -> Step[P, R]:
        if retries < 0 or (timeout_seconds is not None and timeout_seconds <= 0):
            raise InvalidInput(f"step '{f.__name__}': retries must be >= 0 and timeout > 0")
        inputs, params, param_inputs = _classify(f)
        module = sys.modules.get(f.__module__)
        definition = StepDef(
            name=name or f.__name__,
            kind="python",
            target=f,
            inputs=inputs,
            outputs=_outputs(f, outputs),
            params=params,
            code_hash=python_code_hash(f),
            environment=environment,
            cache=cache,
            retries=retries,
            retry_backoff_seconds=retry_backoff_seconds,
            timeout_seconds=timeout_seconds,
            version=version,
            source_file=getattr(module, "__file__", None),
            param_inputs=param_inputs,
        )
        return Step(f, definition)

    return decorate(fn) if fn is not None else decorate


class Pipeline:
    """A pipeline function traced into a ``PipelineDef``."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        functools.update_wrapper(self, fn)
        self._definition: PipelineDef | None = None

    @property
    def definition(self) -> PipelineDef:
        if self._definition is None:
            self._definition = self._trace()
        return self._definition

    def _trace(self) -> PipelineDef:
        inputs, params, _ = _classify(self.fn)
        if inputs:
            raise InvalidInput(
                f"pipeline '{self.name}': arguments {sorted(inputs)} must be parameters: "
                "annotate them with a JSON type (int, float, str, bool, dict, list)"
            )
        builder = _Builder()
        token = _BUILDER.set(builder)
        try:
            result = self.fn(**{p: PipelineParamRef(p) for p in params})
        finally:
            _BUILDER.reset(token)
        outputs: dict[str, StepOutputRef] = {}
        if isinstance(result, StepOutputRef):
            outputs["output"] = result
        elif isinstance(result, dict):
            outputs = {k: v for k, v in result.items() if isinstance(v, StepOutputRef)}
        return build_pipeline(
            self.name,
            builder.nodes,
            params=params,
            outputs=outputs,
            source=getattr(sys.modules.get(self.fn.__module__), "__file__", None),
            description=(self.fn.__doc__ or "").strip() or None,
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise InvalidInput(
            f"pipeline '{self.name}' is run with modelyard.run_pipeline({self.name}, ...) or "
            f"`modelyard pipeline run FILE:{self.name}`, not called"
        )


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function that calls steps a pipeline (traced once, on first use)."""
    if fn is not None:
        return Pipeline(fn)
    return lambda f: Pipeline(f, name)
