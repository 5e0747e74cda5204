"""``yiwang registry …``: import persons or legal entities from CSV, re-encrypt after key rotation.

Commands act as the operator on the box (SYSTEM) unless ``--as USERNAME`` names a user, whose
grants then apply. A refused import prints every bad row to stderr as ``line N: column: problem —
message`` and exits 2 with nothing imported.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from yiwang.core.actor import SYSTEM
from yiwang.core.cli import app_errors, get_cli_context
from yiwang.core.keys import key_ring
from yiwang.registry import service as registry_service
from yiwang.registry.schemas import ImportReport


@click.group("registry")
def registry() -> None:
    """Base registries (基础库): persons (人口) and legal entities (法人)."""


def _print_errors(report: ImportReport) -> None:
    for e in report.errors:
        click.echo(registry_service.describe_row_error(e), err=True)


@registry.command("import")
@click.argument("kind", type=click.Choice(["persons", "entities"]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-bad-rows", is_flag=True, help="Import the good rows and list the skipped ones.")
@click.option("--as", "as_user", metavar="USERNAME", help="Act as this user (default: the system operator).")
@app_errors
def import_cmd(kind: str, file: Path, skip_bad_rows: bool, as_user: str | None) -> None:
    """Import a CSV file of persons (name,id_number,phone,address,area_code) or legal entities
    (uscc,name,legal_representative,registered_address,area_code,industry,size,registration_date)."""
    ctx = get_cli_context()
    data = file.read_bytes()
    run = registry_service.import_persons_csv if kind == "persons" else registry_service.import_entities_csv
    with ctx.db.transaction() as session:
        actor = ctx.act_as(session, as_user)
        report = run(session, actor, data, skip_bad_rows=skip_bad_rows)
    if report.refused:
        err = registry_service.import_refused_error(report)
        click.echo(f"error: {err.code}: {err.render()}", err=True)
        _print_errors(report)
        sys.exit(2)
    click.echo(f"{kind}: {report.total} rows, {report.imported} imported, {report.skipped} skipped")
    if report.errors:
        click.echo("skipped rows:", err=True)
        _print_errors(report)


@registry.command("reencrypt")
@click.option("--rotate", is_flag=True, help="First make a new field key the active one.")
@click.option("--batch", default=1000, show_default=True, help="Rows per batch.")
@click.option("--per-transaction", default=20_000, show_default=True, help="Rows per committed transaction.")
@app_errors
def reencrypt_cmd(rotate: bool, batch: int, per_transaction: int) -> None:
    """Re-encrypt every registry field not under the active key and algorithm (after a rotation)."""
    ctx = get_cli_context()
    if rotate:
        kid = key_ring(ctx.settings).rotate_field_key()
        click.echo(f"active field key: {kid}")
    total = 0
    while True:
        with ctx.db.transaction() as session:
            done = registry_service.reencrypt(session, SYSTEM, batch=batch, max_rows=per_transaction)
        total += done
        if done < per_transaction:
            break
    click.echo(f"re-encrypted rows: {total}")


def register(main: click.Group) -> None:
    main.add_command(registry)
