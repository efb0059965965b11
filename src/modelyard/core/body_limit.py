"""A limit on request bodies for every HTTP app Modelyard runs: REST server, scoring server, router.

A body is held in memory while it is parsed, so an unbounded one could exhaust the server's
memory: over the limit, the request is refused with 413 and the usual error body, either
at once (a ``Content-Length`` that says so) or as soon as the streamed bytes pass it.
Plain ASGI, so it sits in front of any framework and costs one header lookup per request.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from modelyard.errors import PayloadTooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def too_large(limit: int) -> PayloadTooLarge:
    """The error for a body over ``limit`` bytes, saying what to do about it."""
    return PayloadTooLarge(
        f"the request body is larger than {limit} bytes; send smaller batches "
        "(or raise MODELYARD_MAX_REQUEST_BYTES on the server)",
        details={"limit": limit},
    )


def declared_too_large(scope: Scope, limit: int) -> bool:
    """Whether the request's ``Content-Length`` already says its body is over ``limit``."""
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            return bool(value.isdigit() and int(value) > limit)
    return False


async def send_error(send: Send, error: PayloadTooLarge) -> None:
    """Answer with ``error``'s status and the body ``{"error": {...}}``."""
    body = json.dumps({"error": error.to_dict()}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": error.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware refusing request bodies over ``limit`` bytes with 413.

    A body streamed past the limit raises ``PayloadTooLarge`` from ``receive``, which the
    app maps like any domain error. Paths under ``exempt`` (uploads streamed to disk, never
    held in memory) pass unchecked.
    """

    def __init__(self, app: ASGIApp, limit: int, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.limit = limit
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.exempt and scope["path"].startswith(self.exempt)):
            await self.app(scope, receive, send)
            return
        if declared_too_large(scope, self.limit):
            await send_error(send, too_large(self.limit))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise too_large(self.limit)
            return message

        await self.app(scope, counted, send)
