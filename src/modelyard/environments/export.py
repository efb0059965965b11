"""Export an environment for tools outside Modelyard: requirements.txt, conda, Dockerfile.

Each export pins exactly the environment's lock and names the environment and its hash, so
an image or a conda environment can be traced back to the registered version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from modelyard.environments.models import Environment
from modelyard.errors import InvalidInput

ExportFormat = Literal["requirements", "conda", "dockerfile"]
FORMATS: tuple[str, ...] = get_args(ExportFormat)


def _header(env: Environment) -> str:
    return f"# Modelyard environment {env.ref} (Python {env.python})\n# sha256 {env.hash}\n"


def to_requirements(env: Environment) -> str:
    """A requirements.txt pinning the lock: ``pip install --no-deps -r`` installs it."""
    return _header(env) + "".join(f"{line}\n" for line in env.lock)


def to_conda(env: Environment) -> str:
    """A conda environment.yml: the Python version from conda, the lock from pip."""
    import yaml  # only this export needs YAML

    dependencies: list[object] = [f"python={env.python}", "pip"]
    if env.lock:
        dependencies.append({"pip": list(env.lock)})
    body = {"name": env.name, "channels": ["conda-forge"], "dependencies": dependencies}
    return _header(env) + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)


def to_dockerfile(env: Environment) -> str:
    """A Dockerfile on python:X.Y-slim that installs the lock from requirements.txt beside it."""
    return (
        _header(env)
        + "# Needs the lock beside it:\n"
        + f"#   modelyard env export {env.ref} --format requirements -o requirements.txt\n"
        + f"FROM python:{env.python}-slim\n"
        + f'LABEL org.modelyard.environment.name="{env.name}" \\\n'
        + f'      org.modelyard.environment.version="{env.version}" \\\n'
        + f'      org.modelyard.environment.hash="{env.hash}"\n'
        + "ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1\n"
        + "COPY requirements.txt /tmp/requirements.txt\n"
        + "RUN pip install --no-deps -r /tmp/requirements.txt\n"
    )


_RENDERERS: dict[str, Callable[[Environment], str]] = {
    "requirements": to_requirements,
    "conda": to_conda,
    "dockerfile": to_dockerfile,
}


def render(env: Environment, fmt: str) -> str:
    """The environment in one of ``FORMATS``."""
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise InvalidInput(f"unknown export format '{fmt}': use one of {', '.join(FORMATS)}")
    return renderer(env)
