"""``yiwang certificate verify`` and ``export-key``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from yiwang.cli import main
from yiwang.core.crypto import public_key
from yiwang.core.settings import reset_settings


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


class TestExportKey:
    def test_prints_the_published_key(self, settings, run):
        result = run("certificate", "export-key")

        assert result.exit_code == 0
        assert result.output == public_key(settings).rstrip("\n") + "\n"
        assert result.output.startswith("-----BEGIN PUBLIC KEY-----")


class TestVerifyCommand:
    def test_valid_file_with_the_published_key_exits_0(self, issued, run, tmp_path):
        (tmp_path / "cert.json").write_text(issued.envelope, encoding="utf-8")
        key = run("certificate", "export-key").output
        (tmp_path / "key.pem").write_text(key, encoding="utf-8")

        result = run("certificate", "verify", str(tmp_path / "cert.json"), "--public-key", str(tmp_path / "key.pem"))

        assert result.exit_code == 0
        assert json.loads(result.output)["reason"] == "valid"

    def test_altered_file_exits_1(self, issued, run, tmp_path):
        (tmp_path / "cert.json").write_text(issued.envelope.replace("张三明", "张三朋"), encoding="utf-8")

        result = run("certificate", "verify", str(tmp_path / "cert.json"))

        assert result.exit_code == 1
        assert json.loads(result.output) == {"valid": False, "reason": "bad_signature",
                                             "detail": "the signature does not match the document"}
