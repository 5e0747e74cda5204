"""``yiwang demo load``: the demo city — areas and grids, departments, staff for every role,
tens of thousands of registry records — in one transaction per part."""

from __future__ import annotations

import time

import click

from yiwang.core.cli import app_errors, get_cli_context


@click.group()
def demo() -> None:
    """The demo city (演示城市)."""


@demo.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing when a city is already loaded.")
@click.option("--persons", default=20_000, show_default=True, help="Generated person records.")
@click.option("--entities", default=5_000, show_default=True, help="Generated legal-entity records.")
@click.option("--events", default=3000, show_default=True,
              help="Generated 一网统管 reports (0: none).", type=click.IntRange(min=0, max=1_000_000))
@click.option("--datasets", default=None, type=click.IntRange(min=0, max=100_000),
              help="Data catalogue resources at most (0: none) [default: all of the demo's, about 260].")
@click.option("--seed", default=1, show_default=True)
@app_errors
def load(if_empty: bool, persons: int, entities: int, events: int, datasets: int | None, seed: int) -> None:
    """Load the demo city into an empty database."""
    from yiwang.demo.loader import city_loaded, load_demo

    ctx = get_cli_context()
    with ctx.db.transaction() as session:
        loaded = city_loaded(session)
    if loaded:
        if if_empty:
            click.echo("demo city already loaded; nothing to do")
            return
        raise click.ClickException("a city is already loaded; use an empty database")
    started = time.perf_counter()
    summary = load_demo(ctx.db, persons=persons, entities=entities, seed=seed, events=events,
                        datasets=datasets, echo=click.echo)
    click.echo(f"demo city loaded in {time.perf_counter() - started:.1f}s: {summary['counts']}")
    click.echo("sign in at http://127.0.0.1:8000/login — accounts and the demo password are in README.md")


def register(main: click.Group) -> None:
    main.add_command(demo)
