"""``modelyard secrets``: named secrets the store keeps encrypted.

A value is never a command-line argument (the shell's history and ``ps`` would show it)
and is never printed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli.connection import open_client
from modelyard.cli.options import JsonOption, ReasonOption
from modelyard.cli.output import (
    command_group,
    fail,
    format_time,
    print_json,
    print_table,
    user_errors,
)

app = command_group(
    "Secrets the store keeps encrypted (webhook signing secrets, S3 credentials): set, list, "
    "delete; and the key they are encrypted with."
)
NameArgument = Annotated[str, typer.Argument(help="The secret's name, e.g. slack-webhook.")]


def _value(name: str, from_file: Path | None) -> str:
    """The value from the file (exactly), standard input (less its final line break) or a
    prompt that does not echo."""
    if from_file is not None:
        try:
            return from_file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            fail(f"--from-file {from_file}: not UTF-8 text; a secret's value is text")
        except OSError as exc:
            fail(f"--from-file {from_file}: {exc.strerror or exc}")
    if not sys.stdin.isatty():
        value = sys.stdin.read()
        return value.removesuffix("\n").removesuffix("\r")
    return str(typer.prompt(f"Value of {name}", hide_input=True, confirmation_prompt=True))


@app.command("set")
def set_secret(
    name: NameArgument,
    from_file: Annotated[
        Path | None,
        typer.Option("--from-file", help="Read the value from this file, exactly as it is."),
    ] = None,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store a secret's value, encrypted (or replace it).

    The value comes from --from-file, else standard input (its final line break dropped:
    `printenv TOKEN | modelyard secrets set slack-webhook`), else a prompt that does not
    echo; never from the command line, where the shell's history would keep it.
    """
    value = _value(name, from_file)
    with user_errors():
        secret = open_client().secrets.set(name, value, reason=reason)
    if as_json:
        print_json(secret)
        return
    typer.echo(f"set secret {secret.name} (workspace {secret.workspace})")


@app.command("list")
def list_secrets(as_json: JsonOption = False) -> None:
    """The secrets' names and who set them when (never their values)."""
    with user_errors():
        found = open_client().secrets.list()
    if as_json:
        print_json(found)
        return
    print_table(
        "Secrets",
        ["name", "created", "by", "updated", "by"],
        found,
        lambda s: [
            s.name,
            format_time(s.created_at),
            s.created_by,
            format_time(s.updated_at),
            s.updated_by,
        ],
    )


@app.command("delete")
def delete_secret(name: NameArgument, reason: ReasonOption = None) -> None:
    """Delete a secret (a workspace admin's): whatever used it can no longer read it."""
    with user_errors():
        open_client().secrets.delete(name, reason=reason)
    typer.echo(f"deleted secret {name}")


@app.command("reencrypt")
def reencrypt(reason: ReasonOption = None) -> None:
    """Encrypt every stored secret again under the first key of MODELYARD_SECRET_KEY.

    The last step of rotating the key: put a new key in front of the old one
    (MODELYARD_SECRET_KEY=NEW,OLD), run this, then drop the old one. It runs where the
    store is: here for an embedded store, on the server (a server admin only) for a
    remote one, with the server's keys. All or nothing: if one secret does not decrypt
    with the keys given, none is changed.
    """
    with user_errors():
        count = open_client().secrets.reencrypt(reason=reason)
    typer.echo(f"re-encrypted {count} secret{'s' if count != 1 else ''} under the first key")


@app.command("generate-key")
def generate_key() -> None:
    """Print a new key for MODELYARD_SECRET_KEY (32 random bytes, URL-safe base64)."""
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.core.secret_box import generate_key as new_key

    typer.echo(new_key())
