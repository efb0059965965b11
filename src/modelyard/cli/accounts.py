"""``modelyard auth``, ``users`` and ``tokens``: logging in, and managing who may."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from modelyard.cli.connection import open_client
from modelyard.cli.options import JsonOption, ReasonOption
from modelyard.cli.output import (
    command_group,
    fail,
    format_time,
    print_json,
    print_mapping,
    print_table,
    user_errors,
)
from modelyard.core.roles import Role

if TYPE_CHECKING:
    from modelyard.governance.account_models import Token

auth_app = command_group("Log in to a server with an API token, and see who you are.")
users_app = command_group("Users and service accounts of a server (server admins).")
tokens_app = command_group("Your API tokens: create, list and revoke them.")


@auth_app.command("login")
def login(
    url: Annotated[
        str | None,
        typer.Argument(help="The server, e.g. https://modelyard.example.com (or MODELYARD_URI)."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="The token (default: read from standard input, or asked for without echo).",
        ),
    ] = None,
) -> None:
    """Check a token against a server and keep it for the CLI and the Python client."""
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.client.client import Client
    from modelyard.config import Settings, get_settings
    from modelyard.core.credentials import store_token

    server = url or get_settings().uri
    if not server or not server.startswith(("http://", "https://")):
        fail("name the server to log in to: modelyard auth login https://HOST:PORT")
    if token is None:
        token = sys.stdin.readline().strip() if not sys.stdin.isatty() else None
        token = token or typer.prompt("API token", hide_input=True)
    with user_errors():
        settings = Settings(uri=server, token=token)
        who = Client(settings=settings).accounts.whoami()
    if not who.authenticated:
        fail(f"{server} does not authenticate (it runs without --auth): nothing to log in to")
    path = store_token(server, token)
    typer.echo(f"logged in to {server} as {who.name}; the token is kept in {path}")


@auth_app.command("logout")
def logout(
    url: Annotated[str | None, typer.Argument(help="The server (default: MODELYARD_URI).")] = None,
) -> None:
    """Forget the token kept for a server (it stays valid until revoked)."""
    # Loaded when the command runs: `modelyard --help` imports every command module.
    from modelyard.config import get_settings
    from modelyard.core.credentials import store_token

    server = url or get_settings().uri
    if not server:
        fail("name the server to log out of: modelyard auth logout https://HOST:PORT")
    store_token(server, None)
    typer.echo(f"logged out of {server}")


@auth_app.command("whoami")
def whoami(as_json: JsonOption = False) -> None:
    """Who the configured backend takes you to be."""
    with user_errors():
        who = open_client().accounts.whoami()
    if as_json:
        print_json(who)
        return
    print_mapping(
        "You are",
        {
            "name": who.name,
            "authenticated": "yes (token)" if who.authenticated else "no (not a server with auth)",
            "admin": "yes" if who.admin else "no",
            "kind": who.kind or "-",
        },
    )


@users_app.command("create")
def create_user(
    name: Annotated[str, typer.Argument(help="The user's name, e.g. alice or ci-bot.")],
    service: Annotated[
        bool, typer.Option("--service", help="A service account (a CI job), not a person.")
    ] = False,
    admin: Annotated[bool, typer.Option("--admin", help="A server admin.")] = False,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a user or a service account; give it a token with `tokens create --user`."""
    with user_errors():
        user = open_client().accounts.create_user(
            name, kind="service" if service else "user", admin=admin, reason=reason
        )
    if as_json:
        print_json(user)
        return
    typer.echo(f"created {user.kind} {user.name}" + (" (admin)" if user.admin else ""))


@users_app.command("list")
def list_users(as_json: JsonOption = False) -> None:
    """Every user and service account."""
    with user_errors():
        found = open_client().accounts.users()
    if as_json:
        print_json(found)
        return
    print_table(
        "Users",
        ["name", "kind", "admin", "created", "by", "disabled"],
        found,
        lambda u: [
            u.name,
            u.kind,
            "yes" if u.admin else "",
            format_time(u.created_at),
            u.created_by,
            format_time(u.disabled_at) if u.disabled_at else "",
        ],
    )


@users_app.command("disable")
def disable_user(
    name: Annotated[str, typer.Argument(help="The user to disable.")],
    reason: ReasonOption = None,
) -> None:
    """Disable a user: none of their tokens works any more."""
    with user_errors():
        open_client().accounts.disable_user(name, reason=reason)
    typer.echo(f"disabled {name}")


@tokens_app.command("create")
def create_token(
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "default",
    expires_in_days: Annotated[
        int, typer.Option("--expires-in-days", min=1, max=3650, help="Days it stays valid.")
    ] = 90,
    no_expiry: Annotated[
        bool, typer.Option("--no-expiry", help="A token that never expires (revoke it).")
    ] = False,
    user: Annotated[
        str | None,
        typer.Option("--user", help="For another user or a service account (server admins)."),
    ] = None,
    reason: ReasonOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API token; its secret is printed this once and never stored."""
    with user_errors():
        made = open_client().accounts.create_token(
            name=name,
            expires_in_days=None if no_expiry else expires_in_days,
            user=user,
            reason=reason,
        )
    if as_json:
        print_json(made)
        return
    typer.echo(made.token)
    expiry = f"expires {format_time(made.expires_at)} UTC" if made.expires_at else "never expires"
    typer.echo(
        f"token {made.id} for {made.user} ({expiry}); copy it now, it is not shown again",
        err=True,
    )


def _token_row(t: Token) -> list[object]:
    state = "revoked" if t.revoked_at else "active"
    return [
        t.id,
        t.name,
        state,
        format_time(t.created_at),
        format_time(t.expires_at) if t.expires_at else "never",
        format_time(t.last_used_at) if t.last_used_at else "never",
    ]


@tokens_app.command("list")
def list_tokens(as_json: JsonOption = False) -> None:
    """Your tokens (never their secrets)."""
    with user_errors():
        found = open_client().accounts.tokens()
    if as_json:
        print_json(found)
        return
    print_table(
        "Tokens", ["id", "name", "state", "created", "expires", "last used"], found, _token_row
    )


@tokens_app.command("revoke")
def revoke_token(
    token_id: Annotated[str, typer.Argument(help="The token's id (from `tokens list`).")],
    reason: ReasonOption = None,
) -> None:
    """Revoke one of your tokens: it stops working at once."""
    with user_errors():
        open_client().accounts.revoke_token(token_id, reason=reason)
    typer.echo(f"revoked {token_id}")


members_app = command_group("Who has which role in a workspace (its admins change it).")
WorkspaceOption = Annotated[str, typer.Option("--workspace", help="The workspace.")]


@members_app.command("add")
def add_member(
    user: Annotated[str, typer.Argument(help="An existing user or service account.")],
    role: Annotated[
        str, typer.Option("--role", help="viewer, contributor, approver or admin.")
    ] = "viewer",
    workspace: WorkspaceOption = "default",
    reason: ReasonOption = None,
) -> None:
    """Make a user a member of a workspace, or change their role there."""
    with user_errors():
        member = open_client().accounts.set_member(user, role, workspace=workspace, reason=reason)
    role = Role.parse(member.role).with_article
    typer.echo(f"{member.user} is {role} in workspace {member.workspace}")


@members_app.command("remove")
def remove_member(
    user: Annotated[str, typer.Argument(help="The member to remove.")],
    workspace: WorkspaceOption = "default",
    reason: ReasonOption = None,
) -> None:
    """Take a user out of a workspace: they see nothing of it any more."""
    with user_errors():
        open_client().accounts.remove_member(user, workspace=workspace, reason=reason)
    typer.echo(f"{user} is no member of workspace {workspace}")


@members_app.command("list")
def list_members(workspace: WorkspaceOption = "default", as_json: JsonOption = False) -> None:
    """The members of a workspace and their roles."""
    with user_errors():
        found = open_client().accounts.members(workspace)
    if as_json:
        print_json(found)
        return
    print_table(
        f"Members of {workspace}",
        ["user", "role", "added", "by"],
        found,
        lambda m: [m.user, m.role, format_time(m.added_at), m.added_by],
    )


workspaces_app = command_group(
    "Workspaces: separate namespaces on one store (server admins make them)."
)


@workspaces_app.command("create")
def create_workspace(
    name: Annotated[str, typer.Argument(help="e.g. team-a.")],
    reason: ReasonOption = None,
) -> None:
    """Make a workspace; give it members with `modelyard members add USER --workspace NAME`."""
    with user_errors():
        made = open_client().accounts.create_workspace(name, reason=reason)
    typer.echo(f"workspace {made.name}: use it with --workspace {made.name} or MODELYARD_WORKSPACE")


@workspaces_app.command("list")
def list_workspaces(as_json: JsonOption = False) -> None:
    """The workspaces you may see."""
    with user_errors():
        found = open_client().accounts.workspaces()
    if as_json:
        print_json(found)
        return
    print_table(
        "Workspaces", ["name", "created"], found, lambda w: [w.name, format_time(w.created_at)]
    )
