"""Helpers for the domains' CLI commands: settings, one transaction, errors as sentences."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from yiwang.core.context import bound
from yiwang.core.db import Database
from yiwang.core.errors import AppError
from yiwang.core.settings import Settings, get_settings

F = TypeVar("F", bound=Callable[..., Any])


class CliContext:
    """What every command gets: settings and a lazily built database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db: Database | None = None

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
                click.echo(f"error: {exc.code}: {exc.render()}", err=True)
                for item in getattr(exc, "errors", []) or []:
                    click.echo(f"  - {item}", err=True)
                sys.exit(2)

    return wrapper  # type: ignore[return-value]
