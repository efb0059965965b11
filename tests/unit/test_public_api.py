"""The public API: what `import modelyard` promises, and that it stays cheap to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import modelyard


def test_all_lists_exactly_what_the_package_exports() -> None:
    exported = {name for name in dir(modelyard) if not name.startswith("_")} | {"__version__"}
    assert set(modelyard.__all__) == exported
    for name in modelyard.__all__:
        assert getattr(modelyard, name) is not None, name


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        modelyard.no_such_thing  # type: ignore[attr-defined]  # noqa: B018


def test_import_loads_no_heavy_library() -> None:
    code = (
        "import sys, modelyard; "
        "heavy = {'sqlalchemy', 'pydantic', 'fastapi', 'httpx', 'pandas', 'numpy', 'typer'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_package_ships_type_information() -> None:
    from importlib.resources import files

    assert files("modelyard").joinpath("py.typed").is_file()
