"""The files a user's file or folder holds, walked so that nothing outside it is read.

Registering a folder, logging it as a run's artifacts and storing a pipeline's input folder
all copy its files into the store, where anyone who may read them can download them. A
symbolic link inside the folder could make that copy take any file its user can read
(``leak -> ../outside/secret.txt``, ``passwd -> /etc/passwd``), so every such walk goes
through ``files_in`` (DESIGN.md invariant 6), and it decides:

* a link whose target, resolved completely, stays inside the folder is followed: its files
  are listed under the link's own path, so a file reached by two names is listed twice
  (blobs are content-addressed: that costs a manifest line, not a second copy);
* a link that leaves the folder, or whose target does not exist, is refused with an
  ``InvalidInput`` naming the link and where it points, and so is a link to a folder that
  holds the link (a loop);
* FIFOs, sockets and device files are refused, and so is anything under the kernel's
  pseudo-filesystems (``/proc``, ``/sys``, ``/dev``): reading them blocks, never ends, or
  yields what the kernel makes up at that moment (``/proc/self/environ`` holds secrets).

The folder itself may be a link: the user named it, so its target is the boundary. The
paths returned have no link left in them, so what is read is what was checked (a file
swapped for a link by another process in between is out of scope: that process could
change the file's content as well).
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from modelyard.errors import InvalidInput

__all__ = ["copy_files", "files_in", "files_of"]

# Linux's kernel pseudo-filesystems: their "files" are generated when read.
_PSEUDO_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def files_of(path: Path) -> list[tuple[str, Path]]:
    """The files to store for the file or folder ``path``, as (relative POSIX path, path to
    read) pairs sorted by relative path: a regular file under its own name, a folder as
    ``files_in`` walks it. The caller checks first that ``path`` exists (its message says
    what it wanted instead)."""
    real = _real(path, str(path))
    mode = real.stat().st_mode
    if stat.S_ISDIR(mode):
        return files_in(path)
    if not stat.S_ISREG(mode):
        raise _special(str(path), mode, None)
    return [(path.name, real)]


def copy_files(source: Path, dest: Path) -> None:
    """Copy what ``files_of(source)`` lists into the folder ``dest`` (created): a file as
    ``dest/<its name>``, a folder's files at their relative paths. The copy holds no links.
    """
    found = files_of(source)  # all checked before the first is copied
    dest.mkdir(parents=True, exist_ok=True)
    for rel, file in found:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)


Skip = Callable[[str, Path], bool]


def files_in(folder: Path, *, skip: Skip | None = None) -> list[tuple[str, Path]]:
    """Every regular file under ``folder`` as (relative POSIX path, path to read) pairs,
    sorted by relative path; links are followed only while they stay inside the folder
    (see the module docstring), and an ``InvalidInput`` names the first entry that is
    refused.

    ``skip(relative path, path)`` leaves an entry out before it is looked at (a code
    snapshot leaves out ``.git`` and virtual environments, links and all).
    """
    root = _real(folder, str(folder))
    if not root.is_dir():
        raise InvalidInput(f"'{folder}' is not a folder", details={"path": str(folder)})
    found: list[tuple[str, Path]] = []
    _walk(folder, root, root, "", (root,), found, skip)
    found.sort(key=lambda pair: pair[0])
    return found


def _real(path: Path, shown: str) -> Path:
    """``path`` with every link resolved; refused on a kernel pseudo-filesystem."""
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError as exc:
        raise InvalidInput(f"'{shown}' does not exist", details={"path": shown}) from exc
    except (OSError, RuntimeError) as exc:  # a loop of links (RuntimeError up to 3.12)
        raise InvalidInput(f"cannot resolve '{shown}': {exc}", details={"path": shown}) from exc
    for pseudo in _PSEUDO_ROOTS:
        if real.is_relative_to(pseudo):
            raise InvalidInput(
                f"'{shown}' is on the kernel's {pseudo} pseudo-filesystem, whose files are "
                "generated when read: copy what you need into a regular file",
                details={"path": shown, "resolved": str(real)},
            )
    return real


def _walk(
    folder: Path,
    root: Path,
    here: Path,
    prefix: str,
    open_folders: tuple[Path, ...],
    found: list[tuple[str, Path]],
    skip: Skip | None,
) -> None:
    """Add the files under ``here`` (a resolved folder inside ``root``) to ``found``.

    ``open_folders`` are the resolved folders being walked above ``here``: a link back to
    one of them would repeat forever.
    """
    try:
        with os.scandir(here) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError as exc:
        shown = prefix.rstrip("/") or "."
        raise InvalidInput(
            f"cannot read '{shown}' in '{folder}': {exc.strerror}",
            details={"path": shown, "folder": str(folder)},
        ) from exc
    for entry in entries:
        rel = prefix + entry.name
        if skip is not None and skip(rel, Path(entry.path)):
            continue
        if entry.is_symlink():
            target = _link_target(folder, root, rel, Path(entry.path))
            mode = target.stat().st_mode
            link: str | None = os.readlink(entry.path)
        else:
            target = Path(entry.path)
            mode = entry.stat(follow_symlinks=False).st_mode
            link = None
        if stat.S_ISDIR(mode):
            if target in open_folders:
                raise InvalidInput(
                    f"'{rel}' in '{folder}' is a link to '{link}', a folder that holds the "
                    "link itself (a loop): remove the link",
                    details={"path": rel, "target": link, "folder": str(folder)},
                )
            _walk(folder, root, target, rel + "/", (*open_folders, target), found, skip)
        elif stat.S_ISREG(mode):
            found.append((rel, target))
        else:
            raise _special(rel, mode, folder)


def _link_target(folder: Path, root: Path, rel: str, link: Path) -> Path:
    """Where the link ``rel`` leads, if that is inside the folder; else refused."""
    pointed = os.readlink(link)
    details = {"path": rel, "target": pointed, "folder": str(folder)}
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise InvalidInput(
            f"'{rel}' in '{folder}' is a link to '{pointed}', which does not exist: "
            "remove the link or restore what it points to",
            details=details,
        ) from exc
    if not target.is_relative_to(root):
        raise InvalidInput(
            f"'{rel}' in '{folder}' is a link to '{pointed}', outside the folder: only the "
            "folder's own files are stored; copy the file into the folder instead of "
            "linking to it",
            details=details,
        )
    return target


def _special(rel: str, mode: int, folder: Path | None) -> InvalidInput:
    kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
    where = f"'{rel}' in '{folder}'" if folder is not None else f"'{rel}'"
    return InvalidInput(
        f"{where} is {kind}: only regular files and folders can be stored",
        details={"path": rel, "kind": kind},
    )
