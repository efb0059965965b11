"""The environment this process runs in: captured once, registered once per backend.

Whatever runs in the running interpreter (a run started with ``modelyard.start_run``, a
pipeline step that names no environment) runs in this environment, so its hash is what they
record, and a pipeline step's cache key holds it: upgrading a library in the venv is a new
environment, and a cached step reruns. The capture (``capture.capture``) reads every
installed package's metadata once per process (about 20 ms for 150 packages); the packages
installed while the process runs are not seen until it restarts, as Python itself would not
import them reliably either.

The store gets the captured environment the first time a backend records something that
names it, so ``modelyard env show HASH`` resolves every hash a run records. It is looked up
by hash first: processes whose environments differ each register theirs once, under the
name ``captured``, instead of creating a version every time one starts.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref

from modelyard.core.backend import Backend
from modelyard.environments import operations as ops
from modelyard.environments.capture import capture
from modelyard.environments.hashing import environment_hash
from modelyard.environments.models import (
    EnvironmentSpec,
    FindEnvironmentByHash,
    RegisterEnvironment,
)
from modelyard.errors import NotFound

_registered: weakref.WeakSet[Backend] = weakref.WeakSet()
_lock = threading.Lock()


@functools.cache
def current_spec() -> EnvironmentSpec:
    """The running interpreter's Python version and installed packages (captured once)."""
    return capture()


@functools.cache
def current_hash() -> str:
    """The content hash of the running interpreter's environment (computed once)."""
    spec = current_spec()
    return environment_hash(spec.python, spec.lock or [])


def register_current(backend: Backend) -> str:
    """Make sure ``backend`` holds the running interpreter's environment; its hash.

    Once per process and backend: later calls with the same backend only return the hash.
    """
    digest = current_hash()
    with _lock:
        if _seen(backend):
            return digest
    try:
        backend.call(ops.find_environment_by_hash, FindEnvironmentByHash(hash=digest))
    except NotFound:
        spec = current_spec()
        request = RegisterEnvironment(
            name=spec.name,
            python=spec.python,
            lock=spec.lock or [],
            source="capture",
            description=spec.description,
        )
        backend.call(ops.register_environment, request)
    with _lock, contextlib.suppress(TypeError):  # a backend without weak references
        _registered.add(backend)
    return digest


def _seen(backend: Backend) -> bool:
    try:
        return backend in _registered
    except TypeError:  # a backend without weak references is asked every time
        return False
