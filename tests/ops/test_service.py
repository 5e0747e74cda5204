from __future__ import annotations

import base64
import hashlib
import json
import shutil
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from yiwang.audit import service as audit_service
from yiwang.core import crypto
from yiwang.core.actor import SYSTEM, Actor, Grant
from yiwang.core.errors import PermissionDenied
from yiwang.core.keys import key_ring
from yiwang.core.settings import Settings
from yiwang.ops import service as ops_service
from yiwang.ops.errors import (
    BackupCorrupt,
    BackupDestinationNotEmpty,
    BackupHasNoKeys,
    BackupIncomplete,
    BackupTooNew,
    RestoreTargetNotEmpty,
    UnsafeLayout,
)
from yiwang.ops.schemas import BackupManifest

from .conftest import STORED, Dataset, carry_keys, open_db

CLERK = Actor(kind="staff", user_id="u-clerk", grants=(Grant("clerk", "31", permissions=frozenset({"audit.read"})),))


def counts(settings: Settings) -> dict[str, int]:
    database = open_db(settings)
    try:
        with database.engine.connect() as conn:
            names = sorted(n for n in inspect(conn).get_table_names() if n != "alembic_version")
            return {n: conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}
    finally:
        database.dispose()


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def entries(settings: Settings, action: str) -> list:
    database = open_db(settings)
    try:
        with database.transaction() as session:
            page = audit_service.list_entries(session, SYSTEM, audit_service.EntryFilter(action=action))
            return page.items
    finally:
        database.dispose()


def verify(settings: Settings):
    database = open_db(settings)
    try:
        with database.transaction(write=False) as session:
            return audit_service.verify_chain(session, checkpoints_dir=settings.resolved_checkpoint_dir)
    finally:
        database.dispose()


def resign(settings: Settings, backup: Path, manifest: BackupManifest) -> None:
    """Rewrite a backup's manifest and sign it properly with the platform key (a legitimate edit)."""
    data = manifest.to_bytes()
    algorithm, key_id, signature = crypto.sign(settings, data)
    sig = {"algorithm": algorithm, "key_id": key_id, "signature": signature,
           "public_key": crypto.public_key(settings, algorithm)}
    (backup / "manifest.sig").write_text(json.dumps(sig))
    (backup / "manifest.json").write_bytes(data)


class TestCreateBackup:
    def test_lists_every_file_with_its_size_and_sha256(self, dataset: Dataset, backup_dir: Path):
        manifest = ops_service.create_backup(dataset.settings, backup_dir)

        on_disk = {p: d for p, d in tree(backup_dir).items() if p not in ("manifest.json", "manifest.sig")}
        assert {f.path for f in manifest.files} == set(on_disk)
        for f in manifest.files:
            assert f.size == len(on_disk[f.path])
            assert f.sha256 == hashlib.sha256(on_disk[f.path]).hexdigest()
        db_file = "db/yiwang.db" if dataset.settings.is_sqlite else "db/yiwang.pgdump"
        assert manifest.database.file == db_file
        assert {f"files/{rel}" for rel in STORED} <= set(on_disk)
        assert "checkpoints/chain-0.jsonl" in on_disk

    def test_is_readable_by_the_operator_only(self, dataset: Dataset, backup_dir: Path):
        manifest = ops_service.create_backup(dataset.settings, backup_dir)

        assert stat.S_IMODE(backup_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE((backup_dir / manifest.database.file).stat().st_mode) == 0o600

    def test_copies_only_whole_lines_of_a_checkpoint_export_being_appended(
        self, dataset: Dataset, backup_dir: Path, target: Settings
    ):
        export = dataset.settings.resolved_checkpoint_dir / "chain-0.jsonl"
        complete = export.read_bytes()
        with export.open("ab") as fh:
            fh.write(b'{"chain_id": 0, "seq": 9')  # an append caught half way

        ops_service.create_backup(dataset.settings, backup_dir)

        assert (backup_dir / "checkpoints" / "chain-0.jsonl").read_bytes() == complete
        carry_keys(dataset.settings, target)
        assert ops_service.restore_backup(backup_dir, target).chain_ok is True

    def test_records_counts_chain_heads_and_recovery_point(self, dataset: Dataset, backup_dir: Path):
        database = open_db(dataset.settings)
        with database.transaction(write=False) as session:
            heads = audit_service.chain_heads(session)
        database.dispose()

        manifest = ops_service.create_backup(dataset.settings, backup_dir)

        assert manifest.database.counts["areas"] == 2
        assert manifest.database.counts["audit_entries"] == dataset.audit_entries
        assert manifest.database.counts["audit_checkpoints"] == 1
        assert manifest.audit.chain_heads == [{"chain_id": c, "seq": s, "hash": h} for c, s, h in heads]
        assert manifest.audit.entries == dataset.audit_entries
        assert manifest.audit.newest_entry_at is not None
        assert manifest.started_at <= manifest.snapshot_at <= manifest.created_at
        assert manifest.audit.newest_entry_at <= manifest.snapshot_at
        assert manifest.recovery_point == manifest.snapshot_at
        assert manifest.keys.included is False

    def test_manifest_is_signed_with_the_platform_key(self, dataset: Dataset, backup_dir: Path):
        ops_service.create_backup(dataset.settings, backup_dir)

        sig = json.loads((backup_dir / "manifest.sig").read_text())
        data = (backup_dir / "manifest.json").read_bytes()
        trusted = crypto.public_key(dataset.settings, sig["algorithm"])
        assert crypto.verify_signature(sig["algorithm"], trusted, data, sig["signature"]) is True
        assert sig["key_id"] == crypto.key_id(dataset.settings, sig["algorithm"])

    def test_leaves_the_key_directory_out_by_default(self, dataset: Dataset, backup_dir: Path):
        key_ring(dataset.settings).field_keys()

        manifest = ops_service.create_backup(dataset.settings, backup_dir)

        assert not (backup_dir / "keys").exists()
        assert not [f for f in manifest.files if f.path.startswith("keys/")]
        # Ids and fingerprints only: the key itself appears nowhere in the backup.
        raw = json.loads((dataset.settings.resolved_key_dir / "field-keys.json").read_text())
        secret = base64.b64decode(raw["keys"]["k1"])
        assert manifest.keys.field_keys == {"k1": hashlib.sha256(secret).hexdigest()[:16]}
        assert raw["keys"]["k1"].encode() not in (backup_dir / "manifest.json").read_bytes()

    def test_include_keys_copies_the_key_directory_privately(self, dataset: Dataset, backup_dir: Path):
        key_ring(dataset.settings).field_keys()

        manifest = ops_service.create_backup(dataset.settings, backup_dir, include_keys=True)

        assert manifest.keys.included is True
        keys = tree(backup_dir / "keys")
        assert keys == tree(dataset.settings.resolved_key_dir)
        assert "field-keys.json" in keys
        assert stat.S_IMODE((backup_dir / "keys" / "field-keys.json").stat().st_mode) == 0o600

    def test_refuses_a_destination_that_is_not_empty(self, dataset: Dataset, backup_dir: Path):
        backup_dir.mkdir()
        (backup_dir / "old.txt").write_text("an older backup")

        with pytest.raises(BackupDestinationNotEmpty):
            ops_service.create_backup(dataset.settings, backup_dir)

        assert tree(backup_dir) == {"old.txt": b"an older backup"}

    def test_refuses_an_actor_without_backup_run(self, dataset: Dataset, backup_dir: Path):
        with pytest.raises(PermissionDenied):
            ops_service.create_backup(dataset.settings, backup_dir, actor=CLERK)

        assert not backup_dir.exists()
        assert entries(dataset.settings, "ops.backup") == []

    def test_a_failed_backup_removes_what_it_wrote_and_is_audited(
        self, dataset: Dataset, backup_dir: Path, monkeypatch: pytest.MonkeyPatch
    ):
        def broken_sign(*_a, **_k):
            raise OSError("signing device unavailable")

        monkeypatch.setattr(ops_service.crypto, "sign", broken_sign)

        with pytest.raises(OSError, match="signing device unavailable"):
            ops_service.create_backup(dataset.settings, backup_dir)

        assert not backup_dir.exists()
        [entry] = entries(dataset.settings, "ops.backup")
        assert entry.outcome == "error"
        assert entry.detail == {"destination": str(backup_dir), "error": "OSError"}

    def test_refuses_a_files_directory_that_holds_the_key_directory(self, dataset: Dataset, backup_dir: Path):
        nested = dataset.settings.model_copy(update={"files_dir": dataset.settings.var_dir})

        with pytest.raises(UnsafeLayout) as caught:
            ops_service.create_backup(nested, backup_dir)

        assert caught.value.params == {"name": "files", "path": str(dataset.settings.var_dir)}
        assert not backup_dir.exists()

    def test_is_audited_in_the_live_database(self, dataset: Dataset, backup_dir: Path):
        manifest = ops_service.create_backup(dataset.settings, backup_dir)

        [entry] = entries(dataset.settings, "ops.backup")
        assert entry.actor == "system"
        assert entry.target_id == manifest.backup_id
        assert entry.outcome == "ok"
        assert entry.detail["files"] == len(manifest.files)
        assert entry.detail["includes_keys"] is False
        assert entry.detail["manifest_sha256"] == hashlib.sha256((backup_dir / "manifest.json").read_bytes()).hexdigest()

    def test_online_backup_while_entries_are_written_restores_a_verified_chain(
        self, dataset: Dataset, backup_dir: Path, target: Settings
    ):
        written = [0]
        progress = threading.Condition()
        stop = threading.Event()
        failures: list[BaseException] = []

        def writer() -> None:
            database = open_db(dataset.settings)
            try:
                while not stop.is_set():
                    with database.transaction() as session:
                        audit_service.record(session, SYSTEM, "test.concurrent", target_type="thing",
                                             target_id=str(written[0]))
                    with progress:
                        written[0] += 1
                        progress.notify_all()
            except BaseException as exc:  # noqa: BLE001
                failures.append(exc)
                with progress:
                    progress.notify_all()
            finally:
                database.dispose()

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            with progress:
                progress.wait_for(lambda: written[0] >= 20 or failures)
            manifest = ops_service.create_backup(dataset.settings, backup_dir)
            with progress:
                progress.wait_for(lambda: written[0] >= manifest.audit.entries or failures)
        finally:
            stop.set()
            thread.join()
        assert failures == []
        carry_keys(dataset.settings, target)

        report = ops_service.restore_backup(backup_dir, target)

        assert report.chain_ok is True
        assert report.count_mismatches == {}
        assert counts(target)["audit_entries"] == manifest.database.counts["audit_entries"] + 1  # + ops.restore
        assert counts(dataset.settings)["audit_entries"] > manifest.database.counts["audit_entries"]


class TestCheckBackup:
    @pytest.fixture
    def backup(self, dataset: Dataset, backup_dir: Path) -> Path:
        ops_service.create_backup(dataset.settings, backup_dir)
        return backup_dir

    def problems(self, backup: Path, **kw) -> list[tuple[str, str]]:
        report = ops_service.check_backup(backup, **kw)
        return [(p.path, p.message("en")) for p in report.problems]

    def test_a_sound_backup_has_no_problems(self, backup: Path, dataset: Dataset):
        report = ops_service.check_backup(backup)
        assert report.ok is True
        assert report.complete is True
        assert report.signature == "embedded"

        trusted = ops_service.check_backup(backup, public_key=crypto.public_key(dataset.settings))
        assert trusted.ok is True
        assert trusted.signature == "trusted"

    def test_a_flipped_byte_in_the_database_copy_is_named(self, backup: Path, dataset: Dataset):
        db_file = "db/yiwang.db" if dataset.settings.is_sqlite else "db/yiwang.pgdump"
        path = backup / db_file
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))

        assert self.problems(backup) == [(db_file, "The file's SHA-256 does not match the manifest.")]

    def test_a_missing_file_makes_the_backup_incomplete(self, backup: Path):
        (backup / "files" / "readme.txt").unlink()

        report = ops_service.check_backup(backup)

        assert report.complete is False
        assert self.problems(backup) == [("files/readme.txt", "The file is missing.")]

    def test_a_shortened_file_is_named_with_both_sizes(self, backup: Path):
        path = backup / "files" / "2026" / "11" / "photo.jpg"
        path.write_bytes(path.read_bytes()[:-10])
        size = len(STORED["2026/11/photo.jpg"])

        assert self.problems(backup) == [
            ("files/2026/11/photo.jpg", f"The file has {size - 10} bytes; the manifest says {size}.")
        ]

    def test_an_extra_file_is_named(self, backup: Path):
        (backup / "files" / "planted.sh").write_text("#!/bin/sh\n")

        assert self.problems(backup) == [("files/planted.sh", "The file is not listed in the manifest.")]

    def test_an_edited_manifest_fails_its_signature(self, backup: Path):
        path = backup / "manifest.json"
        path.write_text(path.read_text().replace('"areas": 2', '"areas": 3'))

        assert self.problems(backup) == [
            ("manifest.sig",
             "The signature does not match the manifest: the manifest was changed or signed with another key.")
        ]

    def test_a_manifest_signed_by_another_key_fails_against_the_trusted_key(
        self, backup: Path, dataset: Dataset, tmp_path: Path
    ):
        forger = dataset.settings.model_copy(update={"var_dir": tmp_path / "forger", "key_dir": None})
        manifest = BackupManifest.model_validate_json((backup / "manifest.json").read_bytes())
        resign(forger, backup, manifest)

        assert ops_service.check_backup(backup).signature == "embedded"
        report = ops_service.check_backup(backup, public_key=crypto.public_key(dataset.settings))
        assert report.signature == "invalid"
        assert [p.path for p in report.problems] == ["manifest.sig"]

    def test_a_missing_manifest_means_the_backup_did_not_finish(self, backup: Path):
        (backup / "manifest.json").unlink()

        report = ops_service.check_backup(backup)

        assert report.complete is False
        assert self.problems(backup) == [("manifest.json", "The manifest is missing: the backup did not finish.")]

    def test_a_manifest_path_outside_the_backup_is_refused(self, backup: Path, dataset: Dataset):
        manifest = BackupManifest.model_validate_json((backup / "manifest.json").read_bytes())
        evil = manifest.files[0].model_copy(update={"path": "files/../../etc/passwd"})
        resign(dataset.settings, backup, manifest.model_copy(update={"files": [*manifest.files, evil]}))

        assert self.problems(backup) == [
            ("files/../../etc/passwd", "The manifest names a path outside the backup's folders.")
        ]

    def test_a_database_copy_that_does_not_open_is_named(self, backup: Path, dataset: Dataset):
        """Damage made before the manifest was written (so every checksum agrees) is still caught."""
        db_file = "db/yiwang.db" if dataset.settings.is_sqlite else "db/yiwang.pgdump"
        path = backup / db_file
        path.write_bytes(b"not a database" * 100)
        manifest = BackupManifest.model_validate_json((backup / "manifest.json").read_bytes())
        files = [f.model_copy(update={"size": path.stat().st_size,
                                      "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
                 if f.path == db_file else f for f in manifest.files]
        resign(dataset.settings, backup, manifest.model_copy(update={"files": files}))

        [(where, problem)] = self.problems(backup)
        assert where == db_file
        expected = ("The database copy does not open:" if dataset.settings.is_sqlite
                    else "The database dump cannot be read by pg_restore:")
        assert problem.startswith(expected)


class TestRestoreBackup:
    def test_restores_into_an_empty_directory_and_verifies(self, dataset: Dataset, backup_dir: Path, target: Settings):
        manifest = ops_service.create_backup(dataset.settings, backup_dir)
        carry_keys(dataset.settings, target)

        report = ops_service.restore_backup(backup_dir, target)

        assert report.ok is True
        assert report.chain_ok is True
        assert report.chain.entries_checked == dataset.audit_entries
        assert report.chain.checkpoints_exported == 1
        assert report.signature == "trusted"
        assert report.count_mismatches == {}
        assert report.counts == manifest.database.counts
        assert report.warnings == []
        assert report.recovery_point == manifest.snapshot_at
        assert report.rpo_seconds == manifest.rpo_seconds
        assert report.rto_seconds > 0
        assert report.files_restored == len(manifest.files)
        assert tree(target.resolved_files_dir) == tree(dataset.settings.resolved_files_dir)
        assert tree(target.resolved_checkpoint_dir) == tree(dataset.settings.resolved_checkpoint_dir)
        live = counts(dataset.settings)
        live["audit_entries"] += 1  # the backup's own ops.backup entry is not in the backup…
        restored = counts(target)
        restored["audit_entries"] -= 1  # …and the restored database gains an ops.restore entry
        assert restored == {**live, "audit_entries": manifest.database.counts["audit_entries"]}
        assert verify(target).ok is True

    def test_is_audited_in_the_restored_database(self, dataset: Dataset, backup_dir: Path, target: Settings):
        manifest = ops_service.create_backup(dataset.settings, backup_dir)
        carry_keys(dataset.settings, target)

        ops_service.restore_backup(backup_dir, target)

        [entry] = entries(target, "ops.restore")
        assert entry.target_id == manifest.backup_id
        assert entry.outcome == "ok"
        assert entry.detail["chain_ok"] is True
        assert entry.detail["counts_match"] is True
        assert entries(target, "ops.backup") == []

    @pytest.mark.parametrize("damage", ["flip_db_byte", "drop_file", "extra_file", "edit_manifest"])
    def test_refuses_a_damaged_backup_and_leaves_the_target_untouched(
        self, dataset: Dataset, backup_dir: Path, target: Settings, damage: str
    ):
        ops_service.create_backup(dataset.settings, backup_dir)
        db_file = backup_dir / ("db/yiwang.db" if dataset.settings.is_sqlite else "db/yiwang.pgdump")
        if damage == "flip_db_byte":
            data = bytearray(db_file.read_bytes())
            data[100] ^= 0xFF
            db_file.write_bytes(bytes(data))
            expected, named = BackupCorrupt, db_file.relative_to(backup_dir).as_posix()
        elif damage == "drop_file":
            (backup_dir / "checkpoints" / "chain-0.jsonl").unlink()
            expected, named = BackupIncomplete, "checkpoints/chain-0.jsonl"
        elif damage == "extra_file":
            (backup_dir / "db" / "yiwang.db-wal").write_bytes(b"\0" * 32)
            expected, named = BackupCorrupt, "db/yiwang.db-wal"
        else:
            path = backup_dir / "manifest.json"
            path.write_text(path.read_text().replace('"areas": 2', '"areas": 20'))
            expected, named = BackupCorrupt, "manifest.sig"
        before = counts(target) if not target.is_sqlite else None

        with pytest.raises(expected) as caught:
            ops_service.restore_backup(backup_dir, target)

        assert [p.path for p in caught.value.errors] == [named]
        assert caught.value.params["count"] == 1
        if target.is_sqlite:
            assert not (target.var_dir / "yiwang.db").exists()
        else:
            assert counts(target) == before == {}
        assert not target.resolved_files_dir.exists()

    def test_refuses_a_backup_without_its_manifest(self, dataset: Dataset, backup_dir: Path, target: Settings):
        ops_service.create_backup(dataset.settings, backup_dir)
        (backup_dir / "manifest.json").unlink()

        with pytest.raises(BackupIncomplete) as caught:
            ops_service.restore_backup(backup_dir, target)

        assert [p.path for p in caught.value.errors] == ["manifest.json"]
        assert not target.resolved_files_dir.exists()

    def test_refuses_a_target_that_holds_data_unless_forced(
        self, dataset: Dataset, backup_dir: Path, target: Settings
    ):
        manifest = ops_service.create_backup(dataset.settings, backup_dir)
        carry_keys(dataset.settings, target)
        ops_service.restore_backup(backup_dir, target)
        stray = target.resolved_files_dir / "written-after-restore.txt"
        stray.write_text("new upload")

        with pytest.raises(RestoreTargetNotEmpty) as caught:
            ops_service.restore_backup(backup_dir, target)

        assert len(caught.value.errors) == 3  # the database, the files and the checkpoints
        assert [str(target.resolved_files_dir) in str(e) for e in caught.value.errors] == [False, True, False]
        assert stray.exists()

        report = ops_service.restore_backup(backup_dir, target, force=True)

        assert report.ok is True
        assert not stray.exists()
        assert counts(target)["audit_entries"] == manifest.database.counts["audit_entries"] + 1

    def test_force_never_empties_a_directory_that_holds_the_keys(
        self, dataset: Dataset, backup_dir: Path, target: Settings
    ):
        ops_service.create_backup(dataset.settings, backup_dir)
        carry_keys(dataset.settings, target)
        careless = target.model_copy(update={"audit_checkpoint_dir": target.var_dir})

        with pytest.raises(UnsafeLayout):
            ops_service.restore_backup(backup_dir, careless, force=True)

        assert tree(target.resolved_key_dir) == tree(dataset.settings.resolved_key_dir)

    def test_restores_the_keys_only_when_asked(self, dataset: Dataset, backup_dir: Path, target: Settings):
        key_ring(dataset.settings).field_keys()
        ops_service.create_backup(dataset.settings, backup_dir, include_keys=True)

        report = ops_service.restore_backup(backup_dir, target, include_keys=True)

        assert report.ok is True
        assert report.warnings == []
        assert tree(target.resolved_key_dir) == tree(dataset.settings.resolved_key_dir)
        assert stat.S_IMODE(target.resolved_key_dir.stat().st_mode) == 0o700

    def test_refuses_to_restore_keys_from_a_backup_without_them(
        self, dataset: Dataset, backup_dir: Path, target: Settings
    ):
        ops_service.create_backup(dataset.settings, backup_dir)

        with pytest.raises(BackupHasNoKeys):
            ops_service.restore_backup(backup_dir, target, include_keys=True)

    def test_without_the_keys_warns_and_does_not_claim_a_verified_chain(
        self, dataset: Dataset, backup_dir: Path, target: Settings
    ):
        key_ring(dataset.settings).field_keys()
        key_ring(dataset.settings).blind_index_key()
        manifest = ops_service.create_backup(dataset.settings, backup_dir)

        report = ops_service.restore_backup(backup_dir, target)

        assert report.ok is False
        assert report.chain is None
        assert report.count_mismatches == {}
        assert report.signature == "embedded"
        assert len(report.warnings) == 3  # field key, blind-index key, signing key
        assert "k1" in report.warnings[0]
        # Nothing was invented in the target's key directory.
        assert not target.resolved_key_dir.exists() or tree(target.resolved_key_dir) == {}
        assert counts(target)["audit_entries"] == manifest.database.counts["audit_entries"] + 1

    def test_refuses_a_backup_from_a_newer_schema(self, dataset: Dataset, backup_dir: Path, target: Settings):
        manifest = ops_service.create_backup(dataset.settings, backup_dir)
        newer = manifest.database.model_copy(update={"alembic_revision": "ffffffffffff"})
        resign(dataset.settings, backup_dir, manifest.model_copy(update={"database": newer}))

        with pytest.raises(BackupTooNew) as caught:
            ops_service.restore_backup(backup_dir, target)

        assert caught.value.params["revision"] == "ffffffffffff"
        assert not target.resolved_files_dir.exists()

    def test_a_copy_of_the_backup_elsewhere_restores_the_same(
        self, dataset: Dataset, backup_dir: Path, target: Settings, tmp_path: Path
    ):
        ops_service.create_backup(dataset.settings, backup_dir)
        moved = tmp_path / "offsite" / "backup-1"
        shutil.copytree(backup_dir, moved)
        carry_keys(dataset.settings, target)

        report = ops_service.restore_backup(moved, target)

        assert report.ok is True


class TestPostgresClientConnection:
    def test_the_password_travels_in_the_environment_not_on_the_command_line(self):
        dbname, env = ops_service._libpq("postgresql+psycopg://yiwang:s3cr%40t@db.internal:5433/city?sslmode=require")

        assert dbname == "postgresql://yiwang@db.internal:5433/city?sslmode=require"
        assert env["PGPASSWORD"] == "s3cr@t"


class TestOpenDataAfterRestore:
    """The open-data datastore is derived data: after a restore its open tables are there again
    (SQLite: loaded from the restored uploads and steps; PostgreSQL: in the dump)."""

    def test_an_open_table_answers_after_a_restore(self, settings: Settings, backup_dir: Path, target: Settings):
        from yiwang.areas import service as areas_service
        from yiwang.datacat import datastore
        from yiwang.datacat import service as datacat_service
        from yiwang.datacat.schemas import FieldIn, ResourceIn

        database = open_db(settings)
        officer = Actor(kind="staff", user_id="01JOFFICER0000000000000001", username="o",
                        grants=(Grant("data_officer", "31", None, frozenset({"datacat.manage", "datacat.read"})),))
        with database.transaction() as session:
            areas_service.create_area(session, SYSTEM, code="31", name="上海市", level="city")
            dept = areas_service.create_department(session, SYSTEM, code="31-JT", name="交通委", area_code="31")
            datacat_service.create_resource(session, officer, ResourceIn(
                name="stops", code="31-JT-1", title="公交站点", department_id=dept.id, topic="transport",
                opening="unconditional", fields=[FieldIn(name="站点"), FieldIn(name="电话")]))
            out = datacat_service.add_distribution(
                session, officer, "stops", name="站点", filename="s.csv",
                data="站点,电话\n人民广场,13812345678\n外滩,13912345678\n".encode())
            datacat_service.set_steps(session, officer, out.distribution.id, [{"field": "电话", "action": "mask"}])
            assert datacat_service.open_resource(session, officer, "stops").passed
        database.dispose()
        ops_service.create_backup(settings, backup_dir)
        carry_keys(settings, target)
        try:
            ops_service.restore_backup(backup_dir, target)
            found = datastore.search(target, out.distribution.id)
            assert found["total"] == 2
            assert all("12345678" not in r["电话"] for r in found["records"])
        finally:
            datastore.drop(settings, out.distribution.id)
            if target.is_sqlite:
                datastore.drop(target, out.distribution.id)
            datastore.dispose_engines()
