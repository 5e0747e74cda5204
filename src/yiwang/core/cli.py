"""Helpers for the domains' CLI commands: settings, one transaction, errors as sentences."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from yiwang.core.actor import SYSTEM, Actor
from yiwang.core.context import bound
from yiwang.core.db import Database
from yiwang.core.errors import AppError, PermissionDenied
from yiwang.core.settings import Settings, get_settings

F = TypeVar("F", bound=Callable[..., Any])


class CliContext:
    """What every command gets: settings, a lazily built database and the acting user.

    The top-level ``yiwang`` group installs ``actor_resolver`` (username → Actor, from identity)
    and ``on_denied`` (writes the refusal to the audit trail), so that ``core`` imports no domain.
    """

    actor_resolver: Callable[[Any, str], Actor] | None = None
    on_denied: Callable[[CliContext, PermissionDenied], None] | None = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db: Database | None = None
        self.actor: Actor = SYSTEM

    def act_as(self, session: Any, username: str | None) -> Actor:
        """The actor for ``--as USERNAME`` (the operator on the box, SYSTEM, when not given)."""
        if username:
            if CliContext.actor_resolver is None:
                raise RuntimeError("no actor resolver installed")
            self.actor = CliContext.actor_resolver(session, username)
        return self.actor

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database(self.settings)
        return self._db


pass_ctx = click.make_pass_decorator(CliContext, ensure=False)


def get_cli_context() -> CliContext:
    ctx = click.get_current_context()
    obj = ctx.find_object(CliContext)
    if obj is None:
        obj = CliContext(get_settings())
        ctx.obj = obj
    return obj


def app_errors(fn: F) -> F:
    """Print an :class:`AppError` to stderr as a sentence and exit 2, with no stack trace."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with bound(source_ip="cli"):
            try:
                return fn(*args, **kwargs)
            except AppError as exc:
                ctx = click.get_current_context(silent=True)
                cli_ctx = ctx.find_object(CliContext) if ctx else None
                if isinstance(exc, PermissionDenied) and cli_ctx and CliContext.on_denied:
                    CliContext.on_denied(cli_ctx, exc)
                click.echo(f"error: {exc.code}: {exc.render()}", err=True)
                for item in getattr(exc, "errors", []) or []:
                    click.echo(f"  - {item}", err=True)
                sys.exit(2)

    return wrapper  # type: ignore[return-value]
