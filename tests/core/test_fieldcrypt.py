"""Field encryption: round trips, AAD binding, tampering, rotation, blind indexes."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from yiwang.core import fieldcrypt
from yiwang.core.fieldcrypt import DecryptionFailed, FieldCipher, parse_token
from yiwang.core.keys import key_ring
from yiwang.core.settings import Settings


def _settings(tmp_path: Path, **kw) -> Settings:
    return Settings(env="test", var_dir=tmp_path, **kw)


@pytest.fixture(params=["aes-gcm", "sm4-gcm"])
def cipher(request: pytest.FixtureRequest, tmp_path: Path) -> FieldCipher:
    return FieldCipher.for_settings(_settings(tmp_path, cipher_algorithm=request.param))


class TestRoundTrip:
    def test_decrypts_what_it_encrypted(self, cipher: FieldCipher) -> None:
        token = cipher.encrypt("张三丰 310101199003071234", "persons.name:01ABC")
        assert cipher.decrypt(token, "persons.name:01ABC") == "张三丰 310101199003071234"

    def test_token_names_version_algorithm_and_key(self, cipher: FieldCipher) -> None:
        token = cipher.encrypt("secret", "t.c:1")
        version, alg, kid, body = token.split(".")
        assert (version, alg, kid) == ("v1", cipher.algorithm, "k1")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        assert len(raw) == 12 + len(b"secret") + 16

    def test_round_trips_the_empty_string(self, cipher: FieldCipher) -> None:
        assert cipher.decrypt(cipher.encrypt("", "t.c:1"), "t.c:1") == ""

    def test_same_plaintext_gives_different_tokens(self, cipher: FieldCipher) -> None:
        assert cipher.encrypt("same", "t.c:1") != cipher.encrypt("same", "t.c:1")

    def test_plaintext_does_not_appear_in_the_token(self, cipher: FieldCipher) -> None:
        token = cipher.encrypt("310101199003071234", "t.c:1")
        assert "310101199003071234" not in token
        assert b"310101199003071234" not in parse_token(token)[2]

    def test_reads_tokens_of_the_other_algorithm(self, tmp_path: Path) -> None:
        aes = FieldCipher.for_settings(_settings(tmp_path, cipher_algorithm="aes-gcm"))
        sm4 = FieldCipher.for_settings(_settings(tmp_path, cipher_algorithm="sm4-gcm"))
        assert sm4.decrypt(aes.encrypt("甲", "t.c:1"), "t.c:1") == "甲"
        assert aes.decrypt(sm4.encrypt("乙", "t.c:1"), "t.c:1") == "乙"

    def test_for_settings_returns_one_cipher_per_key_dir(self, tmp_path: Path) -> None:
        a = FieldCipher.for_settings(_settings(tmp_path))
        b = FieldCipher.for_settings(_settings(tmp_path))
        c = FieldCipher.for_settings(_settings(tmp_path / "other"))
        assert a is b
        assert a is not c


class TestBinding:
    def test_token_copied_to_another_row_fails(self, cipher: FieldCipher) -> None:
        token = cipher.encrypt("310101199003071234", "persons.id_number:ROW1")
        with pytest.raises(DecryptionFailed):
            cipher.decrypt(token, "persons.id_number:ROW2")

    def test_token_copied_to_another_column_fails(self, cipher: FieldCipher) -> None:
        token = cipher.encrypt("13812345678", "persons.phone:ROW1")
        with pytest.raises(DecryptionFailed):
            cipher.decrypt(token, "persons.address:ROW1")

    def test_tampered_ciphertext_fails(self, cipher: FieldCipher) -> None:
        token = cipher.encrypt("value", "t.c:1")
        head, body = token.rsplit(".", 1)
        raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        raw[14] ^= 1
        forged = head + "." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
        with pytest.raises(DecryptionFailed):
            cipher.decrypt(forged, "t.c:1")

    def test_relabelled_algorithm_fails(self, tmp_path: Path) -> None:
        cipher = FieldCipher.for_settings(_settings(tmp_path))
        token = cipher.encrypt("value", "t.c:1")
        with pytest.raises(DecryptionFailed):
            cipher.decrypt(token.replace(".aes-gcm.", ".sm4-gcm."), "t.c:1")

    @pytest.mark.parametrize("bad", ["", "plain text", "v2.aes-gcm.k1.AAAA", "v1.des.k1.AAAA",
                                     "v1.aes-gcm.k1.AAAA", "v1.aes-gcm.k1.!!!"])
    def test_malformed_token_fails(self, cipher: FieldCipher, bad: str) -> None:
        with pytest.raises(DecryptionFailed):
            cipher.decrypt(bad, "t.c:1")

    def test_unknown_key_fails(self, cipher: FieldCipher) -> None:
        token = cipher.encrypt("value", "t.c:1")
        with pytest.raises(DecryptionFailed):
            cipher.decrypt(token.replace(".k1.", ".k99."), "t.c:1")

    def test_error_has_a_stable_code(self) -> None:
        assert DecryptionFailed.code == "decryption_failed"


class TestRotation:
    def test_new_tokens_use_the_rotated_key_and_old_ones_still_decrypt(self, tmp_path: Path) -> None:
        settings = _settings(tmp_path)
        cipher = FieldCipher.for_settings(settings)
        old = cipher.encrypt("before", "t.c:1")
        assert not cipher.needs_rotation(old)

        kid = key_ring(settings).rotate_field_key()
        assert cipher.active_kid == "k2"  # looks at the key file now
        new = cipher.encrypt("after", "t.c:1")

        assert kid == "k2"
        assert new.split(".")[2] == "k2"
        assert cipher.needs_rotation(old)
        assert not cipher.needs_rotation(new)
        assert cipher.decrypt(old, "t.c:1") == "before"

    def test_rotation_elsewhere_is_noticed_within_the_recheck_interval(self, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
        now = [1000.0]
        monkeypatch.setattr(fieldcrypt, "_clock", lambda: now[0])
        settings = _settings(tmp_path)
        cipher = FieldCipher.for_settings(settings)
        assert cipher.encrypt("a", "t.c:1").split(".")[2] == "k1"

        key_ring(settings).rotate_field_key()
        now[0] += fieldcrypt.RECHECK_SECONDS / 2
        stale = cipher.encrypt("b", "t.c:1")
        now[0] += fieldcrypt.RECHECK_SECONDS
        fresh = cipher.encrypt("c", "t.c:1")

        assert stale.split(".")[2] == "k1"
        assert fresh.split(".")[2] == "k2"
        assert cipher.decrypt(stale, "t.c:1") == "b"

    def test_refresh_looks_at_once(self, tmp_path: Path) -> None:
        settings = _settings(tmp_path)
        cipher = FieldCipher.for_settings(settings)
        cipher.encrypt("a", "t.c:1")
        key_ring(settings).rotate_field_key()

        assert cipher.refresh().active == "k2"
        assert cipher.encrypt("b", "t.c:1").split(".")[2] == "k2"

    def test_algorithm_change_needs_rotation(self, tmp_path: Path) -> None:
        aes = FieldCipher.for_settings(_settings(tmp_path, cipher_algorithm="aes-gcm"))
        sm4 = FieldCipher.for_settings(_settings(tmp_path, cipher_algorithm="sm4-gcm"))
        token = aes.encrypt("x", "t.c:1")
        assert not aes.needs_rotation(token)
        assert sm4.needs_rotation(token)


class TestBlindIndex:
    def test_is_hmac_sha256_of_field_and_value_truncated(self, tmp_path: Path) -> None:
        settings = _settings(tmp_path)
        cipher = FieldCipher.for_settings(settings)
        key = key_ring(settings).blind_index_key()
        expected = hmac.new(key, b"persons.id_number\x00310101199003071234", hashlib.sha256).hexdigest()[:32]
        assert cipher.blind_index(" 310101199003071234 ", "persons.id_number") == expected

    def test_is_hmac_sm3_when_configured(self, tmp_path: Path) -> None:
        settings = _settings(tmp_path, hash_algorithm="sm3")
        cipher = FieldCipher.for_settings(settings)
        mac = crypto_hmac.HMAC(key_ring(settings).blind_index_key(), hashes.SM3())
        mac.update(b"persons.phone\x0013812345678")
        assert cipher.blind_index("13812345678", "persons.phone") == mac.finalize().hex()[:32]
        assert cipher.blind_index("13812345678", "persons.phone") != FieldCipher.for_settings(
            _settings(tmp_path)).blind_index("13812345678", "persons.phone")

    def test_is_stable_and_separated_by_field(self, cipher: FieldCipher) -> None:
        a = cipher.blind_index("13812345678", "persons.phone")
        assert a == cipher.blind_index("13812345678", "persons.phone")
        assert a != cipher.blind_index("13812345678", "persons.id_number")
        assert a != cipher.blind_index("13812345679", "persons.phone")
        assert len(a) == 32

    def test_differs_between_key_dirs(self, tmp_path: Path) -> None:
        a = FieldCipher.for_settings(_settings(tmp_path / "a")).blind_index("x", "f")
        b = FieldCipher.for_settings(_settings(tmp_path / "b")).blind_index("x", "f")
        assert a != b
