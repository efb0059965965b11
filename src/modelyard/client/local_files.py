"""Which local files a registration may read: the folder tree the user works in.

A source path is often not typed by the person registering: it comes from a script, a
config file or a CI variable, and whatever it names is uploaded to the store for anyone who
may read the model. So a path that leads (after every link is resolved) outside the current
working folder is refused unless the user says, on their own machine, that they mean it:
``allow_outside_cwd=True`` in Python, ``--allow-outside-cwd`` on the command line. Files the
kernel makes up (``/dev/zero``, ``/proc/self/environ``) and FIFOs, sockets and devices are
refused even then (``storage.artifacts.files_of``).

A ``file://`` URI is the same local path spelled as a URI (``file:///home/ana/model``), held
to the same rule once decoded: ``file:///etc/passwd`` and ``file:///%2e%2e/etc/passwd`` lead
outside the folder like ``/etc/passwd`` does.

Only the client reads local files: the server takes blobs and a manifest, never a path.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from modelyard.errors import InvalidInput

__all__ = ["check_local_source", "file_uri_path"]


def file_uri_path(uri: str) -> Path:
    """The local path a ``file:`` URI names, or ``InvalidInput`` saying why it names none.

    Refused: another machine (``file://server/share``: only this one's files are read), a
    query or a fragment (a file has neither; MLflow's CVE-2023-6909 hid a path behind '#'),
    a relative path, and a NUL character once decoded.
    """
    parts = urlsplit(uri)
    problem = None
    if parts.netloc not in ("", "localhost"):
        problem = f"it names the machine {parts.netloc!r}; only this machine's files are read"
    elif parts.query or parts.fragment or uri.endswith(("?", "#")):
        problem = "it has a query or a fragment ('?' or '#'), which no file has"
    path = unquote(parts.path)
    if problem is None and not path.startswith("/"):
        problem = "its path is not absolute (write file:///absolute/path)"
    if problem is None and "\x00" in path:
        problem = "its path contains a NUL character"
    if problem is not None:
        raise InvalidInput(
            f"'{uri}' is not a local file URI: {problem}; give a local path or file:///PATH",
            details={"source": uri, "problem": problem},
        )
    return Path(path)


def check_local_source(path: Path, *, allow_outside_cwd: bool) -> None:
    """Refuse ``path`` as a registration source when it does not exist, or when it leads
    outside the current working folder and ``allow_outside_cwd`` is false."""
    if "\x00" in str(path):  # no file has one; the system would only say it does not exist
        raise InvalidInput(
            f"{str(path)!r} contains a NUL character: no file is named so",
            details={"source": str(path)},
        )
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
