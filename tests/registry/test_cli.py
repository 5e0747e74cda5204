"""``yiwang registry import`` and ``yiwang registry reencrypt``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from yiwang.cli import main
from yiwang.core.actor import SYSTEM
from yiwang.core.settings import reset_settings
from yiwang.identity import service as identity_service
from yiwang.registry import service as registry_service

from .conftest import SHOP, ZHANG
from .test_import import BAD_PERSONS, ENTITY_HEADER, GOOD_PERSONS, entity_line


@pytest.fixture
def cli(settings, monkeypatch, tmp_path):
    """Runs ``yiwang …`` against the test's database and key dir."""
    monkeypatch.setenv("YIWANG_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("YIWANG_ENV", "test")
    monkeypatch.setenv("YIWANG_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("YIWANG_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("YIWANG_LOG_LEVEL", "WARNING")
    reset_settings()
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    yield invoke
    reset_settings()


def write(tmp_path: Path, name: str, content: str) -> str:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return str(path)


def persons(session) -> int:
    session.rollback()
    return session.execute(text("SELECT count(*) FROM persons")).scalar_one()


class TestImportCommand:
    def test_imports_and_prints_counts(self, cli, session, city, tmp_path):
        result = cli("registry", "import", "persons", write(tmp_path, "p.csv", GOOD_PERSONS))

        assert result.exit_code == 0
        assert result.stdout == "persons: 3 rows, 3 imported, 0 skipped\n"
        assert persons(session) == 3

    def test_refuses_with_every_bad_line_on_stderr_and_exit_2(self, cli, session, city, tmp_path):
        result = cli("registry", "import", "persons", write(tmp_path, "p.csv", BAD_PERSONS))

        assert result.exit_code == 2
        lines = result.stderr.splitlines()
        assert lines[0] == "error: import_refused: 未导入任何数据：有 5 行存在问题。"
        assert [line.split(" — ")[0] for line in lines[1:]] == [
            "第 3 行：id_number：invalid_resident_id", "第 4 行：phone：invalid_mobile",
            "第 5 行：area_code：unknown_area", "第 6 行：id_number：duplicate_in_file",
            "第 7 行：name：missing_field"]
        assert persons(session) == 0

    def test_skip_bad_rows(self, cli, session, city, tmp_path):
        result = cli("registry", "import", "persons", write(tmp_path, "p.csv", BAD_PERSONS), "--skip-bad-rows")

        assert result.exit_code == 0
        assert result.stdout == "persons: 7 rows, 2 imported, 5 skipped\n"
        assert result.stderr.splitlines()[0] == "skipped rows:"
        assert len(result.stderr.splitlines()) == 6
        assert persons(session) == 2

    def test_entities(self, cli, session, city, tmp_path):
        result = cli("registry", "import", "entities", write(tmp_path, "e.csv", ENTITY_HEADER + entity_line(SHOP)))
        assert (result.exit_code, result.stdout) == (0, "entities: 1 rows, 1 imported, 0 skipped\n")

    def test_as_a_user_applies_their_grants(self, cli, session, settings, city, tmp_path):
        identity_service.seed_policy(session)
        identity_service.create_user(session, SYSTEM, username="hp_officer", password=None,
                                     kind="staff", display_name="HP", grants=[("data_officer", "310101", None)],
                                     settings=settings)
        session.commit()
        path = write(tmp_path, "p.csv", GOOD_PERSONS)  # has a 徐汇 (310104) row

        denied = cli("registry", "import", "persons", path, "--as", "hp_officer")
        unknown = cli("registry", "import", "persons", path, "--as", "nobody")

        assert denied.exit_code == 2
        assert denied.stderr.startswith("error: permission_denied:")
        assert unknown.exit_code == 2
        assert "user_not_found" in unknown.stderr
        assert persons(session) == 0

    def test_bad_header(self, cli, city, tmp_path):
        result = cli("registry", "import", "persons", write(tmp_path, "p.csv", "a,b\n"))
        assert result.exit_code == 2
        assert result.stderr.startswith("error: invalid_csv:")


class TestReencryptCommand:
    def test_rotates_and_reencrypts(self, cli, session, city):
        registry_service.create_person(session, SYSTEM, ZHANG)
        session.commit()

        result = cli("registry", "reencrypt", "--rotate")

        assert result.exit_code == 0
        assert result.stdout == "active field key: k2\nre-encrypted rows: 1\n"
        session.rollback()
        token = session.execute(text("SELECT name_enc FROM persons")).scalar_one()
        assert token.startswith("v1.aes-gcm.k2.")

    def test_nothing_to_do(self, cli, city):
        assert cli("registry", "reencrypt").stdout == "re-encrypted rows: 0\n"
