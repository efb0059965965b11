"""Executors: where work runs. Inline, on local processes, or on a Dask cluster.

One layer serves every area that fans work out: pipelines submit step tasks, batch scoring
submits chunks. An executor runs one call, ``fn(*args)``, and hands back a
``concurrent.futures.Future`` of its result, whatever engine is behind it, so callers can
``wait`` on several. ``slots`` says how many calls it runs at once (callers that bound
their work in flight size it by that), and ``in_process`` whether calls run in this
interpreter (arguments need not be picklable then).

Executor specs, as users write them: ``inline``, ``processes[:N]``, ``dask`` (a local
cluster started for the job) or ``dask://host:port`` (an existing scheduler).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from modelyard.errors import InvalidInput

T = TypeVar("T")

DEFAULT_WORKERS = 2
SPEC_HELP = "inline, processes[:N], dask or dask://host:port"


class Executor(Protocol):
    name: str
    slots: int
    in_process: bool

    def submit(self, fn: Callable[..., T], /, *args: Any) -> cf.Future[T]: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Runs each call in this process, at once, one at a time."""

    name = "inline"
    slots = 1
    in_process = True

    def submit(self, fn: Callable[..., T], /, *args: Any) -> cf.Future[T]:
        future: cf.Future[T] = cf.Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # the caller reads it from the future, as from a pool
            future.set_exception(exc)
        return future

    def close(self) -> None:
        pass


class ProcessExecutor:
    """Runs calls in parallel on ``workers`` local processes."""

    in_process = False

    def __init__(self, workers: int = DEFAULT_WORKERS) -> None:
        if workers < 1:
            raise InvalidInput("the process executor needs at least one worker")
        self.name = f"processes:{workers}"
        self.slots = workers
        # spawn: a clean interpreter per worker, safe whatever threads this process runs.
        self._pool = cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )

    def submit(self, fn: Callable[..., T], /, *args: Any) -> cf.Future[T]:
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Runs calls on a Dask distributed cluster (``address``) or a local one it starts."""

    in_process = False

    def __init__(self, address: str | None = None, *, workers: int = DEFAULT_WORKERS) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InvalidInput(
                "the Dask executor needs Dask: pip install 'modelyard[dask]'"
            ) from None
        self._cluster: Any = None
        if address:
            self.name = f"dask://{address}"
            try:
                self._client: Any = Client(address, timeout="10s")
            except OSError as exc:
                raise InvalidInput(
                    f"cannot reach the Dask scheduler at {address}: {exc}; check the "
                    "address, or use a local cluster with --executor dask",
                    details={"executor": self.name},
                ) from exc
        else:
            self.name = "dask"
            self._cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            )
            self._client = Client(self._cluster)
        self.slots = max(1, sum(self._client.nthreads().values()))

    def submit(self, fn: Callable[..., T], /, *args: Any) -> cf.Future[T]:
        future: cf.Future[T] = cf.Future()
        dask_future = self._client.submit(fn, *args, pure=False)

        def done(finished: Any) -> None:
            try:
                future.set_result(finished.result())
            except BaseException as exc:  # the call's own error, handed to the caller
                future.set_exception(exc)

        dask_future.add_done_callback(done)
        return future

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def parse_executor_spec(spec: str) -> tuple[str, str | None]:
    """Check an executor spec without starting anything: (kind, argument)."""
    kind, _, argument = spec.partition(":")
    if spec == "inline":
        return "inline", None
    if kind == "processes" and (not argument or (argument.isdigit() and int(argument) > 0)):
        return "processes", argument or None
    if spec == "dask":
        return "dask", None
    if spec.startswith("dask://") and len(spec) > len("dask://"):
        return "dask", spec.removeprefix("dask://")
    raise InvalidInput(
        f"unknown executor '{spec}': use {SPEC_HELP}",
        details={"executor": spec},
    )


def make_executor(spec: str | Executor | None) -> Executor:
    """The executor a spec names (an executor given as itself is returned as it is)."""
    if spec is None:
        return InlineExecutor()
    if not isinstance(spec, str):
        return spec
    kind, argument = parse_executor_spec(spec)
    if kind == "processes":
        return ProcessExecutor(int(argument) if argument else DEFAULT_WORKERS)
    if kind == "dask":
        return DaskExecutor(argument)
    return InlineExecutor()
