"""Flavors and loading through ``modelyard.models``, on every backend."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard import models
from modelyard.client import fluent
from modelyard.client.client import Client
from modelyard.errors import InvalidInput


class Doubler:
    """Not a safe flavor: predict() but no load_context(), so only pickle can keep it."""

    def predict(self, data: Any) -> Any:
        return np.asarray(data) * 2


class Smuggled:
    """A type outside scikit-learn, NumPy and SciPy, hidden in a skops file."""

    def __init__(self) -> None:
        self.payload = "anything"


def _training_set() -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    return x, (x["a"] + x["b"] > 0).to_numpy(dtype=int)


def test_sklearn_round_trips(client: Client) -> None:
    x, y = _training_set()
    model = LogisticRegression().fit(x, y)
    version = models.register(model, "iris", sample=x.head(), client=client, reason="first")
    assert version.flavor == "sklearn"
    assert version.trusted is False
    assert [c["name"] for c in version.signature["columns"]] == ["a", "b", "c"]  # type: ignore[index]

    loaded = models.load("models:/iris/latest", client=client)
    assert loaded.version is not None
    assert loaded.version.version == version.version
    assert loaded.signature == version.signature
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    records = x.head(3).to_dict("records")
    np.testing.assert_array_equal(loaded.predict(records), model.predict(x.head(3)))


def test_predict_checks_the_signature(client: Client) -> None:
    x, y = _training_set()
    models.register(LogisticRegression().fit(x, y), "checked", sample=x, client=client)
    loaded = models.load("models:/checked/1", client=client)
    with pytest.raises(InvalidInput, match="'b'"):
        loaded.predict(x.drop(columns=["b"]))
    with pytest.raises(InvalidInput, match="column 'c'"):
        loaded.predict(x.assign(c="text"))
    with pytest.warns(UserWarning, match="'extra'"):
        predicted = loaded.predict(x.assign(extra=1))
    assert len(predicted) == len(x)


PYTHON_MODEL = """
from pathlib import Path


class Offset:
    def load_context(self, context):
        self.offset = float(Path(context.artifacts["offset"]).read_text())

    def predict(self, data):
        return data["x"] + self.offset
"""


def _import_model_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    file = tmp_path / "offset_model.py"
    file.write_text(textwrap.dedent(PYTHON_MODEL))
    spec = importlib.util.spec_from_file_location("offset_model", file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "offset_model", module)
    spec.loader.exec_module(module)
    return module


def test_python_flavor_round_trips_with_its_artifacts(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _import_model_module(tmp_path, monkeypatch)
    offset = tmp_path / "offset.txt"
    offset.write_text("10")
    sample = pd.DataFrame({"x": [1.0, 2.0]})
    version = models.register(
        module.Offset(), "offset", sample=sample, artifacts={"offset": offset}, client=client
    )
    assert version.flavor == "python"
    monkeypatch.delitem(sys.modules, "offset_model")  # loading imports the registered copy
    offset.write_text("999")  # the registered copy is what loads
    loaded = models.load(version.uri, client=client)
    assert loaded.predict(sample).tolist() == [11.0, 12.0]
    assert loaded.predict([{"x": 0}]).tolist() == [10.0]


def test_pickle_needs_trust(
    client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(InvalidInput, match="trusted=True"):
        models.register(Doubler(), "doubler", client=client)
    with pytest.raises(InvalidInput, match="trusted=True"):
        models.register(Doubler(), "doubler", flavor="pickle", client=client)

    version = models.register(Doubler(), "doubler", trusted=True, client=client)
    assert version.trusted is True
    assert version.flavor == "pickle"
    with caplog.at_level(logging.WARNING, logger="modelyard.models"):
        loaded = models.load("models:/doubler/1", client=client)
        models.load("models:/doubler/1", client=client)
    assert loaded.predict(np.array([1, 2])).tolist() == [2, 4]
    warnings = [r for r in caplog.records if "trusted=True: loading runs pickle" in r.message]
    assert len(warnings) == 2

    # The same pickle files registered without trust are refused on load: the descriptor
    # gives the version its flavor, but its trusted=True is the files' claim, not the
    # registrant's choice.
    folder = tmp_path / "pickled"
    models.save(Doubler(), folder, trusted=True)
    untrusted = client.registry.register("doubler", folder)
    assert (untrusted.flavor, untrusted.trusted) == ("pickle", False)
    with pytest.raises(InvalidInput, match="not registered with trusted=True"):
        models.load("models:/doubler/2", client=client)
    # Its package follows the registry, not the descriptor saved with the files.
    package = client.registry.package("models:/doubler/2", tmp_path / "package")
    with pytest.raises(InvalidInput, match="not registered with trusted=True"):
        models.load(package / "model")  # what the package's score.py does


@pytest.mark.parametrize("suffix", [".joblib", ".pkl"])
def test_a_pickle_or_joblib_file_from_elsewhere_loads_only_when_trusted(
    client: Client, tmp_path: Path, suffix: str
) -> None:
    import joblib

    x = np.random.default_rng(0).normal(size=(40, 2))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    file = tmp_path / f"model{suffix}"
    joblib.dump(model, file)  # what many training scripts already write

    trusted = client.registry.register("legacy", file, flavor="pickle", trusted=True)
    loaded = models.load(trusted.uri, client=client)
    assert loaded.flavor == "pickle"
    assert loaded.predict(x).tolist() == model.predict(x).tolist()
    packaged = models.load(client.registry.package(trusted.uri, tmp_path / "pkg") / "model")
    assert packaged.predict(x).tolist() == model.predict(x).tolist()

    untrusted = client.registry.register("legacy", file, flavor="pickle")
    with pytest.raises(InvalidInput, match="not registered with trusted=True"):
        models.load(untrusted.uri, client=client)

    broken = tmp_path / "broken" / f"model{suffix}"
    broken.parent.mkdir()
    broken.write_bytes(b"not a pickle at all")
    version = client.registry.register("legacy", broken, flavor="pickle", trusted=True)
    with pytest.raises(InvalidInput, match="is not a readable pickle or joblib file"):
        models.load(version.uri, client=client)


def test_unsafe_or_tampered_skops_files_are_refused(client: Client, tmp_path: Path) -> None:
    import skops.io as sio

    x, y = _training_set()
    folder = tmp_path / "model"
    models.save(LogisticRegression().fit(x, y), folder)
    sio.dump(Smuggled(), folder / "model.skops")
    client.registry.register("unsafe", folder, flavor="sklearn")
    with pytest.raises(InvalidInput, match="Smuggled"):
        models.load("models:/unsafe/1", client=client)

    (folder / "model.skops").write_bytes(b"not a zip file")
    client.registry.register("unsafe", folder, flavor="sklearn")
    with pytest.raises(InvalidInput, match="not a readable skops file"):
        models.load("models:/unsafe/2", client=client)


def test_a_saved_folder_registers_with_its_flavor_and_signature(
    client: Client, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    x, y = _training_set()
    model = LogisticRegression().fit(x, y)
    descriptor = models.save(model, folder, sample=x.head())
    assert descriptor.signature is not None
    version = client.registry.register("saved", folder)
    assert (version.flavor, version.signature) == ("sklearn", descriptor.signature)
    assert version.trusted is False
    assert client.registry.version("saved", 1) == version
    loaded = models.load(version.uri, client=client)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))

    # What the registrant gives is kept: the same flavor, and a signature of their own.
    given = {"type": "ndarray", "dtype": "float64", "kind": "float", "shape": [-1, 3]}
    explicit = client.registry.register("saved", folder, flavor="sklearn", signature=given)
    assert (explicit.flavor, explicit.signature) == ("sklearn", given)


class NoDownloads:
    """A client's backend that fails the test when asked for a stored file."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def get_blob(self, sha256: str, dest: Any) -> Any:
        pytest.fail(f"the client downloaded blob {sha256}")


def test_a_runs_saved_model_registers_with_its_flavor_and_signature(
    client: Client, tmp_path: Path
) -> None:
    x, y = _training_set()
    model = LogisticRegression().fit(x, y)
    descriptor = models.save(model, tmp_path / "model", sample=x.head())
    run = client.create_run(client.get_or_create_experiment("train").id)
    client.log_artifacts(run.id, tmp_path / "model", "out/model")
    # The store reads the descriptor from its one stored file: nothing is downloaded.
    registering = Client(settings=client.settings, backend=NoDownloads(client.backend))
    version = registering.registry.register("from-run", f"runs:/{run.id}/out/model")
    assert (version.flavor, version.signature) == ("sklearn", descriptor.signature)
    assert version.run_id == run.id
    np.testing.assert_array_equal(
        models.load(version.uri, client=client).predict(x), model.predict(x)
    )
    # A descriptor deeper than the registered folder's root describes another model.
    whole_run = client.registry.register("whole-run", f"runs:/{run.id}/out")
    assert (whole_run.flavor, whole_run.signature) == (None, None)


def test_a_flavor_that_contradicts_the_descriptor_is_refused(
    client: Client, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    x, y = _training_set()
    descriptor = models.save(LogisticRegression().fit(x, y), folder, sample=x)
    assert descriptor.libraries["scikit-learn"]
    assert json.loads((folder / "modelyard-model.json").read_text())["flavor"] == "sklearn"
    with pytest.raises(InvalidInput, match="holds a 'sklearn' model") as refused:
        client.registry.register("mismatch", folder, flavor="python")
    assert "not 'python'" in refused.value.message
    assert refused.value.details["descriptor_flavor"] == "sklearn"
    assert client.registry.list() == []


def test_a_malformed_descriptor_is_refused_at_registration(client: Client, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.skops").write_bytes(b"weights")
    (folder / "modelyard-model.json").write_text('{"flavor": "tensorflow"}')
    with pytest.raises(InvalidInput, match=r"modelyard-model\.json of '.*model' is malformed"):
        client.registry.register("broken", folder)
    (folder / "modelyard-model.json").write_text("not json")
    with pytest.raises(InvalidInput, match="is malformed"):
        client.registry.register("broken", folder, flavor="sklearn")
    assert client.registry.list() == []


def test_a_folder_without_descriptor_is_refused(client: Client, tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\x00")
    client.registry.register("raw", tmp_path / "weights.bin")
    with pytest.raises(InvalidInput, match=r"modelyard-model\.json"):
        models.load("models:/raw/1", client=client)


def test_outside_a_run_the_source_names_the_model_not_a_folder(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = _training_set()
    version = models.register(LogisticRegression().fit(x, y), "in-memory", client=client)
    # The folder it was saved into is temporary and gone: the object's class is the source.
    assert version.source == "python:sklearn.linear_model._logistic.LogisticRegression"
    assert version.run_id is None
    module = _import_model_module(tmp_path, monkeypatch)
    offset = tmp_path / "offset.txt"
    offset.write_text("1")
    python = models.register(module.Offset(), "offset", artifacts={"offset": offset}, client=client)
    assert python.source == "python:offset_model.Offset"


def test_inside_a_run_the_model_is_logged_to_the_run(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = client.get_or_create_experiment("flavors")
    run = client.create_run(experiment.id)
    # The notebook API's session, pointed at this store with this run active.
    monkeypatch.setattr(fluent, "_session", SimpleNamespace(client=client, stack=[run.id]))
    x, y = _training_set()
    version = models.register(LogisticRegression().fit(x, y), "from-run", sample=x)
    assert version.run_id == run.id
    assert version.source == f"runs:/{run.id}/models/from-run"
    paths = {a.path for a in client.list_artifacts(run.id)}
    assert "models/from-run/modelyard-model.json" in paths
    assert models.load("models:/from-run/1").predict(x).shape == (60,)


# Saving and loading a local folder needs no store: these run once.


def test_save_refuses_what_it_cannot_keep(tmp_path: Path) -> None:
    x, y = _training_set()
    model = LogisticRegression().fit(x, y)
    with pytest.raises(InvalidInput, match="unknown flavor 'tensorflow'"):
        models.save(model, tmp_path / "a", flavor="tensorflow")
    with pytest.raises(InvalidInput, match="only kept by the python flavor"):
        models.save(model, tmp_path / "b", artifacts={"f": tmp_path})
    with pytest.raises(InvalidInput, match="needs predict"):
        models.save(Doubler(), tmp_path / "c", flavor="python")
    with pytest.raises(InvalidInput, match="Smuggled"):
        models.save(Smuggled(), tmp_path / "d", flavor="sklearn")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(InvalidInput, match="not empty"):
        models.save(model, tmp_path / "full")
    with pytest.raises(InvalidInput, match="cannot infer a signature"):
        models.save(model, tmp_path / "e", sample=pd.Series([1]))


def test_python_flavor_needs_an_importable_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Local:
        def load_context(self, context: Any) -> None: ...

        def predict(self, data: Any) -> Any:
            return data

    with pytest.raises(InvalidInput, match="inside a function"):
        models.save(Local(), tmp_path / "a")
    module = _import_model_module(tmp_path, monkeypatch)
    with pytest.raises(InvalidInput, match="artifact name"):
        models.save(module.Offset(), tmp_path / "b", artifacts={"../up": tmp_path})
    with pytest.raises(InvalidInput, match="does not exist"):
        models.save(module.Offset(), tmp_path / "c", artifacts={"offset": tmp_path / "nope"})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(InvalidInput, match=r"'passwd' in .* link to '/etc/passwd', outside"):
        models.save(module.Offset(), tmp_path / "d", artifacts={"offset": tmp_path / "data"})
    assert not (tmp_path / "d" / "artifacts").exists()


def test_a_saved_folder_loads_locally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = _import_model_module(tmp_path, monkeypatch)
    data = tmp_path / "data"
    data.mkdir()
    (data / "offset").write_text("1")
    folder = tmp_path / "model"
    models.save(module.Offset(), folder, artifacts={"offset": data})
    monkeypatch.delitem(sys.modules, "offset_model")
    descriptor = json.loads((folder / "modelyard-model.json").read_text())
    descriptor["artifacts"]["offset"] = "artifacts/offset/offset"
    (folder / "modelyard-model.json").write_text(json.dumps(descriptor))
    loaded = models.load(folder)
    assert loaded.signature is None
    assert loaded.predict({"x": 1.0}) == 2.0
    assert "local folder" in repr(loaded)

    descriptor["artifacts"]["offset"] = "../../etc/passwd"
    (folder / "modelyard-model.json").write_text(json.dumps(descriptor))
    with pytest.raises(InvalidInput, match="not a file in the model folder"):
        models.load(folder)
    descriptor["artifacts"] = {}
    descriptor["class_name"] = "Nope"
    (folder / "modelyard-model.json").write_text(json.dumps(descriptor))
    with pytest.raises(InvalidInput, match="defines no class Nope"):
        models.load(folder)
    descriptor["code_file"] = None
    (folder / "modelyard-model.json").write_text(json.dumps(descriptor))
    with pytest.raises(InvalidInput, match="needs code_file"):
        models.load(folder)
    (folder / "modelyard-model.json").write_text('{"flavor": "onnx"}')
    with pytest.raises(InvalidInput, match="malformed"):
        models.load(folder)
    with pytest.raises(InvalidInput, match="neither a models:/ URI"):
        models.load(tmp_path / "missing")


def test_a_trusted_pickle_folder_loads_locally(tmp_path: Path) -> None:
    sample = np.ones((3, 2))
    descriptor = models.save(Doubler(), tmp_path / "m", sample=sample, trusted=True)
    assert descriptor.signature == {
        "type": "ndarray",
        "dtype": "float64",
        "kind": "float",
        "shape": [-1, 2],
    }
    assert models.load(tmp_path / "m").predict(sample).tolist() == [[2.0, 2.0]] * 3
