"""The router's upstream client and its ASGI app, against tiny servers on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelyard.serving.headers import ROUTING_KEY
from modelyard.serving.router import Router, router_app
from modelyard.serving.upstream import UpstreamError, UpstreamPool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return await reader.readexactly(length)


def test_keeps_connections_alive_and_reads_both_body_framings() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                body = await _read_request(reader)
            except asyncio.IncompleteReadError:
                return
            if body == b"chunked":
                writer.write(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                    b"Content-Type: text/plain\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                )
            else:
                writer.write(
                    b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\nX-Echo: yes\r\n\r\n%s"
                    % (len(body), body)
                )
            await writer.drain()

    async def main() -> None:
        server, url = await _serve(handler)
        pool = UpstreamPool()
        try:
            first = await pool.post(url, "/invocations", b"hello", {"content-type": "text/plain"})
            assert (first.status, first.body, first.headers["x-echo"]) == (201, b"hello", "yes")
            second = await pool.post(url, "/invocations", b"chunked", {})
            assert (second.status, second.body) == (200, b"abcde")
            assert connections == 1  # the same kept-alive connection
        finally:
            await pool.close()
            server.close()

    asyncio.run(main())


def test_a_dropped_kept_alive_connection_is_retried_once_on_a_fresh_one() -> None:
    served = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        body = await _read_request(reader)
        served += 1
        # Answer, then close: like a server that ends idle keep-alive connections.
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    async def main() -> None:
        server, url = await _serve(handler)
        pool = UpstreamPool()
        try:
            for n in range(3):
                answer = await pool.post(url, "/x", str(n).encode(), {})
                assert answer.body == str(n).encode()
            assert served == 3
        finally:
            await pool.close()
            server.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    "reply",
    [b"", b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", b"NOT HTTP AT ALL\r\n\r\n"],
)
def test_no_answer_is_an_upstream_error(reply: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(reply)
        await writer.drain()
        writer.close()

    async def main() -> None:
        server, url = await _serve(handler)
        pool = UpstreamPool()
        try:
            with pytest.raises(UpstreamError):
                await pool.post(url, "/x", b"{}", {})
            with pytest.raises(UpstreamError, match="cannot connect"):
                await pool.post("http://127.0.0.1:9", "/x", b"{}", {})
        finally:
            await pool.close()
            server.close()

    asyncio.run(main())


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    """A body sent chunked, with no Content-Length."""
    for start in range(0, len(body), 100):
        yield body[start : start + 100]


def test_the_router_app_routes_and_answers_for_itself() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                body = await _read_request(reader)
            except asyncio.IncompleteReadError:
                return
            out = json.dumps({"predictions": [len(body)]}).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(out), out)
            )
            await writer.drain()

    async def main() -> None:
        server, url = await _serve(handler)
        router = Router("churn")
        app = router_app(router, max_request_bytes=1000)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://router") as http:
                assert (await http.get("/healthz")).status_code == 200
                assert (await http.get("/readyz")).status_code == 503
                nothing = await http.post("/invocations", content=b"[1]")
                assert nothing.status_code == 503
                assert nothing.json()["error"]["code"] == "unavailable"
                router.update(traffic={"blue": 100}, mirror={}, upstreams={"blue": url})
                assert (await http.get("/readyz")).json()["deployments"] == ["blue"]
                answer = await http.post(
                    "/invocations", content=b"[1, 2]", headers={"x-request-id": "r-1"}
                )
                assert answer.json() == {"predictions": [6]}
                assert answer.headers["x-request-id"] == "r-1"
                assert answer.headers["x-modelyard-deployment"] == "blue"
                assert (await http.get("/invocations")).status_code == 405
                for body in (b"[" + b"1," * 600 + b"1]", _chunks(b"1," * 600)):
                    refused = await http.post("/invocations", content=body)
                    assert refused.status_code == 413
                    assert refused.json()["error"]["code"] == "payload_too_large"
                assert (await http.get("/nope")).status_code == 404
                status: Any = (await http.get("/status")).json()
                assert status["ready"] == ["blue"]
                assert status["last_minute"]["blue"]["requests"] == 1
        finally:
            await router.close()
            server.close()

    asyncio.run(main())


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_router_metrics_say_what_it_routed_and_are_never_forwarded() -> None:
    forwarded: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
            except (asyncio.IncompleteReadError, IndexError):
                return
            forwarded.append(head.split(b" ")[1])
            status = b"422 Unprocessable" if body == b"bad" else b"200 OK"
            writer.write(b"HTTP/1.1 %s\r\nContent-Length: 2\r\n\r\n{}" % status)
            await writer.drain()

    async def main() -> None:
        server, url = await _serve(handler)
        router = Router("churn")
        transport = httpx.ASGITransport(app=router_app(router, max_request_bytes=1000))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://router") as http:
                await http.post("/invocations", content=b"[1]")  # nothing ready: 503
                # green is down: its port refuses, so each request it gets goes to blue.
                router.update(
                    traffic={"blue": 75, "green": 25, "grey": 0},
                    mirror={},
                    upstreams={"blue": url, "green": "http://127.0.0.1:9"},
                )
                keys = (str(n) for n in range(1000))
                to_green = next(k for k in keys if router.choose(k) == "green")
                for body in (b"[1]", b"[2]", b"bad"):
                    await http.post("/invocations", content=body, headers={ROUTING_KEY: to_green})
                await http.post("/invocations", content=b"1" * 2000)  # 413 at the router
                router.update(upstreams={"blue": url})
                page = await http.get("/metrics")
        finally:
            await router.close()
            server.close()
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/plain")
        assert forwarded == [b"/invocations"] * 3
        found = _samples(page.text)

        def value(name: str, **labels: str) -> float:
            return found.get((name, tuple(sorted({"endpoint": "churn", **labels}.items()))), 0)

        requests = "modelyard_router_requests_total"
        assert value(requests, deployment="blue", status_class="2xx") == 2
        assert value(requests, deployment="blue", status_class="4xx") == 1
        assert value("modelyard_router_request_duration_seconds_count", deployment="blue") == 3
        # Each went to green first, found its port closed and was answered by blue.
        assert value("modelyard_router_upstream_errors_total", deployment="green") == 3
        assert value(requests, deployment="green", status_class="2xx") == 0
        assert value("modelyard_router_unrouted_total", status="503") == 1
        assert value("modelyard_router_unrouted_total", status="413") == 1
        assert value("modelyard_router_traffic_share", deployment="blue") == 75
        assert value("modelyard_router_traffic_share", deployment="green") == 25
        # green is no longer ready: blue takes all that is routed now.
        assert value("modelyard_router_routed_share", deployment="blue") == 1
        assert value("modelyard_router_routed_share", deployment="green") == 0

    asyncio.run(main())


def test_mirrored_copies_are_counted_sent_and_dropped() -> None:
    async def main() -> None:
        router = Router("churn")
        router.update(
            traffic={"blue": 100},
            mirror={"shadow": 100},
            upstreams={"shadow": "http://127.0.0.1:9"},
        )
        router._mirror_slots = asyncio.Semaphore(0)  # every slot taken: copies are dropped
        router._mirror("/invocations", b"[1]", {})
        router._mirror_slots = asyncio.Semaphore(1)
        router._mirror("/invocations", b"[1]", {})
        await asyncio.gather(*router._mirror_tasks)
        found = _samples(router.metrics.render().decode())
        labels = (("deployment", "shadow"), ("endpoint", "churn"))
        assert found[("modelyard_router_mirror_dropped_total", labels)] == 1
        assert found[("modelyard_router_mirror_sent_total", labels)] == 1
        assert found[("modelyard_router_upstream_errors_total", labels)] == 1
        assert found[("modelyard_router_mirror_share", labels)] == 100
        await router.close()

    asyncio.run(main())
