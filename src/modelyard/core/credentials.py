"""API tokens the CLI and the Python client keep for servers, in the user's config folder.

``modelyard auth login URL`` stores a token for one server in
``$XDG_CONFIG_HOME/modelyard/credentials.json`` (``~/.config/...`` by default), readable
by its owner only (0600, the folder 0700); a client talking to that server sends it.
``MODELYARD_TOKEN`` overrides it, for CI jobs and containers.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from modelyard.errors import InvalidInput


def credentials_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "modelyard" / "credentials.json"


def _key(url: str) -> str:
    return url.rstrip("/")


def _load(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"cannot read the stored credentials {path}: {exc}; remove the file and run "
            "`modelyard auth login` again"
        ) from None
    servers = data.get("servers", {}) if isinstance(data, dict) else {}
    return {k: v for k, v in servers.items() if isinstance(k, str) and isinstance(v, str)}


def stored_token(url: str, path: Path | None = None) -> str | None:
    """The token stored for the server at ``url``, if any."""
    return _load(path or credentials_file()).get(_key(url))


def store_token(url: str, token: str | None, path: Path | None = None) -> Path:
    """Keep ``token`` for ``url`` (None forgets it); written whole, owner-only."""
    path = path or credentials_file()
    servers = _load(path)
    if token is None:
        servers.pop(_key(url), None)
    else:
        servers[_key(url)] = token
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".credentials-")  # mode 0600
    try:
        with os.fdopen(fd, "w") as out:
            json.dump({"servers": servers}, out, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)  # no stray copy of the tokens
        raise
    return path
