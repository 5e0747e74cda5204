"""Backup and restore (容灾): a consistent online copy of the database, the stored files and the
exported audit checkpoints, with a signed manifest of SHA-256 sums; a restore that refuses anything
corrupt or incomplete and verifies the audit chain afterwards.

Order of a backup, and why:

1. the exported audit checkpoints — copied *before* the database snapshot, so every checkpoint in
   the backup describes history that the snapshot contains (a checkpoint newer than the snapshot
   would look like truncated history to the verifier);
2. the database — SQLite through its online backup API (one read transaction: a consistent
   snapshot while the app keeps writing), PostgreSQL through ``pg_dump`` on an exported snapshot
   that the same transaction also reads the counts and the audit chain heads from;
3. the stored files — after the snapshot, so every file a row of the snapshot names is there
   (files are written once and never changed);
4. ``manifest.sig`` then ``manifest.json`` — last, atomically. A backup without a manifest never
   finished.

The key directory is left out unless asked for: a backup that carries its own keys makes field
encryption pointless for whoever holds the backup.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from yiwang.audit import service as audit_service
from yiwang.core import crypto
from yiwang.core.actor import SYSTEM, Actor
from yiwang.core.db import Database, make_engine, utcnow
from yiwang.core.i18n import translate
from yiwang.core.ids import new_id
from yiwang.core.jobs import bind_settings
from yiwang.core.migrate import current_revision, head_revision, upgrade
from yiwang.core.settings import Settings
from yiwang.datacat import service as datacat_service
from yiwang.ops.errors import (
    BackupCorrupt,
    BackupDestinationNotEmpty,
    BackupHasNoKeys,
    BackupIncomplete,
    BackupKindMismatch,
    BackupTooNew,
    DatabaseToolFailed,
    DatabaseToolMissing,
    RestoreTargetNotEmpty,
    UnsafeLayout,
)
from yiwang.ops.schemas import (
    FORMAT_VERSION,
    MANIFEST,
    SECTIONS,
    SIGNATURE,
    AuditInfo,
    BackupManifest,
    CheckReport,
    DatabaseInfo,
    FileEntry,
    KeyInfo,
    Problem,
    RestoreReport,
    SignatureStatus,
)

log = logging.getLogger("yiwang.ops")

SQLITE_FILE = "db/yiwang.db"
PGDUMP_FILE = "db/yiwang.pgdump"
_CHUNK = 1 << 20
_DB_FILES = {"sqlite": SQLITE_FILE, "postgresql": PGDUMP_FILE}
_SIGNING_FILES = {"ed25519": "signing-ed25519.pem", "sm2": "signing-sm2.json"}


# ------------------------------------------------------------------------------------------------
# backup


def create_backup(
    settings: Settings, dest: Path, *, include_keys: bool = False, actor: Actor = SYSTEM
) -> BackupManifest:
    """Copy the live database, stored files and audit checkpoints into ``dest`` with a signed
    manifest; refuses a destination that is not empty. Audited as ``ops.backup``."""
    actor.require("backup.run")
    _check_layout(settings)
    dest = Path(dest).absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupDestinationNotEmpty(path=str(dest))
    created_dir = not dest.exists()
    # A backup holds personal data: readable by the operator's account only.
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    started_at = utcnow()
    backup_id = new_id()
    key_dir = settings.resolved_key_dir.absolute()
    skip = [dest, key_dir]
    try:
        entries = _copy_tree(settings.resolved_checkpoint_dir, dest, "checkpoints", skip=skip)
        snap = _snapshot_database(settings, dest)
        entries.append(snap.entry)
        entries += _copy_tree(settings.resolved_files_dir, dest, "files", skip=skip)
        if include_keys:
            entries += _copy_tree(key_dir, dest, "keys", skip=[dest])
        keys = _key_info(key_dir)
        keys.included = include_keys
        manifest = BackupManifest(
            format_version=FORMAT_VERSION,
            backup_id=backup_id,
            platform_version=_platform_version(),
            started_at=started_at,
            snapshot_at=snap.snapshot_at,
            created_at=utcnow(),
            database=DatabaseInfo(
                kind=snap.kind, file=snap.entry.path, alembic_revision=snap.revision, counts=snap.counts
            ),
            audit=AuditInfo(chain_heads=snap.chain_heads, newest_entry_at=snap.newest_entry_at,
                            entries=snap.audit_entries),
            keys=keys,
            files=sorted(entries, key=lambda e: e.path),
        )
        digest = _write_manifest(settings, dest, manifest)
    except BaseException as exc:
        _discard(dest, remove_dir=created_dir)
        log.error("backup failed", extra={"backup_id": backup_id, "error": type(exc).__name__})
        try:
            _audit(settings, actor, "ops.backup", backup_id,
                   {"destination": str(dest), "error": type(exc).__name__}, outcome="error")
        except Exception:  # noqa: BLE001 - the database may be why the backup failed; keep its error
            log.exception("could not audit the failed backup", extra={"backup_id": backup_id})
        raise
    detail = {
        "destination": str(dest),
        "manifest_sha256": digest,
        "files": len(manifest.files),
        "bytes": manifest.total_bytes,
        "database": manifest.database.kind,
        "includes_keys": include_keys,
        "recovery_point": manifest.snapshot_at.isoformat(),
    }
    _audit(settings, actor, "ops.backup", backup_id, detail)
    log.info("backup written", extra={"backup_id": backup_id, "files": len(manifest.files),
                                      "bytes": manifest.total_bytes,
                                      "seconds": round(manifest.duration_seconds, 3)})
    return manifest


@dataclass
class _Snapshot:
    kind: str
    entry: FileEntry
    snapshot_at: datetime
    revision: str | None
    counts: dict[str, int]
    chain_heads: list[dict[str, Any]]
    newest_entry_at: datetime | None
    audit_entries: int


def _snapshot_database(settings: Settings, dest: Path) -> _Snapshot:
    (dest / "db").mkdir(mode=0o700)
    if settings.is_sqlite:
        return _snapshot_sqlite(settings, dest)
    return _snapshot_postgresql(settings, dest)


def _snapshot_sqlite(settings: Settings, dest: Path) -> _Snapshot:
    source = _sqlite_path(settings.resolved_database_url)
    if not source.is_file():
        raise DatabaseToolFailed(tool="sqlite3", detail=f"no database file at {source}")
    out = dest / SQLITE_FILE
    out.touch(mode=0o600)
    src = sqlite3.connect(source, timeout=settings.sqlite_busy_timeout_ms / 1000)
    dst = sqlite3.connect(out)
    try:
        # The copy is a new file, fsynced before it is hashed and discarded if anything fails:
        # no journal and no syncs while it is written (about 1.5× faster).
        dst.execute("PRAGMA journal_mode=OFF")
        dst.execute("PRAGMA synchronous=OFF")
        snapshot_at = utcnow()
        # pages=-1: the whole database in one step, i.e. inside one read transaction of the
        # source — a consistent snapshot in WAL mode while writers carry on.
        src.backup(dst, pages=-1)
        # A self-contained file: no -wal beside it in the backup.
        dst.execute("PRAGMA journal_mode=DELETE")
        problems = [row[0] for row in dst.execute("PRAGMA integrity_check").fetchall()]
    finally:
        dst.close()
        src.close()
    if problems != ["ok"]:
        raise DatabaseToolFailed(tool="PRAGMA integrity_check", detail="; ".join(problems[:5]))
    engine = create_engine(f"sqlite:///file:{out.as_posix()}?mode=ro&uri=true", poolclass=NullPool)
    try:
        with Session(engine) as session:
            facts = _read_facts(session)
    finally:
        engine.dispose()
    return _Snapshot("sqlite", _file_entry(out, SQLITE_FILE), snapshot_at, *facts)


def _snapshot_postgresql(settings: Settings, dest: Path) -> _Snapshot:
    out = dest / PGDUMP_FILE
    engine = make_engine(settings, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot_at = utcnow()
                snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                # Same snapshot as the dump: the manifest's counts and chain heads match it exactly.
                with Session(bind=conn) as session:
                    facts = _read_facts(session)
                out.touch(mode=0o600)
                _run_pg_tool(
                    "pg_dump",
                    ["--format=custom", f"--snapshot={snapshot_id}", f"--file={out}"],
                    settings.resolved_database_url,
                )
    finally:
        engine.dispose()
    return _Snapshot("postgresql", _file_entry(out, PGDUMP_FILE), snapshot_at, *facts)


def _read_facts(session: Session) -> tuple[str | None, dict[str, int], list[dict[str, Any]], datetime | None, int]:
    conn = session.connection()
    revision = current_revision(conn)
    counts = _count_rows(conn)
    heads = [{"chain_id": c, "seq": n, "hash": h} for c, n, h in audit_service.chain_heads(session)]
    entries = sum(h["seq"] for h in heads)
    return revision, counts, heads, _newest_entry_at(session) if entries else None, entries


def _newest_entry_at(session: Session) -> datetime | None:
    return audit_service.newest_entry_at(session)


def _count_rows(conn: Connection) -> dict[str, int]:
    quote = conn.dialect.identifier_preparer.quote
    names = sorted(n for n in inspect(conn).get_table_names() if n != "alembic_version")
    return {n: int(conn.execute(text(f"SELECT count(*) FROM {quote(n)}")).scalar_one()) for n in names}


def _write_manifest(settings: Settings, dest: Path, manifest: BackupManifest) -> str:
    """Write ``manifest.sig`` then ``manifest.json`` (each atomically); return the manifest's SHA-256."""
    data = manifest.to_bytes()
    algorithm, key_id, signature = crypto.sign(settings, data)
    pub = crypto.public_key(settings, algorithm)
    sig = {"algorithm": algorithm, "key_id": key_id, "signature": signature, "public_key": pub}
    # Every file was fsynced as it was copied; make their directory entries durable too, so the
    # manifest never outlives a file it lists.
    for folder, _dirs, _files in os.walk(dest):
        _fsync_dir(Path(folder))
    _write_atomic(dest / SIGNATURE, (json.dumps(sig, indent=2, sort_keys=True) + "\n").encode())
    _write_atomic(dest / MANIFEST, data)
    _fsync_dir(dest)
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------------------
# check


def check_backup(src: Path, *, public_key: str | bytes | None = None, check_database: bool = True) -> CheckReport:
    """Check a backup against its manifest: signature, every file's size and SHA-256, no missing
    or extra file, and that the database copy opens. Never changes the backup."""
    src = Path(src)
    problems: list[Problem] = []
    if not src.is_dir():
        problems.append(Problem(".", "The backup directory does not exist."))
        return CheckReport(str(src), problems, None, "unchecked", complete=False)
    manifest_path = src / MANIFEST
    if not manifest_path.is_file():
        problems.append(Problem(MANIFEST, "The manifest is missing: the backup did not finish."))
        return CheckReport(str(src), problems, None, "unchecked", complete=False)
    raw = manifest_path.read_bytes()
    signature = _check_signature(src, raw, public_key, problems)
    try:
        data = json.loads(raw)
        if isinstance(data, dict) and isinstance(data.get("format_version"), int) and data["format_version"] > FORMAT_VERSION:
            problems.append(Problem(MANIFEST, "The backup format version {version} is newer than this version of yiwang reads.",
                                    {"version": data["format_version"]}))
            return CheckReport(str(src), problems, None, signature, complete=True)
        manifest = BackupManifest.model_validate(data)
    except (ValueError, ValidationError) as exc:
        problems.append(Problem(MANIFEST, "The manifest cannot be read: {detail}", {"detail": _short(exc)}))
        return CheckReport(str(src), problems, None, signature, complete=True)

    complete = True
    listed: set[str] = set()
    database_ok = False
    for entry in manifest.files:
        if not _safe_path(entry.path):
            problems.append(Problem(entry.path, "The manifest names a path outside the backup's folders."))
            continue
        listed.add(entry.path)
        path = src / entry.path
        if not path.is_file():
            problems.append(Problem(entry.path, "The file is missing."))
            complete = False
            continue
        size = path.stat().st_size
        if size != entry.size:
            problems.append(Problem(entry.path, "The file has {actual} bytes; the manifest says {expected}.",
                                    {"actual": size, "expected": entry.size}))
            continue
        if _sha256(path) != entry.sha256:
            problems.append(Problem(entry.path, "The file's SHA-256 does not match the manifest."))
            continue
        if entry.path == manifest.database.file:
            database_ok = True
    if manifest.database.file != _DB_FILES[manifest.database.kind] or manifest.database.file not in listed:
        problems.append(Problem(manifest.database.file, "The manifest does not list the database file."))
    for extra in sorted(_present_files(src) - listed - {MANIFEST, SIGNATURE}):
        problems.append(Problem(extra, "The file is not listed in the manifest."))
    if check_database and database_ok:
        problem = _check_database_file(src / manifest.database.file, manifest.database.kind)
        if problem:
            problems.append(Problem(manifest.database.file, *problem))
    return CheckReport(str(src), problems, manifest, signature, complete=complete)


def _check_signature(src: Path, raw: bytes, trusted: str | bytes | None, problems: list[Problem]) -> SignatureStatus:
    sig_path = src / SIGNATURE
    if not sig_path.is_file():
        problems.append(Problem(SIGNATURE, "The manifest's signature is missing."))
        return "missing"
    try:
        sig = json.loads(sig_path.read_bytes())
        algorithm, signature = sig["algorithm"], sig["signature"]
        embedded = str(sig["public_key"])
    except (ValueError, KeyError, TypeError):
        problems.append(Problem(SIGNATURE, "The signature file cannot be read."))
        return "invalid"
    key = trusted if trusted is not None else embedded
    if not crypto.verify_signature(algorithm, key, raw, signature):
        problems.append(Problem(SIGNATURE, "The signature does not match the manifest: the manifest was changed or signed with another key."))
        return "invalid"
    return "trusted" if trusted is not None else "embedded"


def _check_database_file(path: Path, kind: str) -> tuple[str, dict[str, Any]] | None:
    """None when the database copy opens and is sound, else (msgid, params)."""
    if kind == "sqlite":
        # immutable=1: read without locks or journals, so the check cannot change the file.
        uri = f"file:{path.as_posix()}?mode=ro&immutable=1"
        try:
            conn = sqlite3.connect(uri, uri=True)
            try:
                rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            return "The database copy does not open: {detail}", {"detail": str(exc)}
        if rows != ["ok"]:
            return "The database copy fails SQLite's integrity check: {detail}", {"detail": "; ".join(rows[:3])}
        return None
    tool = _pg_tool("pg_restore")
    done = subprocess.run([tool, "--list", str(path)], capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        return "The database dump cannot be read by pg_restore: {detail}", {"detail": _tail(done.stderr)}
    return None


def _present_files(src: Path) -> set[str]:
    """Every file in the backup directory, relative POSIX paths."""
    found: set[str] = set()
    for root, _dirs, files in os.walk(src):
        for name in files:
            found.add((Path(root) / name).relative_to(src).as_posix())
    return found


def _safe_path(rel: str) -> bool:
    p = PurePosixPath(rel)
    return (not p.is_absolute() and len(p.parts) >= 2 and p.parts[0] in SECTIONS
            and ".." not in p.parts and "\\" not in rel)


# ------------------------------------------------------------------------------------------------
# restore


def restore_backup(
    src: Path,
    settings: Settings,
    *,
    force: bool = False,
    include_keys: bool = False,
    public_key: str | bytes | None = None,
    actor: Actor = SYSTEM,
) -> RestoreReport:
    """Restore a backup into the database, files and checkpoint directories that ``settings`` name,
    then migrate to head and verify the audit chain. Refuses a corrupt or incomplete backup and,
    unless ``force``, a target that already holds data."""
    actor.require("backup.run")
    started = time.perf_counter()
    src = Path(src)
    if public_key is None:
        public_key = trusted_public_key(settings, src)
    report = check_backup(src, public_key=public_key)
    if not report.ok or report.manifest is None:
        error = BackupCorrupt if report.complete else BackupIncomplete
        raise error(path=str(src), errors=report.problems)
    manifest = report.manifest
    target_kind = "sqlite" if settings.is_sqlite else "postgresql"
    _check_layout(settings)
    if manifest.database.kind != target_kind:
        raise BackupKindMismatch(backup_kind=manifest.database.kind, target_kind=target_kind)
    _require_known_revision(manifest.database.alembic_revision)
    if include_keys and not manifest.keys.included:
        raise BackupHasNoKeys()
    if not force:
        occupied = _occupied(settings, include_keys)
        if occupied:
            raise RestoreTargetNotEmpty(errors=occupied)

    by_section: dict[str, list[FileEntry]] = {s: [] for s in SECTIONS}
    for entry in manifest.files:
        by_section[entry.path.split("/", 1)[0]].append(entry)
    db_entry = next(e for e in manifest.files if e.path == manifest.database.file)
    if target_kind == "sqlite":
        _restore_sqlite(src, db_entry, settings)
    else:
        _restore_postgresql(src / db_entry.path, settings, clean=force)
    restored = [db_entry]
    restored += _restore_section(src, by_section["files"], "files", settings.resolved_files_dir)
    restored += _restore_section(src, by_section["checkpoints"], "checkpoints", settings.resolved_checkpoint_dir)
    if include_keys:
        restored += _restore_section(src, by_section["keys"], "keys", settings.resolved_key_dir, private=True)

    head = head_revision()
    migrated_from = manifest.database.alembic_revision
    migrated_to = None
    if head is not None and migrated_from != head:
        upgrade(settings)
        migrated_to = head

    warnings = _key_warnings(manifest.keys, settings.resolved_key_dir)
    # Without the platform's signing key the checkpoints cannot be checked, and asking the key
    # ring for it would make a new one: leave verification until the keys are back.
    can_verify = _has_signing_key(settings, settings.sign_algorithm)
    if not can_verify:
        warnings.append(translate(
            "The key directory {path} has no signing key, so the audit chain was not verified; restore "
            "the keys, then run yiwang audit verify.", path=str(settings.resolved_key_dir)))
    db = _open(settings)
    try:
        with db.transaction(write=False) as session:
            counts = _count_rows(session.connection())
            chain = (audit_service.verify_chain(session, checkpoints_dir=settings.resolved_checkpoint_dir)
                     if can_verify else None)
        chain_ok = chain is not None and chain.ok
        mismatches = {t: (n, counts.get(t, -1)) for t, n in manifest.database.counts.items()
                      if counts.get(t, -1) != n}
        # The open-data datastore is derived data (on PostgreSQL its schema is in the dump): on
        # SQLite its file is not in the backup, so its open tables are loaded again from the
        # restored uploads and their recorded de-identification steps.
        republished = datacat_service.republish_all(db) if target_kind == "sqlite" else 0
        rto = time.perf_counter() - started
        detail = {
            "backup_id": manifest.backup_id,
            "source": str(src.absolute()),
            "recovery_point": manifest.snapshot_at.isoformat(),
            "chain_ok": chain_ok,
            "counts_match": not mismatches,
            "rto_seconds": round(rto, 3),
            "datastore_tables_republished": republished,
        }
        with db.transaction() as session:
            audit_service.record(session, actor, "ops.restore", target_type="backup", target_id=manifest.backup_id,
                                 detail=detail, outcome="ok" if chain_ok and not mismatches else "error")
    finally:
        db.dispose()
    log.info("backup restored", extra={"backup_id": manifest.backup_id, "chain_ok": chain_ok,
                                       "counts_match": not mismatches, "rto_seconds": round(rto, 3)})
    return RestoreReport(
        source=str(src),
        target_database=make_url(settings.resolved_database_url).render_as_string(hide_password=True),
        manifest=manifest,
        signature=report.signature,
        files_restored=len(restored),
        bytes_restored=sum(e.size for e in restored),
        migrated_from=migrated_from if migrated_to else None,
        migrated_to=migrated_to,
        counts=counts,
        count_mismatches=mismatches,
        chain=chain,
        chain_ok=chain_ok,
        rto_seconds=rto,
        warnings=warnings,
    )


def _check_layout(settings: Settings) -> None:
    """Refuse a files or checkpoint directory that holds the database or the key directory: a
    backup would copy them as stored files, and a forced restore would empty them."""
    guarded = [settings.resolved_key_dir.absolute()]
    if settings.is_sqlite:
        guarded.append(_sqlite_path(settings.resolved_database_url).absolute())
    for name, folder in (("files", settings.resolved_files_dir), ("checkpoints", settings.resolved_checkpoint_dir)):
        if any(_inside(g, folder) for g in guarded):
            raise UnsafeLayout(name=name, path=str(folder))


def _require_known_revision(revision: str | None) -> None:
    if revision is None:
        return
    from alembic.script import ScriptDirectory

    from yiwang.core.migrate import MIGRATIONS_DIR

    try:
        known = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(revision) is not None
    except Exception:  # noqa: BLE001 - alembic raises several kinds for an unknown revision
        known = False
    if not known:
        raise BackupTooNew(revision=revision)


def _occupied(settings: Settings, include_keys: bool) -> list[str]:
    """What in the target already holds data (empty list: safe to restore)."""
    found: list[str] = []
    if settings.is_sqlite:
        path = _sqlite_path(settings.resolved_database_url)
        if path.exists() and path.stat().st_size > 0:
            found.append(translate("database file {path}", path=str(path)))
    else:
        tables = _pg_table_count(settings)
        if tables:
            found.append(translate("database {database} has {count} tables",
                                   database=_display_url(settings.resolved_database_url), count=tables))
    dirs = [settings.resolved_files_dir, settings.resolved_checkpoint_dir]
    if include_keys:
        dirs.append(settings.resolved_key_dir)
    for folder in dirs:
        if folder.is_dir() and any(folder.iterdir()):
            found.append(translate("directory {path} is not empty", path=str(folder)))
    return found


def _pg_table_count(settings: Settings) -> int:
    engine = make_engine(settings, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            )).scalar_one())
    except SQLAlchemyError as exc:
        raise DatabaseToolFailed(tool="PostgreSQL", detail=_short(exc.orig or exc)) from None
    finally:
        engine.dispose()


def _restore_sqlite(src: Path, entry: FileEntry, settings: Settings) -> None:
    target = _sqlite_path(settings.resolved_database_url)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".restoring")
    copied = _copy_hashed(src / entry.path, tmp)
    if copied.sha256 != entry.sha256:
        tmp.unlink()
        raise BackupCorrupt(path=str(src), errors=[Problem(entry.path, "The file changed while it was being restored.")])
    # A stale write-ahead log beside the new file would be replayed into it.
    for suffix in ("-wal", "-shm", "-journal"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def _restore_postgresql(dump: Path, settings: Settings, *, clean: bool) -> None:
    args = ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if clean:
        args += ["--clean", "--if-exists"]
    _run_pg_tool("pg_restore", [*args, str(dump)], settings.resolved_database_url)


def _restore_section(src: Path, entries: list[FileEntry], section: str, target: Path, *,
                     private: bool = False) -> list[FileEntry]:
    if target.is_dir():
        for child in target.iterdir():  # only reached empty, or with force
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    target.mkdir(parents=True, exist_ok=True)
    if private:
        os.chmod(target, 0o700)
    done: list[FileEntry] = []
    for entry in entries:
        rel = entry.path.removeprefix(section + "/")
        out = target / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        copied = _copy_hashed(src / entry.path, out)
        if copied.sha256 != entry.sha256:
            raise BackupCorrupt(path=str(src), errors=[Problem(entry.path, "The file changed while it was being restored.")])
        if private:
            os.chmod(out, 0o600)
        done.append(entry)
    return done


def trusted_public_key(settings: Settings, src: Path) -> str | bytes | None:
    """The target's own public signing key, when its key directory holds the algorithm the
    backup was signed with (never creates a key)."""
    try:
        algorithm = json.loads((src / SIGNATURE).read_bytes())["algorithm"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _has_signing_key(settings, algorithm):
        return None
    return crypto.public_key(settings, algorithm)


def _has_signing_key(settings: Settings, algorithm: str) -> bool:
    name = _SIGNING_FILES.get(algorithm)
    return name is not None and (settings.resolved_key_dir / name).is_file()


# ------------------------------------------------------------------------------------------------
# keys: ids and fingerprints only


def _key_info(key_dir: Path) -> KeyInfo:
    info = KeyInfo()
    field_path = key_dir / "field-keys.json"
    if field_path.is_file():
        raw = json.loads(field_path.read_text())
        info.field_keys = {kid: _fingerprint(base64.b64decode(v)) for kid, v in sorted(raw["keys"].items())}
    blind = key_dir / "blind-index.key"
    if blind.is_file():
        info.blind_index = _fingerprint(blind.read_bytes())
    return info


def _key_warnings(needed: KeyInfo, key_dir: Path) -> list[str]:
    have = _key_info(key_dir)
    warnings: list[str] = []
    missing = sorted(k for k, fp in needed.field_keys.items() if have.field_keys.get(k) != fp)
    if missing:
        warnings.append(translate(
            "The key directory {path} lacks field key(s) {keys} that this backup's data needs: encrypted "
            "fields cannot be read until you restore the keys.", path=str(key_dir), keys=", ".join(missing)))
    if needed.blind_index and have.blind_index != needed.blind_index:
        warnings.append(translate(
            "The key directory {path} lacks this backup's blind-index key: searches on encrypted fields "
            "will find nothing until you restore it.", path=str(key_dir)))
    return warnings


def _fingerprint(secret: bytes) -> str:
    return hashlib.sha256(secret).hexdigest()[:16]


# ------------------------------------------------------------------------------------------------
# PostgreSQL client programs


@lru_cache
def _pg_tool(name: str) -> str:
    """The newest ``pg_dump``/``pg_restore`` found in PATH or /usr/lib/postgresql/*/bin."""
    candidates = set(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    found = shutil.which(name)
    if found:
        candidates.add(found)
    best: tuple[tuple[int, ...], str] | None = None
    for path in candidates:
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False, timeout=10)  # noqa: S603
        except OSError:
            continue
        match = re.search(r"(\d+)(?:\.(\d+))?", out.stdout)
        if out.returncode != 0 or not match:
            continue
        version = tuple(int(g) for g in match.groups() if g is not None)
        if best is None or version > best[0]:
            best = (version, path)
    if best is None:
        raise DatabaseToolMissing(tool=name)
    return best[1]


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment that carries the password (the
    operator's own PG* variables, such as PGSSLROOTCERT or PGPASSFILE, still apply)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    clean = URL.create("postgresql", username=parsed.username, host=parsed.host, port=parsed.port,
                       database=parsed.database, query=parsed.query)
    return clean.render_as_string(hide_password=False), env


def _run_pg_tool(name: str, args: list[str], url: str) -> None:
    dbname, env = _libpq(url)
    cmd = [_pg_tool(name), "--no-password", *args, f"--dbname={dbname}"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if done.returncode != 0:
        detail = _tail(done.stderr)
        password = make_url(url).password
        if password:
            detail = detail.replace(str(password), "***")
        raise DatabaseToolFailed(tool=name, detail=detail)


def _display_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


# ------------------------------------------------------------------------------------------------
# files


def _copy_tree(root: Path, dest: Path, section: str, *, skip: list[Path]) -> list[FileEntry]:
    """Copy every file under ``root`` into ``dest/section``, hashing as it goes."""
    root = root.absolute()
    if not root.is_dir():
        return []
    entries: list[FileEntry] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not any(_inside(here / d, s) for s in skip))
        for name in sorted(files):
            path = here / name
            rel = f"{section}/{path.relative_to(root).as_posix()}"
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                entry = _copy_hashed(path, out, whole_lines=section == "checkpoints" and name.endswith(".jsonl"))
            except FileNotFoundError:  # removed while we walked: not part of this backup
                out.unlink(missing_ok=True)
                continue
            entries.append(FileEntry(path=rel, size=entry.size, sha256=entry.sha256))
    return entries


def _copy_hashed(src: Path, dst: Path, *, whole_lines: bool = False) -> FileEntry:
    """Copy ``src`` to ``dst`` (fsynced), hashing on the way. ``whole_lines``: an append-only
    line file (exported checkpoints) is copied up to its last complete line, so an append racing
    the copy never leaves half a line in the backup."""
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        if whole_lines:
            data = fin.read()
            data = data[: data.rfind(b"\n") + 1]
            digest.update(data)
            fout.write(data)
            size = len(data)
        else:
            while chunk := fin.read(_CHUNK):
                digest.update(chunk)
                fout.write(chunk)
                size += len(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    os.chmod(dst, src.stat().st_mode & 0o777)
    return FileEntry(path=dst.name, size=size, sha256=digest.hexdigest())


def _file_entry(path: Path, rel: str) -> FileEntry:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    return FileEntry(path=rel, size=path.stat().st_size, sha256=_sha256(path))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _discard(dest: Path, *, remove_dir: bool) -> None:
    """Remove a failed backup's partial contents (the destination was empty when we began)."""
    with contextlib.suppress(OSError):
        if remove_dir:
            shutil.rmtree(dest)
            return
        for child in dest.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.absolute().relative_to(folder.absolute())
    except ValueError:
        return False
    return True


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


# ------------------------------------------------------------------------------------------------
# small helpers


def _audit(settings: Settings, actor: Actor, action: str, backup_id: str, detail: dict[str, Any], *,
           outcome: str = "ok") -> None:
    db = _open(settings)
    try:
        with db.transaction() as session:
            audit_service.record(session, actor, action, target_type="backup", target_id=backup_id,
                                 detail=detail, outcome=outcome)
    finally:
        db.dispose()


def _open(settings: Settings) -> Database:
    """A short-lived database handle whose sessions the audit trail knows the settings of."""
    db = Database(settings, poolless=True)
    bind_settings(db.engine, settings)
    return db


def _platform_version() -> str:
    try:
        return metadata.version("yiwang")
    except metadata.PackageNotFoundError:
        return "0"


def _tail(text_: str, limit: int = 400) -> str:
    text_ = " ".join(text_.strip().split())
    return text_[-limit:] or "no message"


def _short(exc: BaseException) -> str:
    return _tail(str(exc), 300)
