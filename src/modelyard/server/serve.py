"""Run the REST server with uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select

from modelyard.config import BackendKind, Settings
from modelyard.core.backend import LocalBackend, open_local_backend
from modelyard.core.secret_box import SETTING
from modelyard.core.unit_of_work import Actor
from modelyard.errors import InvalidInput
from modelyard.governance import accounts
from modelyard.governance.account_models import CreateUser, IssueToken
from modelyard.pipelines.scheduler import Scheduler
from modelyard.server.app import create_app
from modelyard.storage.db.tables import users

log = logging.getLogger(__name__)


def build_app(settings: Settings, *, auth: bool = False) -> FastAPI:
    """The app on the local backend that ``settings`` names (never on another server)."""
    if settings.backend == BackendKind.http:
        raise InvalidInput(
            "the server needs a database, not another server: set MODELYARD_URI to "
            "sqlite:///path or postgresql://... (or leave it unset for ./.modelyard)"
        )
    backend = open_local_backend(settings)
    _check_secret_key(backend, auth)
    if auth:
        _bootstrap_admin(backend)
    return create_app(backend, settings, auth=auth)


def _check_secret_key(backend: LocalBackend, auth: bool) -> None:
    """A malformed MODELYARD_SECRET_KEY stops the start (not the first secret set); a server
    others use, without one, encrypts with the home folder's key and says why to set one."""
    box = backend.secret_box
    if box is None:
        return
    if box.configured:
        box.check_keys()
    elif auth:
        log.warning(
            "%s is not set: stored secrets are encrypted with the key in %s. Whoever can read "
            "that file can decrypt them, and a copy of the database is unreadable without "
            "it. Set %s (`modelyard secrets generate-key`; docs/security.md, Secrets) and "
            "keep it apart from the database and its backups",
            SETTING,
            box.key_file,
            SETTING,
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def auth_mode(host: str, auth: bool | None, insecure_no_auth: bool) -> bool:
    """Whether a server on ``host`` authenticates: on by default off loopback, and never
    open on a public address unless told ``insecure_no_auth`` (DESIGN invariant 6)."""
    if auth is None:
        auth = not is_loopback(host) and not insecure_no_auth
    if not auth and not is_loopback(host) and not insecure_no_auth:
        raise InvalidInput(
            f"refusing to serve {host} without authentication: anyone who reaches it could "
            "change anything. Drop --no-auth (tokens are then required), or pass "
            "--insecure-no-auth if a proxy in front authenticates every request"
        )
    return auth


def _bootstrap_admin(backend: LocalBackend) -> None:
    """On the first start with auth and no users: an admin with a one-time token, printed
    once (never a fixed default password)."""
    with backend.db.read() as conn:
        if conn.execute(select(func.count()).select_from(users)).scalar():
            return
    admin = Actor("bootstrap", authenticated=True, admin=True)
    backend.call(accounts.create_user, CreateUser(name="admin", admin=True), actor=admin,
                 reason="first start with auth: the bootstrap admin")  # fmt: skip
    made = backend.call(
        accounts.issue_token,
        IssueToken(user="admin", name="bootstrap", expires_in_days=1),
        actor=admin,
        reason="first start with auth: the bootstrap admin's token",
    )
    sys.stderr.write(
        "\n  No users yet: created the admin user 'admin' with this one-time token (valid "
        "for 24 hours, shown only now):\n\n"
        f"    {made.token}\n\n"
        "  Log in with it (modelyard auth login URL), create your users and their tokens, "
        "then revoke it.\n\n"
    )


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    scheduler: bool = False,
    auth: bool | None = None,
    insecure_no_auth: bool = False,
) -> None:
    """Serve until interrupted; with ``scheduler``, also fire due schedules meanwhile."""
    import uvicorn

    app = build_app(settings, auth=auth_mode(host, auth, insecure_no_auth))
    if scheduler:
        _with_scheduler(app, settings)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def _with_scheduler(app: FastAPI, settings: Settings) -> None:
    """Run a ``Scheduler`` thread from the app's startup to its shutdown.

    In the lifespan rather than around ``uvicorn.run``: after its shutdown, uvicorn re-raises
    the SIGTERM it caught, which ends the process before code after ``run`` could stop it.
    """
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(served: Any) -> AsyncIterator[Any]:
        backend = open_local_backend(settings)
        try:
            with Scheduler(backend, settings=settings).in_background():
                async with inner(served) as state:
                    yield state
        finally:
            backend.close()

    app.router.lifespan_context = lifespan
