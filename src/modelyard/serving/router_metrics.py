"""Prometheus metrics of an endpoint's router (``GET /metrics`` on the router's port).

Requests answered per deployment and status class, the router's latency to each
deployment, answers it never got (upstream errors), mirrored copies sent and dropped, and
the traffic shares: as set, and as routed now over the ready deployments. Every series is
labelled with the endpoint, so one Prometheus can scrape all routers of a machine.

Counters and histograms count as requests pass; the shares are read from the router's
state when scraped, so a deployment that leaves the split leaves the metrics with it.
The buckets and the text format are the scoring server's (``metrics.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from modelyard.serving.metrics import LATENCY_BUCKETS, render

# What the router's shares look like when scraped: (set by the split, routed now, mirrored).
Shares = Callable[[], tuple[Mapping[str, int], Mapping[str, float], Mapping[str, int]]]


def status_class(status: int) -> str:
    """``503`` -> ``5xx``: a dashboard sums classes; the deployment's own /metrics has
    the exact statuses."""
    return f"{status // 100}xx"


class _SharesCollector:
    """Gauges of the traffic shares, read from the router at scrape time."""

    def __init__(self, endpoint: str, shares: Shares) -> None:
        self.endpoint = endpoint
        self.shares = shares

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        traffic, routed, mirror = self.shares()
        families = [
            (
                "modelyard_router_traffic_share",
                "Percent of live requests the traffic split gives a deployment.",
                traffic,
            ),
            (
                "modelyard_router_routed_share",
                "Fraction of live requests routed to a deployment now, over the ready ones.",
                routed,
            ),
            (
                "modelyard_router_mirror_share",
                "Percent of live requests copied to a mirror deployment.",
                mirror,
            ),
        ]
        for name, documentation, values in families:
            family = GaugeMetricFamily(name, documentation, labels=["endpoint", "deployment"])
            for deployment, value in sorted(values.items()):
                family.add_metric([self.endpoint, deployment], float(value))
            yield family


class RouterMetrics:
    """The metrics one endpoint's router exposes, in a registry of its own."""

    def __init__(self, endpoint: str, shares: Shares) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.endpoint = endpoint
        self.registry = CollectorRegistry()
        per_deployment = ["endpoint", "deployment"]
        self.requests = Counter(
            "modelyard_router_requests",
            "Live requests a deployment answered, by status class (2xx, 4xx, 5xx).",
            [*per_deployment, "status_class"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelyard_router_request_duration_seconds",
            "Time from forwarding a live request to a deployment to its answer.",
            per_deployment,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "modelyard_router_upstream_errors",
            "Requests (live or mirrored) a deployment did not answer: refused or cut off.",
            per_deployment,
            registry=self.registry,
        )
        self.unrouted = Counter(
            "modelyard_router_unrouted",
            "Requests the router answered itself: 503 (no deployment ready), 413, 405.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.mirror_sent = Counter(
            "modelyard_router_mirror_sent",
            "Copies of live requests sent to a mirror deployment.",
            per_deployment,
            registry=self.registry,
        )
        self.mirror_dropped = Counter(
            "modelyard_router_mirror_dropped",
            "Copies not sent because as many as allowed were already in flight.",
            per_deployment,
            registry=self.registry,
        )
        self.registry.register(_SharesCollector(endpoint, shares))

    def answered(self, deployment: str, status: int, seconds: float) -> None:
        self.requests.labels(self.endpoint, deployment, status_class(status)).inc()
        self.latency.labels(self.endpoint, deployment).observe(seconds)

    def no_answer(self, deployment: str) -> None:
        self.upstream_errors.labels(self.endpoint, deployment).inc()

    def answered_here(self, status: int) -> None:
        self.unrouted.labels(self.endpoint, str(status)).inc()

    def mirrored(self, deployment: str) -> None:
        self.mirror_sent.labels(self.endpoint, deployment).inc()

    def mirror_skipped(self, deployment: str) -> None:
        self.mirror_dropped.labels(self.endpoint, deployment).inc()

    def render(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return render(self.registry)
