"""Secrets encrypted at rest (DESIGN invariant 6): values Modelyard must use later.

A webhook's signing secret or the S3 credentials a user stores have to be read back in the
clear when they are used, so they are kept encrypted, with Fernet from ``cryptography``
(AES-128-CBC and HMAC-SHA256: a changed byte does not decrypt). Tokens and passwords only
ever need checking, so they are kept hashed instead (``core/identity.py``).

The keys are ``MODELYARD_SECRET_KEY``: one or more Fernet keys, comma-separated; the first
encrypts, every one decrypts (``MultiFernet``). Rotating is putting a new key in front,
re-encrypting every secret (``modelyard secrets reencrypt``) and then dropping the old key.
Unset, the key is ``<home>/keys/secret-key``, made on first use, readable by its owner only.

A ciphertext holds its secret's workspace and name beside the value, so one copied into
another secret's row does not decrypt as that secret. Nothing here logs or raises a value.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from modelyard.config import Settings
from modelyard.core.key_files import key_file
from modelyard.core.roles import DEFAULT_WORKSPACE
from modelyard.errors import InvalidInput, NotFound, SecretUnreadable
from modelyard.storage.db.tables import secrets

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

log = logging.getLogger(__name__)

SETTING = "MODELYARD_SECRET_KEY"
KEY_FILE = "secret-key"
_MAKE_ONE = "make one with `modelyard secrets generate-key`"


def generate_key() -> str:
    """A new Fernet key (32 random bytes, URL-safe base64) for ``MODELYARD_SECRET_KEY``."""
    # cryptography loads only when keys are made or used.
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _ordinal(n: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(n, f"{n}th")


class SecretBox:
    """Encrypts secrets' values for the database and decrypts them again.

    ``keys`` is ``MODELYARD_SECRET_KEY``'s value (None or empty: unset, and the key is the
    one in ``key_file``). Keys are read on first use, so a store that keeps no secrets
    never makes a key file.
    """

    def __init__(self, keys: str | None, key_file: Path) -> None:
        self._keys = keys.strip() if keys else None
        self.key_file = key_file
        self._lock = threading.Lock()
        self._loaded: MultiFernet | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> SecretBox:
        keys = settings.secret_key.get_secret_value() if settings.secret_key else None
        return cls(keys, settings.home.resolve() / "keys" / KEY_FILE)

    @property
    def configured(self) -> bool:
        """Whether the keys come from ``MODELYARD_SECRET_KEY`` (not the home folder)."""
        return self._keys is not None

    @property
    def described(self) -> str:
        """The keys in use, as a user would look for them (never the keys themselves)."""
        if self.configured:
            return f"the keys in {SETTING}"
        return f"the key in {self.key_file} ({SETTING} is not set)"

    def check_keys(self) -> None:
        """Read the keys now: ``InvalidInput`` saying which one is no Fernet key."""
        self._fernet()

    def _fernet(self) -> MultiFernet:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> MultiFernet:
        # cryptography loads only when a secret is encrypted or decrypted.
        from cryptography.fernet import Fernet, MultiFernet

        if self._keys is not None:
            keys = [key.strip().encode() for key in self._keys.split(",") if key.strip()]
            if not keys:
                raise InvalidInput(f"{SETTING} holds no key: {_MAKE_ONE}")
        else:
            content, made = key_file(self.key_file, lambda: Fernet.generate_key() + b"\n")
            if made:
                log.info("made the secret key %s (%s keeps it elsewhere)", self.key_file, SETTING)
            keys = [content.strip()]
        fernets = []
        for n, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key))
            except ValueError:  # never say the key: the message may be logged or shown
                if self._keys is None:
                    raise InvalidInput(
                        f"{self.key_file} holds no Fernet key: restore the key the secrets "
                        f"were written with, or set {SETTING}"
                    ) from None
                raise InvalidInput(
                    f"the {_ordinal(n)} key in {SETTING} is not a Fernet key (32 bytes, URL-safe "
                    f"base64, 44 characters): {_MAKE_ONE}",
                    details={"key": n},
                ) from None
        return MultiFernet(fernets)

    def encrypt(self, workspace: str, name: str, value: str) -> str:
        """The ciphertext of secret ``name``'s ``value``, under the first key."""
        sealed = json.dumps({"workspace": workspace, "name": name, "value": value})
        return self._fernet().encrypt(sealed.encode()).decode()

    def decrypt(self, workspace: str, name: str, ciphertext: str) -> str:
        """Secret ``name``'s value, or ``SecretUnreadable`` saying what to do."""
        from cryptography.fernet import InvalidToken

        where = f"secret '{name}' (workspace '{workspace}')"
        try:
            sealed: dict[str, Any] = json.loads(self._fernet().decrypt(ciphertext.encode()))
        except InvalidToken:
            raise SecretUnreadable(
                f"{where} cannot be decrypted with {self.described}: it was written with "
                f"another key. Set {SETTING} to the key it was written with (several keys may "
                "be given, comma-separated: the first encrypts, every one decrypts), or set "
                "the secret again",
                details={"workspace": workspace, "name": name},
            ) from None
        if (sealed.get("workspace"), sealed.get("name")) != (workspace, name):
            raise SecretUnreadable(
                f"{where} holds the ciphertext of another secret: its row in the database "
                "was altered. Set the secret again",
                details={"workspace": workspace, "name": name},
            )
        return str(sealed["value"])

    def reencrypt(self, workspace: str, name: str, ciphertext: str) -> str:
        """The same secret encrypted under the first key (for rotation)."""
        return self.encrypt(workspace, name, self.decrypt(workspace, name, ciphertext))


def require_box(box: SecretBox | None) -> SecretBox:
    """``box`` (a handler's ``ctx.secret_box``), or ``InvalidInput`` for a backend that
    keeps no keys."""
    if box is None:
        raise InvalidInput("this backend keeps no secret key: use secrets on a server's store")
    return box


def reveal_secret(
    conn: Connection, box: SecretBox | None, name: str, *, workspace: str = DEFAULT_WORKSPACE
) -> str:
    """The plain value of a stored secret, read in the caller's transaction
    (``reveal_secret(ctx.conn, ctx.secret_box, "slack-webhook")``).

    For areas that use a secret (a webhook sink signing a delivery): never an operation,
    so no REST route or client method ever returns a value. Callers must keep it out of
    audit records, events, logs and errors.
    """
    ciphertext = conn.execute(
        select(secrets.c.ciphertext).where(secrets.c.workspace == workspace, secrets.c.name == name)
    ).scalar_one_or_none()
    if ciphertext is None:
        raise NotFound(
            f"secret '{name}' does not exist in workspace '{workspace}': set it with "
            f"`modelyard secrets set {name}`",
            details={"kind": "secret", "id": name},
        )
    return require_box(box).decrypt(workspace, name, ciphertext)
