"""Package a model version into a self-contained folder, and verify one.

A package holds everything needed to score the version without the store::

    model/                  the version's files (as downloaded, hashes checked)
    environment/            requirements.txt and environment.json (Python version, lock)
    wheels/                 the Modelyard that wrote the package, as a wheel
    score.py                reads JSON records or CSV, prints predictions as JSON
    Dockerfile              python:X.Y-slim, installs the requirements, runs modelyard serve
    k8s/deployment.yaml     a Deployment for the image modelyard/<model>:<version>
    k8s/service.yaml        a ClusterIP Service in front of it
    manifest.json           every other file's SHA-256 and size, and the version it holds

``verify_package`` re-hashes the folder against ``manifest.json``.

``score.py`` and ``modelyard serve`` load the model with Modelyard, so the package installs
the very Modelyard that packaged it, from its own ``wheels/`` (no index holds an unreleased
or edited Modelyard); everything else comes from the user's package index.
``requirements.txt`` names the wheel by a path relative to the package folder, which is
where both ``pip install -r`` and ``uv pip install -r`` resolve it from.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from modelyard.environments.modelyard_wheel import DISTRIBUTION, modelyard_wheel
from modelyard.errors import InvalidInput
from modelyard.registry.flavors import DESCRIPTOR, describe, write_descriptor
from modelyard.registry.models import ModelVersion

MANIFEST = "manifest.json"
MODEL_DIR = "model"
WHEELS_DIR = "wheels"
PACKAGE_FORMAT = 1
SERVING_PORT = 8080

# What each flavor needs installed to load and predict; pandas reads the scorer's input.
_FLAVOR_LIBRARIES: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn", "skops", "numpy", "scipy", "pandas"),
    "onnx": ("onnxruntime", "numpy", "pandas"),
    "python": ("numpy", "pandas"),
    "pickle": ("scikit-learn", "numpy", "scipy", "pandas"),
}
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)")

SCORE_PY = '''\
"""Score with the packaged model: python score.py [INPUT] (JSON records or CSV; stdin if none).

Loads ./model the way modelyard.models.load loads a local folder (signature checks, no
pickle unless the version was registered trusted) and never contacts a Modelyard store.
Prints {"predictions": [...]} as JSON.
"""

import io
import json
import sys
from pathlib import Path

from modelyard.models import load

HERE = Path(__file__).resolve().parent


def read_input(text):
    """JSON: a list of records, or {"records": [...]}; anything else is read as CSV."""
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        data = json.loads(stripped)
        return data["records"] if isinstance(data, dict) else data
    import pandas

    return pandas.read_csv(io.StringIO(text))


def to_json(value):
    return value.tolist() if hasattr(value, "tolist") else list(value)


def main(argv):
    text = Path(argv[1]).read_text() if len(argv) > 1 and argv[1] != "-" else sys.stdin.read()
    model = load(HERE / "model")
    predictions = model.predict(read_input(text))
    json.dump({"predictions": to_json(predictions)}, sys.stdout)
    sys.stdout.write("\\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
'''


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _requirement_name(line: str) -> str | None:
    match = _REQUIREMENT_NAME.match(line)
    if match is None or line.lstrip().startswith("#"):
        return None
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def interpreter_pins(flavor: str | None) -> list[str]:
    """``name==version`` of the libraries ``flavor`` needs, as installed in this interpreter."""
    pins = []
    for dist in _FLAVOR_LIBRARIES.get(flavor or "python", _FLAVOR_LIBRARIES["python"]):
        try:
            pins.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def _with_modelyard(lock: list[str], wheel: str) -> list[str]:
    """The lock with the packaged wheel in place of any Modelyard pin it holds."""
    return [*(line for line in lock if _requirement_name(line) != DISTRIBUTION), wheel]


def _python_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _k8s_name(model: str) -> str:
    # Kubernetes names are DNS-1123 labels: lowercase alphanumerics and '-', at most 63.
    name = re.sub(r"[^a-z0-9-]+", "-", model.lower()).strip("-")
    return (name or "model")[:63].rstrip("-")


def _dockerfile(version: ModelVersion, python: str) -> str:
    return (
        f"# Modelyard package of {version.uri}\n"
        "# Build: docker build -t "
        f"modelyard/{_k8s_name(version.model)}:{version.version} .\n"
        f"# Serve: docker run -p {SERVING_PORT}:{SERVING_PORT} IMAGE   (POST /invocations,\n"
        "#        /healthz, /readyz, /metrics; add --workers N to the command for more)\n"
        "# Score a file: docker run -i IMAGE python score.py < input.json\n"
        f"FROM python:{_python_minor(python)}-slim\n"
        f'LABEL org.modelyard.model.name="{version.model}" \\\n'
        f'      org.modelyard.model.version="{version.version}"\n'
        "ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1\n"
        "WORKDIR /package\n"
        # The requirements name ./wheels/modelyard-*.whl[serve], relative to this folder.
        "COPY environment/requirements.txt environment/requirements.txt\n"
        f"COPY {WHEELS_DIR}/ {WHEELS_DIR}/\n"
        "RUN pip install -r environment/requirements.txt\n"
        "COPY . .\n"
        f"EXPOSE {SERVING_PORT}\n"
        # The same scoring server as `modelyard serve DIR`; it verifies the package first.
        'CMD ["modelyard", "serve", "/package", "--host", "0.0.0.0", '
        f'"--port", "{SERVING_PORT}"]\n'
    )


def _k8s_documents(version: ModelVersion) -> tuple[dict[str, Any], dict[str, Any]]:
    name = _k8s_name(version.model)
    labels = {"app.kubernetes.io/name": name, "modelyard.org/version": str(version.version)}
    container = {
        "name": name,
        "image": f"modelyard/{name}:{version.version}",
        "ports": [{"name": "http", "containerPort": SERVING_PORT}],
        "resources": {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": SERVING_PORT},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": SERVING_PORT},
            "initialDelaySeconds": 10,
            "periodSeconds": 20,
        },
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": 80, "targetPort": SERVING_PORT}],
        },
    }
    return deployment, service


def _yaml(header: str, body: dict[str, Any]) -> str:
    import yaml  # only the k8s manifests need YAML

    return header + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)


def _environment_files(
    version: ModelVersion, environment: dict[str, Any] | None, wheel: str
) -> tuple[str, dict[str, Any]]:
    if environment is not None:
        python = str(environment["python"])
        lock = [str(line) for line in environment.get("lock", [])]
        header = (
            f"# Modelyard environment {environment.get('name')}:{environment.get('version')} "
            f"(Python {python})\n# sha256 {environment.get('hash', version.environment_hash)}\n"
        )
        info = {
            "source": "environment",
            "name": environment.get("name"),
            "version": environment.get("version"),
            "hash": environment.get("hash", version.environment_hash),
        }
    else:
        python = ".".join(map(str, sys.version_info[:3]))
        lock = interpreter_pins(version.flavor)
        header = (
            f"# {version.uri} has no environment: the {version.flavor or 'python'} flavor's "
            f"libraries as installed where it was packaged (Python {python})\n"
        )
        info = {"source": "interpreter"}
    lines = _with_modelyard(lock, wheel)
    header += (
        "# Install from the package folder: pip install -r environment/requirements.txt\n"
        f"# (Modelyard from ./{WHEELS_DIR}, the rest from your package index)\n"
    )
    text = header + "".join(f"{line}\n" for line in lines)
    return text, {**info, "python": python, "lock": lines}


def _write(out: Path, rel: str, text: str) -> None:
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _files(root: Path) -> dict[str, Path]:
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).as_posix() != MANIFEST
    }


def _describe_model(version: ModelVersion, model_dir: Path) -> None:
    """Make the packaged model folder describe itself as the registry describes the version.

    A package is loaded with no registry to ask, so a version registered without a
    descriptor (a pipeline step's ``.skops``, a bare ``.onnx`` or ``.joblib``) gets one, a
    signature given at registration replaces the one saved with the files, and whether a
    pickle may load is the registry's record, never what the files claim.
    """
    descriptor = describe(model_dir, version.flavor, uri=version.uri)
    signature = version.signature if version.signature is not None else descriptor.signature
    wanted = descriptor.model_copy(update={"signature": signature, "trusted": version.trusted})
    if not (model_dir / DESCRIPTOR).is_file() or wanted != descriptor:
        write_descriptor(model_dir, wanted)


def write_package(
    version: ModelVersion, model_dir: Path, out: Path, *, environment: dict[str, Any] | None
) -> Path:
    """Write the package of ``version`` (its files in ``model_dir``) into ``out``; returns it.

    ``environment`` is the version's registered environment (``name``, ``version``, ``hash``,
    ``python``, ``lock``) or None, in which case this interpreter's versions of the flavor's
    libraries are pinned. The running Modelyard is added as a wheel in ``wheels/``.
    """
    model_target = out / MODEL_DIR
    if model_dir.resolve() != model_target.resolve():
        if model_target.exists():
            raise InvalidInput(f"'{model_target}' already exists: package into an empty folder")
        shutil.copytree(model_dir, model_target)
    _describe_model(version, model_target)
    wheel = modelyard_wheel().write_to(out / WHEELS_DIR)
    # With the "serve" extra: the scoring server's own libraries (frames, Parquet logs),
    # which a model's environment need not hold.
    requirements_text, environment_info = _environment_files(
        version, environment, f"./{WHEELS_DIR}/{wheel.name}[serve]"
    )
    _write(out, "environment/requirements.txt", requirements_text)
    _write(out, "environment/environment.json", json.dumps(environment_info, indent=2) + "\n")
    _write(out, "score.py", SCORE_PY)
    _write(out, "Dockerfile", _dockerfile(version, str(environment_info["python"])))
    deployment, service = _k8s_documents(version)
    note = (
        f"# {version.uri}: build the image from the package's Dockerfile first. The readiness\n"
        f"# probe expects `modelyard serve` on port {SERVING_PORT} (the serving issue).\n"
    )
    _write(out, "k8s/deployment.yaml", _yaml(note, deployment))
    _write(out, "k8s/service.yaml", _yaml(f"# {version.uri}\n", service))
    manifest = {
        "format": PACKAGE_FORMAT,
        "model": {
            "name": version.model,
            "version": version.version,
            "uri": version.uri,
            "flavor": version.flavor,
            "signature": version.signature,
            "trusted": version.trusted,
            "environment_hash": version.environment_hash,
        },
        "files": {
            rel: {"sha256": _sha256(path), "size": path.stat().st_size}
            for rel, path in _files(out).items()
        },
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return out


def verify_package(path: Path) -> list[str]:
    """What is wrong with the package in ``path``: missing, extra or changed files (none if
    intact)."""
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        return [f"missing {MANIFEST}: '{path}' is not a Modelyard package"]
    try:
        listed = json.loads(manifest_file.read_bytes())["files"]
        expected = {str(rel): (str(i["sha256"]), int(i["size"])) for rel, i in listed.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return [f"{MANIFEST} is malformed"]
    found = _files(path)
    problems = [f"missing {rel}" for rel in sorted(expected.keys() - found.keys())]
    problems += [f"extra {rel}" for rel in sorted(found.keys() - expected.keys())]
    for rel in sorted(expected.keys() & found.keys()):
        sha256, size = expected[rel]
        file = found[rel]
        if file.stat().st_size != size or _sha256(file) != sha256:
            problems.append(f"changed {rel} (SHA-256 does not match {MANIFEST})")
    return problems
