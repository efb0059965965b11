"""Loading a saved or registered model: the object serving and ``modelyard.models.load`` use.

``LoadedModel.predict`` checks its input against the version's signature first, so every
caller (Python, the scoring server, batch scoring) gets the same errors and coercions.
"""

from __future__ import annotations

import logging
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from modelyard.core.backend import Backend
from modelyard.errors import InvalidInput
from modelyard.registry.flavors import ModelDescriptor, load_model
from modelyard.registry.models import ModelVersion, ResolveModelUri
from modelyard.registry.operations import resolve_uri
from modelyard.registry.signatures import check_input
from modelyard.storage.artifacts import safe_target
from modelyard.storage.artifacts.manifests import parse_manifest

logger = logging.getLogger("modelyard.models")

TRUSTED_WARNING = "%s was registered with trusted=True: loading runs pickle"
# A model that raises one of these on predict was given values it cannot take (a NaN, a
# string, a number too large for a float): the caller's input, not a bug in the model.
INPUT_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError, OverflowError)


class LoadedModel:
    """A registered model ready to predict; inputs are checked against its signature."""

    def __init__(
        self, model: Any, version: ModelVersion | None, descriptor: ModelDescriptor
    ) -> None:
        self.model = model
        self.version = version
        self.descriptor = descriptor

    @property
    def signature(self) -> dict[str, Any] | None:
        if self.version is not None and self.version.signature is not None:
            return self.version.signature
        return self.descriptor.signature

    @property
    def flavor(self) -> str:
        return self.descriptor.flavor

    @property
    def name(self) -> str:
        return self.version.uri if self.version is not None else "local folder"

    def check(self, data: Any) -> Any:
        """``data`` checked against the signature (if any) and coerced where nothing is lost."""
        signature = self.signature
        return check_input(signature, data) if signature is not None else data

    def predict(self, data: Any) -> Any:
        """Check ``data`` against the signature (if any), then call the model's ``predict``."""
        return self.model.predict(self.check(data))

    def __repr__(self) -> str:
        return f"<LoadedModel {self.name} flavor={self.flavor}>"


def library_mismatches(descriptor: ModelDescriptor) -> dict[str, tuple[str, str | None]]:
    """Libraries whose installed version differs from the one the model was saved with:
    ``{distribution: (saved, installed or None)}``."""
    found = {}
    for dist, saved in descriptor.libraries.items():
        try:
            installed: str | None = metadata.version(dist)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != saved:
            found[dist] = (saved, installed)
    return found


def load_folder(
    folder: Path, version: ModelVersion | None = None, *, trusted: bool | None = None
) -> LoadedModel:
    """Load the model saved in ``folder``; ``version`` is its registry record, if any.

    ``trusted`` is the registry's trust when the folder carries it without the record (a
    package); a pickle loads only when the registry trusted it (``flavors.load_model``).
    """
    if version is None:
        model, descriptor = load_model(folder, trusted=trusted)
    else:
        model, descriptor = load_model(
            folder, trusted=version.trusted, flavor=version.flavor, uri=version.uri
        )
    where = version.uri if version is not None else str(folder)
    if version is not None and version.flavor not in (None, descriptor.flavor):
        raise InvalidInput(
            f"{where} is registered as flavor '{version.flavor}' but its files are "
            f"'{descriptor.flavor}'; refusing to load it",
            details={"uri": where},
        )
    if descriptor.flavor == "pickle":
        logger.warning(TRUSTED_WARNING, where)
    mismatches = library_mismatches(descriptor)
    if mismatches:
        # Predictions may differ from the ones measured at training time.
        logger.warning(
            "%s was saved with %s; this process has %s",
            where,
            ", ".join(f"{d} {saved}" for d, (saved, _) in sorted(mismatches.items())),
            ", ".join(
                f"{d} {now or '(not installed)'}" for d, (_, now) in sorted(mismatches.items())
            ),
        )
    return LoadedModel(model, version, descriptor)


def fetch_version(backend: Backend, uri: str, dest: Path) -> tuple[ModelVersion, Path]:
    """Resolve ``uri`` once and write that version's files under ``dest``.

    The files are the resolved version's, not the URI's again: an alias may move meanwhile.
    Serving, batch scoring and loading all start here.
    """
    version = backend.call(resolve_uri, ResolveModelUri(uri=uri))
    return version, download_version(backend, version, dest)


def download_version(backend: Backend, version: ModelVersion, dest: Path) -> Path:
    """Write ``version``'s files under ``dest`` (each blob's hash is checked); returns ``dest``.

    Every target is checked before the first is written, so a manifest naming a path outside
    ``dest`` writes nothing at all.
    """
    with tempfile.TemporaryDirectory() as tmp:
        manifest_file = Path(tmp) / "manifest.json"
        backend.get_blob(version.manifest, manifest_file)
        manifest = parse_manifest(manifest_file.read_bytes(), version.manifest)
    targets = [(info.sha256, safe_target(dest, rel)) for rel, info in manifest.files.items()]
    for sha256, target in targets:
        backend.get_blob(sha256, target)
    return dest
