"""Signed checkpoints: "chain C had N entries ending in hash H at time T", signed by the platform.

Each checkpoint is stored in ``audit_checkpoints`` AND appended (fsync) as one JSON line to
``{checkpoint_dir}/chain-<C>.jsonl``, a store outside the database (another volume, a WORM bucket
mount, a log shipper's inbox). Someone holding the database but not the signing key cannot forge a
checkpoint, and cannot reach the exported copies at all: verification trusts the export first.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from yiwang.audit.chain import at_text
from yiwang.audit.models import AuditCheckpoint
from yiwang.core.crypto import (
    SIGN_ALGORITHMS,
    has_signing_key,
    public_key,
    public_key_id,
    sign,
    verify_signature,
)
from yiwang.core.db import utcnow
from yiwang.core.jobs import run_after_commit, settings_for
from yiwang.core.settings import Settings

log = logging.getLogger("yiwang.audit")

EXPORT_PREFIX = "chain-"
EXPORT_SUFFIX = ".jsonl"


@dataclass(frozen=True)
class Checkpoint:
    chain_id: int
    seq: int
    hash: str
    hash_algorithm: str
    at: datetime
    algorithm: str
    key_id: str
    signature: str
    source: str = "db"
    """Where it was read from: ``db`` or ``export``."""

    def payload(self) -> bytes:
        return signed_payload(self.chain_id, self.seq, self.hash, self.hash_algorithm, self.at)

    def as_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id, "seq": self.seq, "hash": self.hash,
            "hash_algorithm": self.hash_algorithm, "at": self.at.isoformat(),
            "algorithm": self.algorithm, "key_id": self.key_id, "signature": self.signature,
        }


def signed_payload(chain_id: int, seq: int, hash_: str, hash_algorithm: str, at: datetime) -> bytes:
    """The exact bytes a checkpoint's signature covers (documented for offline verifiers)."""
    return (
        f"yiwang-audit-checkpoint/1\nchain={chain_id}\nseq={seq}\nhash={hash_}\n"
        f"hash_algorithm={hash_algorithm}\nat={at_text(at)}\n"
    ).encode()


def export_path(folder: Path, chain_id: int) -> Path:
    return folder / f"{EXPORT_PREFIX}{chain_id}{EXPORT_SUFFIX}"


def _append_lines(folder: Path, checkpoints: list[Checkpoint]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for cp in checkpoints:
        path = export_path(folder, cp.chain_id)
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, (json.dumps(cp.as_json(), sort_keys=True) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)


def load_exported(folder: Path) -> tuple[list[Checkpoint], list[tuple[int, str]]]:
    """Checkpoints in an export folder, and the lines that could not be read ((chain, "file:line"))."""
    found: list[Checkpoint] = []
    bad: list[tuple[int, str]] = []
    if not folder.is_dir():
        return found, bad
    for path in sorted(folder.glob(f"{EXPORT_PREFIX}*{EXPORT_SUFFIX}")):
        with path.open("rb") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                    found.append(Checkpoint(
                        chain_id=int(raw["chain_id"]), seq=int(raw["seq"]), hash=str(raw["hash"]),
                        hash_algorithm=str(raw["hash_algorithm"]), at=datetime.fromisoformat(raw["at"]),
                        algorithm=str(raw["algorithm"]), key_id=str(raw["key_id"]),
                        signature=str(raw["signature"]), source="export",
                    ))
                except (ValueError, KeyError, TypeError):
                    stem = path.name.removeprefix(EXPORT_PREFIX).removesuffix(EXPORT_SUFFIX)
                    bad.append((int(stem) if stem.isdigit() else -1, f"{path.name}:{n}"))
    return found, bad


def load_stored(session: Session) -> list[Checkpoint]:
    rows = session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.chain_id, AuditCheckpoint.seq))
    return [
        Checkpoint(r.chain_id, r.seq, r.hash, r.hash_algorithm, r.at, r.algorithm, r.key_id, r.signature)
        for r in rows.scalars()
    ]


class KeyBook:
    """Published keys by algorithm, to check signatures (the platform's own, from its key ring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._keys: dict[str, str] = {}

    def key(self, algorithm: str) -> str | None:
        if algorithm not in self._keys:
            # Never create a key while verifying: a new key would make every signature look forged.
            if algorithm not in SIGN_ALGORITHMS or not has_signing_key(self.settings, algorithm):
                return None
            self._keys[algorithm] = public_key(self.settings, algorithm)
        return self._keys[algorithm]

    def check(self, cp: Checkpoint) -> str | None:
        """None when the signature holds, else the reason it does not."""
        if cp.algorithm not in SIGN_ALGORITHMS:
            return f"unknown signature algorithm {cp.algorithm}"
        pub = self.key(cp.algorithm)
        if pub is None:
            return f"the platform's {cp.algorithm} signing key is not in the key directory"
        if public_key_id(cp.algorithm, pub) != cp.key_id:
            return f"signed with key {cp.key_id}, which is not the platform's key"
        if not verify_signature(cp.algorithm, pub, cp.payload(), cp.signature):
            return "signature does not match"
        return None


_HEADS = text("SELECT chain_id, seq, hash, hash_algorithm FROM audit_chain_heads ORDER BY chain_id")
_ENTRY_HASH = text("SELECT hash FROM audit_entries WHERE chain_id = :c AND seq = :s")
_LAST = text("SELECT MAX(seq) FROM audit_checkpoints WHERE chain_id = :c")


def create(session: Session, *, only_due: bool = False) -> list[Checkpoint]:
    """Sign the head of every chain that moved since its last checkpoint; export after commit.

    ``only_due`` keeps to chains that grew by ``audit_checkpoint_every`` entries or whose last
    checkpoint is older than ten minutes (the worker's periodic run)."""
    settings = settings_for(session)
    made: list[Checkpoint] = []
    now = utcnow()
    for chain_id, seq, hash_, hash_algorithm in session.execute(_HEADS).all():
        if seq <= 0:
            continue
        last = session.execute(_LAST, {"c": chain_id}).scalar()
        if last is not None and last >= seq:
            continue
        if only_due and last is not None:
            last_at = session.execute(
                select(AuditCheckpoint.at).where(AuditCheckpoint.chain_id == chain_id, AuditCheckpoint.seq == last)
            ).scalar_one()
            if seq - last < settings.audit_checkpoint_every and (now - last_at).total_seconds() < 600:
                continue
        stored = session.execute(_ENTRY_HASH, {"c": chain_id, "s": seq}).scalar()
        if stored != hash_:
            log.error("audit chain head disagrees with its entry; not signing",
                      extra={"chain_id": chain_id, "seq": seq})
            continue
        algorithm, kid, signature = sign(settings, signed_payload(chain_id, seq, hash_, hash_algorithm, now))
        cp = Checkpoint(chain_id, seq, hash_, hash_algorithm, now, algorithm, kid, signature)
        session.add(AuditCheckpoint(
            chain_id=chain_id, seq=seq, hash=hash_, hash_algorithm=hash_algorithm, at=now,
            algorithm=algorithm, key_id=kid, signature=signature,
        ))
        made.append(cp)
    if made:
        session.flush()
        folder = settings.resolved_checkpoint_dir
        run_after_commit(session, lambda: _append_lines(folder, made))
        log.info("audit checkpoints signed", extra={"chains": [c.chain_id for c in made],
                                                     "seqs": [c.seq for c in made]})
    return made
