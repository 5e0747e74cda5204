from __future__ import annotations

import base64

import pytest

from yiwang.core.crypto import digest, hasher, key_id, public_key, public_key_id, sign, verify_signature
from yiwang.core.settings import Settings


@pytest.fixture
def keyed(tmp_path) -> Settings:
    return Settings(var_dir=tmp_path, env="test")


class TestDigest:
    def test_sm3_of_abc_is_the_standard_vector(self):
        assert digest("sm3", b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"

    def test_sm3_of_the_64_byte_vector(self):
        assert digest("sm3", b"abcd" * 16).hex() == (
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732")

    def test_sha256_of_abc(self):
        assert digest("sha256", b"abc").hex() == (
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")

    def test_hasher_is_incremental(self):
        h = hasher("sm3")(b"a")
        h.update(b"bc")
        assert h.hexdigest() == digest("sm3", b"abc").hex()

    def test_refuses_unknown_algorithm(self):
        with pytest.raises(ValueError):
            hasher("md5")


@pytest.mark.parametrize("algorithm", ["ed25519", "sm2"])
class TestSignatures:
    def test_round_trip(self, keyed, algorithm):
        alg, kid, signature = sign(keyed, b"checkpoint 42", algorithm)
        assert (alg, kid) == (algorithm, key_id(keyed, algorithm))
        assert verify_signature(algorithm, public_key(keyed, algorithm), b"checkpoint 42", signature)

    def test_tampered_data_fails(self, keyed, algorithm):
        _alg, _kid, signature = sign(keyed, b"checkpoint 42", algorithm)
        assert not verify_signature(algorithm, public_key(keyed, algorithm), b"checkpoint 43", signature)

    def test_tampered_signature_fails(self, keyed, algorithm):
        _alg, _kid, signature = sign(keyed, b"checkpoint 42", algorithm)
        raw = bytearray(base64.b64decode(signature))
        raw[5] ^= 1
        assert not verify_signature(algorithm, public_key(keyed, algorithm), b"checkpoint 42", bytes(raw))

    def test_another_key_fails(self, keyed, algorithm, tmp_path):
        other = Settings(var_dir=tmp_path / "other", env="test")
        _alg, _kid, signature = sign(other, b"checkpoint 42", algorithm)
        assert not verify_signature(algorithm, public_key(keyed, algorithm), b"checkpoint 42", signature)
        assert key_id(other, algorithm) != key_id(keyed, algorithm)

    def test_garbage_is_false_not_an_error(self, keyed, algorithm):
        assert not verify_signature(algorithm, "not a key", b"x", "!!not base64!!")
        assert not verify_signature(algorithm, public_key(keyed, algorithm), b"x", "AAAA")

    def test_key_id_names_the_published_key(self, keyed, algorithm):
        assert public_key_id(algorithm, public_key(keyed, algorithm)) == key_id(keyed, algorithm)


class TestPublicKey:
    def test_ed25519_is_pem(self, keyed):
        assert public_key(keyed, "ed25519").startswith("-----BEGIN PUBLIC KEY-----")

    def test_sm2_is_the_uncompressed_point(self, keyed):
        pub = public_key(keyed, "sm2")
        assert len(pub) == 128
        int(pub, 16)

    def test_refuses_unknown_algorithm(self, keyed):
        with pytest.raises(ValueError):
            public_key(keyed, "rsa")
        assert not verify_signature("rsa", "x", b"x", "AAAA")


class TestSm2Randomness:
    """Keys and nonces come from the operating system's CSPRNG, never from Python's ``random``
    (gmssl's default): a seeded ``random`` must not repeat a nonce or a key."""

    def test_nonce_does_not_follow_pythons_random(self, keyed):
        import random

        random.seed(7)
        first = base64.b64decode(sign(keyed, b"same data", "sm2")[2])
        random.seed(7)
        second = base64.b64decode(sign(keyed, b"same data", "sm2")[2])
        assert first[:32] != second[:32]  # r differs: a fresh k each time
        assert all(verify_signature("sm2", public_key(keyed, "sm2"), b"same data", s) for s in (first, second))

    def test_key_does_not_follow_pythons_random(self, tmp_path):
        import random

        random.seed(7)
        one = public_key(Settings(var_dir=tmp_path / "a", env="test"), "sm2")
        random.seed(7)
        two = public_key(Settings(var_dir=tmp_path / "b", env="test"), "sm2")
        assert one != two

    def test_many_signatures_all_verify(self, keyed):
        pub = public_key(keyed, "sm2")
        for n in range(40):
            data = f"checkpoint {n}".encode()
            assert verify_signature("sm2", pub, data, sign(keyed, data, "sm2")[2])


class TestSm2KeysThatStartWith04:
    """About one SM2 key in 256 has a public point whose hex starts with "04"; gmssl's constructor
    strips a "04" prefix with ``lstrip`` and used to eat the point's own digits (an odd-length key:
    signing raised, verifying failed). Found when CI drew such a key."""

    PRIVATE = "6b3a407ee50982ba19de1680866585fc8c24606969e92382bcee884ed535d4e7"

    def test_such_a_key_signs_and_verifies(self):
        from yiwang.certificates import offline
        from yiwang.core.sm2keys import sm2_public_from_private, sm2_sign, sm2_verify

        pub = sm2_public_from_private(self.PRIVATE)
        assert pub.startswith("04") and len(pub) == 128
        signature = sm2_sign(self.PRIVATE, pub, b"certificate bytes")
        assert sm2_verify(pub, signature, b"certificate bytes")
        assert not sm2_verify(pub, signature, b"altered bytes")
        encoded = base64.b64encode(signature).decode()
        assert verify_signature("sm2", pub, b"certificate bytes", encoded)
        assert offline.signature_valid("sm2", pub, b"certificate bytes", encoded)
