"""Materializers turn step outputs into files and back, one plug-in per kind of value.

Built in, tried in this order after any the user registers:

========================  ==========================  ==============================
materializer              saves                       as
========================  ==========================  ==============================
``pandas.parquet``        pandas DataFrame            ``data.parquet``
``numpy.npy``             NumPy array                 ``array.npy`` (no pickle)
``sklearn.skops``         scikit-learn estimator      ``model.skops`` (safe format)
``path``                  ``pathlib.Path``            the file or folder as it is
``json``                  JSON-able value             ``value.json``
========================  ==========================  ==============================

Nothing is pickled: a value no materializer accepts is an error that says how to add one
(``modelyard.register_materializer``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from modelyard.core import skops_format
from modelyard.errors import InvalidInput
from modelyard.storage.artifacts import copy_files


class Materializer(Protocol):
    """Save a value into a folder and load it back."""

    name: str

    def can_save(self, value: Any) -> bool: ...

    def save(self, value: Any, folder: Path) -> None: ...

    def load(self, folder: Path) -> Any: ...


def _module_root(value: Any) -> str:
    return type(value).__module__.split(".")[0]


class PandasParquet:
    name = "pandas.parquet"

    def can_save(self, value: Any) -> bool:
        return _module_root(value) == "pandas" and hasattr(value, "to_parquet")

    def save(self, value: Any, folder: Path) -> None:
        value.to_parquet(folder / "data.parquet")

    def load(self, folder: Path) -> Any:
        import pandas as pd

        return pd.read_parquet(folder / "data.parquet")


class NumpyNpy:
    name = "numpy.npy"

    def can_save(self, value: Any) -> bool:
        return (
            _module_root(value) == "numpy" and hasattr(value, "dtype") and hasattr(value, "shape")
        )

    def save(self, value: Any, folder: Path) -> None:
        import numpy as np

        np.save(folder / "array.npy", np.asarray(value), allow_pickle=False)

    def load(self, folder: Path) -> Any:
        import numpy as np

        return np.load(folder / "array.npy", allow_pickle=False)


class SklearnSkops:
    name = "sklearn.skops"

    def can_save(self, value: Any) -> bool:
        return _module_root(value) == "sklearn"

    def save(self, value: Any, folder: Path) -> None:
        skops_format.save(value, folder / "model.skops")

    def load(self, folder: Path) -> Any:
        return skops_format.load(folder / "model.skops")


class PathCopy:
    name = "path"

    def can_save(self, value: Any) -> bool:
        return isinstance(value, Path)

    def save(self, value: Any, folder: Path) -> None:
        source = Path(value)
        if not source.exists():
            raise InvalidInput(f"step returned the path '{source}', which does not exist")
        # Links are followed only while they stay inside a returned folder (copy_files).
        copy_files(source, folder / "data")

    def load(self, folder: Path) -> Any:
        data = folder / "data"
        entries = list(data.iterdir()) if data.is_dir() else []
        # A single file comes back as that file; anything else as the folder.
        return entries[0] if len(entries) == 1 and entries[0].is_file() else data


class Json:
    name = "json"

    def can_save(self, value: Any) -> bool:
        try:
            json.dumps(value, allow_nan=True)
        except (TypeError, ValueError):
            return False
        return True

    def save(self, value: Any, folder: Path) -> None:
        (folder / "value.json").write_text(json.dumps(value, sort_keys=True))

    def load(self, folder: Path) -> Any:
        return json.loads((folder / "value.json").read_text())


_BUILT_IN: list[Materializer] = [PandasParquet(), NumpyNpy(), SklearnSkops(), PathCopy(), Json()]
_REGISTERED: list[Materializer] = []


def register_materializer(materializer: Materializer) -> None:
    """Add a materializer; it is tried before the built-in ones and any registered earlier."""
    for attr in ("name", "can_save", "save", "load"):
        if not hasattr(materializer, attr):
            raise InvalidInput(f"a materializer needs '{attr}'; see modelyard.Materializer")
    _REGISTERED.insert(0, materializer)


def for_value(value: Any, step: str, output: str) -> Materializer:
    for materializer in [*_REGISTERED, *_BUILT_IN]:
        if materializer.can_save(value):
            return materializer
    raise InvalidInput(
        f"step '{step}': output '{output}' is a {type(value).__module__}."
        f"{type(value).__qualname__}, which no materializer saves; register one with "
        "modelyard.register_materializer (Modelyard never pickles outputs)"
    )


def by_name(name: str) -> Materializer:
    for materializer in [*_REGISTERED, *_BUILT_IN]:
        if materializer.name == name:
            return materializer
    raise InvalidInput(
        f"no materializer named '{name}' is registered in this process; register it before "
        "running the pipeline"
    )


@dataclass(frozen=True, slots=True)
class StoredOutput:
    """An output in the blob store: its manifest (the output's identity) and its size."""

    manifest: str
    size: int
    materializer: str
