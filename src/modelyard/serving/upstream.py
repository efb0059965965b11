"""A lean HTTP/1.1 client for the router's hop to a scoring server on this machine.

The router adds one hop to every request, so the hop has to be cheap: a general client
(httpx) spends about a millisecond of CPU per request on features this hop never uses
(redirects, cookies, auth, HTTP/2, proxies). Here a request is one ``write`` on a kept-alive
connection and the answer is parsed by ``httptools`` (the parser uvicorn itself uses).
Only what the scoring server sends is supported: ``Content-Length`` or chunked bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

_MAX_IDLE = 128  # kept-alive connections per upstream


class UpstreamError(Exception):
    """The upstream could not be reached, or cut the connection before answering."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class _Parsed:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    done: bool = False
    keep_alive: bool = True


class _Callbacks:
    """httptools calls these while it parses a response."""

    def __init__(self, parsed: _Parsed) -> None:
        self.parsed = parsed
        self.parser: Any = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.parsed.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.parsed.chunks.append(body)

    def on_message_complete(self) -> None:
        # llhttp answers keep-alive only while the message is being completed.
        self.parsed.keep_alive = bool(self.parser.should_keep_alive())
        self.parsed.status = int(self.parser.get_status_code())
        self.parsed.done = True


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()

    async def exchange(self, request: bytes) -> tuple[Answer, bool]:
        import httptools

        self.writer.write(request)
        parsed = _Parsed()
        callbacks = _Callbacks(parsed)
        parser = httptools.HttpResponseParser(callbacks)
        callbacks.parser = parser
        while not parsed.done:
            data = await self.reader.read(65536)
            if not data:
                raise UpstreamError("the upstream closed the connection before answering")
            try:
                parser.feed_data(data)
            except httptools.HttpParserError as exc:
                raise UpstreamError(f"the upstream's answer does not parse: {exc}") from exc
        answer = Answer(parsed.status, parsed.headers, b"".join(parsed.chunks))
        return answer, parsed.keep_alive


class UpstreamPool:
    """Kept-alive connections to scoring servers, by ``host:port``."""

    def __init__(self, timeout_s: float = 60.0, connect_timeout_s: float = 2.0) -> None:
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._idle: dict[tuple[str, int], list[_Connection]] = defaultdict(list)

    async def _connect(self, host: str, port: int) -> _Connection:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), self.connect_timeout_s
            )
        except (OSError, TimeoutError) as exc:
            raise UpstreamError(f"cannot connect to {host}:{port}: {exc}") from exc
        return _Connection(reader, writer)

    async def post(self, base_url: str, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        """POST ``body`` to ``base_url + path``; an ``UpstreamError`` when there is no answer."""
        parts = urlsplit(base_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        idle = self._idle[(host, port)]
        reused = bool(idle)
        connection = idle.pop() if idle else await self._connect(host, port)
        try:
            answer, keep = await asyncio.wait_for(connection.exchange(request), self.timeout_s)
        except (UpstreamError, OSError, TimeoutError) as exc:
            connection.close()
            if reused and not isinstance(exc, TimeoutError):
                # A kept-alive connection the server closed meanwhile: nothing was
                # processed, so one fresh connection may try again.
                connection = await self._connect(host, port)
                try:
                    answer, keep = await asyncio.wait_for(
                        connection.exchange(request), self.timeout_s
                    )
                except (UpstreamError, OSError, TimeoutError) as again:
                    connection.close()
                    raise UpstreamError(str(again)) from again
            else:
                raise UpstreamError(str(exc)) from exc
        if keep and len(idle) < _MAX_IDLE:
            idle.append(connection)
        else:
            connection.close()
        return answer

    async def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
