from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from yiwang.core.db import Database
from yiwang.core.settings import Settings


class TestSqliteTuning:
    def test_sqlite_runs_wal_with_full_sync_and_foreign_keys(self, tmp_path):
        db = Database(Settings(var_dir=tmp_path))
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        db.dispose()

    def test_default_url_is_sqlite_under_var(self, tmp_path):
        s = Settings(var_dir=tmp_path)
        assert s.resolved_database_url == f"sqlite:///{tmp_path.as_posix()}/yiwang.db"

    def test_concurrent_writers_queue_instead_of_failing(self, tmp_path):
        db = Database(Settings(var_dir=tmp_path))
        with db.transaction() as s:
            s.execute(text("CREATE TABLE t (n INTEGER)"))
        errors: list[BaseException] = []

        def writer(k: int) -> None:
            try:
                for i in range(50):
                    with db.transaction() as s:
                        n = s.execute(text("SELECT count(*) FROM t")).scalar()
                        s.execute(text("INSERT INTO t VALUES (:n)"), {"n": n + i + k})
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with db.transaction(write=False) as s:
            assert s.execute(text("SELECT count(*) FROM t")).scalar() == 200
        db.dispose()


class TestSettings:
    def test_environment_overrides_config_file(self, tmp_path, monkeypatch):
        cfg = tmp_path / "yiwang.toml"
        cfg.write_text('[yiwang]\nlog_level = "DEBUG"\nlogin_max_failures = 7\n')
        monkeypatch.setenv("YIWANG_CONFIG", str(cfg))
        monkeypatch.setenv("YIWANG_LOGIN_MAX_FAILURES", "3")
        s = Settings()
        assert s.log_level == "DEBUG"
        assert s.login_max_failures == 3


class TestMigratedDatabase:
    def test_every_backend_answers(self, db):
        with db.transaction(write=False) as s:
            assert s.execute(text("SELECT 1")).scalar() == 1


@pytest.mark.parametrize("value,expected", [("en-US,en;q=0.9", "en"), ("zh-CN", "zh_Hans_CN"), ("", "zh_Hans_CN")])
def test_locale_normalisation(value, expected):
    from yiwang.core.i18n import normalise_locale

    assert normalise_locale(value) == expected
