"""What invalidates a step's cache and what must not (the decisions documented in cache.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from modelyard.pipelines.cache import (
    cache_key,
    command_code_hash,
    explain_miss,
    key_parts,
    python_code_hash,
)


def function_from(source: str, tmp_path: Path, name: str = "f") -> Any:
    """Define a function from source in a real file (so inspect can read it back)."""
    path = tmp_path / f"mod_{abs(hash(source))}.py"
    path.write_text(textwrap.dedent(source))
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace[name]


BASE = """
def f(x, k=1):
    return x + k
"""


@pytest.mark.parametrize(
    "variant",
    [
        """
def f(x, k=1):
    # a comment
    return x + k
""",
        '''
def f(x, k=1):
    """A docstring."""
    return x + k
''',
        """
def f(x,   k = 1):

    return (x + k)
""",
        """
@some_decorator(retries=3)
def f(x, k=1):
    return x + k
""",
    ],
    ids=["comment", "docstring", "formatting", "decorator"],
)
def test_cosmetic_changes_keep_the_cache(variant: str, tmp_path: Path) -> None:
    base = python_code_hash(function_from(BASE, tmp_path))
    source = variant.replace(
        "@some_decorator(retries=3)", "@(lambda **_: (lambda f: f))(retries=3)"
    )
    assert python_code_hash(function_from(source, tmp_path)) == base


@pytest.mark.parametrize(
    "variant",
    [
        "def f(x, k=1):\n    return x - k\n",
        "def f(x, k=2):\n    return x + k\n",
        "def f(x, k=1, z=0):\n    return x + k\n",
    ],
    ids=["code", "default", "signature"],
)
def test_real_changes_invalidate(variant: str, tmp_path: Path) -> None:
    base = python_code_hash(function_from(BASE, tmp_path))
    assert python_code_hash(function_from(variant, tmp_path)) != base


def test_command_hash_covers_the_code_folder(tmp_path: Path) -> None:
    code = tmp_path / "src"
    code.mkdir()
    (code / "train.py").write_text("print(1)\n")
    first = command_code_hash("python train.py", str(code))
    assert command_code_hash("python train.py", str(code)) == first
    (code / "train.py").write_text("print(2)\n")
    assert command_code_hash("python train.py", str(code)) != first
    assert command_code_hash("python train.py --fast", str(code)) != command_code_hash(
        "python train.py", str(code)
    )


def parts(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "step": "s",
        "code": "c1",
        "version": None,
        "params": {"a": 1, "b": "x"},
        "inputs": {"data": "d1"},
        "environment": "e1",
    }
    base.update(changes)
    return key_parts(**base)


def test_key_is_stable_and_order_insensitive() -> None:
    assert cache_key(parts()) == cache_key(parts(params={"b": "x", "a": 1}))
    assert cache_key(parts()) != cache_key(parts(params={"a": 2, "b": "x"}))
    assert cache_key(parts()) != cache_key(parts(step="other"))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"code": "c2"}, "miss: code changed"),
        ({"version": "2"}, "miss: version None -> '2'"),
        ({"params": {"a": 2, "b": "x"}}, "miss: param a: 1 -> 2"),
        ({"params": {"a": 1}}, "miss: param b: 'x' -> None"),
        ({"inputs": {"data": "d2"}}, "miss: input data changed"),
        ({"environment": "e2"}, "miss: environment changed"),
        ({"code": "c2", "inputs": {"data": "d2"}}, "miss: code changed; input data changed"),
    ],
)
def test_a_miss_says_what_changed(changes: dict[str, Any], reason: str) -> None:
    assert explain_miss(parts(**changes), parts()) == reason


def test_first_run_and_vanished_outputs() -> None:
    assert explain_miss(parts(), None) == "miss: first run of this step"
    assert explain_miss(parts(), parts()) == "miss: the cached outputs no longer exist"
