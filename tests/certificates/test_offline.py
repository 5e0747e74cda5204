"""The self-contained offline verifier: no database, no settings, only the published key."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from yiwang.certificates import offline
from yiwang.core import crypto
from yiwang.core.settings import Settings

DOCUMENT = {
    "format": "yiwang-certificate/1", "id": "01JCERT0000000000000000001",
    "type": {"code": "FOOD-LICENCE", "name": "食品经营许可证"},
    "holder": {"kind": "entity", "id": "01JENTITY00000000000000001", "name": "上海示例贸易有限公司",
               "identifier": "91310101MA1FPX1234"},
    "issuer": {"department_code": "310101-SCJG", "department_name": "黄浦区市场监管局", "platform": "yiwang"},
    "fields": {"经营范围": "预包装食品销售"}, "issued_at": "2026-03-01T02:00:00+00:00",
    "valid_from": "2026-03-01", "valid_until": "2031-02-28", "application_id": None,
}
TODAY = date(2027, 1, 1)


def signed(settings: Settings, document: dict = DOCUMENT) -> str:
    algorithm, kid, value = crypto.sign(settings, offline.canonical_bytes(document))
    return json.dumps({"document": document, "signature": {"algorithm": algorithm, "key_id": kid, "value": value}},
                      ensure_ascii=False, indent=2)


@pytest.fixture(params=["ed25519", "sm2"])
def keys(request, tmp_path) -> Settings:
    """Settings used only to make a key pair and sign (no database is opened)."""
    return Settings(var_dir=tmp_path, env="test", sign_algorithm=request.param)


class TestOfflineVerify:
    def test_accepts_a_signed_file_with_the_published_key(self, keys):
        result = offline.verify(signed(keys), crypto.public_key(keys), today=TODAY)

        assert (result.valid, result.reason) == (True, "valid")
        assert result.document == DOCUMENT

    def test_refuses_a_changed_value(self, keys):
        text = signed(keys).replace("预包装食品销售", "预包装食品销售、酒类")

        assert offline.verify(text, crypto.public_key(keys), today=TODAY).reason == "bad_signature"

    def test_refuses_another_key(self, keys, tmp_path):
        other = Settings(var_dir=tmp_path / "other", env="test", sign_algorithm=keys.sign_algorithm)

        result = offline.verify(signed(keys), crypto.public_key(other), today=TODAY)

        assert (result.valid, result.reason) == (False, "wrong_key")

    def test_refuses_a_forged_signature_under_the_right_key_id(self, keys, tmp_path):
        other = Settings(var_dir=tmp_path / "other", env="test", sign_algorithm=keys.sign_algorithm)
        forged = json.loads(signed(other))
        forged["signature"]["key_id"] = crypto.key_id(keys)

        assert offline.verify(json.dumps(forged), crypto.public_key(keys), today=TODAY).reason == "bad_signature"

    def test_says_expired_after_the_end_date(self, keys):
        result = offline.verify(signed(keys), crypto.public_key(keys), today=date(2031, 3, 1))

        assert (result.valid, result.reason) == (False, "expired")

    def test_says_malformed_for_other_json(self, keys):
        assert offline.verify('{"a": 1}', crypto.public_key(keys)).reason == "malformed"


class TestSelfContained:
    def test_imports_nothing_of_yiwang_but_itself(self):
        source = Path(offline.__file__).read_text(encoding="utf-8")

        assert "import yiwang" not in source and "from yiwang" not in source

    def test_runs_as_a_lone_file(self, tmp_path):
        copy = tmp_path / "verifier.py"
        copy.write_text(Path(offline.__file__).read_text(encoding="utf-8"), encoding="utf-8")
        code = ("import sys; sys.path.insert(0, sys.argv[1]); import verifier; "
                "print(verifier.canonical_bytes({'b': 1, 'a': '证'}).decode())")

        out = subprocess.run([sys.executable, "-I", "-c", code, str(tmp_path)], capture_output=True, text=True,  # noqa: S603 - our own interpreter and code
                             check=True)

        assert out.stdout == '{"a":"证","b":1}\n'
