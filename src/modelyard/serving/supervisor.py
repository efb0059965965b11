"""The local supervisor: makes the processes on this machine match the endpoints in the store.

Every ``poll_seconds`` it reads the desired state (endpoints, deployments, traffic) and:

- runs one router per endpoint on the endpoint's port (in this process);
- runs each deployment as a process of its own (``serving/deployment_process.py``: the
  version's files, in the version's environment, with its workers), and tells the router
  about it once its ``/readyz`` answers;
- restarts a deployment that exits, with backoff (1 s doubling to 60 s, reset after a
  minute of health); a deployment that is down takes no requests meanwhile;
- replaces a deployment whose model or settings changed without a gap: the new process
  starts, becomes ready and takes over before the old one is drained and stopped;
- drains a deployment that was deleted (no new requests, in-flight ones finish) and stops it;
- ticks each running rollout with the router's view of the target's health.

Because all of this state lives in the store, a restarted supervisor restores it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelyard.config import Settings
from modelyard.core.backend import Backend
from modelyard.serving import operations as ops
from modelyard.serving import rollouts
from modelyard.serving.deployment_process import LAUNCH_ENV, DeploymentLaunch, command
from modelyard.serving.models import (
    AdvanceRollout,
    Deployment,
    DeploymentConfig,
    Endpoint,
    ListEndpoints,
    LiveDeployment,
    LiveEndpoint,
    RolloutState,
)
from modelyard.serving.router import Router, router_app

logger = logging.getLogger("modelyard.serving.supervisor")

MAX_BACKOFF_S = 60.0
HEALTHY_RESET_S = 60.0
# Requests already sent to a worker that leaves the routing table reach it within this;
# after it, SIGTERM makes uvicorn stop accepting and finish the requests it has.
DRAIN_GRACE_S = 1.0
# A first start may build the version's environment (a cached one takes under a second).
READY_TIMEOUT_S = 900.0


def _reserve_port(preferred: int = 0) -> socket.socket:
    """A free port (``preferred`` if it still is), held: bound (not listening) with
    SO_REUSEADDR, so no other process is given it while the deployment starts, and the
    deployment's server (which binds with SO_REUSEADDR too, and listens) can still take
    it. Released once the deployment is ready."""
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        held.bind(("127.0.0.1", preferred))
    except OSError:  # someone took it meanwhile: any free one will do
        held.bind(("127.0.0.1", 0))
    return held


@dataclass(frozen=True)
class Spec:
    """What a deployment process runs; a change means a replacement."""

    model_uri: str
    workers: int
    config: DeploymentConfig

    @classmethod
    def of(cls, deployment: Deployment) -> Spec:
        return cls(
            model_uri=deployment.version_uri,
            workers=deployment.workers,
            config=deployment.config,
        )


@dataclass
class Worker:
    """One ``modelyard serve`` process of a deployment."""

    endpoint: str
    name: str
    spec: Spec
    port: int
    process: subprocess.Popen[bytes] | None = None
    ready: bool = False
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = 1.0
    restart_at: float | None = None
    last_exit: int | None = None
    drain_at: float | None = None
    # The port's reservation until the process listens on it (``_reserve_port``).
    reservation: socket.socket | None = field(default=None, repr=False)

    def release_port(self) -> None:
        if self.reservation is not None:
            self.reservation.close()
            self.reservation = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def state(self) -> str:
        if self.ready:
            return "ready"
        if self.restart_at is not None:
            return "restarting"
        return "starting"


@dataclass
class Served:
    """An endpoint this supervisor runs: its router, server and deployment workers."""

    router: Router
    port: int
    # The router's HTTP server; None while it cannot listen (router_error says why).
    server: Any = None
    task: asyncio.Task[None] | None = None
    router_error: str | None = None
    workers: dict[str, Worker] = field(default_factory=dict)
    replacing: dict[str, Worker] = field(default_factory=dict)
    draining: list[Worker] = field(default_factory=list)


class Supervisor:
    """Run every endpoint of the store on this machine until stopped."""

    def __init__(
        self,
        backend: Backend,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        poll_seconds: float = 1.0,
        min_requests: int = 20,
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.host = host
        self.poll_seconds = poll_seconds
        self.min_requests = min_requests
        self.served: dict[str, Served] = {}
        self.stopping = threading.Event()
        self.log_dir = settings.home / "serving" / "logs"
        self.status_file = settings.home / "serving" / "supervisor.json"
        self._http: Any = None

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Supervise until SIGINT or SIGTERM (in the main thread) or ``stop()``."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self.stopping.set())
        # uvicorn takes over signal handlers when it runs in the main thread; in another
        # thread it leaves them to us.
        thread = threading.Thread(target=lambda: asyncio.run(self.main()), name="supervisor")
        thread.start()
        while thread.is_alive():
            thread.join(0.2)

    def stop(self) -> None:
        self.stopping.set()

    async def main(self) -> None:
        import httpx

        self._http = httpx.AsyncClient(timeout=2.0)
        try:
            while not self.stopping.is_set():
                try:
                    await self.reconcile()
                except Exception:  # the store may be briefly unreachable: keep serving
                    logger.exception("reconciling with the store failed; retrying")
                await self._sleep(self.poll_seconds)
        finally:
            await self.shutdown()
            await self._http.aclose()

    async def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stopping.is_set() and time.monotonic() < end:
            await asyncio.sleep(min(0.05, seconds))

    async def reconcile(self) -> None:
        """One pass: bring routers and workers in line with the store, tick rollouts."""
        wanted = await asyncio.to_thread(self.backend.call, ops.list_endpoints, ListEndpoints())
        endpoints = {e.name: e for e in wanted.endpoints}
        for name in [n for n in self.served if n not in endpoints]:
            await self._retire_endpoint(name)
        for endpoint in endpoints.values():
            served = await self._serve_endpoint(endpoint)
            await self._reconcile_workers(endpoint, served)
            await self._tick_rollout(endpoint, served)
        self._write_status()

    # -- endpoints --------------------------------------------------------------------------

    async def _serve_endpoint(self, endpoint: Endpoint) -> Served:
        served = self.served.get(endpoint.name)
        if served is not None and served.port != endpoint.port:
            await self._retire_endpoint(endpoint.name)
            served = None
        if served is None:
            served = Served(Router(endpoint.name), endpoint.port)
            self.served[endpoint.name] = served
        if served.task is not None and served.task.done():
            failure = served.task.exception() if not served.task.cancelled() else None
            logger.error("endpoint %s: router on port %d stopped (%s); restarting it",
                         endpoint.name, endpoint.port, failure or "exited")  # fmt: skip
            served.server = served.task = None
        if served.task is None:
            self._start_router(endpoint.name, served)
        # The deployments are supervised whether or not the router listens yet: a port
        # that is busy for a while must not restart (or orphan) them.
        served.router.update(traffic=endpoint.traffic, mirror=endpoint.mirror)
        return served

    def _start_router(self, endpoint: str, served: Served) -> None:
        """Listen on the endpoint's port and serve its router; when the port cannot be
        bound, say why once and try again at the next poll."""
        import uvicorn

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, served.port))
            listener.listen(2048)
        except OSError as exc:
            listener.close()
            error = f"cannot listen on {self.host}:{served.port}: {exc.strerror or exc}"
            if served.router_error != error:
                logger.error("endpoint %s: router %s; retrying at every poll", endpoint, error)
            served.router_error = error
            return
        config = uvicorn.Config(
            router_app(served.router, max_request_bytes=self.settings.max_request_bytes),
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        served.server = uvicorn.Server(config)
        served.task = asyncio.get_running_loop().create_task(_serve_on(served.server, listener))
        served.router_error = None
        logger.info("endpoint %s: router on %s:%d", endpoint, self.host, served.port)

    async def _retire_endpoint(self, name: str) -> None:
        served = self.served.pop(name)
        for worker in [*served.workers.values(), *served.replacing.values(), *served.draining]:
            await self._terminate(worker)
        if served.task is not None:
            served.server.should_exit = True
            with contextlib.suppress(Exception):
                await served.task
        await served.router.close()
        logger.info("endpoint %s: stopped", name)

    # -- deployments ------------------------------------------------------------------------

    async def _reconcile_workers(self, endpoint: Endpoint, served: Served) -> None:
        wanted = {d.name: d for d in endpoint.deployments}
        for name in [n for n in served.workers if n not in wanted]:
            worker = served.workers.pop(name)
            served.draining.append(worker)
            logger.info("deployment %s/%s: deleted; draining", endpoint.name, name)
        for name, deployment in wanted.items():
            spec = Spec.of(deployment)
            current = served.workers.get(name)
            if current is None:
                served.workers[name] = self._start(endpoint.name, name, spec)
            elif current.spec != spec:
                pending = served.replacing.get(name)
                if pending is None or pending.spec != spec:
                    if pending is not None:
                        await self._terminate(pending)
                    served.replacing[name] = self._start(endpoint.name, name, spec)
                    logger.info("deployment %s/%s: changed; starting a replacement",
                                endpoint.name, name)  # fmt: skip
        for worker in [*served.workers.values(), *served.replacing.values()]:
            await self._check(worker)
        for name, pending in list(served.replacing.items()):
            if pending.ready:
                old = served.workers[name]
                served.workers[name] = pending
                del served.replacing[name]
                served.draining.append(old)
                logger.info("deployment %s/%s: replacement ready", endpoint.name, name)
        served.router.update(upstreams={n: w.url for n, w in served.workers.items() if w.ready})
        await self._drain(served)

    def _start(self, endpoint: str, name: str, spec: Spec) -> Worker:
        held = _reserve_port()
        worker = Worker(endpoint, name, spec, held.getsockname()[1], reservation=held)
        self._launch(worker)
        return worker

    def _launch(self, worker: Worker) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if worker.reservation is None:  # a restart: hold the port again, or take another
            held = _reserve_port(worker.port)
            worker.reservation, worker.port = held, held.getsockname()[1]
        launch = DeploymentLaunch(
            endpoint=worker.endpoint,
            deployment=worker.name,
            model_uri=worker.spec.model_uri,
            port=worker.port,
            workers=worker.spec.workers,
            config=worker.spec.config,
        )
        env = {
            **os.environ,
            **self.settings.for_child_process(),
            LAUNCH_ENV: launch.model_dump_json(),
        }
        log = (self.log_dir / f"{worker.endpoint}-{worker.name}.log").open("ab")
        with log:
            worker.process = subprocess.Popen(
                command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # its workers are stopped with it, as a group
            )
        worker.started_at = time.monotonic()
        worker.ready = False
        worker.restart_at = None
        logger.info(
            "deployment %s/%s: started %s on port %d (pid %d)",
            worker.endpoint,
            worker.name,
            worker.spec.model_uri,
            worker.port,
            worker.process.pid,
        )

    async def _check(self, worker: Worker) -> None:
        """Notice an exit (and restart it after its backoff), or readiness."""
        now = time.monotonic()
        if worker.restart_at is not None:
            if now >= worker.restart_at:
                worker.restarts += 1
                self._launch(worker)
            return
        assert worker.process is not None
        code = worker.process.poll()
        if code is not None:
            worker.ready = False
            worker.last_exit = code
            if now - worker.started_at > HEALTHY_RESET_S:
                worker.backoff_s = 1.0
            worker.restart_at = now + worker.backoff_s
            logger.warning(
                "deployment %s/%s: exited with %s; restarting in %.0f s",
                worker.endpoint,
                worker.name,
                code,
                worker.backoff_s,
            )
            worker.backoff_s = min(worker.backoff_s * 2, MAX_BACKOFF_S)
            return
        if not worker.ready:
            try:
                answer = await self._http.get(worker.url + "/readyz")
                worker.ready = answer.status_code == 200
            except Exception:  # not listening yet
                worker.ready = False
            if worker.ready:
                worker.release_port()  # it listens now: the port is its own
                logger.info("deployment %s/%s: ready", worker.endpoint, worker.name)
            elif now - worker.started_at > READY_TIMEOUT_S:
                logger.error(
                    "deployment %s/%s: not ready after %.0f s; restarting",
                    worker.endpoint,
                    worker.name,
                    READY_TIMEOUT_S,
                )
                await self._terminate(worker)
                worker.restart_at = now + worker.backoff_s

    async def _drain(self, served: Served) -> None:
        now = time.monotonic()
        for worker in list(served.draining):
            if worker.drain_at is None:
                worker.drain_at = now
            if now - worker.drain_at >= DRAIN_GRACE_S:
                served.draining.remove(worker)
                await self._terminate(worker)

    async def _terminate(self, worker: Worker) -> None:
        process = worker.process
        worker.ready = False
        worker.release_port()
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await asyncio.to_thread(process.wait)
        logger.info("deployment %s/%s: stopped (port %d)", worker.endpoint, worker.name,
                    worker.port)  # fmt: skip

    async def shutdown(self) -> None:
        for name in list(self.served):
            await self._retire_endpoint(name)
        self._write_status()

    # -- rollouts ---------------------------------------------------------------------------

    async def _tick_rollout(self, endpoint: Endpoint, served: Served) -> None:
        rollout = endpoint.rollout
        if rollout is None or rollout.state != RolloutState.RUNNING:
            return
        observed = served.router.observe(rollout.target, rollout.step_started_at)
        request = AdvanceRollout(
            endpoint=endpoint.name,
            rollout_id=rollout.id,
            observed=observed,
            min_requests=self.min_requests,
        )
        after = await asyncio.to_thread(self.backend.call, rollouts.advance_rollout, request)
        if after.history and after.history[-1] != rollout.history[-1]:
            # Apply the new split now rather than at the next poll.
            served.router.update(traffic=after.history[-1].traffic)
            logger.info(
                "endpoint %s: rollout %s %s: %s",
                endpoint.name,
                after.id,
                after.history[-1].action,
                after.history[-1].traffic,
            )

    # -- status -----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "at": int(time.time() * 1000),
            "endpoints": {
                name: {
                    "url": f"http://{self.host}:{served.port}",
                    "router_error": served.router_error,
                    "routing": served.router.status(),
                    "deployments": {
                        d: {
                            "state": w.state(),
                            "url": w.url,
                            "pid": w.process.pid if w.process else None,
                            "model": w.spec.model_uri,
                            "workers": w.spec.workers,
                            "restarts": w.restarts,
                            "last_exit": w.last_exit,
                        }
                        for d, w in served.workers.items()
                    },
                }
                for name, served in self.served.items()
            },
        }

    def _write_status(self) -> None:
        path = Path(self.status_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.status() if self.served else {}, indent=2))
        tmp.replace(path)


async def _serve_on(server: Any, listener: socket.socket) -> None:
    """Serve ``server`` on the bound ``listener`` until it is told to exit."""
    try:
        await server.serve(sockets=[listener])
    except SystemExit:
        # uvicorn exits the process when its startup fails; here that would end the
        # supervisor's loop and leave its deployments unsupervised.
        raise RuntimeError("the router's server failed to start") from None
    finally:
        listener.close()


def read_status(settings: Settings) -> dict[str, Any]:
    """The last status a supervisor on this machine wrote ({} when none runs)."""
    path = settings.home / "serving" / "supervisor.json"
    try:
        found = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return found if isinstance(found, dict) else {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def live_endpoint(settings: Settings, endpoint: Endpoint) -> LiveEndpoint:
    """What the supervisor on this machine reports for ``endpoint``, every deployment of it
    included; not supervised, saying why, when no supervisor runs it.

    A supervisor that stops writes an empty status; one that was killed leaves its last
    one, which counts only while its process is alive.
    """
    status = read_status(settings)
    pid = status.get("pid")
    reported = status.get("endpoints", {}).get(endpoint.name)
    hint = "run `modelyard supervisor` to serve it"
    if not isinstance(pid, int):
        reason = f"no supervisor is running on this machine: {hint}"
    elif not _alive(pid):
        reason = f"the supervisor that last reported (pid {pid}) is no longer running: {hint}"
    elif not isinstance(reported, dict):
        reason = (
            f"the supervisor (pid {pid}) does not serve endpoint '{endpoint.name}' yet: it "
            "starts the router at its next poll (see its output if it cannot bind the port)"
        )
    else:
        deployments = reported.get("deployments", {})
        return LiveEndpoint(
            supervised=True,
            supervisor_pid=pid,
            reported_at=status.get("at"),
            url=reported.get("url"),
            router_error=reported.get("router_error"),
            routing=reported.get("routing"),
            deployments={
                d.name: LiveDeployment.model_validate(
                    deployments.get(d.name, {"state": "not running"})
                )
                for d in endpoint.deployments
            },
        )
    return LiveEndpoint(
        supervised=False,
        reason=reason,
        supervisor_pid=pid if isinstance(pid, int) else None,
        reported_at=status.get("at"),
        deployments={d.name: LiveDeployment(state="not running") for d in endpoint.deployments},
    )
