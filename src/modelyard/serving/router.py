"""The endpoint router: one address that forwards each request to a deployment by weight.

Routing is random by the traffic shares, or sticky when the client sends a routing key
(``X-Modelyard-Routing-Key``: the same key lands on the same deployment while the shares
stay the same). Only ready deployments take requests; a deployment that refuses a
connection (it crashed, or is being replaced) is retried once on another, since scoring
has no side effects. Mirrored copies go out after the answer, are counted and never
returned. The router keeps each deployment's recent outcomes, which the rollout controller
judges a step on, and counts what it did for Prometheus (``router_metrics.py``).
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard.config import DEFAULT_MAX_REQUEST_BYTES
from modelyard.core.body_limit import declared_too_large, send_error, too_large
from modelyard.serving.headers import DEPLOYMENT, MIRROR, REQUEST_ID, ROUTING_KEY
from modelyard.serving.metrics import CONTENT_TYPE
from modelyard.serving.models import Observation
from modelyard.serving.router_metrics import RouterMetrics
from modelyard.serving.upstream import Answer, UpstreamError, UpstreamPool

logger = logging.getLogger("modelyard.serving.router")

_FORWARDED = ("content-type", REQUEST_ID, "accept")
_WINDOW_MS = 15 * 60 * 1000  # outcomes older than this are forgotten
_MAX_OUTCOMES = 200_000
_MIRROR_IN_FLIGHT = 64


@dataclass
class Outcomes:
    """A deployment's recent requests: (time ms, latency ms, failed)."""

    entries: deque[tuple[float, float, bool]] = field(
        default_factory=lambda: deque(maxlen=_MAX_OUTCOMES)
    )
    in_flight: int = 0

    def add(self, latency_ms: float, failed: bool) -> None:
        now = time.time() * 1000
        self.entries.append((now, latency_ms, failed))
        while self.entries and self.entries[0][0] < now - _WINDOW_MS:
            self.entries.popleft()

    def since(self, since_ms: float) -> Observation:
        recent = [(lat, bad) for at, lat, bad in self.entries if at >= since_ms]
        if not recent:
            return Observation(requests=0, errors=0, p99_ms=None)
        latencies = sorted(lat for lat, _ in recent)
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        return Observation(requests=len(recent), errors=sum(bad for _, bad in recent), p99_ms=p99)


@dataclass(frozen=True)
class Table:
    """A routing decision table: cumulative shares over ready deployments."""

    names: tuple[str, ...] = ()
    bounds: tuple[float, ...] = ()

    @classmethod
    def of(cls, shares: Mapping[str, int], ready: set[str]) -> Table:
        # Shares of deployments that are not ready are spread over the ready ones, so a
        # deployment that is starting or crashed never receives a request.
        live = sorted((n, s) for n, s in shares.items() if s > 0 and n in ready)
        total = sum(s for _, s in live)
        if not total:
            return cls()
        bounds, acc = [], 0.0
        for _, share in live:
            acc += share / total
            bounds.append(acc)
        return cls(tuple(n for n, _ in live), tuple(bounds))

    def pick(self, point: float) -> str | None:
        """The deployment whose slice of [0, 1) holds ``point``."""
        if not self.names:
            return None
        return self.names[min(bisect.bisect_right(self.bounds, point), len(self.names) - 1)]


def _key_point(key: str) -> float:
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Router:
    """Forwards requests for one endpoint to its deployments' scoring servers."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.upstreams: dict[str, str] = {}  # ready deployment -> base URL
        self.traffic: dict[str, int] = {}
        self.mirror: dict[str, int] = {}
        self.table = Table()
        self.outcomes: dict[str, Outcomes] = {}
        self.mirror_dropped = 0
        self.mirror_sent = 0
        self._mirror_slots = asyncio.Semaphore(_MIRROR_IN_FLIGHT)
        self._mirror_tasks: set[asyncio.Task[None]] = set()
        self._pool = UpstreamPool()
        self.metrics = RouterMetrics(endpoint, self.shares)

    # -- state, set by the supervisor -------------------------------------------------------

    def update(
        self,
        *,
        traffic: Mapping[str, int] | None = None,
        mirror: Mapping[str, int] | None = None,
        upstreams: Mapping[str, str] | None = None,
    ) -> None:
        if traffic is not None:
            self.traffic = dict(traffic)
        if mirror is not None:
            self.mirror = dict(mirror)
        if upstreams is not None:
            self.upstreams = dict(upstreams)
        self.table = Table.of(self.traffic, set(self.upstreams))

    def shares(self) -> tuple[dict[str, int], dict[str, float], dict[str, int]]:
        """The split as set, the fraction each deployment gets now, and the mirror's."""
        routed = dict.fromkeys(self.traffic, 0.0)
        low = 0.0
        for name, high in zip(self.table.names, self.table.bounds, strict=True):
            routed[name] = high - low
            low = high
        return dict(self.traffic), routed, dict(self.mirror)

    def observe(self, deployment: str, since_ms: float) -> Observation:
        found = self.outcomes.get(deployment)
        return found.since(since_ms) if found else Observation(requests=0, errors=0)

    def in_flight(self, deployment: str) -> int:
        found = self.outcomes.get(deployment)
        return found.in_flight if found else 0

    def status(self) -> dict[str, Any]:
        now = time.time() * 1000
        return {
            "endpoint": self.endpoint,
            "traffic": self.traffic,
            "mirror": self.mirror,
            "ready": sorted(self.upstreams),
            "mirror_sent": self.mirror_sent,
            "mirror_dropped": self.mirror_dropped,
            "last_minute": {
                name: self.observe(name, now - 60_000).as_dict() for name in self.outcomes
            },
        }

    # -- requests ---------------------------------------------------------------------------

    async def close(self) -> None:
        for task in list(self._mirror_tasks):
            task.cancel()
        await self._pool.close()

    def choose(self, routing_key: str | None) -> str | None:
        point = _key_point(routing_key) if routing_key else random.random()
        return self.table.pick(point)

    async def _send(
        self, deployment: str, path: str, body: bytes, headers: dict[str, str]
    ) -> Answer | None:
        outcomes = self.outcomes.setdefault(deployment, Outcomes())
        outcomes.in_flight += 1
        started = time.perf_counter()
        failed = True
        try:
            answer = await self._pool.post(self.upstreams[deployment], path, body, headers)
            failed = answer.status >= 500
            return answer
        except (UpstreamError, KeyError):
            self.metrics.no_answer(deployment)
            return None
        finally:
            outcomes.in_flight -= 1
            outcomes.add((time.perf_counter() - started) * 1000, failed)

    async def forward(
        self, path: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        """Answer one request: (status, body, headers)."""
        sent = {k: v for k, v in headers.items() if k in _FORWARDED}
        request_id = sent.get(REQUEST_ID) or uuid.uuid4().hex
        sent[REQUEST_ID] = request_id
        chosen = self.choose(headers.get(ROUTING_KEY))
        tried: set[str] = set()
        while chosen is not None:
            tried.add(self.upstreams.get(chosen, ""))
            started = time.perf_counter()
            answer = await self._send(chosen, path, body, sent)
            if answer is not None:
                self.metrics.answered(chosen, answer.status, time.perf_counter() - started)
                self._mirror(path, body, sent)
                out = {
                    "content-type": answer.headers.get("content-type", "application/json"),
                    REQUEST_ID: request_id,
                    DEPLOYMENT: chosen,
                }
                return answer.status, answer.body, out
            # Refused or cut off: that worker is down or being replaced. Scoring has no side
            # effects, so another ready worker (perhaps the replacement) may answer instead.
            others = [n for n in self.table.names if self.upstreams.get(n) not in tried]
            chosen = random.choice(others) if others else None
        self.metrics.answered_here(503)
        return (
            503,
            (
                b'{"error": {"code": "unavailable", "message": "no deployment of this '
                b'endpoint is ready to answer", "details": {}}}'
            ),
            {"content-type": "application/json", REQUEST_ID: request_id},
        )

    def _mirror(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        for name, share in self.mirror.items():
            if name not in self.upstreams or random.random() * 100 >= share:
                continue
            if self._mirror_slots.locked():
                self.mirror_dropped += 1  # mirrors never slow down or queue behind live traffic
                self.metrics.mirror_skipped(name)
                continue
            task = asyncio.get_running_loop().create_task(
                self._send_mirror(name, path, body, {**headers, MIRROR: "1"})
            )
            self._mirror_tasks.add(task)
            task.add_done_callback(self._mirror_tasks.discard)

    async def _send_mirror(
        self, deployment: str, path: str, body: bytes, headers: dict[str, str]
    ) -> None:
        async with self._mirror_slots:
            self.mirror_sent += 1
            self.metrics.mirrored(deployment)
            answer = await self._send(deployment, path, body, headers)
            if answer is None or answer.status >= 400:
                status = "no answer" if answer is None else str(answer.status)
                logger.info("mirror to %s/%s: %s", self.endpoint, deployment, status)


def router_app(router: Router, *, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> Any:
    """The router's ASGI app: /invocations and /feedback forwarded; health, status and
    metrics answered by the router itself.

    Plain ASGI rather than a framework: the router adds a hop to every request, and a
    framework's request and response objects would cost more than the forwarding itself.
    A body over ``max_request_bytes`` is refused with 413 before it is held whole.
    """

    async def respond(send: Any, status: int, body: bytes, headers: dict[str, str]) -> None:
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    def as_json(value: Any) -> bytes:
        return json.dumps(value).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path in ("/invocations", "/feedback"):
            if method != "POST":
                router.metrics.answered_here(405)
                await respond(send, 405, b"", {"allow": "POST"})
                return
            if declared_too_large(scope, max_request_bytes):
                router.metrics.answered_here(413)
                await send_error(send, too_large(max_request_bytes))
                return
            chunks, size = [], 0
            while True:
                message = await receive()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > max_request_bytes:
                    router.metrics.answered_here(413)
                    await send_error(send, too_large(max_request_bytes))
                    return
                chunks.append(chunk)
                if not message.get("more_body"):
                    break
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            status, body, out = await router.forward(path, b"".join(chunks), headers)
            await respond(send, status, body, out)
            return
        plain = {"content-type": "application/json"}
        if path == "/healthz":
            await respond(send, 200, as_json({"status": "alive"}), plain)
        elif path == "/readyz":
            if router.table.names:
                found = {"status": "ready", "deployments": list(router.table.names)}
                await respond(send, 200, as_json(found), plain)
            else:
                reason = {"status": "unavailable", "reason": "no deployment with traffic is ready"}
                await respond(send, 503, as_json(reason), plain)
        elif path == "/status":
            await respond(send, 200, as_json(router.status()), plain)
        elif path == "/metrics":
            # The router's own: a deployment's metrics are on its own port.
            await respond(send, 200, router.metrics.render(), {"content-type": CONTENT_TYPE})
        else:
            missing = {"error": {"code": "not_found", "message": f"no route {path}", "details": {}}}
            await respond(send, 404, as_json(missing), plain)

    return app
