"""Flavors: how a model object is saved into a folder and loaded back, safely by default.

A saved model is a folder with a ``modelyard-model.json`` descriptor (flavor, signature,
input example file, trusted, Python and library versions) next to the flavor's files:

==========  ====================================  =========================================
flavor      saves                                 loads
==========  ====================================  =========================================
``sklearn`` a scikit-learn estimator, as skops    refusing types outside scikit-learn,
            (``model.skops``)                     NumPy, SciPy and builtins
``onnx``    an ``onnx.ModelProto``, ONNX bytes    an onnxruntime session on the CPU, in an
            or a ``.onnx`` file (``model.onnx``)  ``OnnxModel`` (a graph runs no Python)
``python``  the source file of the model's class  imports that file, builds the class with
            (``code/``) and its artifact files    no arguments, calls ``load_context``
            (``artifacts/``)
``pickle``  any object, only with trusted=True    only when the version was registered
            (``model.pkl``)                       with trusted=True (pickle runs code)
==========  ====================================  =========================================

A registered version may also be one model file with no descriptor: a ``.onnx`` exported
elsewhere, the ``.skops`` file of a pipeline step, or (trusted only) a ``.pkl``/``.joblib``
saved by other tools. ``describe`` and ``load_model`` build its descriptor from the flavor the
registry records.

When the files of a new version hold a descriptor at their root, the version records its
flavor and signature unless the registrant gives them (``registered_metadata``); a flavor
given that contradicts it is refused. Trust is never read from the files: only the
registrant grants it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
import pickle
import platform
import re
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from modelyard.core import skops_format
from modelyard.errors import InvalidInput
from modelyard.registry.onnx_model import OnnxModel, graph_signature, onnx_model
from modelyard.registry.signatures import infer_signature
from modelyard.storage.artifacts import copy_files

DESCRIPTOR = "modelyard-model.json"
# A descriptor is a few KB (a signature of 10,000 columns is under 1 MB); a bigger file at
# its name is not one, and the server reads it whole.
MAX_DESCRIPTOR_BYTES = 8 << 20
INPUT_EXAMPLE = "input_example.json"
FLAVORS = ("sklearn", "onnx", "python", "pickle")
_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}

Flavor = Literal["sklearn", "onnx", "python", "pickle"]


class ModelDescriptor(BaseModel):
    """The contents of ``modelyard-model.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = 1
    flavor: Flavor
    signature: dict[str, Any] | None = None
    input_example: str | None = None
    trusted: bool = False
    python_version: str
    libraries: dict[str, str]
    model_file: str | None = None
    code_file: str | None = None
    class_name: str | None = None
    artifacts: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class ModelContext:
    """What a python-flavor model's ``load_context`` receives: its artifacts as local paths."""

    artifacts: dict[str, str]


def _module_root(value: Any) -> str:
    return type(value).__module__.split(".")[0]


def _is_python_model(model: Any) -> bool:
    return callable(getattr(model, "predict", None)) and callable(
        getattr(model, "load_context", None)
    )


def infer_flavor(model: Any, *, trusted: bool = False) -> Flavor:
    """sklearn for a scikit-learn estimator, onnx for an ``onnx.ModelProto`` or the path of
    a ``.onnx`` file, python for an object with ``predict`` and ``load_context``, pickle
    only when trusted; anything else is refused."""
    if _module_root(model) == "sklearn":
        return "sklearn"
    if _module_root(model) == "onnx" or (
        isinstance(model, str | os.PathLike) and os.fspath(model).endswith(".onnx")
    ):
        return "onnx"
    if _is_python_model(model):
        return "python"
    if trusted:
        return "pickle"
    raise InvalidInput(
        f"Modelyard does not know how to save a {type(model).__module__}."
        f"{type(model).__qualname__} safely: give it predict() and load_context() (the "
        "python flavor), or pass trusted=True to save it with pickle (loading it will run "
        "pickle, so only do this for models you trust)"
    )


def _versions(*modules: str) -> dict[str, str]:
    found = {}
    for module in modules:
        dist = _DISTRIBUTIONS.get(module, module)
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


def _save_sklearn(model: Any, folder: Path) -> dict[str, Any]:
    path = folder / "model.skops"
    skops_format.save(model, path)
    return {"model_file": path.name, "libraries": _versions("sklearn", "skops", "numpy", "scipy")}


def _load_sklearn(folder: Path, descriptor: ModelDescriptor) -> Any:
    return skops_format.load(_inside(folder, descriptor.model_file or "model.skops"))


def _onnx_bytes(model: Any) -> tuple[bytes, str]:
    """The serialized graph and how errors name where it came from."""
    if isinstance(model, bytes | bytearray):
        return bytes(model), "the given bytes"
    if isinstance(model, str | os.PathLike):
        file = Path(model)
        if not file.is_file():
            raise InvalidInput(
                f"'{file}' is not a file: pass the path of a .onnx file",
                details={"path": str(file)},
            )
        return file.read_bytes(), f"'{file}'"
    if _module_root(model) == "onnx" and callable(getattr(model, "SerializeToString", None)):
        return bytes(model.SerializeToString()), "the ModelProto"
    raise InvalidInput(
        f"the onnx flavor takes an onnx.ModelProto, ONNX bytes or the path of a .onnx file, "
        f"not a {type(model).__module__}.{type(model).__qualname__}: convert the model "
        "first (skl2onnx.to_onnx for scikit-learn)"
    )


def _save_onnx(model: Any, folder: Path) -> dict[str, Any]:
    content, where = _onnx_bytes(model)
    graph = onnx_model(content, where)
    path = folder / "model.onnx"
    path.write_bytes(content)
    return {
        "model_file": path.name,
        "libraries": _versions("onnx", "onnxruntime"),
        "signature": graph_signature(graph),
    }


def _load_onnx(folder: Path, descriptor: ModelDescriptor) -> OnnxModel:
    path = _inside(folder, descriptor.model_file or "model.onnx")
    return onnx_model(path.read_bytes(), f"'{path.name}'")


# The model files a folder with no descriptor may hold, one of them, by flavor.
_BARE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "onnx": (".onnx",),
    "sklearn": (".skops",),
    "pickle": (".pkl", ".pickle", ".joblib"),
}


def _bare_descriptor(folder: Path, flavor: str) -> ModelDescriptor | None:
    """The descriptor of a folder with no ``modelyard-model.json`` that holds exactly one
    model file of the flavor: a ``.onnx`` exported elsewhere, the ``.skops`` of a pipeline
    step's scikit-learn output, or a ``.pkl``/``.joblib`` saved by other tools (loaded only
    when the registry trusts the version). None when the folder is not such a folder."""
    suffixes = _BARE_SUFFIXES.get(flavor)
    if suffixes is None:
        return None
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes]
    if len(files) != 1:
        return None
    return ModelDescriptor(
        flavor=cast(Flavor, flavor),  # a key of _BARE_SUFFIXES: a known flavor
        # An ONNX graph declares its inputs: ``load_model`` reads them from the graph.
        signature=None,
        python_version=platform.python_version(),
        # Unknown: nothing to compare the installed versions with.
        libraries={},
        model_file=files[0].name,
    )


def describe(path: Path, flavor: str | None = None, *, uri: str | None = None) -> ModelDescriptor:
    """The descriptor of a model folder, without loading the model.

    ``flavor`` and ``uri`` are the registry's record for a version (``path`` then holds its
    downloaded files): a version registered without a descriptor is described by its one
    model file (``.onnx``, ``.skops``, or for a pickle ``.pkl``/``.joblib``). An
    ``InvalidInput`` when the folder holds no model, naming the version if there is one.
    """
    if (path / DESCRIPTOR).is_file():
        return read_descriptor(path)
    bare = _bare_descriptor(path, flavor) if flavor is not None else None
    if bare is not None:
        return bare
    if uri is None:
        return read_descriptor(path)  # its error names the folder
    kinds = ", ".join(f"{f}: one {' or '.join(s)} file" for f, s in _BARE_SUFFIXES.items())
    raise InvalidInput(
        f"{uri} holds no model Modelyard can load: its files have no {DESCRIPTOR} and are "
        f"not one model file of its flavor ({flavor or 'none recorded'}). Register a folder "
        f"saved with modelyard.models.save, or a single model file with its flavor ({kinds})",
        details={"uri": uri, "flavor": flavor},
    )


def _copy_artifacts(artifacts: dict[str, Any], folder: Path) -> dict[str, str]:
    recorded = {}
    for name, local in artifacts.items():
        if not _ARTIFACT_NAME.match(name):
            raise InvalidInput(
                f"artifact name {name!r}: use letters, digits, '_', '.' or '-'",
                details={"artifact": name},
            )
        source = Path(local)
        target = folder / "artifacts" / name
        if not source.exists():
            raise InvalidInput(
                f"artifact '{name}': '{source}' does not exist", details={"artifact": name}
            )
        # Links are followed only while they stay inside an artifact folder (copy_files).
        copy_files(source, target)
        kept = target if source.is_dir() else target / source.name
        recorded[name] = kept.relative_to(folder).as_posix()
    return recorded


def _save_python(model: Any, folder: Path, artifacts: dict[str, Any]) -> dict[str, Any]:
    cls = type(model)
    if "<locals>" in cls.__qualname__:
        raise InvalidInput(
            f"class {cls.__qualname__} is defined inside a function: define the model class "
            "at the top level of a module so it can be imported when the model is loaded"
        )
    try:
        source = inspect.getsourcefile(cls)
    except TypeError:
        source = None
    if source is None or not Path(source).is_file():
        raise InvalidInput(
            f"cannot find the source file of {cls.__qualname__} (classes defined in a "
            "notebook cell have none): put the class in a .py file and import it"
        )
    code = folder / "code" / Path(source).name
    code.parent.mkdir()
    shutil.copy2(source, code)
    return {
        "code_file": code.relative_to(folder).as_posix(),
        "class_name": cls.__qualname__,
        "artifacts": _copy_artifacts(artifacts, folder),
        "libraries": {},
    }


def _load_python(folder: Path, descriptor: ModelDescriptor) -> Any:
    if descriptor.code_file is None or descriptor.class_name is None:
        raise InvalidInput(f"{DESCRIPTOR}: a python model needs code_file and class_name")
    code = _inside(folder, descriptor.code_file)
    # A name unique to the code's content, so two versions of one class do not collide.
    digest = hashlib.sha256(code.read_bytes()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(f"modelyard_model_{digest}", code)
    if spec is None or spec.loader is None:
        raise InvalidInput(f"cannot import the model code '{descriptor.code_file}'")
    module = importlib.util.module_from_spec(spec)
    # Registered before running, as a normal import would (dataclasses and pickle need it).
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    target: Any = module
    for part in descriptor.class_name.split("."):
        target = getattr(target, part, None)
    if not isinstance(target, type):
        raise InvalidInput(
            f"'{descriptor.code_file}' defines no class {descriptor.class_name}",
            details={"class": descriptor.class_name},
        )
    model = target()
    paths = {name: str(_inside(folder, rel)) for name, rel in descriptor.artifacts.items()}
    model.load_context(ModelContext(artifacts=paths))
    return model


def _save_pickle(model: Any, folder: Path) -> dict[str, Any]:
    path = folder / "model.pkl"
    with path.open("wb") as out:
        pickle.dump(model, out, protocol=pickle.HIGHEST_PROTOCOL)
    return {"model_file": path.name, "libraries": _versions(_module_root(model))}


def _load_pickle(folder: Path, descriptor: ModelDescriptor) -> Any:
    # Only reached for trusted versions.
    path = _inside(folder, descriptor.model_file or "model.pkl")
    try:
        try:
            import joblib
        except ImportError:
            if path.suffix.lower() == ".joblib":
                raise InvalidInput(
                    f"'{path.name}' was saved with joblib, which is not installed: "
                    "pip install joblib (scikit-learn brings it)"
                ) from None
            with path.open("rb") as source:
                return pickle.load(source)
        # joblib reads plain pickles too, and its own format whatever the file is called.
        return joblib.load(path)
    except ImportError as exc:
        raise InvalidInput(
            f"'{path.name}' needs the module '{exc.name}' to load: install the libraries "
            "the model was trained with",
            details={"module": exc.name},
        ) from exc
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError) as exc:
        raise InvalidInput(
            f"'{path.name}' is not a readable pickle or joblib file ({type(exc).__name__}: {exc})"
        ) from exc


def _inside(folder: Path, rel: str) -> Path:
    # The descriptor comes from the model folder; it may not point outside it.
    path = (folder / rel).resolve()
    if not path.is_relative_to(folder.resolve()) or not path.exists():
        raise InvalidInput(
            f"{DESCRIPTOR} names '{rel}', which is not a file in the model folder",
            details={"path": rel},
        )
    return path


def _example_json(sample: Any) -> str:
    import numpy as np
    import pandas as pd

    if isinstance(sample, list):
        sample = pd.DataFrame.from_records(sample)
    if isinstance(sample, pd.DataFrame):
        records = sample.head(5).to_json(orient="records", date_format="iso")
        return json.dumps({"type": "dataframe", "data": json.loads(records)})
    # infer_signature has already refused anything but a table or an array.
    return json.dumps({"type": "ndarray", "data": np.asarray(sample)[:5].tolist()})


def save_model(
    model: Any,
    path: Path,
    *,
    flavor: str | None = None,
    sample: Any = None,
    artifacts: dict[str, Any] | None = None,
    trusted: bool = False,
) -> ModelDescriptor:
    """Save ``model`` into the folder ``path`` (created; it must be empty or absent)."""
    if flavor is None:
        flavor = infer_flavor(model, trusted=trusted)
    if flavor not in FLAVORS:
        raise InvalidInput(
            f"unknown flavor {flavor!r}: use one of {', '.join(FLAVORS)}",
            details={"flavor": flavor},
        )
    if flavor == "pickle" and not trusted:
        raise InvalidInput(
            "the pickle flavor needs trusted=True: loading a pickle runs arbitrary code; "
            "use the sklearn or python flavor to stay safe"
        )
    if artifacts and flavor != "python":
        raise InvalidInput("artifacts are only kept by the python flavor")
    if flavor == "python" and not _is_python_model(model):
        raise InvalidInput("a python-flavor model needs predict(data) and load_context(context)")
    if path.exists() and any(path.iterdir()):
        raise InvalidInput(f"'{path}' is not empty: save a model into a new folder")
    path.mkdir(parents=True, exist_ok=True)
    signature = infer_signature(sample) if sample is not None else None
    if flavor == "sklearn":
        fields = _save_sklearn(model, path)
    elif flavor == "onnx":
        fields = _save_onnx(model, path)
        graph = fields.pop("signature")
        # A sample's signature says more (column names for a one-tensor graph) and wins.
        signature = signature if signature is not None else graph
    elif flavor == "python":
        fields = _save_python(model, path, dict(artifacts or {}))
    else:
        fields = _save_pickle(model, path)
    example = None
    if sample is not None:
        (path / INPUT_EXAMPLE).write_text(_example_json(sample))
        example = INPUT_EXAMPLE
    libraries = {**_versions("numpy", "pandas"), **fields.pop("libraries")}
    descriptor = ModelDescriptor(
        flavor=flavor,
        signature=signature,
        input_example=example,
        trusted=trusted,
        python_version=platform.python_version(),
        libraries=libraries,
        **fields,
    )
    write_descriptor(path, descriptor)
    return descriptor


def write_descriptor(path: Path, descriptor: ModelDescriptor) -> None:
    """Write ``descriptor`` as the ``modelyard-model.json`` of the model folder ``path``."""
    (path / DESCRIPTOR).write_text(descriptor.model_dump_json(indent=2))


def parse_descriptor(data: bytes, where: str | None = None) -> ModelDescriptor:
    """The descriptor in ``data``, the ``modelyard-model.json`` of ``where`` (a source, named
    in the error); an ``InvalidInput`` if it is not one."""
    of = f" of {where}" if where is not None else ""
    if len(data) > MAX_DESCRIPTOR_BYTES:
        raise InvalidInput(
            f"{DESCRIPTOR}{of} is over {MAX_DESCRIPTOR_BYTES >> 20} MB: it is not a descriptor "
            "written by modelyard.models.save",
            details={"file": DESCRIPTOR, "size": len(data)},
        )
    try:
        return ModelDescriptor.model_validate_json(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        problem = f"{field}: {error['msg']}" if field else error["msg"]
        raise InvalidInput(
            f"{DESCRIPTOR}{of} is malformed: {problem}",
            details={"file": DESCRIPTOR, "field": field or None},
        ) from exc


def read_descriptor(path: Path) -> ModelDescriptor:
    """The descriptor of a saved model folder; an ``InvalidInput`` if missing or malformed."""
    file = path / DESCRIPTOR
    if not file.is_file():
        raise InvalidInput(
            f"'{path}' has no {DESCRIPTOR}: save models with modelyard.models.save or "
            "modelyard.models.register"
        )
    return parse_descriptor(file.read_bytes())


def registered_metadata(
    descriptor: ModelDescriptor,
    flavor: str | None,
    signature: dict[str, Any] | None,
    *,
    source: str,
) -> tuple[str, dict[str, Any] | None]:
    """The flavor and signature a new version of files described by ``descriptor`` records:
    those its registrant gave, else the descriptor's.

    A flavor given that is not the descriptor's is an ``InvalidInput`` naming both: such a
    version would never load. A signature given wins (the registrant may know more than the
    sample the model was saved with). The descriptor's ``trusted`` is not used here: whether
    a pickle may load is the registrant's choice, never the files' claim.
    """
    if flavor is not None and flavor != descriptor.flavor:
        raise InvalidInput(
            f"{source} holds a '{descriptor.flavor}' model (its {DESCRIPTOR} says so), not "
            f"'{flavor}': register it with flavor '{descriptor.flavor}', or without a flavor",
            details={"flavor": flavor, "descriptor_flavor": descriptor.flavor},
        )
    return descriptor.flavor, signature if signature is not None else descriptor.signature


def load_model(
    path: Path, *, trusted: bool | None = None, flavor: str | None = None, uri: str | None = None
) -> tuple[Any, ModelDescriptor]:
    """Load the model saved in ``path``; returns the model object and its descriptor.

    ``trusted`` is the registry's record for the version (it wins over the descriptor's);
    a pickle model loads only when it is true. ``flavor`` and ``uri`` are the registry's
    record too: a version without a descriptor loads from its one model file (see
    ``describe``).
    """
    descriptor = describe(path, flavor, uri=uri)
    if descriptor.flavor == "pickle":
        allowed = descriptor.trusted if trusted is None else trusted
        if not allowed:
            raise InvalidInput(
                "this model is a pickle but was not registered with trusted=True; refusing "
                "to load it (loading a pickle runs arbitrary code)"
            )
        return _load_pickle(path, descriptor), descriptor
    if descriptor.flavor == "sklearn":
        return _load_sklearn(path, descriptor), descriptor
    if descriptor.flavor == "onnx":
        model = _load_onnx(path, descriptor)
        if descriptor.signature is None:
            descriptor = descriptor.model_copy(update={"signature": graph_signature(model)})
        return model, descriptor
    return _load_python(path, descriptor), descriptor
