"""Keys kept in files outside the database: made once, readable by their owner only.

The audit signing key (``core/checkpoints.py``) and the secret key (``core/secret_box.py``)
live in ``<home>/keys/``. A key is made on first use, written whole beside its place and
linked into it: of two processes making it at once one wins, both then read the winner's,
and neither ever reads a half-written key.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def key_file(path: Path, make: Callable[[], bytes]) -> tuple[bytes, bool]:
    """The content of the key file at ``path``, made with ``make()`` if there is none (mode
    0600 in a 0700 folder); and whether this call made it."""
    made = False
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(make())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
                made = True
        finally:
            os.unlink(tmp)
    return path.read_bytes(), made
