"""``yiwang catalog …``: import, export and search the service catalogue.

Commands act as the SYSTEM operator. A refused import prints each entry's problems to stderr and
exits 2 with nothing imported.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from yiwang.catalog import errors
from yiwang.catalog import service as catalog_service
from yiwang.core.actor import SYSTEM
from yiwang.core.cli import app_errors, get_cli_context


def _print_problems(items: list[dict]) -> None:
    for e in items:
        click.echo(f"  {e['entry']}: {e['field']}: {e['problem']}: {e['message']}", err=True)


@click.group("catalog")
def catalog() -> None:
    """The service catalogue (政务服务事项目录)."""


@catalog.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default=None,
              help="Default: from the file name (.json → json, else yaml).")
@click.option("--skip-bad", is_flag=True, help="Import the good entries and report the bad ones.")
@app_errors
def import_cmd(file: Path, fmt: str | None, skip_bad: bool) -> None:
    """Create or update items and bundles from a YAML or JSON file."""
    fmt = fmt or ("json" if file.suffix.lower() == ".json" else "yaml")
    try:
        with get_cli_context().db.transaction() as session:
            report = catalog_service.import_catalog(session, SYSTEM, file.read_bytes(), fmt, skip_bad=skip_bad)
    except errors.ImportRefused as exc:
        click.echo(f"error: {exc.code}: {exc.render()}", err=True)
        _print_problems(exc.errors)
        sys.exit(2)
    click.echo(f"items: {report.items_created} created, {report.items_updated} updated, "
               f"{report.items_unchanged} unchanged; bundles: {report.bundles_created} created, "
               f"{report.bundles_updated} updated, {report.bundles_unchanged} unchanged; skipped: {report.skipped}")
    if report.errors:
        click.echo("skipped entries:", err=True)
        _print_problems([e.model_dump() for e in report.errors])


@catalog.command("export")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of standard output.")
@app_errors
def export_cmd(fmt: str, output: Path | None) -> None:
    """Write the current catalogue as YAML or JSON."""
    with get_cli_context().db.transaction() as session:
        text = catalog_service.export_catalog(session, fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


@catalog.command("search")
@click.argument("query")
@click.option("--area", "area_code", default=None, help="Only what applies in this area code.")
@app_errors
def search_cmd(query: str, area_code: str | None) -> None:
    """Search items and bundles in Chinese, best first."""
    with get_cli_context().db.transaction() as session:
        hits = catalog_service.search(session, query, area_code=area_code)
    for h in hits:
        click.echo(f"{h.score:7.2f}  {h.kind:6}  {h.code:10}  {h.name}")


def register(main: click.Group) -> None:
    main.add_command(catalog)
