"""The ONNX flavor through ``modelyard.models``, on every backend."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from skl2onnx import to_onnx
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from modelyard import models
from modelyard.client.client import Client
from modelyard.errors import InvalidInput
from modelyard.registry.flavors import OnnxModel, infer_flavor

COLUMNS = ["a", "b", "c", "d"]


def _training_set() -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    # float32 features: the graph computes in float32, so sklearn sees the same numbers.
    x = pd.DataFrame(rng.normal(size=(60, len(COLUMNS))).astype("float32"), columns=COLUMNS)
    return x, (x["a"] + x["b"] - x["c"] > 0).to_numpy(dtype=int)


def _classifier() -> tuple[LogisticRegression, pd.DataFrame]:
    x, y = _training_set()
    return LogisticRegression().fit(x.to_numpy(), y), x


def _per_column_pipeline() -> tuple[Pipeline, pd.DataFrame]:
    """A pipeline whose ONNX graph takes one (n, 1) input per column."""
    x, y = _training_set()
    columns = ColumnTransformer([("scaled", StandardScaler(), COLUMNS)])
    return make_pipeline(columns, LogisticRegression()).fit(x, y), x


def test_a_converted_model_round_trips(client: Client) -> None:
    model, x = _classifier()
    graph = to_onnx(model, x.to_numpy()[:1])
    assert infer_flavor(graph) == "onnx"
    version = models.register(graph, "onnx-lr", client=client)
    assert version.flavor == "onnx"
    assert version.trusted is False
    assert version.source == "python:onnx.onnx_ml_pb2.ModelProto"
    # Inferred from the graph's single tensor input.
    assert version.signature == {
        "type": "ndarray",
        "dtype": "float32",
        "kind": "float",
        "shape": [-1, len(COLUMNS)],
    }

    loaded = models.load("models:/onnx-lr/1", client=client)
    assert isinstance(loaded.model, OnnxModel)
    np.testing.assert_array_equal(loaded.predict(x.to_numpy()), model.predict(x.to_numpy()))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x.to_numpy()))
    # float64 input is cast to the graph's float32.
    np.testing.assert_array_equal(
        loaded.predict(x.to_numpy(dtype="float64")), model.predict(x.to_numpy())
    )
    # ZipMap output (skl2onnx's default): a list of dicts, turned into columns by label.
    np.testing.assert_allclose(
        loaded.model.predict_proba(x.to_numpy()),
        model.predict_proba(x.to_numpy()),
        rtol=1e-4,
        atol=1e-6,
    )
    with pytest.raises(InvalidInput, match=r"shape \[60, 3\]"):
        loaded.predict(x.to_numpy()[:, :3])


def test_a_graph_without_zipmap_gives_probabilities_as_an_array(client: Client) -> None:
    model, x = _classifier()
    graph = to_onnx(model, x.to_numpy()[:1], options={"zipmap": False})
    models.register(graph.SerializeToString(), "no-zipmap", flavor="onnx", client=client)
    loaded = models.load("models:/no-zipmap/latest", client=client)
    np.testing.assert_allclose(
        loaded.model.predict_proba(x), model.predict_proba(x.to_numpy()), rtol=1e-4, atol=1e-6
    )


def test_a_sample_gives_column_names_and_records(client: Client) -> None:
    model, x = _classifier()
    graph = to_onnx(model, x.to_numpy()[:1])
    version = models.register(graph, "with-sample", sample=x.head(), client=client)
    assert [c["name"] for c in version.signature["columns"]] == COLUMNS  # type: ignore[index]
    loaded = models.load(version.uri, client=client)
    records = x.head(5).to_dict("records")
    np.testing.assert_array_equal(loaded.predict(records), model.predict(x.head(5).to_numpy()))
    # The signature puts the columns in the graph's order whatever the frame's order.
    shuffled = x[list(reversed(COLUMNS))]
    np.testing.assert_array_equal(loaded.predict(shuffled), model.predict(x.to_numpy()))


def test_one_input_per_column_is_a_table(client: Client) -> None:
    model, x = _per_column_pipeline()
    version = models.register(to_onnx(model, x[:1]), "per-column", client=client)
    assert version.signature == {
        "type": "dataframe",
        "columns": [{"name": c, "type": "float", "dtype": "float32"} for c in COLUMNS],
    }
    loaded = models.load(version.uri, client=client)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_array_equal(
        loaded.predict(x.head(3).to_dict("records")), model.predict(x.head(3))
    )
    np.testing.assert_allclose(
        loaded.model.predict_proba(x), model.predict_proba(x), rtol=1e-4, atol=1e-6
    )
    with pytest.raises(InvalidInput, match="'b'"):
        loaded.predict(x.drop(columns=["b"]))
    with pytest.raises(InvalidInput, match="column 'c'"):
        loaded.predict(x.assign(c="text"))


def test_a_plain_onnx_file_registers_and_loads(client: Client, tmp_path: Path) -> None:
    model, x = _classifier()
    file = tmp_path / "exported.onnx"
    file.write_bytes(to_onnx(model, x.to_numpy()[:1]).SerializeToString())
    client.registry.register("plain", file, flavor="onnx")
    # Given the file's path, modelyard.models records that file as where the model came from.
    saved = models.register(file, "saved-from-file", client=client)
    assert (saved.source, saved.flavor) == (str(file.resolve()), "onnx")
    loaded = models.load("models:/plain/1", client=client)
    assert loaded.flavor == "onnx"
    assert loaded.signature is not None
    assert loaded.signature["shape"] == [-1, len(COLUMNS)]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x.to_numpy()))
    # Its package describes it, so it loads with no registry to say the flavor.
    packaged = models.load(client.registry.package(loaded.name, tmp_path / "pkg") / "model")
    assert (packaged.flavor, packaged.signature) == ("onnx", loaded.signature)
    np.testing.assert_array_equal(packaged.predict(x), model.predict(x.to_numpy()))

    # Without the onnx flavor, or with two .onnx files, a folder needs its descriptor.
    client.registry.register("plain", file)
    with pytest.raises(
        InvalidInput, match=r"models:/plain/2 holds no model.*modelyard-model\.json"
    ):
        models.load("models:/plain/2", client=client)
    # Nor can it be packaged; the refused package leaves no half-written folder behind.
    with pytest.raises(InvalidInput, match=r"models:/plain/2 holds no model"):
        client.registry.package("models:/plain/2", tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "a.onnx").write_bytes(file.read_bytes())
    (folder / "b.onnx").write_bytes(file.read_bytes())
    client.registry.register("plain", folder, flavor="onnx")
    with pytest.raises(InvalidInput, match=r"modelyard-model\.json"):
        models.load("models:/plain/3", client=client)


def test_a_bad_onnx_file_is_refused(client: Client, tmp_path: Path) -> None:
    file = tmp_path / "broken.onnx"
    file.write_bytes(b"not a protobuf")
    with pytest.raises(InvalidInput, match="not a readable ONNX model"):
        models.register(file, "broken", client=client)
    client.registry.register("broken", file, flavor="onnx")
    with pytest.raises(InvalidInput, match="not a readable ONNX model"):
        models.load("models:/broken/1", client=client)


# Saving and loading a local folder needs no store: these run once.


def test_saving_writes_model_onnx(tmp_path: Path) -> None:
    model, x = _classifier()
    graph = to_onnx(model, x.to_numpy()[:1])
    file = tmp_path / "exported.onnx"
    file.write_bytes(graph.SerializeToString())
    descriptor = models.save(str(file), tmp_path / "m")
    assert descriptor.flavor == "onnx"
    assert descriptor.model_file == "model.onnx"
    assert {"onnxruntime", "numpy"} <= set(descriptor.libraries)
    assert (tmp_path / "m" / "model.onnx").read_bytes() == file.read_bytes()
    assert json.loads((tmp_path / "m" / "modelyard-model.json").read_text())["flavor"] == "onnx"
    loaded = models.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(x.to_numpy()), model.predict(x.to_numpy()))


def test_save_refuses_what_is_not_onnx(tmp_path: Path) -> None:
    model, _ = _classifier()
    with pytest.raises(InvalidInput, match=r"skl2onnx\.to_onnx"):
        models.save(model, tmp_path / "a", flavor="onnx")
    with pytest.raises(InvalidInput, match="is not a file"):
        models.save(tmp_path / "missing.onnx", tmp_path / "b")
    with pytest.raises(InvalidInput, match="not a readable ONNX model"):
        models.save(b"\x00\x01", tmp_path / "c", flavor="onnx")


def test_a_single_output_graph_has_no_predict_proba(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    node = helper.make_node("Neg", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "neg",
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["batch", 2])],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["batch", 2])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    models.save(proto, tmp_path / "neg")
    loaded = models.load(tmp_path / "neg")
    assert loaded.signature == {
        "type": "ndarray",
        "dtype": "float64",
        "kind": "float",
        "shape": [-1, 2],
    }
    assert loaded.predict(np.array([[1, 2]])).tolist() == [[-1.0, -2.0]]
    assert not hasattr(loaded.model, "predict_proba")


def test_onnxruntime_missing_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, x = _classifier()
    graph = to_onnx(model, x.to_numpy()[:1])
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(InvalidInput, match=r"pip install 'modelyard\[onnx\]'"):
        models.save(graph, tmp_path / "m")


def test_a_graph_cannot_read_the_hosts_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from onnx import TensorProto, helper

    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.bin").write_bytes(b"SECRET")
    weights = helper.make_tensor("w", TensorProto.UINT8, [4], vals=b"none", raw=True)
    weights.ClearField("raw_data")
    # "External data": the tensor's bytes are read from a file named in the graph.
    weights.data_location = TensorProto.EXTERNAL
    for key, value in {"location": "secret.bin", "offset": "0", "length": "4"}.items():
        entry = weights.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["y"])],
        "leak",
        [],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, [4])],
        initializer=[weights],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(InvalidInput, match="no external data"):
        models.save(proto, tmp_path / "m")
