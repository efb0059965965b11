"""``SecretsClient``: named secrets kept encrypted by the store. Reach it as
``Client().secrets``.

A value goes in and never comes back out: ``list`` gives names and times only.
"""

from __future__ import annotations

import builtins

from modelyard.core.backend import Backend
from modelyard.governance import secrets as ops
from modelyard.governance.secrets import (
    DeleteSecret,
    ListSecrets,
    ReencryptSecrets,
    Secret,
    SetSecret,
)


class SecretsClient:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def set(self, name: str, value: str, *, reason: str | None = None) -> Secret:
        """Store ``value`` as secret ``name``, encrypted (replacing its value if it exists)."""
        return self.backend.call(ops.set_secret, SetSecret(name=name, value=value), reason=reason)

    def list(self) -> builtins.list[Secret]:
        """The secrets' names and who set them when; never their values."""
        return self.backend.call(ops.list_secrets, ListSecrets()).secrets

    def delete(self, name: str, *, reason: str | None = None) -> None:
        self.backend.call(ops.delete_secret, DeleteSecret(name=name), reason=reason)

    def reencrypt(self, *, reason: str | None = None) -> int:
        """Encrypt every stored secret again under the store's first key (server admins, on
        a server); returns how many."""
        done = self.backend.call(ops.reencrypt_secrets, ReencryptSecrets(), reason=reason)
        return done.reencrypted
