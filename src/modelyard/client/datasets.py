"""Describe a dataset a run reads: a content digest, a schema and a row count.

The digest identifies the exact data: the same rows give the same digest on any machine,
so two runs can be compared by what they trained on.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from modelyard.errors import InvalidInput
from modelyard.tracking.models import DatasetInput


def _describe_frame(df: Any) -> tuple[str, dict[str, Any], int]:
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(",".join(map(str, df.columns)).encode())
    digest.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    schema = {"columns": [{"name": str(c), "type": str(t)} for c, t in df.dtypes.items()]}
    return digest.hexdigest(), schema, len(df)


def _describe_array(arr: Any) -> tuple[str, dict[str, Any], int]:
    import numpy as np

    contiguous = np.ascontiguousarray(arr)
    digest = hashlib.sha256(f"{contiguous.dtype}{contiguous.shape}".encode())
    digest.update(contiguous.tobytes())
    schema = {"dtype": str(contiguous.dtype), "shape": list(contiguous.shape)}
    return digest.hexdigest(), schema, int(contiguous.shape[0]) if contiguous.ndim else 1


def _describe_path(path: Path) -> tuple[str, dict[str, Any] | None, int | None]:
    if path.is_dir():
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(file.relative_to(path).as_posix().encode())
            with open(file, "rb") as f:
                digest.update(hashlib.file_digest(f, "sha256").digest())
        return digest.hexdigest(), None, None
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest(), None, None


def describe_dataset(
    data: Any,
    *,
    name: str | None = None,
    source: str | None = None,
    context: str | None = None,
) -> DatasetInput:
    """A ``DatasetInput`` for a pandas DataFrame, a NumPy array, or a file or folder path."""
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        if not path.exists():
            raise InvalidInput(f"dataset path '{path}' does not exist")
        digest, schema, rows = _describe_path(path)
        return DatasetInput(
            name=name or path.name,
            digest=digest,
            source=source or str(path.resolve()),
            schema=schema,
            row_count=rows,
            context=context,
        )
    kind = type(data).__module__.split(".")[0]
    if kind == "pandas" and hasattr(data, "dtypes"):
        digest, schema, rows = _describe_frame(data)
    elif kind == "numpy":
        digest, schema, rows = _describe_array(data)
    else:
        raise InvalidInput(
            f"cannot describe a dataset of type {type(data).__name__}: pass a pandas DataFrame, "
            "a NumPy array, or a file or folder path"
        )
    return DatasetInput(
        name=name or "dataset",
        digest=digest,
        source=source,
        schema=schema,
        row_count=rows,
        context=context,
    )
