"""Which local files a registration may read: the folder tree the user works in.

A source path is often not typed by the person registering: it comes from a script, a
config file or a CI variable, and whatever it names is uploaded to the store for anyone who
may read the model. So a path that leads (after every link is resolved) outside the current
working folder is refused unless the user says, on their own machine, that they mean it:
``allow_outside_cwd=True`` in Python, ``--allow-outside-cwd`` on the command line. Files the
kernel makes up (``/dev/zero``, ``/proc/self/environ``) and FIFOs, sockets and devices are
refused even then (``storage.artifacts.files_of``).

Only the client reads local files: the server takes blobs and a manifest, never a path.
"""

from __future__ import annotations

import os
from pathlib import Path

from modelyard.errors import InvalidInput

__all__ = ["check_local_source"]


def check_local_source(path: Path, *, allow_outside_cwd: bool) -> None:
    """Refuse ``path`` as a registration source when it does not exist, or when it leads
    outside the current working folder and ``allow_outside_cwd`` is false."""
    if not path.exists():
        raise InvalidInput(
            f"'{path}' does not exist: register a file, a folder or runs:/RUN_ID/PATH",
            details={"source": str(path)},
        )
    if allow_outside_cwd:
        return
    here = Path.cwd().resolve()
    real = path.resolve()
    if real.is_relative_to(here):
        return
    # Name the link when it is one: "model.bin" in the folder may lead to /etc/passwd.
    leads = "" if real == Path(os.path.abspath(path)) else f" (a link to '{real}')"
    raise InvalidInput(
        f"'{path}'{leads} is outside the current folder '{here}': a model is registered "
        "from local files in the folder you work in, unless you name another place on "
        "purpose: pass allow_outside_cwd=True (CLI: --allow-outside-cwd), or run from a "
        "folder that holds it",
        details={"source": str(path), "resolved": str(real), "cwd": str(here)},
    )
