"""``yiwang audit …``: verify the chains, sign checkpoints now, print the public key.

Commands act as the SYSTEM operator. ``verify`` exits 0 with a summary when every chain is intact,
1 with one line per problem (chain and seq) otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from yiwang.audit import service as audit_service
from yiwang.core.actor import SYSTEM
from yiwang.core.cli import app_errors, get_cli_context
from yiwang.core.crypto import SIGN_ALGORITHMS, key_id, public_key
from yiwang.core.jobs import bind_settings


def _db():  # type: ignore[no-untyped-def]
    ctx = get_cli_context()
    bind_settings(ctx.db.engine, ctx.settings)
    return ctx.db


@click.group("audit")
def audit() -> None:
    """The audit trail (留痕): verify, checkpoint, export the public key."""


@audit.command("verify")
@click.option("--checkpoints", "checkpoints_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of exported checkpoints (default: the configured checkpoint folder).")
@app_errors
def verify(checkpoints_dir: Path | None) -> None:
    """Check every chain against the signed checkpoints; name the first bad entry of each chain."""
    db = _db()
    with db.transaction(write=False) as session:
        report = audit_service.verify_chain(session, checkpoints_dir=checkpoints_dir)
    with db.transaction() as session:
        audit_service.record(session, SYSTEM, "audit.verify", target_type="audit_chain",
                             detail={"ok": report.ok, "entries_checked": report.entries_checked,
                                     "problems": [[p.kind, p.chain_id, p.seq] for p in report.problems[:20]]})
    if report.ok:
        click.echo(f"ok: {report.entries_checked} entries in {report.chains} chains intact; "
                   f"{report.checkpoints_checked} signed checkpoints hold")
        return
    for p in report.problems:
        click.echo(p.line())
    click.echo(f"FAILED: {len(report.problems)} problem(s); {report.entries_checked} entries checked "
               f"in {report.chains} chains", err=True)
    sys.exit(1)


@audit.command("checkpoint")
@app_errors
def checkpoint() -> None:
    """Sign the head of every chain that moved since its last checkpoint, and export it."""
    with _db().transaction() as session:
        made = audit_service.create_checkpoint(session, SYSTEM)
    if not made:
        click.echo("no chain moved since its last checkpoint")
    for c in made:
        click.echo(f"chain {c.chain_id} seq {c.seq} hash {c.hash} signed {c.algorithm} {c.key_id}")


@audit.command("export-key")
@click.option("--algorithm", type=click.Choice(SIGN_ALGORITHMS), default=None,
              help="Which key (default: the configured signature algorithm).")
@click.option("--json", "as_json", is_flag=True, help="Print algorithm, key id and key as JSON.")
@app_errors
def export_key(algorithm: str | None, as_json: bool) -> None:
    """Print the public signing key, to verify exported checkpoints offline."""
    settings = get_cli_context().settings
    algorithm = algorithm or settings.sign_algorithm
    pub = public_key(settings, algorithm)
    if as_json:
        click.echo(json.dumps({"algorithm": algorithm, "key_id": key_id(settings, algorithm),
                               "public_key": pub, "hash_algorithm": settings.hash_algorithm}, indent=1))
    else:
        click.echo(pub.rstrip("\n"))


def register(main: click.Group) -> None:
    main.add_command(audit)
