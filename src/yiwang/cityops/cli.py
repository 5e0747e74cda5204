"""``yiwang cityops …``: escalate overdue events now (the worker does it every few minutes) and
train the triage classifier on the city's own closed events."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from yiwang.cityops import service
from yiwang.core.cli import app_errors, get_cli_context


@click.group("cityops")
def cityops() -> None:
    """一网统管 city events."""


@cityops.command("escalate-overdue")
@click.option("--at", "at", default=None, help="Treat this ISO moment as now (default: now); naive means UTC.")
@app_errors
def escalate_overdue(at: str | None) -> None:
    """Escalate every overdue event one level up, once per level."""
    now = None
    if at:
        try:
            now = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter("not an ISO date-time", param_hint="--at") from None
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
    total = 0
    while True:
        with get_cli_context().db.transaction() as session:
            n = service.escalate_overdue(session, now, batch=service.ESCALATION_BATCH)
        total += n
        if n < service.ESCALATION_BATCH:
            break
    click.echo(f"escalated {total}")


@cityops.command("train")
@click.option("--as", "username", default=None, help="Act as this user (default: the operator, as system).")
@app_errors
def train(username: str | None) -> None:
    """Train the category classifier on the newest closed events and keep it."""
    ctx = get_cli_context()
    with ctx.db.transaction() as session:
        out = service.train_classifier(session, ctx.act_as(session, username))
    accuracy = "n/a" if out.accuracy is None else f"{out.accuracy:.3f}"
    click.echo(f"trained {out.id}: {out.samples} events, {len(out.categories)} categories, accuracy {accuracy}")


def register(main: click.Group) -> None:
    main.add_command(cityops)
