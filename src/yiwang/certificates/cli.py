"""``yiwang certificate …``: verify a certificate file offline, print the published key."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from yiwang.certificates import offline
from yiwang.core.cli import app_errors, get_cli_context


@click.group("certificate")
def certificate() -> None:
    """Electronic certificates (电子证照)."""


@certificate.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-key", "key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The published key (PEM for Ed25519, hex for SM2); default: this installation's.")
@app_errors
def verify(file: Path, key_file: Path | None) -> None:
    """Check a certificate file's signature and dates offline (revocation needs the online check)."""
    if key_file is not None:
        public = key_file.read_text(encoding="utf-8")
    else:
        from yiwang.core import crypto

        settings = get_cli_context().settings
        try:
            algorithm = offline.parse_envelope(file.read_bytes())[1]["algorithm"]
        except offline.MalformedEnvelope:
            algorithm = settings.sign_algorithm
        public = crypto.public_key(settings, algorithm) if crypto.has_signing_key(settings, algorithm) else ""
    result = offline.verify(file.read_bytes(), public)
    click.echo(json.dumps({"valid": result.valid, "reason": result.reason, "detail": result.detail},
                          ensure_ascii=False))
    if not result.valid:
        sys.exit(1)


@certificate.command("export-key")
@click.option("--algorithm", type=click.Choice(offline.ALGORITHMS), default=None,
              help="Which key (default: the configured signature algorithm).")
@app_errors
def export_key(algorithm: str | None) -> None:
    """Print the published signing key: PEM for Ed25519, 128 hex digits for SM2."""
    from yiwang.core import crypto

    settings = get_cli_context().settings
    click.echo(crypto.public_key(settings, algorithm or settings.sign_algorithm).rstrip("\n"))


def register(main: click.Group) -> None:
    main.add_command(certificate)
