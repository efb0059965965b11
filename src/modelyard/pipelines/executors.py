"""Executors run step tasks: inline, on local processes, or on a Dask cluster.

The runner decides what runs when (the DAG); an executor only runs one ``Task`` and hands
back a future of its ``Result``. Steps that need their own interpreter (an environment, a
timeout) run isolated in a child process whatever the executor.
"""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any, Protocol

from modelyard.errors import InvalidInput
from modelyard.pipelines.worker import Result, Task, execute, portable


class Executor(Protocol):
    name: str

    def submit(self, task: Task) -> cf.Future[Result]: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Runs each step in this process, one at a time, in DAG order."""

    name = "inline"

    def submit(self, task: Task) -> cf.Future[Result]:
        future: cf.Future[Result] = cf.Future()
        try:
            future.set_result(execute(task))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def close(self) -> None:
        pass


class ProcessExecutor:
    """Runs independent steps in parallel on ``workers`` local processes."""

    def __init__(self, workers: int = 2) -> None:
        import multiprocessing

        if workers < 1:
            raise InvalidInput("the process executor needs at least one worker")
        self.name = f"processes:{workers}"
        # spawn: a clean interpreter per worker, safe whatever threads this process runs.
        self._pool = cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )

    def submit(self, task: Task) -> cf.Future[Result]:
        return self._pool.submit(execute, portable(task))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """Runs steps on a Dask distributed cluster (``address``) or a local one it starts."""

    def __init__(self, address: str | None = None, *, workers: int = 2) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InvalidInput(
                "the Dask executor needs Dask: pip install 'modelyard[dask]'"
            ) from None
        self._cluster: Any = None
        if address:
            self.name = f"dask://{address}"
            self._client = Client(address, timeout="10s")
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

    def submit(self, task: Task) -> cf.Future[Result]:
        future: cf.Future[Result] = cf.Future()
        dask_future = self._client.submit(execute, portable(task), pure=False)

        def done(f: Any) -> None:
            try:
                future.set_result(f.result())
            except BaseException as exc:
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
        f"unknown executor '{spec}': use inline, processes[:N], dask or dask://host:port",
        details={"executor": spec},
    )


def make_executor(spec: str | Executor | None) -> Executor:
    """``inline``, ``processes[:N]``, ``dask`` (a local cluster) or ``dask://host:port``."""
    if spec is None:
        return InlineExecutor()
    if not isinstance(spec, str):
        return spec
    kind, argument = parse_executor_spec(spec)
    if kind == "processes":
        return ProcessExecutor(int(argument) if argument else 2)
    if kind == "dask":
        return DaskExecutor(argument)
    return InlineExecutor()
