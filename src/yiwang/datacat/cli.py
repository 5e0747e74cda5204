"""``yiwang datacat …``: rebuild the datastore's open tables from the kept uploads."""

from __future__ import annotations

import click

from yiwang.core.cli import app_errors, get_cli_context
from yiwang.datacat import service


@click.group("datacat")
def datacat() -> None:
    """The data catalogue and the open-data portal."""


@datacat.command("republish")
@app_errors
def republish() -> None:
    """Load every open table into the datastore again (after a restore or a datastore move)."""
    click.echo(f"republished {service.republish_all(get_cli_context().db)} tables")


def register(main: click.Group) -> None:
    main.add_command(datacat)
