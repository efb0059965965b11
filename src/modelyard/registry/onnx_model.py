"""The ONNX flavor's runtime: a graph run by onnxruntime, fed from tables or arrays.

onnxruntime is an optional extra (``modelyard[onnx]``) and slow to import, so it is imported
only when an ONNX model is saved or loaded.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np

ONNX_INSTALL = "pip install 'modelyard[onnx]'"
# onnxruntime's tensor element types: the NumPy dtype fed to the graph, the signature type.
_ONNX_TYPES = {
    "tensor(float)": ("float32", "float"),
    "tensor(double)": ("float64", "float"),
    "tensor(float16)": ("float16", "float"),
    "tensor(bool)": ("bool", "boolean"),
    "tensor(string)": ("object", "string"),
    **{f"tensor({t})": (t, "integer") for t in ("int8", "int16", "int32", "int64")},
    **{f"tensor({t})": (t, "integer") for t in ("uint8", "uint16", "uint32", "uint64")},
}


def _onnxruntime() -> Any:
    # Deferred: onnxruntime is an optional extra and slow to import.
    try:
        import onnxruntime
    except ImportError as exc:
        raise InvalidInput(
            f"the onnx flavor needs onnxruntime, which is not installed: {ONNX_INSTALL}"
        ) from exc
    return onnxruntime


def _element_type(node: Any) -> tuple[str, str]:
    """The NumPy dtype and signature type of a graph input (an onnxruntime ``NodeArg``)."""
    found = _ONNX_TYPES.get(node.type)
    if found is None:
        raise InvalidInput(
            f"ONNX input '{node.name}' is a {node.type}: the onnx flavor feeds only numeric, "
            "boolean and string tensors",
            details={"input": node.name, "type": node.type},
        )
    return found


class OnnxModel:
    """An ONNX graph run by onnxruntime on the CPU.

    ``predict`` returns the graph's first output (a classifier's labels). ``predict_proba``
    exists when the graph has a second output (a classifier's probabilities) and returns it
    as a 2-D array, one column per class in the order of the class labels.
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self.inputs: list[Any] = list(session.get_inputs())
        self.outputs: list[Any] = list(session.get_outputs())
        for node in self.inputs:
            _element_type(node)

    def predict(self, data: Any) -> np.ndarray[Any, Any]:
        """The first output for ``data``: an array, a DataFrame or ``{input name: array}``."""
        import numpy as np

        return np.asarray(self._run(data, 0))

    @property
    def predict_proba(self) -> Callable[[Any], np.ndarray[Any, Any]]:
        # A property, so that hasattr() tells callers whether the graph gives probabilities.
        if len(self.outputs) < 2:
            raise AttributeError("predict_proba: this ONNX graph has a single output")
        return self._probabilities

    def _probabilities(self, data: Any) -> np.ndarray[Any, Any]:
        import numpy as np

        found = self._run(data, 1)
        if isinstance(found, list):
            # skl2onnx's ZipMap (its default) gives one {label: probability} dict per row.
            if not found:
                return np.empty((0, 0), dtype=np.float32)
            labels = sorted(found[0])
            return np.array([[row[label] for label in labels] for row in found])
        return np.asarray(found)

    def _run(self, data: Any, output: int) -> Any:
        from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

        feeds = self._feeds(data)
        try:
            return self.session.run([self.outputs[output].name], feeds)[0]
        except InvalidArgument as exc:
            raise InvalidInput(f"the ONNX graph refused the input: {exc}") from exc

    def _feeds(self, data: Any) -> dict[str, Any]:
        import numpy as np
        import pandas as pd

        if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
            data = pd.DataFrame.from_records(data)
        if isinstance(data, dict | pd.DataFrame):
            if isinstance(data, pd.DataFrame) and len(self.inputs) == 1:
                return {self.inputs[0].name: _as_input(self.inputs[0], data.to_numpy())}
            missing = [n.name for n in self.inputs if n.name not in data]
            if missing:
                raise InvalidInput(
                    f"input is missing {', '.join(repr(n) for n in missing)}: the ONNX graph "
                    f"takes {', '.join(repr(n.name) for n in self.inputs)}",
                    details={"missing": missing},
                )
            if isinstance(data, dict):
                return {n.name: _as_input(n, data[n.name]) for n in self.inputs}
            # One column per graph input, shaped (n, 1) unless the input is one-dimensional.
            feeds = {}
            for node in self.inputs:
                column = data[node.name].to_numpy()
                feeds[node.name] = _as_input(
                    node, column if len(node.shape) == 1 else column[:, None]
                )
            return feeds
        if len(self.inputs) != 1:
            raise InvalidInput(
                f"the ONNX graph takes {', '.join(repr(n.name) for n in self.inputs)}: pass a "
                "DataFrame with one column per input"
            )
        return {self.inputs[0].name: _as_input(self.inputs[0], np.asarray(data))}


def _as_input(node: Any, values: Any) -> np.ndarray[Any, Any]:
    import numpy as np

    dtype, _ = _element_type(node)
    try:
        return np.asarray(values).astype(dtype, copy=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"ONNX input '{node.name}' takes {dtype} values: {exc}",
            details={"input": node.name},
        ) from exc


def onnx_model(content: bytes, where: str) -> OnnxModel:
    onnxruntime = _onnxruntime()
    options = onnxruntime.SessionOptions()
    with tempfile.TemporaryDirectory(prefix="modelyard-onnx-") as empty:
        # A graph loaded from bytes reads "external data" relative to the working directory:
        # an empty folder makes sure a registered file cannot read the host's files.
        options.add_session_config_entry(
            "session.model_external_initializers_file_folder_path", empty
        )
        try:
            session = onnxruntime.InferenceSession(
                content, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime's errors share no base class below Exception
            raise InvalidInput(
                f"{where} is not a readable ONNX model ({exc}); export it again as one file "
                "(no external data), e.g. with skl2onnx.to_onnx"
            ) from exc
    return OnnxModel(session)


def graph_signature(model: OnnxModel) -> dict[str, Any] | None:
    """The signature of an ONNX graph's inputs: one tensor is an array, several tensors of
    one column each are a table; anything else has no signature."""
    if len(model.inputs) == 1 and model.inputs[0].shape:
        node = model.inputs[0]
        dtype, kind = _element_type(node)
        # Symbolic dimensions (the batch, usually) are named strings or None.
        shape = [d if isinstance(d, int) else -1 for d in node.shape]
        return {"type": "ndarray", "dtype": dtype, "kind": kind, "shape": shape}
    if len(model.inputs) > 1 and all(
        len(n.shape) == 1 or (len(n.shape) == 2 and n.shape[1] == 1) for n in model.inputs
    ):
        columns = []
        for node in model.inputs:
            dtype, kind = _element_type(node)
            columns.append({"name": node.name, "type": kind, "dtype": dtype})
        return {"type": "dataframe", "columns": columns}
    return None
