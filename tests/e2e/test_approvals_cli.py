"""Protection rules and approvals through the real commands, on an embedded store.

The whole journey (a contributor's request, an approver's approval, exit code 3 for a
change that waits) runs in the quickstart against a server with auth on; here the
commands' own answers to what a user gets wrong.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Cli, store_env

pytestmark = pytest.mark.slow


def test_protection_and_approval_commands_say_what_was_wrong(tmp_path: Path) -> None:
    cli = Cli(store_env(tmp_path), tmp_path)
    lines = cli("protection", "add", "churn", expect=2).assert_user_error()
    assert "is not something a rule protects: write models:/MODEL@ALIAS" in lines[0]
    lines = cli("protection", "add", "models:/churn", expect=2).assert_user_error()
    assert "names no alias" in lines[0]
    made = cli("protection", "add", "models:/churn@champion", "--reason", "production")
    assert "rule 1: models:/churn@champion is protected (approvers only" in made.stdout
    lines = cli("protection", "add", "models:/churn@champion", expect=2).assert_user_error()
    assert "protected already (rule 1)" in lines[0]
    assert cli("protection", "list", "--json").json()[0]["scope"] == "churn@champion"

    (tmp_path / "model.bin").write_bytes(b"weights")
    cli("model", "register", "churn", "model.bin")
    lines = cli("model", "alias", "churn", "champion", "1", expect=2).assert_user_error()
    assert "models:/churn@champion is protected (rule 1): changing it needs a reason" in lines[0]
    cli("model", "alias", "churn", "champion", "1", "--reason", "first model")

    lines = cli("approvals", "list", "--state", "bogus", expect=2).assert_user_error()
    assert "state" in lines[0]
    assert cli("approvals", "list", "--json").json() == []
    lines = cli("approvals", "approve", "7", expect=2).assert_user_error()
    assert "approval request '7' does not exist" in lines[0]
    assert "--reason" in cli("approvals", "reject", "7", expect=2).stderr
    cli("protection", "remove", "1", "--reason", "done")
    assert cli("protection", "list", "--json").json() == []
