"""``yiwang application …``: escalate overdue branches now (the worker does it hourly)."""

from __future__ import annotations

from datetime import date

import click

from yiwang.applications import service
from yiwang.core.cli import app_errors, get_cli_context


@click.group("application")
def application() -> None:
    """Applications (办件)."""


@application.command("escalate-overdue")
@click.option("--on", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Treat this day as today (default: today in China).")
@app_errors
def escalate_overdue(day) -> None:
    """Escalate every branch past its due date to its department's heads, once each."""
    on: date | None = day.date() if day is not None else None
    total = 0
    while True:
        with get_cli_context().db.transaction() as session:
            n = service.escalate_overdue(session, on, batch=service.ESCALATION_BATCH)
        total += n
        if n < service.ESCALATION_BATCH:
            break
    click.echo(f"escalated {total}")


def register(main: click.Group) -> None:
    main.add_command(application)
