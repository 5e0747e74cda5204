from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from yiwang.cli import main
from yiwang.core.settings import Settings, reset_settings

from .conftest import Dataset, carry_keys


@pytest.fixture
def yiwang(monkeypatch: pytest.MonkeyPatch):
    """Run ``yiwang …`` with the environment naming one machine's var dir and database."""

    def run(settings: Settings, *args: str) -> Result:
        monkeypatch.setenv("YIWANG_VAR_DIR", str(settings.var_dir))
        monkeypatch.setenv("YIWANG_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("YIWANG_LOG_LEVEL", "WARNING")
        reset_settings()
        try:
            return CliRunner().invoke(main, list(args), catch_exceptions=False)
        finally:
            reset_settings()

    return run


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x10
    path.write_bytes(bytes(data))


def db_file(settings: Settings) -> str:
    return "db/yiwang.db" if settings.is_sqlite else "db/yiwang.pgdump"


class TestBackupCommand:
    def test_backup_dest_writes_a_backup_and_prints_its_summary(self, yiwang, dataset: Dataset, backup_dir: Path):
        result = yiwang(dataset.settings, "backup", str(backup_dir))

        assert result.exit_code == 0, result.output
        manifest = json.loads((backup_dir / "manifest.json").read_text())
        assert result.stdout.splitlines()[0] == f"backup {manifest['backup_id']} written to {backup_dir}"
        assert "stored files    3 files" in result.stdout
        assert f"audit           1 chains, {dataset.audit_entries} entries" in result.stdout
        assert "recovery point  " + manifest["snapshot_at"] in result.stdout.replace("+00:00", "Z")
        assert "keys            not included" in result.stdout
        assert not (backup_dir / "keys").exists()

    def test_backup_create_with_include_keys_copies_them(self, yiwang, dataset: Dataset, backup_dir: Path):
        result = yiwang(dataset.settings, "backup", "create", str(backup_dir), "--include-keys", "--json")

        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["includes_keys"] is True
        assert summary["files"] == len(json.loads((backup_dir / "manifest.json").read_text())["files"])
        assert (backup_dir / "keys" / "signing-ed25519.pem").is_file()

    def test_backup_into_a_directory_that_is_not_empty_exits_2(self, yiwang, dataset: Dataset, backup_dir: Path):
        backup_dir.mkdir()
        (backup_dir / "x").write_text("x")

        result = yiwang(dataset.settings, "backup", str(backup_dir))

        assert result.exit_code == 2
        assert result.stderr.startswith("error: backup_destination_not_empty: ")
        assert sorted(p.name for p in backup_dir.iterdir()) == ["x"]

    def test_backup_without_arguments_shows_help(self, yiwang, tmp_path: Path):
        result = yiwang(Settings(var_dir=tmp_path, database_url=""), "backup")

        assert result.exit_code == 2
        assert "yiwang backup DEST [--include-keys]   same as: yiwang backup create DEST" in result.output
        assert "check" in result.output and "create" in result.output


class TestBackupCheckCommand:
    def test_a_sound_backup_passes_with_this_machine_key(self, yiwang, dataset: Dataset, backup_dir: Path):
        assert yiwang(dataset.settings, "backup", str(backup_dir)).exit_code == 0

        result = yiwang(dataset.settings, "backup", "check", str(backup_dir))

        assert result.exit_code == 0, result.output
        assert " is sound: " in result.stdout
        assert "signature valid (checked with a trusted public key)" in result.stdout

    def test_names_every_problem_and_exits_2(self, yiwang, dataset: Dataset, backup_dir: Path):
        assert yiwang(dataset.settings, "backup", str(backup_dir)).exit_code == 0
        flip_byte(backup_dir / db_file(dataset.settings))
        (backup_dir / "files" / "extra.bin").write_bytes(b"?")

        result = yiwang(dataset.settings, "backup", "check", str(backup_dir))

        assert result.exit_code == 2
        lines = result.stderr.splitlines()
        assert lines[0].startswith("error: backup_corrupt: ")
        assert [line.split(": ")[0] for line in lines[1:]] == [
            f"  - {db_file(dataset.settings)}", "  - files/extra.bin"
        ]

    def test_a_backup_without_manifest_is_incomplete(self, yiwang, dataset: Dataset, backup_dir: Path):
        assert yiwang(dataset.settings, "backup", str(backup_dir)).exit_code == 0
        (backup_dir / "manifest.json").unlink()

        result = yiwang(dataset.settings, "backup", "check", str(backup_dir), "--json")

        assert result.exit_code == 2
        report = json.loads(result.stdout)
        assert report["ok"] is False
        assert report["complete"] is False
        assert [p["path"] for p in report["problems"]] == ["manifest.json"]
        assert result.stderr.startswith("error: backup_incomplete: ")


class TestRestoreCommand:
    def test_restores_into_an_empty_target_and_prints_verification(
        self, yiwang, dataset: Dataset, backup_dir: Path, target: Settings
    ):
        assert yiwang(dataset.settings, "backup", str(backup_dir)).exit_code == 0
        carry_keys(dataset.settings, target)

        result = yiwang(target, "restore", str(backup_dir))

        assert result.exit_code == 0, result.output
        out = result.stdout
        assert "signature       valid (checked with a trusted public key)" in out
        assert "rows            match the manifest" in out
        assert f"audit chain     verified: {dataset.audit_entries:,} entries in 1 chains, 1 checkpoints (1 exported)" in out
        assert "\n  RPO             " in out and "\n  RTO             " in out
        assert result.stderr == ""

    def test_json_report(self, yiwang, dataset: Dataset, backup_dir: Path, target: Settings):
        assert yiwang(dataset.settings, "backup", str(backup_dir)).exit_code == 0
        carry_keys(dataset.settings, target)

        result = yiwang(target, "restore", str(backup_dir), "--json")

        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["ok"] is True
        assert report["chain_ok"] is True
        assert report["count_mismatches"] == {}
        assert report["rto_seconds"] > 0
        assert report["warnings"] == []

    def test_refuses_a_corrupt_backup_with_the_problems_and_exit_2(
        self, yiwang, dataset: Dataset, backup_dir: Path, target: Settings
    ):
        assert yiwang(dataset.settings, "backup", str(backup_dir)).exit_code == 0
        (backup_dir / "files" / "readme.txt").write_text("changed")

        result = yiwang(target, "restore", str(backup_dir))

        assert result.exit_code == 2
        assert result.stderr.startswith("error: backup_corrupt: ")
        assert result.stderr.splitlines()[1].startswith("  - files/readme.txt: ")
        assert not target.resolved_files_dir.exists()

    def test_refuses_a_target_holding_data_unless_forced(
        self, yiwang, dataset: Dataset, backup_dir: Path, target: Settings
    ):
        assert yiwang(dataset.settings, "backup", str(backup_dir)).exit_code == 0
        carry_keys(dataset.settings, target)
        assert yiwang(target, "restore", str(backup_dir)).exit_code == 0

        refused = yiwang(target, "restore", str(backup_dir))
        forced = yiwang(target, "restore", str(backup_dir), "--force")

        assert refused.exit_code == 2
        assert refused.stderr.startswith("error: restore_target_not_empty: ")
        assert forced.exit_code == 0, forced.output

    def test_without_the_keys_exits_1_and_says_why(self, yiwang, dataset: Dataset, backup_dir: Path, target: Settings):
        assert yiwang(dataset.settings, "backup", str(backup_dir)).exit_code == 0

        result = yiwang(target, "restore", str(backup_dir))

        assert result.exit_code == 1
        assert "audit chain     FAILED verification: not checked (no signing key" in result.stdout
        assert result.stderr.startswith("  warning: ")
        assert str(target.resolved_key_dir) in result.stderr
