"""Run a scoring app in process, its lifespan started and stopped, for a test's requests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

Scenario = Callable[[httpx.AsyncClient], Awaitable[None]]


def run_app(app: Any, scenario: Scenario, *, wait_ready: bool = True) -> None:
    """Run ``scenario`` against ``app``; with ``wait_ready``, once ``/readyz`` answers 200.

    The app's shutdown runs after the scenario, so an inference log is flushed by then.
    """

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://scoring") as client,
        ):
            if wait_ready:
                for _ in range(500):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.01)
            await scenario(client)

    asyncio.run(main())
