"""YAML pipelines of command steps, in the style of Azure ML components.

A YAML file declares pipeline parameters, steps and outputs; a step is an inline command
or a ``component`` file (one command step defined once and reused by many pipelines).
Loading produces the same ``PipelineDef`` as the Python DSL, so caching, execution and
lineage do not care where a pipeline came from. Whatever can be checked without running
is checked here, and every error names the file and the step. The format is documented
in ``docs/pipelines-yaml.md``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn, get_args

import yaml

from modelyard.errors import InvalidInput
from modelyard.pipelines.cache import command_code_hash
from modelyard.pipelines.definition import (
    ExternalInput,
    InputBinding,
    IOSpec,
    Node,
    ParamSpec,
    ParamType,
    PipelineDef,
    PipelineParamRef,
    StepDef,
    StepOutputRef,
    build_pipeline,
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TOP_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")
_PLACEHOLDER = re.compile(r"\$\{\{([^}]*)\}\}")  # the syntax worker.render_command substitutes
_STEP_REF = re.compile(r"^\$\{\{\s*steps\.([^.\s}]+)\.outputs\.([^.\s}]+)\s*\}\}$")
_PARAM_REF = re.compile(r"^\$\{\{\s*pipeline\.parameters\.([^.\s}]+)\s*\}\}$")
_IO_TYPES = ("uri_file", "uri_folder", "any")
_LITERAL_TYPES: dict[type, ParamType] = {bool: "boolean", int: "integer", float: "number"}
_LITERAL_TYPES[str] = "string"
_PARAM_TYPES: tuple[str, ...] = get_args(ParamType)

_RUN_KEYS = {"cache", "retries", "retry_backoff", "timeout"}
_PIPELINE_KEYS = {"$schema", "name", "description", "parameters", "steps", "outputs"}
_INLINE_KEYS = _RUN_KEYS | {"command", "code", "environment", "version", "description"}
_INLINE_KEYS |= {"parameters", "inputs", "outputs"}
_USE_KEYS = _RUN_KEYS | {"component", "inputs", "parameters", "description"}
_COMPONENT_KEYS = _INLINE_KEYS | {"$schema", "type", "name"}


@dataclass(frozen=True, slots=True)
class _Where:
    """Where a value was read, for error messages: the file and, if any, the step."""

    file: Path
    step: str | None = None

    def fail(self, message: str, **details: Any) -> NoReturn:
        prefix = f"{self.file}: step '{self.step}'" if self.step else str(self.file)
        raise InvalidInput(
            f"{prefix}: {message}", details={"file": str(self.file), "step": self.step, **details}
        )


class _StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys: a repeated step would vanish silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key '{key}' appears twice", key_node.start_mark
                )
            seen.add(key if isinstance(key, str) else "")
        return super().construct_mapping(node, deep)


def _read(path: Path) -> dict[str, Any]:
    where = _Where(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        where.fail(f"cannot be read ({exc})")
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: builds no Python objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is None:
            where.fail(f"invalid YAML: {problem}")
        line, column = mark.line + 1, mark.column + 1
        where.fail(
            f"invalid YAML at line {line}, column {column}: {problem}", line=line, column=column
        )
    if not isinstance(data, dict):
        where.fail(f"must be a mapping of keys, not {type(data).__name__}")
    return _mapping(data, "the file", where)


def _mapping(value: Any, what: str, where: _Where) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        where.fail(f"'{what}' must be a mapping of names to values")
    return value


def _check_keys(raw: Mapping[str, Any], allowed: Collection[str], what: str, where: _Where) -> None:
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            known = ", ".join(sorted(allowed)) or "none"
            where.fail(f"unknown key '{key}' in {what}{hint}; allowed: {known}", key=key)


def _named(raw: Any, what: str, where: _Where) -> dict[str, Any]:
    """A mapping whose keys are names usable in ``${{...}}`` placeholders."""
    found = _mapping(raw, f"{what}s", where)
    for name in found:
        if not _NAME.match(name):
            where.fail(f"{what} name '{name}' must be letters, digits, '_' or '-'")
    return found


def _top_name(raw: Mapping[str, Any], what: str, where: _Where) -> str:
    name = raw.get("name")
    if not isinstance(name, str) or not _TOP_NAME.match(name):
        where.fail(f"a {what} needs a 'name' of letters, digits, '_', '.' or '-', got {name!r}")
    return name


def _text(raw: Mapping[str, Any], key: str, where: _Where) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if key == "version" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        where.fail(f"'{key}' must be a non-empty string, got {value!r}")
    return value


def _existing(base: Path, raw: Any, kind: str, what: str, where: _Where) -> Path:
    """``raw`` relative to ``base``, which must be a ``kind`` ("file", "folder" or "path")."""
    try:
        path = (base / raw).resolve() if isinstance(raw, str) else None
        is_kind = {"file": Path.is_file, "folder": Path.is_dir, "path": Path.exists}[kind]
        found = path is not None and is_kind(path)
    except (OSError, ValueError):  # a name too long, a NUL byte...
        found = False
    if not found:
        where.fail(f"{what}: the {kind} {raw!r} does not exist (relative to {base})")
    assert path is not None
    return path


def _run_settings(raw: Mapping[str, Any], where: _Where) -> dict[str, Any]:
    """The run policy keys present in ``raw``, named as ``StepDef`` fields."""
    found: dict[str, Any] = {}
    for key in sorted(_RUN_KEYS & set(raw)):
        value = raw[key]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        rule, ok = {
            "cache": ("true or false", isinstance(value, bool)),
            "retries": ("an integer >= 0", number and isinstance(value, int) and value >= 0),
            "retry_backoff": ("a number of seconds >= 0", number and value >= 0),
            "timeout": ("a number of seconds > 0", number and value > 0),
        }[key]
        if not ok:
            where.fail(f"'{key}' must be {rule}, got {value!r}", key=key)
        seconds = {"retry_backoff": "retry_backoff_seconds", "timeout": "timeout_seconds"}
        found[seconds.get(key, key)] = float(value) if key in seconds else value
    return found


def _param_specs(raw: Any, where: _Where) -> dict[str, ParamSpec]:
    specs: dict[str, ParamSpec] = {}
    for name, body in _named(raw, "parameter", where).items():
        spec = _mapping(body, f"parameters.{name}", where)
        _check_keys(spec, {"type", "default", "description"}, f"parameter '{name}'", where)
        kind = spec.get("type", _literal_type(spec.get("default")))
        if kind not in _PARAM_TYPES:
            where.fail(
                f"parameter '{name}' has type {kind!r}; use one of {', '.join(_PARAM_TYPES)}"
            )
        if "default" not in spec:
            specs[name] = ParamSpec(type=kind, required=True)
        else:
            default = spec["default"]
            if default is not None:
                default = _checked(ParamSpec(type=kind), name, default, where)
            specs[name] = ParamSpec(type=kind, default=default)
    return specs


def _io_specs(raw: Any, what: str, where: _Where) -> dict[str, IOSpec]:
    specs: dict[str, IOSpec] = {}
    allowed = {"type", "description"} | ({"optional"} if what == "input" else set())
    for name, body in _named(raw, what, where).items():
        spec = _mapping(body, f"{what}s.{name}", where)
        _check_keys(spec, allowed, f"{what} '{name}'", where)
        kind, optional = spec.get("type", "uri_folder"), spec.get("optional", False)
        if kind not in _IO_TYPES:
            where.fail(f"{what} '{name}' has type {kind!r}; use one of {', '.join(_IO_TYPES)}")
        if not isinstance(optional, bool):
            where.fail(f"input '{name}': 'optional' must be true or false, got {optional!r}")
        specs[name] = IOSpec(kind, optional=optional)
    return specs


def _checked(spec: ParamSpec, name: str, value: Any, where: _Where) -> Any:
    try:
        return spec.check("", name, value)
    except InvalidInput:
        where.fail(f"parameter '{name}' must be {spec.type}, got {value!r}", parameter=name)


def _literal_type(value: Any) -> ParamType:
    return _LITERAL_TYPES.get(type(value), "json")


def _check_command(command: str, step: StepDef, unbound: set[str], where: _Where) -> None:
    """Every placeholder must name an input, output or parameter the step has."""
    known = {f"inputs.{n}" for n in step.inputs} | {f"outputs.{n}" for n in step.outputs}
    known |= {f"parameters.{n}" for n in step.params}
    for match in _PLACEHOLDER.finditer(command):
        key = match.group(1).strip()
        if key not in known:
            where.fail(
                f"the command uses ${{{{{key}}}}}, which is not an input, output or parameter "
                f"of the step (it has: {', '.join(sorted(known)) or 'none'})",
                placeholder=key,
            )
        if key.startswith("inputs.") and key.removeprefix("inputs.") in unbound:
            where.fail(f"the command uses ${{{{{key}}}}}, but this optional input is not bound")
    if "${{" in _PLACEHOLDER.sub("", command):
        where.fail("the command has a '${{' without its closing '}}'")


def _command_step(
    name: str,
    raw: Mapping[str, Any],
    file: Path,
    where: _Where,
    inputs: Mapping[str, IOSpec] | None = None,
    params: Mapping[str, ParamSpec] | None = None,
) -> StepDef:
    """The StepDef of a command step, with its code hashed.

    A component declares its inputs and parameters; an inline step's come from its bindings.
    """
    command = _text(raw, "command", where)
    if command is None:
        where.fail("a step needs a 'command' or a 'component'")
    code_dir = None
    if raw.get("code") is not None:
        code_dir = str(_existing(file.parent, raw["code"], "folder", "code", where))
    try:
        code_hash = command_code_hash(command, code_dir)
    except OSError as exc:
        where.fail(f"code: cannot read the folder {raw['code']!r} ({exc})")
    step = StepDef(
        name=name,
        kind="command",
        target=command,
        inputs=_io_specs(raw.get("inputs"), "input", where) if inputs is None else inputs,
        outputs=_io_specs(raw.get("outputs"), "output", where),
        params=_param_specs(raw.get("parameters"), where) if params is None else params,
        code_hash=code_hash,
        environment=_text(raw, "environment", where),
        version=_text(raw, "version", where),
        source_file=str(file.resolve()),
        code_dir=code_dir,
        **_run_settings(raw, where),
    )
    _check_command(command, step, set(), where)
    return step


def load_component(path: Path) -> StepDef:
    """A command step defined in its own YAML file; its StepDef name is its ``name``."""
    path = Path(path)
    raw = _read(path)
    _check_keys(raw, _COMPONENT_KEYS, "the component", _Where(path))
    name = _top_name(raw, "component", _Where(path))
    where = _Where(path, name)
    if raw.get("type", "command") != "command":
        where.fail(f"only 'type: command' components are supported, got {raw['type']!r}")
    return _command_step(name, raw, path, where)


class _Loader:
    """The state of one ``load_yaml_pipeline`` call."""

    def __init__(self, path: Path, name: str, params: Mapping[str, ParamSpec]) -> None:
        self.path = path
        self.name = name
        self.params = params
        self.outputs: dict[str, Mapping[str, IOSpec]] = {}  # node -> its outputs
        self.components: dict[Path, StepDef] = {}  # one load per file, however often used

    def component(self, ref: Any, where: _Where) -> StepDef:
        file = _existing(self.path.parent, ref, "file", "component", where)
        if file not in self.components:
            self.components[file] = load_component(file)
        return self.components[file]

    def output_ref(self, value: Any, what: str, where: _Where) -> StepOutputRef:
        match = _STEP_REF.match(value) if isinstance(value, str) else None
        if not match:
            where.fail(f"{what} must be ${{{{steps.STEP.outputs.OUTPUT}}}}, got {value!r}")
        node, output = match.groups()
        if node not in self.outputs:
            where.fail(f"{what} refers to unknown step '{node}' (steps: {sorted(self.outputs)})")
        if output not in self.outputs[node]:
            has = sorted(self.outputs[node]) or "none"
            where.fail(f"{what} refers to output '{output}', which step '{node}' lacks ({has})")
        return StepOutputRef(node, output)

    def binding(self, name: str, raw: Any, declared: str | None, where: _Where) -> InputBinding:
        """``${{steps.S.outputs.O}}``, or ``{type, path}`` with a path or such a reference."""
        what = f"input '{name}'"
        if not isinstance(raw, dict):
            return self.output_ref(raw, what, where)
        raw = _mapping(raw, f"inputs.{name}", where)
        _check_keys(raw, {"type", "path", "description"}, what, where)
        kind, path = raw.get("type", declared), raw.get("path")
        if not isinstance(path, str):
            where.fail(f"{what} needs a 'path': a file, a folder or ${{{{steps.S.outputs.O}}}}")
        if path.lstrip().startswith("${{"):
            return self.output_ref(path, what, where)
        wanted = {"uri_file": "file", "uri_folder": "folder"}.get(kind, "path")
        file = _existing(self.path.parent, path, wanted, what, where)
        return ExternalInput(str(file), "uri_folder" if file.is_dir() else "uri_file")

    def param(self, name: str, raw: Any, spec: ParamSpec | None, where: _Where) -> Any:
        """A literal (checked against ``spec``) or a ``PipelineParamRef``."""
        if not (isinstance(raw, str) and "${{" in raw):
            return _checked(spec, name, raw, where) if spec else raw
        match = _PARAM_REF.match(raw)
        if not match:
            where.fail(f"parameter '{name}' must be a literal or ${{{{pipeline.parameters.P}}}}")
        ref = match.group(1)
        if ref not in self.params:
            known = ", ".join(sorted(self.params)) or "none"
            where.fail(f"parameter '{name}' refers to unknown pipeline parameter '{ref}' ({known})")
        given = self.params[ref].type
        fits = ("json", given), (given, given), ("number", "integer")  # (wanted, given)
        if spec and (spec.type, given) not in fits:
            where.fail(f"parameter '{name}' is {spec.type}; pipeline parameter '{ref}' is {given}")
        return PipelineParamRef(ref)

    def inline(self, node: str, raw: Mapping[str, Any], where: _Where) -> Node:
        inputs: dict[str, InputBinding] = {}
        input_specs: dict[str, IOSpec] = {}
        for name, value in _named(raw.get("inputs"), "input", where).items():
            bound = inputs[name] = self.binding(name, value, None, where)
            input_specs[name] = (
                self.outputs[bound.node][bound.output]
                if isinstance(bound, StepOutputRef)
                else IOSpec(bound.type)
            )
        params: dict[str, Any] = {}
        param_specs: dict[str, ParamSpec] = {}
        for name, value in _named(raw.get("parameters"), "parameter", where).items():
            ref = params[name] = self.param(name, value, None, where)
            kind = self.params[ref.name].type if isinstance(ref, PipelineParamRef) else None
            param_specs[name] = ParamSpec(type=kind or _literal_type(value), required=True)
        step = _command_step(f"{self.name}.{node}", raw, self.path, where, input_specs, param_specs)
        return Node(node, step, inputs, params)

    def use(self, node: str, raw: Mapping[str, Any], step: StepDef, where: _Where) -> Node:
        given_inputs = _mapping(raw.get("inputs"), "inputs", where)
        given_params = _mapping(raw.get("parameters"), "parameters", where)
        _check_keys(given_inputs, step.inputs, f"the inputs of component '{step.name}'", where)
        _check_keys(given_params, step.params, f"the parameters of component '{step.name}'", where)
        inputs = {
            name: self.binding(name, value, step.inputs[name].type, where)
            for name, value in given_inputs.items()
        }
        params = {
            name: self.param(name, value, step.params[name], where)
            for name, value in given_params.items()
        }
        missing = [n for n, s in step.inputs.items() if n not in inputs and not s.optional]
        missing += [n for n, s in step.params.items() if n not in params and s.required]
        if missing:
            where.fail(f"component '{step.name}' needs {missing} bound")
        _check_command(str(step.target), step, set(step.inputs) - set(inputs), where)
        overrides = _run_settings(raw, where)
        return Node(node, replace(step, **overrides) if overrides else step, inputs, params)


def load_yaml_pipeline(path: Path) -> PipelineDef:
    """The ``PipelineDef`` a YAML file declares; paths in it are relative to the file."""
    path = Path(path)
    raw = _read(path)
    where = _Where(path)
    _check_keys(raw, _PIPELINE_KEYS, "the pipeline", where)
    name = _top_name(raw, "pipeline", where)
    loader = _Loader(path, name, _param_specs(raw.get("parameters"), where))
    steps = _named(raw.get("steps"), "step", where)
    if not steps:
        where.fail("a pipeline needs at least one step under 'steps'")
    # Every step's outputs first, so a step may read from one written below it.
    used: dict[str, StepDef] = {}
    for node, body in steps.items():
        at = _Where(path, node)
        steps[node] = body = _mapping(body, f"steps.{node}", at)
        if "component" in body:
            if "command" in body:
                at.fail("a step has either a 'command' or a 'component', not both")
            _check_keys(body, _USE_KEYS, "a step using a component", at)
            used[node] = loader.component(body["component"], at)
            loader.outputs[node] = used[node].outputs
        else:
            _check_keys(body, _INLINE_KEYS, "the step", at)
            loader.outputs[node] = _io_specs(body.get("outputs"), "output", at)
    nodes = [
        loader.use(node, body, used[node], _Where(path, node))
        if node in used
        else loader.inline(node, body, _Where(path, node))
        for node, body in steps.items()
    ]
    outputs = {
        key: loader.output_ref(value, f"pipeline output '{key}'", where)
        for key, value in _named(raw.get("outputs"), "output", where).items()
    }
    try:
        return build_pipeline(
            name,
            nodes,
            params=loader.params,
            outputs=outputs,
            source=str(path.resolve()),
            description=_text(raw, "description", where),
        )
    except InvalidInput as exc:  # a cycle: say which file it is in
        raise InvalidInput(
            f"{path}: {exc.message}", details={"file": str(path), **exc.details}
        ) from None


__all__ = ["load_component", "load_yaml_pipeline"]
