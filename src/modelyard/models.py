"""``modelyard.models``: save, register and load models, safely by default.

```python
v = modelyard.models.register(model, "churn", sample=X_train.head())
m = modelyard.models.load("models:/churn@champion")
m.predict(rows)  # checked against the signature first
```
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from modelyard.client.client import Client
from modelyard.environments.current import register_current
from modelyard.errors import InvalidInput
from modelyard.registry.flavors import ModelDescriptor, save_model
from modelyard.registry.loading import LoadedModel, load_folder
from modelyard.registry.models import ModelUri, ModelVersion

__all__ = ["LoadedModel", "load", "register", "save"]


def save(
    model: Any,
    path: str | os.PathLike[str],
    *,
    flavor: str | None = None,
    sample: Any = None,
    artifacts: dict[str, str | os.PathLike[str]] | None = None,
    trusted: bool = False,
) -> ModelDescriptor:
    """Save ``model`` into a new folder with its ``modelyard-model.json`` descriptor.

    The flavor is inferred when not given: ``sklearn`` for scikit-learn estimators (skops),
    ``onnx`` for an ``onnx.ModelProto`` or a ``.onnx`` file, ``python`` for objects with
    ``predict`` and ``load_context``; anything else needs ``trusted=True`` and is pickled.
    ``sample`` gives the signature and input example.
    """
    return save_model(
        model, Path(path), flavor=flavor, sample=sample, artifacts=artifacts, trusted=trusted
    )


def _fluent_run(client: Client | None) -> tuple[Client, str | None]:
    """The client to use, and the notebook API's active run if it belongs to that client."""
    # Deferred: fluent starts a session (and reads settings) on import of its state.
    from modelyard.client import fluent

    session = fluent._session
    if session is not None and session.stack and client in (None, session.client):
        return session.client, session.stack[-1]
    if client is not None:
        return client, None
    return fluent._current().client, None


def _source_of(model: Any) -> str:
    """What a version of ``model`` registered outside a run records as its source.

    The folder it is saved into is temporary, gone once registered, so it is never the
    source: the model file it was read from (the path of a ``.onnx`` file), else the
    object's class, ``python:MODULE.CLASS``.
    """
    if isinstance(model, str | os.PathLike):
        return str(Path(model).resolve())
    cls = type(model)
    return f"python:{cls.__module__}.{cls.__qualname__}"


def register(
    model: Any,
    name: str,
    *,
    sample: Any = None,
    flavor: str | None = None,
    trusted: bool = False,
    artifacts: dict[str, str | os.PathLike[str]] | None = None,
    environment: str | None = None,
    description: str | None = None,
    reason: str | None = None,
    client: Client | None = None,
) -> ModelVersion:
    """Save ``model`` and register it as a new version of ``name``.

    Inside an active run the saved folder is logged as the run's ``models/<name>``
    artifacts and registered from there (so the version keeps the run's metrics and
    datasets, and its source is ``runs:/RUN_ID/models/<name>``); otherwise the folder is
    registered directly, with the object's class as its source (``python:MODULE.CLASS``;
    for the path of a ``.onnx`` file, that file). The version's environment is
    ``environment`` (a hash), else the run's, else this interpreter's, captured now: the
    model object was made here, so this is where its libraries are known.
    """
    target, run_id = _fluent_run(client)
    if environment is None and run_id is not None:
        environment = target.get_run(run_id).environment_hash
    if environment is None:
        # Captured once per process, registered once per store (not a version per call).
        environment = register_current(target.backend)
    with tempfile.TemporaryDirectory(prefix="modelyard-model-") as tmp:
        folder = Path(tmp) / "model"
        descriptor = save(
            model, folder, flavor=flavor, sample=sample, artifacts=artifacts, trusted=trusted
        )
        source = str(folder)
        recorded: str | None = _source_of(model)
        if run_id is not None:
            prefix = f"models/{name}"
            target.log_artifacts(run_id, folder, prefix)
            source, recorded = f"runs:/{run_id}/{prefix}", None  # the run names it
        return target.registry.register(
            name,
            source,
            flavor=descriptor.flavor,
            signature=descriptor.signature,
            trusted=trusted,
            environment_hash=environment,
            description=description,
            reason=reason,
            # The folder is the one just saved here, in a temporary folder of this machine.
            allow_outside_cwd=True,
            recorded_source=recorded,
        )


def load(uri: str | os.PathLike[str], *, client: Client | None = None) -> LoadedModel:
    """Load ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``, ``models:/NAME/latest`` or a
    saved model folder."""
    text = os.fspath(uri)
    if not text.startswith("models:/"):
        folder = Path(text)
        if not folder.is_dir():
            raise InvalidInput(f"'{text}' is neither a models:/ URI nor a saved model folder")
        return load_folder(folder, None)
    ModelUri.parse(text)
    target, _ = _fluent_run(client)
    return target.registry.load(text)
