"""``yiwang workdays …``: count working days, publish and show a year's calendar.

Commands act as the SYSTEM operator (or ``--as USERNAME`` for ``publish``)."""

from __future__ import annotations

from pathlib import Path

import click

from yiwang.core.cli import app_errors, get_cli_context
from yiwang.workdays import service as workdays_service
from yiwang.workdays.schemas import YearRead

KIND_LABELS = {"holiday": "holiday", "makeup_workday": "make-up workday", "named_day": "named day"}


def _show(read: YearRead) -> None:
    state = "estimated" if read.estimated else "official"
    click.echo(f"{read.year}: source {read.source}, {state}, {read.holidays} holidays,"
               f" {read.makeup_workdays} make-up workdays")
    for d in read.days:
        click.echo(f"{d.date.isoformat()}  {'work' if d.working else 'off '}  {KIND_LABELS[d.kind]:<15}"
                   f"  {d.source:<8}  {d.name or ''}".rstrip())


@click.group("workdays")
def workdays() -> None:
    """Working days on the Chinese public-holiday calendar (工作日 / 办理时限)."""


@workdays.command("due")
@click.argument("start", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="START")
@click.argument("days", type=int, metavar="DAYS")
@app_errors
def due_cmd(start, days: int) -> None:  # type: ignore[no-untyped-def]
    """Print the date DAYS working days after START (counting from the next day)."""
    with get_cli_context().db.transaction(write=False) as session:
        got = workdays_service.add_working_days(session, start.date(), days)
    click.echo(got.date.isoformat() + (" (estimated)" if got.estimated else ""))


@workdays.command("publish")
@click.argument("year", type=int)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--incomplete", is_flag=True, help="Override single days only; the year stays estimated.")
@click.option("--as", "username", default=None, help="Act as this user (default: the operator, SYSTEM).")
@app_errors
def publish_cmd(year: int, file: Path, incomplete: bool, username: str | None) -> None:
    """Replace YEAR's calendar with FILE: JSON, or CSV with the header date,working,name."""
    fmt = "json" if file.suffix.lower() == ".json" else "csv"
    days = workdays_service.parse_calendar_file(file.read_bytes(), fmt)
    ctx = get_cli_context()
    with ctx.db.transaction() as session:
        actor = ctx.act_as(session, username)
        read = workdays_service.publish_year(session, actor, year, days, complete=not incomplete)
    _show(read)


@workdays.command("show")
@click.argument("year", type=int)
@app_errors
def show_cmd(year: int) -> None:
    """Print YEAR's holidays and make-up workdays with their source."""
    with get_cli_context().db.transaction(write=False) as session:
        read = workdays_service.get_year(session, year)
    _show(read)


def register(main: click.Group) -> None:
    main.add_command(workdays)

