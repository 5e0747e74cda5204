"""The backup manifest and the reports of backup, check and restore.

A backup is a directory::

    db/yiwang.db | db/yiwang.pgdump   the database (SQLite online copy, or pg_dump custom format)
    files/…                           stored files, as under the files directory
    checkpoints/…                     exported audit checkpoints
    keys/…                            the key directory, only with --include-keys
    manifest.json                     written last: what the backup holds, each file's SHA-256
    manifest.sig                      the manifest's bytes signed with the platform key

See docs/adr/0004-backup-format.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT = "yiwang-backup"
FORMAT_VERSION = 1
SECTIONS = ("db", "files", "checkpoints", "keys")
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


class FileEntry(BaseModel):
    """One file of the backup: path relative to the backup directory (POSIX), size, SHA-256."""

    model_config = ConfigDict(frozen=True)

    path: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class DatabaseInfo(BaseModel):
    kind: Literal["sqlite", "postgresql"]
    file: str
    """The database file inside the backup (``db/yiwang.db`` or ``db/yiwang.pgdump``)."""
    alembic_revision: str | None
    counts: dict[str, int]
    """Rows of every table at the snapshot (``alembic_version`` left out)."""


class AuditInfo(BaseModel):
    chain_heads: list[dict[str, Any]]
    """The head of every audit chain in the snapshot, as ``audit_service.chain_heads`` gives it."""
    newest_entry_at: datetime | None
    entries: int


class KeyInfo(BaseModel):
    """Which keys the data of this backup needs — ids and fingerprints only, never key material."""

    field_keys: dict[str, str] = Field(default_factory=dict)
    """Field-encryption key id → first 16 hex digits of SHA-256 of the key."""
    blind_index: str | None = None
    included: bool = False
    """True when the key directory itself is in ``keys/`` (``--include-keys``)."""


class BackupManifest(BaseModel):
    """What a backup holds. Written last; a backup without it never finished."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["yiwang-backup"] = FORMAT
    format_version: int
    backup_id: str
    platform_version: str
    started_at: datetime
    snapshot_at: datetime
    """The recovery point: every transaction committed before it is in the backup."""
    created_at: datetime
    """When the backup finished (the manifest was written)."""
    database: DatabaseInfo
    audit: AuditInfo
    keys: KeyInfo
    files: list[FileEntry]

    @property
    def recovery_point(self) -> datetime:
        return self.snapshot_at

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def duration_seconds(self) -> float:
        return (self.created_at - self.started_at).total_seconds()

    @property
    def rpo_seconds(self) -> float:
        """History not in the backup when it finished: from its newest audit entry (or, with no
        entries, its snapshot) to the moment the backup was complete."""
        newest = self.audit.newest_entry_at or self.snapshot_at
        return max(0.0, (self.created_at - newest).total_seconds())

    def to_bytes(self) -> bytes:
        """The manifest as written and signed: sorted keys, two-space indent, UTF-8."""
        data = self.model_dump(mode="json")
        return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a backup: the file (relative to the backup) and what is wrong."""

    path: str
    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, locale: str | None = None) -> str:
        """What is wrong, in the given locale (the current one when None)."""
        from yiwang.core.i18n import translate

        return translate(self.msgid, locale, **self.params)

    def render(self, locale: str | None = None) -> str:
        return f"{self.path}: {self.message(locale)}"

    def __str__(self) -> str:
        return self.render()


SignatureStatus = Literal["trusted", "embedded", "missing", "invalid", "unchecked"]


@dataclass
class CheckReport:
    """The result of checking a backup: ``ok`` only when there is no problem at all."""

    source: str
    problems: list[Problem]
    manifest: BackupManifest | None
    signature: SignatureStatus
    """``trusted``: verified with a public key the caller trusts; ``embedded``: verified with the
    public key written beside the signature (catches damage, not a forger who re-signs)."""
    complete: bool

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class RestoreReport:
    source: str
    target_database: str
    """The target database without its password."""
    manifest: BackupManifest
    signature: SignatureStatus
    files_restored: int
    bytes_restored: int
    migrated_from: str | None
    migrated_to: str | None
    counts: dict[str, int]
    count_mismatches: dict[str, tuple[int, int]]
    """table → (in the manifest, after restore) for every table that differs."""
    chain: Any
    """What ``audit_service.verify_chain`` returned for the restored database."""
    chain_ok: bool
    rto_seconds: float
    """How long the restore took, checks and verification included."""
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.chain_ok and not self.count_mismatches

    @property
    def recovery_point(self) -> datetime:
        return self.manifest.snapshot_at

    @property
    def rpo_seconds(self) -> float:
        return self.manifest.rpo_seconds
