"""Cache keys of step runs, and why a step hit or missed.

A step run's key hashes five parts: the step's code, its version tag, its parameters, the
content hashes of its inputs, and its environment hash. Two runs with the same key would
compute the same outputs, so the second reuses the first's (if they still exist).

What counts as a code change (decided, and pinned by tests):

* Python steps hash the function's syntax tree, so comments, blank lines, formatting and
  the docstring do not invalidate the cache; any change to the code, the signature or
  its default values does. Code the function calls elsewhere is not hashed: bump the
  step's ``version=`` when a helper it depends on changes.
* Command steps hash the command template and every file of their ``code`` folder.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from modelyard.storage.artifacts import files_in

KEY_PARTS = ("step", "code", "version", "params", "inputs", "environment")


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]


def python_code_hash(fn: Callable[..., Any]) -> str:
    """Hash of a function's syntax tree without decorators and docstrings."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        # No source (built in a REPL without a file): fall back to the bytecode.
        code = getattr(fn, "__code__", None)
        raw = code.co_code if code is not None else repr(fn).encode()
        return hashlib.sha256(raw).hexdigest()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.decorator_list = []
            break
    _strip_docstrings(tree)
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


def folder_hash(root: Path) -> str:
    """Hash of every file under a folder (relative paths and contents).

    The folder is walked as every folder Modelyard takes in (``files_in``): a link leaving
    it is refused, as the step's code would then depend on a file that is not part of it.
    """
    digest = hashlib.sha256()
    if root.is_file():
        digest.update(root.read_bytes())
        return digest.hexdigest()
    for rel, file in files_in(root):
        if "__pycache__" in rel.split("/"):
            continue
        digest.update(rel.encode() + b"\0")
        with open(file, "rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def command_code_hash(command: str, code_dir: str | None) -> str:
    digest = hashlib.sha256(command.encode())
    if code_dir:
        digest.update(folder_hash(Path(code_dir)).encode())
    return digest.hexdigest()


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def key_parts(
    *,
    step: str,
    code: str,
    version: str | None,
    params: Mapping[str, Any],
    inputs: Mapping[str, str],
    environment: str | None,
) -> dict[str, Any]:
    return {
        "step": step,
        "code": code,
        "version": version,
        "params": json.loads(canonical(dict(params))),
        "inputs": dict(sorted(inputs.items())),
        "environment": environment,
    }


def cache_key(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(dict(parts)).encode()).hexdigest()


def explain_miss(
    current: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    previous_status: str | None = "FINISHED",
) -> str:
    """Say which part of the key changed since the step's previous run."""
    if previous is None:
        return "miss: first run of this step"
    changes = []
    if current.get("code") != previous.get("code"):
        changes.append("code changed")
    if current.get("version") != previous.get("version"):
        changes.append(f"version {previous.get('version')!r} -> {current.get('version')!r}")
    old_params, new_params = previous.get("params") or {}, current.get("params") or {}
    for name in sorted(set(old_params) | set(new_params)):
        if old_params.get(name) != new_params.get(name):
            changes.append(f"param {name}: {old_params.get(name)!r} -> {new_params.get(name)!r}")
    old_inputs, new_inputs = previous.get("inputs") or {}, current.get("inputs") or {}
    for name in sorted(set(old_inputs) | set(new_inputs)):
        if old_inputs.get(name) != new_inputs.get(name):
            changes.append(f"input {name} changed")
    if current.get("environment") != previous.get("environment"):
        changes.append("environment changed")
    if not changes:
        if previous_status == "FAILED":
            return "miss: the previous run of this step, with the same key, failed"
        return "miss: the cached outputs no longer exist"
    return "miss: " + "; ".join(changes)
