"""Materializers: every built-in kind round-trips; nothing is pickled; plug-ins take over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.errors import InvalidInput
from modelyard.pipelines import materializers
from modelyard.pipelines.materializers import by_name, for_value, register_materializer
from tests.conftest import LEAK, leaky_folder


def round_trip(value: Any, tmp_path: Path) -> tuple[str, Any]:
    materializer = for_value(value, "step", "out")
    folder = tmp_path / materializer.name
    folder.mkdir(parents=True)
    materializer.save(value, folder)
    return materializer.name, by_name(materializer.name).load(folder)


def test_dataframes_go_to_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    name, loaded = round_trip(frame, tmp_path)
    assert name == "pandas.parquet"
    pd.testing.assert_frame_equal(loaded, frame)


def test_arrays_go_to_npy_without_pickle(tmp_path: Path) -> None:
    name, loaded = round_trip(np.arange(6.0).reshape(2, 3), tmp_path)
    assert name == "numpy.npy"
    np.testing.assert_array_equal(loaded, np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match="allow_pickle"):
        for_value(np.array([{"a": 1}], dtype=object), "s", "o").save(
            np.array([{"a": 1}], dtype=object), tmp_path
        )


def test_sklearn_models_go_to_skops_and_predict_the_same(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(50, 3))
    y = (x[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    name, loaded = round_trip(model, tmp_path)
    assert name == "sklearn.skops"
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_json_values_and_paths(tmp_path: Path) -> None:
    assert round_trip({"a": [1, 2.5, None]}, tmp_path) == ("json", {"a": [1, 2.5, None]})
    source = tmp_path / "report.txt"
    source.write_text("hello")
    name, loaded = round_trip(source, tmp_path / "p")
    assert name == "path"
    assert loaded.read_text() == "hello"


def test_a_returned_folder_keeps_links_inside_it_and_refuses_links_out(tmp_path: Path) -> None:
    out = leaky_folder(tmp_path, "out")
    (out / "leak").unlink()
    (out / "same.csv").symlink_to("rows.csv")
    name, loaded = round_trip(out, tmp_path / "p")
    assert name == "path"
    assert (loaded / "same.csv").read_text() == "a\n1\n"
    assert not (loaded / "same.csv").is_symlink()  # the copy holds the file, not a link

    (out / "leak").symlink_to("../outside/secret.txt")
    (tmp_path / "q").mkdir()
    with pytest.raises(InvalidInput, match=LEAK):
        for_value(out, "step", "output").save(out, tmp_path / "q")
    assert list((tmp_path / "q").rglob("*")) == []  # nothing copied


def test_a_value_nothing_can_save_is_refused(tmp_path: Path) -> None:
    class Opaque:
        pass

    with pytest.raises(InvalidInput, match="register_materializer"):
        for_value(Opaque(), "train", "model")


def test_registered_materializers_come_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(materializers, "_REGISTERED", [])

    class Text:
        name = "text"

        def can_save(self, value: Any) -> bool:
            return isinstance(value, str)

        def save(self, value: Any, folder: Path) -> None:
            (folder / "v.txt").write_text(value)

        def load(self, folder: Path) -> Any:
            return (folder / "v.txt").read_text()

    register_materializer(Text())
    assert round_trip("plain", tmp_path) == ("text", "plain")
    with pytest.raises(InvalidInput, match="needs 'name'"):
        register_materializer(object())  # type: ignore[arg-type]


def test_unknown_materializer_name_says_how_to_fix() -> None:
    with pytest.raises(InvalidInput, match="register it before"):
        by_name("nope")
