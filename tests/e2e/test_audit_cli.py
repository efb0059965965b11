"""A compliance officer's journey through ``modelyard audit`` on a copied store.

Who changed what is read back with ``audit log``; ``audit verify`` names an edited, a
deleted and a reordered record in copies of the store; a rewrite that recomputes every
later hash passes the chain walk but not a checkpoint signed before it; ``audit export``
writes records that can be checked on their own.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from modelyard.core.audit import record_hash, verify_records
from tests.e2e.conftest import Cli, store_env

pytestmark = pytest.mark.slow

CHANGES = """
import modelyard
client = modelyard.Client()
experiment = client.create_experiment("audited", reason="Q4 churn work")
for n in range(4):
    run = client.create_run(experiment.id)
    client.log_param(run.id, "n", n)
    client.set_terminated(run.id, "FINISHED")
print(run.id)
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Cli, str]:
    root = tmp_path_factory.mktemp("audit")
    cli = Cli(store_env(root), root)
    last_run = cli.python(CHANGES).strip()
    return root, cli, last_run


def _copy(root: Path, name: str) -> tuple[Path, Cli]:
    """A copy of the store's database (its own home, so its own checkpoints)."""
    folder = root / name
    folder.mkdir()
    with sqlite3.connect(root / "m.db") as source, sqlite3.connect(folder / "m.db") as copy:
        source.backup(copy)
    env = {**store_env(folder), "MODELYARD_ARTIFACT_ROOT": str(root / "art")}
    return folder / "m.db", Cli(env, folder)


def _sql(db: Path, *statements: str) -> None:
    with sqlite3.connect(db) as conn:
        for statement in statements:
            conn.execute(statement)


def test_the_log_answers_who_changed_what_and_why(store: tuple[Path, Cli, str]) -> None:
    _, cli, last_run = store
    records = cli("audit", "log", "--target", f"runs:/{last_run}", "--json").json()
    assert [r["action"] for r in records] == ["run.updated", "run.logged", "run.created"]
    assert all(r["actor"] == "e2e" for r in records)
    [created] = cli("audit", "log", "--action", "experiment.*", "--json").json()
    assert created["reason"] == "Q4 churn work"
    assert created["after"]["name"] == "audited"
    table = cli("audit", "log", "-n", "3").stdout
    assert "run.updated" in table
    assert 'status: "RUNNING" -> "FINISHED"' in table
    cli("audit", "log", "--target", "buckets:/x", expect=2).assert_user_error()
    lines = cli("audit", "log", "--since", "last week", expect=2).assert_user_error()
    assert "ISO-8601" in lines[0]


def test_verify_names_an_edited_a_deleted_and_a_reordered_record(
    store: tuple[Path, Cli, str],
) -> None:
    root, cli, _ = store
    intact = cli("audit", "verify")
    assert intact.stdout.startswith("ok: ")

    edited, edited_cli = _copy(root, "edited")
    _sql(edited, "UPDATE audit_records SET reason = 'nothing to see' WHERE seq = 3")
    result = edited_cli("audit", "verify", expect=1)
    assert "broken: record 3: its content does not match its hash: the record was edited" in (
        result.stderr
    )

    deleted, deleted_cli = _copy(root, "deleted")
    _sql(deleted, "DELETE FROM audit_records WHERE seq = 4")
    result = deleted_cli("audit", "verify", expect=1)
    assert "broken: record 5: the record(s) before it (seq 4) are missing: deleted" in (
        result.stderr
    )

    reordered, reordered_cli = _copy(root, "reordered")
    _sql(
        reordered,
        "UPDATE audit_records SET seq = -1 WHERE seq = 3",
        "UPDATE audit_records SET seq = 3 WHERE seq = 4",
        "UPDATE audit_records SET seq = 4 WHERE seq = -1",
    )
    result = reordered_cli("audit", "verify", "--json", expect=1)
    verdict = result.json()
    assert verdict["broken_at"] == 3
    assert "reordered" in verdict["reason"]

    truncated, truncated_cli = _copy(root, "truncated")
    _sql(truncated, "DELETE FROM audit_records WHERE seq = (SELECT MAX(seq) FROM audit_records)")
    assert "the last records were deleted" in truncated_cli("audit", "verify", expect=1).stderr


def _rewrite_from(db: Path, seq: int, reason: str) -> None:
    """Edit record ``seq`` and recompute every later hash and the chain head, as someone
    with write access to the database could."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    with conn:
        conn.execute("UPDATE audit_records SET reason = ? WHERE seq = ?", (reason, seq))
        rows = [dict(r) for r in conn.execute("SELECT * FROM audit_records ORDER BY seq")]
        prev = rows[seq - 2]["hash"]
        for row in rows[seq - 1 :]:
            for key in ("before", "after"):
                row[key] = json.loads(row[key]) if row[key] is not None else None
            row["prev_hash"] = prev
            row["hash"] = prev = record_hash(row)
            conn.execute(
                "UPDATE audit_records SET prev_hash = ?, hash = ? WHERE seq = ?",
                (row["prev_hash"], row["hash"], row["seq"]),
            )
        conn.execute("UPDATE audit_chain_head SET hash = ? WHERE id = 1", (prev,))
    conn.close()


def test_a_rewrite_with_recomputed_hashes_shows_against_a_checkpoint(
    store: tuple[Path, Cli, str],
) -> None:
    root, _, _ = store
    db, cli = _copy(root, "rewritten")
    made = cli("audit", "checkpoint", "-o", "cp.json", "--reason", "month end")
    assert "written to cp.json" in made.stdout
    checkpoint = json.loads((db.parent / "cp.json").read_text())
    assert (db.parent / ".modelyard" / "keys" / "audit-signing-key.pem").stat().st_mode & 0o077 == 0
    assert cli("audit", "verify", "--checkpoint", "cp.json").code == 0

    _rewrite_from(db, 3, "nothing to see")
    assert cli("audit", "verify").code == 0, "a full rewrite keeps the chain consistent"
    result = cli("audit", "verify", "--checkpoint", "cp.json", expect=1)
    assert f"record {checkpoint['seq']} no longer has the checkpoint's hash" in result.stderr

    forged = {**checkpoint, "hash": "0" * 64}
    (db.parent / "forged.json").write_text(json.dumps(forged))
    lines = cli("audit", "verify", "--checkpoint", "forged.json", expect=2).assert_user_error()
    assert "signature does not match" in lines[0]
    other = root / "other-key.pem"
    other.write_text(_other_public_key())
    lines = cli(
        "audit", "verify", "--checkpoint", "cp.json", "--public-key", str(other), expect=2
    ).assert_user_error()
    assert "not by the trusted key" in lines[0]
    (db.parent / "junk.json").write_text("[1, 2")
    cli("audit", "verify", "--checkpoint", "junk.json", expect=2).assert_user_error()


def _other_public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def test_an_export_can_be_checked_on_its_own(store: tuple[Path, Cli, str]) -> None:
    root, cli, _ = store
    done = cli("audit", "export", "--format", "jsonl", "-o", str(root / "audit.jsonl"))
    lines = (root / "audit.jsonl").read_text().splitlines()
    assert done.stdout.strip() == f"{len(lines)} records written to {root / 'audit.jsonl'}"
    records = [json.loads(line) for line in lines]
    assert verify_records(records).ok, "the exported chain verifies without the store"
    cli("audit", "export", "--format", "csv", "-o", str(root / "audit.csv"))
    with (root / "audit.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["seq"]) for r in rows] == [r["seq"] for r in records]
    assert json.loads(rows[1]["after"])["name"] == "audited"
    cli("audit", "export", "--format", "xml", expect=2).assert_user_error()
    shutil.rmtree(root / "nowhere", ignore_errors=True)
    cli("audit", "export", "-o", str(root / "nowhere" / "x.jsonl"), expect=2).assert_user_error()
