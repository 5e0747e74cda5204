"""The ``yiwang`` command: database, serving, the worker, and each domain's commands.

Domains add their commands in ``yiwang/<domain>/cli.py`` by exposing ``register(group)``.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from yiwang.core.cli import CliContext, get_cli_context
from yiwang.core.errors import PermissionDenied
from yiwang.core.settings import get_settings, reset_settings

DOMAINS = ("identity", "audit", "areas", "registry", "ops", "demo", "workdays", "workflow", "catalog",
           "certificates", "ratings", "notifications", "files", "applications", "cityops", "datacat")


@click.group()
@click.option("--config", type=click.Path(dir_okay=False), help="TOML config file (else YIWANG_CONFIG).")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """yiwang 一网 — the platform's command line."""
    if config:
        import os

        os.environ["YIWANG_CONFIG"] = config
        reset_settings()
    ctx.obj = CliContext(get_settings())
    _install_hooks()


def _install_hooks() -> None:
    from yiwang.audit import service as audit_service
    from yiwang.identity import service as identity_service

    def on_denied(cli: CliContext, exc: PermissionDenied) -> None:
        with cli.db.transaction() as session:
            audit_service.record(
                session, cli.actor, exc.permission or "permission", target_type="cli",
                target_id=exc.target, area_code=exc.area_code, outcome="denied",
                detail={"department_id": exc.department_id} if exc.department_id else None,
            )

    CliContext.actor_resolver = lambda session, username: identity_service.actor_for_username(session, username)
    CliContext.on_denied = on_denied


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create the database or bring its schema up to date (Alembic)."""
    from yiwang.core.migrate import upgrade

    c = get_cli_context()
    upgrade(c.settings, revision)
    from yiwang.identity import service as identity_service

    with c.db.transaction() as session:
        identity_service.seed_policy(session)
    click.echo(f"database at {revision}: {c.settings.resolved_database_url.split('@')[-1]}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="Processes; the web tier keeps no state.")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web pages and APIs."""
    from yiwang.core.server import serve as serve_app

    serve_app("yiwang.asgi:app", host=host, port=port, workers=workers, log_level="warning",
              proxy_headers=True, access_log=False)


@main.command()
@click.option("--workers", default=2, show_default=True, type=int)
def worker(workers: int) -> None:
    """Run the job worker: periodic audit checkpoints and queued jobs (huey)."""
    from yiwang.worker import run_worker

    run_worker(get_cli_context().settings, workers=workers)


for _domain in DOMAINS:
    _name = f"yiwang.{_domain}.cli"
    if importlib.util.find_spec(f"yiwang.{_domain}") and importlib.util.find_spec(_name):
        importlib.import_module(_name).register(main)


if __name__ == "__main__":
    main()
