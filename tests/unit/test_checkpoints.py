"""Signed audit checkpoints: one key per home, made once even by racing processes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from modelyard.core.checkpoints import CheckpointSigner, check_signature
from modelyard.errors import InvalidInput


def test_racing_signers_share_one_key_readable_by_its_owner_only(tmp_path: Path) -> None:
    signers = [CheckpointSigner.for_home(tmp_path, "sqlite:///m.db") for _ in range(8)]
    made: list[dict[str, object]] = []
    start = threading.Barrier(len(signers))

    def sign(signer: CheckpointSigner) -> None:
        start.wait(timeout=10)
        made.append(signer.sign({"seq": 1, "hash": "a" * 64, "at": 1, "created_by": "x"}))

    threads = [threading.Thread(target=sign, args=(s,)) for s in signers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len({c["key_id"] for c in made}) == 1
    keys = list((tmp_path / "keys").iterdir())
    assert [k.name for k in keys] == ["audit-signing-key.pem"], "no temporary file is left"
    assert keys[0].stat().st_mode & 0o077 == 0
    for checkpoint in made:
        check_signature(checkpoint)


def test_a_changed_field_breaks_the_signature(tmp_path: Path) -> None:
    signer = CheckpointSigner.for_home(tmp_path, "sqlite:///m.db")
    checkpoint = signer.sign({"seq": 7, "hash": "b" * 64, "at": 5, "created_by": "alice"})
    for field, value in [("seq", 6), ("created_by", "mallory"), ("store", "elsewhere")]:
        with pytest.raises(InvalidInput, match="signature does not match"):
            check_signature({**checkpoint, field: value})
    with pytest.raises(InvalidInput, match="signature does not match"):
        check_signature({**checkpoint, "extra": "field"})
    with pytest.raises(InvalidInput, match="not a Modelyard audit checkpoint"):
        check_signature({**checkpoint, "format": "other/1"})
    published = signer.publish(checkpoint)
    assert published.parent == tmp_path.resolve() / "audit" / "checkpoints"
