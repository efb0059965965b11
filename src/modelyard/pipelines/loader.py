"""Find a pipeline from a reference: ``FILE.py[:NAME]``, ``FILE.yaml`` or ``module:NAME``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from modelyard.errors import InvalidInput
from modelyard.pipelines.definition import PipelineDef
from modelyard.pipelines.dsl import Pipeline


def _module_from_file(path: Path) -> ModuleType:
    resolved = path.resolve()
    # A stable name per file, so worker processes load the same module under the same name.
    name = (
        f"modelyard_user_{resolved.stem}_{hashlib.sha256(str(resolved).encode()).hexdigest()[:8]}"
    )
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise InvalidInput(f"cannot load '{path}' as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # Like running the script: its folder is importable, so it can import its neighbours.
    folder = str(resolved.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    return module


def _pipelines_in(module: ModuleType) -> dict[str, Pipeline]:
    return {name: value for name, value in vars(module).items() if isinstance(value, Pipeline)}


def load_pipeline(ref: str) -> PipelineDef:
    """The pipeline a reference names; errors say what was found instead."""
    location, name = ref, ""
    if ":" in ref and not Path(ref).exists():
        location, _, name = ref.rpartition(":")
    path = Path(location)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise InvalidInput(f"pipeline file '{path}' does not exist")
        # PyYAML and the YAML step model load only for a YAML pipeline.
        from modelyard.pipelines.yaml_pipeline import load_yaml_pipeline

        return load_yaml_pipeline(path)
    if path.suffix == ".py":
        if not path.is_file():
            raise InvalidInput(f"pipeline file '{path}' does not exist")
        module = _module_from_file(path)
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as exc:
            raise InvalidInput(
                f"'{ref}' is neither a .py/.yaml file nor an importable module ({exc})"
            ) from None
    found = _pipelines_in(module)
    if name:
        if name not in found:
            names = ", ".join(sorted(found)) or "none"
            raise InvalidInput(f"'{location}' has no pipeline '{name}'; it has: {names}")
        return found[name].definition
    if len(found) != 1:
        raise InvalidInput(
            f"'{location}' defines {len(found)} pipelines ({', '.join(sorted(found)) or 'none'}); "
            f"name one: {location}:NAME"
        )
    return next(iter(found.values())).definition
