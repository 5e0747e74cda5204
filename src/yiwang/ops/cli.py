"""``yiwang backup`` and ``yiwang restore`` (容灾): the operator's commands, run as the system actor.

    yiwang backup DEST [--include-keys]        same as ``yiwang backup create DEST``
    yiwang backup check SRC [--public-key F]   check a backup without restoring it
    yiwang restore SRC [--force]               restore into the configured database and var dir
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from yiwang.core.cli import app_errors, get_cli_context
from yiwang.ops import service as ops_service
from yiwang.ops.errors import BackupCorrupt, BackupIncomplete, RestoreTargetNotEmpty
from yiwang.ops.schemas import BackupManifest, CheckReport, RestoreReport


class _BackupGroup(click.Group):
    """A group whose default subcommand is ``create``: ``yiwang backup DEST`` works as well as
    ``yiwang backup create DEST`` and ``yiwang backup check SRC``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] != "--help":
            args = ["create", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_BackupGroup, invoke_without_command=False, no_args_is_help=True)
def backup() -> None:
    """Back up the database, stored files and audit checkpoints (容灾备份).

    \b
      yiwang backup DEST [--include-keys]   same as: yiwang backup create DEST
      yiwang backup check SRC               check a backup without restoring it
      yiwang restore SRC [--force]          restore it (a separate command)
    """


@backup.command("create", short_help="Write a consistent online backup into DEST.")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--include-keys", is_flag=True,
              help="Also copy the key directory (only onto a sealed, separately guarded medium).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@app_errors
def create(dest: Path, include_keys: bool, as_json: bool) -> None:
    """Write a consistent online backup into the new or empty directory DEST."""
    settings = get_cli_context().settings
    manifest = ops_service.create_backup(settings, dest, include_keys=include_keys)
    if as_json:
        click.echo(json.dumps(_manifest_summary(manifest, dest), indent=2, ensure_ascii=False))
        return
    click.echo(f"backup {manifest.backup_id} written to {dest}")
    for line in _manifest_lines(manifest):
        click.echo(f"  {line}")
    click.echo(f"  took            {manifest.duration_seconds:.2f} s")
    if include_keys:
        click.echo("  keys            INCLUDED — keep this backup sealed and apart from other copies")
    else:
        click.echo("  keys            not included — keep the key directory on its own guarded medium")


@backup.command("check", short_help="Check a backup without restoring it.")
@click.argument("src", type=click.Path(file_okay=False, path_type=Path))
@click.option("--public-key", "public_key_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The platform's public signing key to trust (default: this machine's key, if present).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@app_errors
def check(src: Path, public_key_file: Path | None, as_json: bool) -> None:
    """Check a backup against its manifest without restoring it; exit 2 naming every problem."""
    if public_key_file is not None:
        key: str | bytes | None = public_key_file.read_text().strip()
    else:
        key = ops_service.trusted_public_key(get_cli_context().settings, src)
    report = ops_service.check_backup(src, public_key=key)
    if as_json:
        click.echo(json.dumps(_check_summary(report), indent=2, ensure_ascii=False))
    if not report.ok:
        raise (BackupCorrupt if report.complete else BackupIncomplete)(path=str(src), errors=report.problems)
    if not as_json:
        assert report.manifest is not None
        click.echo(f"backup {report.manifest.backup_id} is sound: {len(report.manifest.files)} files match "
                   f"the manifest; signature {_signature_words(report.signature)}")
        for line in _manifest_lines(report.manifest):
            click.echo(f"  {line}")


@click.command(short_help="Restore a backup here, then verify it (RPO, RTO).")
@click.argument("src", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a target that already holds a database or files.")
@click.option("--include-keys", is_flag=True, help="Also restore the key directory from the backup.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@app_errors
def restore(src: Path, force: bool, include_keys: bool, as_json: bool) -> None:
    """Restore a backup into the database and var dir the settings name, then verify it.

    Refuses (exit 2) a corrupt or incomplete backup and a target that holds data; exits 1 when
    the restored audit chain or row counts do not verify."""
    # The settings only: opening the database here would create an SQLite file before the restore.
    settings = get_cli_context().settings
    try:
        report = ops_service.restore_backup(src, settings, force=force, include_keys=include_keys)
    except RestoreTargetNotEmpty as exc:
        exc.errors.append("--force replaces them")
        raise
    if as_json:
        click.echo(json.dumps(_restore_summary(report), indent=2, ensure_ascii=False, default=str))
    else:
        _print_restore(report)
    if not report.ok:
        sys.exit(1)


def _print_restore(report: RestoreReport) -> None:
    m = report.manifest
    click.echo(f"restored backup {m.backup_id} into {report.target_database}")
    click.echo(f"  signature       {_signature_words(report.signature)}")
    click.echo(f"  files           {report.files_restored} files, {_size(report.bytes_restored)}")
    if report.migrated_to:
        click.echo(f"  schema          migrated {report.migrated_from} → {report.migrated_to}")
    else:
        click.echo(f"  schema          at revision {m.database.alembic_revision or '(none)'}")
    if report.count_mismatches:
        click.echo("  rows            DIFFER from the manifest:")
        for table, (expected, found) in sorted(report.count_mismatches.items()):
            click.echo(f"                    {table}: manifest {expected}, restored {found}")
    else:
        click.echo(f"  rows            match the manifest ({len(m.database.counts)} tables, "
                   f"{sum(m.database.counts.values()):,} rows)")
    click.echo(f"  audit chain     {'verified' if report.chain_ok else 'FAILED verification'}: {_chain_words(report.chain)}")
    click.echo(f"  recovery point  {m.snapshot_at.isoformat()} (newest audit entry "
               f"{m.audit.newest_entry_at.isoformat() if m.audit.newest_entry_at else 'none'})")
    click.echo(f"  RPO             {report.rpo_seconds:.2f} s")
    click.echo(f"  RTO             {report.rto_seconds:.2f} s")
    for warning in report.warnings:
        click.echo(f"  warning: {warning}", err=True)


def _manifest_lines(m: BackupManifest) -> list[str]:
    rows = sum(m.database.counts.values())
    sections = {s: [f for f in m.files if f.path.startswith(s + "/")] for s in ("files", "checkpoints", "keys")}
    newest = m.audit.newest_entry_at.isoformat() if m.audit.newest_entry_at else "none"
    return [
        f"database        {m.database.kind}, revision {m.database.alembic_revision or '(none)'}, "
        f"{len(m.database.counts)} tables, {rows:,} rows",
        f"stored files    {len(sections['files'])} files, {_size(sum(f.size for f in sections['files']))}",
        f"checkpoints     {len(sections['checkpoints'])} files",
        f"audit           {len(m.audit.chain_heads)} chains, {m.audit.entries:,} entries, newest {newest}",
        f"total           {len(m.files)} files, {_size(m.total_bytes)}",
        f"recovery point  {m.snapshot_at.isoformat()} (RPO {m.rpo_seconds:.2f} s)",
    ]


def _manifest_summary(m: BackupManifest, dest: Path) -> dict[str, Any]:
    return {
        "backup_id": m.backup_id,
        "destination": str(dest),
        "database": m.database.kind,
        "alembic_revision": m.database.alembic_revision,
        "files": len(m.files),
        "bytes": m.total_bytes,
        "duration_seconds": round(m.duration_seconds, 3),
        "recovery_point": m.snapshot_at.isoformat(),
        "newest_entry_at": m.audit.newest_entry_at.isoformat() if m.audit.newest_entry_at else None,
        "rpo_seconds": round(m.rpo_seconds, 3),
        "includes_keys": m.keys.included,
    }


def _check_summary(report: CheckReport) -> dict[str, Any]:
    return {
        "source": report.source,
        "ok": report.ok,
        "complete": report.complete,
        "signature": report.signature,
        "problems": [{"path": p.path, "problem": p.message()} for p in report.problems],
        "backup_id": report.manifest.backup_id if report.manifest else None,
    }


def _restore_summary(report: RestoreReport) -> dict[str, Any]:
    return {
        "backup_id": report.manifest.backup_id,
        "target_database": report.target_database,
        "ok": report.ok,
        "signature": report.signature,
        "files_restored": report.files_restored,
        "bytes_restored": report.bytes_restored,
        "migrated_from": report.migrated_from,
        "migrated_to": report.migrated_to,
        "count_mismatches": {t: list(v) for t, v in report.count_mismatches.items()},
        "chain_ok": report.chain_ok,
        "chain": _chain_words(report.chain),
        "recovery_point": report.recovery_point.isoformat(),
        "rpo_seconds": round(report.rpo_seconds, 3),
        "rto_seconds": round(report.rto_seconds, 3),
        "warnings": report.warnings,
    }


def _signature_words(status: str) -> str:
    return {
        "trusted": "valid (checked with a trusted public key)",
        "embedded": "valid (checked with the key recorded in the backup: proves integrity, not origin)",
    }.get(status, status)


def _chain_words(chain: Any) -> str:
    if chain is None:
        return "not checked (no signing key; see the warning)"
    words = (f"{chain.entries_checked:,} entries in {chain.chains} chains, "
             f"{chain.checkpoints_checked} checkpoints ({chain.checkpoints_exported} exported)")
    for problem in chain.problems[:10]:
        words += f"\n                    {problem.line()}"
    return words


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{n} B"


def register(main: click.Group) -> None:
    main.add_command(backup)
    main.add_command(restore)
