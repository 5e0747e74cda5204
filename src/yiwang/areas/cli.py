"""``yiwang area …`` and ``yiwang department …``: import, look up and show areas and departments.

Commands act as the SYSTEM operator. A refused import prints each row's problem to stderr and
exits 2 with nothing imported.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from yiwang.areas import errors
from yiwang.areas import service as areas_service
from yiwang.areas.schemas import ImportReport
from yiwang.core.actor import SYSTEM
from yiwang.core.cli import app_errors, get_cli_context


def _print_row_errors(items: list[dict]) -> None:
    for e in items:
        click.echo(f"  row {e['row']}: {e['field']}: {e['problem']}: {e['message']}", err=True)


def _finish_import(run) -> ImportReport:  # type: ignore[no-untyped-def]
    try:
        return run()
    except errors.ImportRefused as exc:
        click.echo(f"error: {exc.code}: {exc.render()}", err=True)
        _print_row_errors(exc.errors)
        sys.exit(2)


def _report(report: ImportReport) -> None:
    click.echo(f"rows: {report.rows}, created: {report.created}, skipped: {report.skipped}")
    if report.errors:
        click.echo("skipped rows:", err=True)
        _print_row_errors([e.model_dump() for e in report.errors])


@click.group("area")
def area() -> None:
    """Administrative areas and grids (行政区划 / 网格)."""


@area.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "geojson"]), default=None,
              help="Default: from the file name (.geojson/.json → geojson, else csv).")
@click.option("--skip-bad-rows", is_flag=True, help="Import the good rows and report the bad ones.")
@app_errors
def import_cmd(file: Path, fmt: str | None, skip_bad_rows: bool) -> None:
    """Import areas from CSV (code,name,level,parent_code[,boundary_geojson]) or GeoJSON."""
    fmt = fmt or ("geojson" if file.suffix.lower() in (".geojson", ".json") else "csv")

    def run() -> ImportReport:
        with get_cli_context().db.transaction() as session, file.open("rb") as fh:
            return areas_service.import_areas(session, SYSTEM, fh, fmt, skip_bad_rows=skip_bad_rows)

    _report(_finish_import(run))


@area.command("locate")
@click.argument("lon", type=float)
@click.argument("lat", type=float)
@click.option("--crs", type=click.Choice(["wgs84", "gcj02"]), default="wgs84", show_default=True)
@app_errors
def locate_cmd(lon: float, lat: float, crs: str) -> None:
    """Print the grid containing the point (exit 1 when no grid contains it)."""
    with get_cli_context().db.transaction(write=False) as session:
        found = areas_service.locate(session, lon, lat, crs)
        chain = areas_service.ancestors(session, found.code) if found else []
    if found is None:
        click.echo("no grid contains this point", err=True)
        sys.exit(1)
    click.echo(f"{found.code} {found.name}")
    click.echo(" > ".join(f"{a.code} {a.name}" for a in [*chain, found]))


@area.command("show")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Print the area and its children as JSON.")
@app_errors
def show_cmd(code: str, as_json: bool) -> None:
    """Show one area, the chain above it and its children."""
    with get_cli_context().db.transaction(write=False) as session:
        found = areas_service.get_area(session, code)
        chain = areas_service.ancestors(session, code)
        kids = areas_service.children(session, code)
    if as_json:
        click.echo(json.dumps({"area": found.model_dump(), "ancestors": [a.model_dump() for a in chain],
                               "children": [a.model_dump() for a in kids]}, ensure_ascii=False, indent=1))
        return
    click.echo(f"{found.code} {found.name} ({found.level})")
    if chain:
        click.echo("in: " + " > ".join(f"{a.code} {a.name}" for a in chain))
    if found.min_lon is not None:
        click.echo(f"bbox: {found.min_lon:.6f},{found.min_lat:.6f} – {found.max_lon:.6f},{found.max_lat:.6f}")
    click.echo(f"children: {len(kids)}")
    for a in kids:
        click.echo(f"  {a.code} {a.name} ({a.level})")


@click.group("department")
def department() -> None:
    """Departments (部门 / 委办局)."""


@department.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-bad-rows", is_flag=True, help="Import the good rows and report the bad ones.")
@app_errors
def department_import_cmd(file: Path, skip_bad_rows: bool) -> None:
    """Import departments from CSV (code,name,kind,area_code,parent_code)."""

    def run() -> ImportReport:
        with get_cli_context().db.transaction() as session, file.open("rb") as fh:
            return areas_service.import_departments(session, SYSTEM, fh, skip_bad_rows=skip_bad_rows)

    _report(_finish_import(run))


@department.command("list")
@click.option("--area", "area_code", default=None, help="Only departments of this area (and below with --subtree).")
@click.option("--subtree", is_flag=True)
@app_errors
def department_list_cmd(area_code: str | None, subtree: bool) -> None:
    """List departments: code, kind, home area, name."""
    with get_cli_context().db.transaction(write=False) as session:
        rows = areas_service.list_departments(session, area_code, subtree=subtree)
    for d in rows:
        click.echo(f"{d.code}\t{d.kind}\t{d.area_code}\t{d.name}")


def register(main: click.Group) -> None:
    main.add_command(area)
    main.add_command(department)
