"""What a scoring server or a batch-scoring job runs: a folder, and the version it holds.

A source is a registered version (``models:/NAME@ALIAS``, ``models:/NAME/3``), resolved and
downloaded once into a temporary folder that lives as long as the work, or a local folder:
a package written by ``modelyard model package`` or a model saved by
``modelyard.models.save``. The store is needed only to resolve and download, so its
connection is closed before the serving or scoring starts. ``modelyard serve``,
``modelyard score`` and the supervisor's deployment processes all begin here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modelyard.config import Settings
from modelyard.core.backend import open_backend
from modelyard.registry.loading import fetch_version
from modelyard.registry.models import ModelVersion

REGISTERED = "models:/"


@contextmanager
def model_source(source: str, settings: Settings) -> Iterator[tuple[Path, ModelVersion | None]]:
    """The folder to serve or score for ``source``, and the registered version it holds
    (None for a local folder). A downloaded folder is removed when the block ends."""
    if not source.startswith(REGISTERED):
        yield Path(source), None
        return
    with tempfile.TemporaryDirectory(prefix="modelyard-model-") as tmp:
        backend = open_backend(settings)
        try:
            version, folder = fetch_version(backend, source, Path(tmp) / "model")
        finally:
            backend.close()
        yield folder, version
