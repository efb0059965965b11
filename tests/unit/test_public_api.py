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


def test_models_is_a_real_module_in_a_fresh_interpreter() -> None:
    code = (
        "import sys\n"
        "import modelyard.models\n"
        "from modelyard.models import LoadedModel, load, register, save\n"
        "import modelyard\n"
        "assert modelyard.models is sys.modules['modelyard.models']\n"
        "assert (modelyard.models.load, modelyard.models.register) == (load, register)\n"
        "assert modelyard.models.save is save and LoadedModel.__name__ == 'LoadedModel'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_lazy_models_attribute_is_the_same_module() -> None:
    code = (
        "import sys, modelyard\n"
        "assert 'modelyard.models' not in sys.modules\n"
        "models = modelyard.models\n"
        "assert models is sys.modules['modelyard.models'], models\n"
        "assert callable(models.load)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
