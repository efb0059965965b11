"""Signed checkpoints of the audit chain's tip, published outside the database.

The hash chain shows an edit to any record, unless whoever edits it can also recompute
every later hash: someone with write access to the database can. A checkpoint closes that
gap. It states the tip (``seq`` and ``hash``) at a moment, signed with a key that lives
outside the database (an Ed25519 key in the store's home folder, created on first use,
readable by its owner only), and is kept as a file (and sent to subscribers as an event).
A log rewritten before a checkpoint's ``seq`` no longer has the checkpoint's hash there.

The signature covers the canonical JSON of the payload; the file carries the public key
and its id, so anyone can check it, and ``--public-key`` pins the key a verifier trusts.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelyard.core.key_files import key_file
from modelyard.errors import InvalidInput

FORMAT = "modelyard-audit-checkpoint/1"
KEY_FILE = "audit-signing-key.pem"


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def key_id(public_pem: bytes) -> str:
    """A short, stable name for a public key: the start of its PEM's SHA-256."""
    return hashlib.sha256(public_pem.strip()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class CheckpointSigner:
    """Signs checkpoints with the key in ``keys`` and keeps each under ``folder``."""

    keys: Path
    folder: Path
    # Which store the checkpoints are of (its URI without credentials).
    store: str

    @classmethod
    def for_home(cls, home: Path, store: str) -> CheckpointSigner:
        home = home.resolve()
        return cls(keys=home / "keys", folder=home / "audit" / "checkpoints", store=store)

    def _private_key(self) -> Any:
        # cryptography loads only when a checkpoint is made or checked.
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        def generate() -> bytes:
            return Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )

        pem, _ = key_file(self.keys / KEY_FILE, generate)
        return serialization.load_pem_private_key(pem, password=None)

    def sign(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The checkpoint: ``payload`` with its signature, the public key and its id."""
        from cryptography.hazmat.primitives import serialization

        private = self._private_key()
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        body = {"format": FORMAT, "store": self.store, **payload}
        return {
            **body,
            "key_id": key_id(public_pem),
            "public_key": public_pem.decode(),
            "signature": base64.b64encode(private.sign(_canonical(body))).decode(),
        }

    def publish(self, checkpoint: dict[str, Any]) -> Path:
        """Keep ``checkpoint`` as a file of its own (never overwritten); returns its path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        workspace = checkpoint.get("workspace", "default")
        prefix = "checkpoint" if workspace == "default" else f"checkpoint-{workspace}"
        path = self.folder / f"{prefix}-{checkpoint['seq']:012d}-{checkpoint['at']}.json"
        path.write_text(json.dumps(checkpoint, indent=2) + "\n")
        return path


def check_signature(checkpoint: dict[str, Any], trusted_public_pem: bytes | None = None) -> None:
    """Raise ``InvalidInput`` unless ``checkpoint`` is well-formed and its signature holds
    (with ``trusted_public_pem``, made by that key and no other)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    fields = ("format", "seq", "hash", "at", "public_key", "signature")
    missing = [f for f in fields if f not in checkpoint]
    if missing or checkpoint.get("format") != FORMAT:
        raise InvalidInput(
            f"not a Modelyard audit checkpoint (format {FORMAT}): "
            + (f"missing {', '.join(missing)}" if missing else f"format {checkpoint['format']!r}"),
        )
    if not isinstance(checkpoint["seq"], int) or not isinstance(checkpoint["hash"], str):
        raise InvalidInput("the checkpoint's seq must be an integer and its hash a string")
    public_pem = str(checkpoint["public_key"]).encode()
    if trusted_public_pem is not None and key_id(trusted_public_pem) != key_id(public_pem):
        raise InvalidInput(
            f"the checkpoint was signed by key {key_id(public_pem)}, not by the trusted key "
            f"{key_id(trusted_public_pem)}"
        )
    try:
        public = serialization.load_pem_public_key(public_pem)
        if not isinstance(public, Ed25519PublicKey):
            raise ValueError("not an Ed25519 key")
        signature = base64.b64decode(str(checkpoint["signature"]), validate=True)
        body = {
            k: v for k, v in checkpoint.items() if k not in ("key_id", "public_key", "signature")
        }
        public.verify(signature, _canonical(body))
    except (InvalidSignature, ValueError) as exc:
        raise InvalidInput(
            "the checkpoint's signature does not match its content: it was altered or "
            f"not signed by key {key_id(public_pem)}",
            details={"reason": str(exc) or "invalid signature"},
        ) from None
