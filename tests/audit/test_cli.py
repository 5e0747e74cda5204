from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from yiwang.cli import main
from yiwang.core.crypto import key_id, public_key
from yiwang.core.settings import reset_settings

from .conftest import seed, superuser


@pytest.fixture
def run(settings, monkeypatch):
    """Run ``yiwang …`` against this test's database and folders."""
    monkeypatch.setenv("YIWANG_CONFIG", str(settings.var_dir / "absent.toml"))
    monkeypatch.setenv("YIWANG_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("YIWANG_DATABASE_URL", settings.resolved_database_url)
    reset_settings()

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    yield invoke
    reset_settings()


def actions(db) -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.execute(text("SELECT action FROM audit_entries ORDER BY seq")).scalars())


class TestVerifyCommand:
    def test_intact_trail_exits_0_with_a_summary(self, db, run):
        seed(db, 3)
        result = run("audit", "verify")
        assert result.exit_code == 0
        assert result.output == "ok: 3 entries in 1 chains intact; 0 signed checkpoints hold\n"
        assert actions(db)[-1] == "audit.verify"

    def test_tampering_exits_1_naming_chain_and_seq(self, db, run):
        seed(db, 5)
        with superuser(db) as conn:
            conn.execute(text("DELETE FROM audit_entries WHERE seq = 3"))
        result = run("audit", "verify")
        assert result.exit_code == 1
        assert result.stdout.splitlines() == ["chain 0 seq 3: deleted: entry 3 is missing"]

    def test_reads_checkpoints_from_the_given_folder(self, db, run, settings, tmp_path):
        seed(db, 3)
        assert run("audit", "checkpoint").exit_code == 0
        elsewhere = tmp_path / "offsite"
        elsewhere.mkdir()
        for f in settings.resolved_checkpoint_dir.iterdir():
            (elsewhere / f.name).write_bytes(f.read_bytes())
        with superuser(db) as conn:
            conn.execute(text("DELETE FROM audit_entries WHERE seq = 3"))
            conn.execute(text("DELETE FROM audit_checkpoints"))
            two = conn.execute(text("SELECT hash FROM audit_entries WHERE seq = 2")).scalar_one()
            conn.execute(text("UPDATE audit_chain_heads SET seq = 2, hash = :h"), {"h": two})
        for f in settings.resolved_checkpoint_dir.iterdir():
            f.unlink()
        result = run("audit", "verify", "--checkpoints", str(elsewhere))
        assert result.exit_code == 1
        assert result.stdout.startswith("chain 0 seq 3: truncated:")
        assert run("audit", "verify").exit_code == 0


class TestCheckpointCommand:
    def test_signs_each_moved_chain_then_nothing(self, db, run, settings):
        seed(db, 2)
        first = run("audit", "checkpoint")
        assert first.exit_code == 0
        assert first.output.startswith("chain 0 seq 2 hash ")
        assert f"ed25519 {key_id(settings, 'ed25519')}" in first.output
        assert run("audit", "checkpoint").output == "no chain moved since its last checkpoint\n"


class TestExportKey:
    def test_prints_the_public_key(self, run, settings):
        result = run("audit", "export-key")
        assert result.exit_code == 0
        assert result.output == public_key(settings, "ed25519").rstrip("\n") + "\n"

    def test_json_names_the_key(self, run, settings):
        result = run("audit", "export-key", "--algorithm", "sm2", "--json")
        assert json.loads(result.output) == {"algorithm": "sm2", "key_id": key_id(settings, "sm2"),
                                             "public_key": public_key(settings, "sm2"),
                                             "hash_algorithm": "sha256"}
