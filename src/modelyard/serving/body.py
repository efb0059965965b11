"""A request body read into one buffer, for the scoring server's routes.

Starlette's ``Request.body()`` keeps every chunk in a list and joins them at the end: twice
the body at its peak, and when the body limit refuses the request part way (``BodyLimit``
raises from ``receive``), the list lives on in the traceback's frames for as long as
anything holds the exception. Here chunks are appended to one ``bytearray`` (grown in
place, so its peak is the body and a little slack), and a failed read empties it before
the error goes on, so a refused body's memory is released whatever keeps its traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.requests import Request


async def read_body(request: Request) -> bytearray:
    """The whole body of ``request``; an error from reading it (413, a disconnect) is
    raised with the part read so far released."""
    buffer = bytearray()
    try:
        async for chunk in request.stream():
            buffer += chunk
    except BaseException:
        buffer.clear()  # frees its memory even while the traceback holds the object
        raise
    return buffer
