"""Hashing and signatures, with the national algorithms beside the international ones.

- Hashes: ``sha256`` (default) and ``sm3`` (GB/T 32905). Both come from OpenSSL through hashlib
  when it offers them; SM3 falls back to ``cryptography`` and then to gmssl.
- Signatures: ``ed25519`` (default, ``cryptography``) and ``sm2`` (GB/T 32918, gmssl's
  ``sign_with_sm3``). The private keys live in the key ring (``core.keys``), never in the database;
  :func:`public_key` gives the half that is published for offline verification.

A public key travels as text: Ed25519 as a PEM ``SubjectPublicKeyInfo``, SM2 as the 128 hex digits
of the uncompressed point (x‖y). Signatures travel as base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Protocol

from yiwang.core.settings import Settings

HASH_ALGORITHMS = ("sha256", "sm3")
SIGN_ALGORITHMS = ("ed25519", "sm2")


class Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...
    def hexdigest(self) -> str: ...


class _CryptographySM3:
    """hashlib-shaped wrapper around ``cryptography``'s SM3, for OpenSSL builds without it in hashlib."""

    def __init__(self, data: bytes = b"") -> None:
        from cryptography.hazmat.primitives import hashes

        self._h = hashes.Hash(hashes.SM3())
        self._done: bytes | None = None
        if data:
            self._h.update(data)

    def update(self, data: bytes, /) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        if self._done is None:
            self._done = self._h.finalize()
        return self._done

    def hexdigest(self) -> str:
        return self.digest().hex()


@lru_cache(maxsize=4)
def hasher(name: str) -> Callable[..., Hash]:
    """A hashlib-style constructor (``hasher("sm3")(data).hexdigest()``) for ``sha256`` or ``sm3``."""
    if name == "sha256":
        return hashlib.sha256
    if name == "sm3":
        if "sm3" in hashlib.algorithms_available:
            try:
                hashlib.new("sm3", b"")
            except ValueError:
                pass
            else:
                return lambda data=b"": hashlib.new("sm3", data)
        try:
            _CryptographySM3(b"")
        except Exception:  # noqa: BLE001 - OpenSSL without SM3: the pure-Python one is slow but exact
            from gmssl import func, sm3

            class _GmSSLSM3:
                def __init__(self, data: bytes = b"") -> None:
                    self._buf = bytearray(data)

                def update(self, data: bytes, /) -> None:
                    self._buf += data

                def hexdigest(self) -> str:
                    return sm3.sm3_hash(func.bytes_to_list(bytes(self._buf)))

                def digest(self) -> bytes:
                    return bytes.fromhex(self.hexdigest())

            return _GmSSLSM3
        return _CryptographySM3
    raise ValueError(f"unknown hash algorithm: {name}")


def digest(name: str, data: bytes) -> bytes:
    """The ``name`` digest of ``data`` (32 bytes for both algorithms)."""
    return hasher(name)(data).digest()


# -- signatures ------------------------------------------------------------------------------


def _ed25519_private(settings: Settings) -> Any:
    from cryptography.hazmat.primitives import serialization

    from yiwang.core.keys import key_ring

    return serialization.load_pem_private_key(key_ring(settings).ed25519_private_pem(), password=None)


def _key_id(algorithm: str, public: str) -> str:
    return f"{algorithm}:{hashlib.sha256(public.strip().encode()).hexdigest()[:16]}"


_KEY_FILES = {"ed25519": "signing-ed25519.pem", "sm2": "signing-sm2.json"}


def has_signing_key(settings: Settings, algorithm: str | None = None) -> bool:
    """Whether the key ring already holds the ``algorithm`` signing key (asking for a missing key
    creates one, which a verifier must not do)."""
    algorithm = algorithm or settings.sign_algorithm
    name = _KEY_FILES.get(algorithm)
    return name is not None and (settings.resolved_key_dir / name).is_file()


def public_key(settings: Settings, algorithm: str | None = None) -> str:
    """The published half of the platform's signing key for ``algorithm`` (default: the setting).

    Creates the key pair on first use; check :func:`has_signing_key` first when that is unwanted."""
    algorithm = algorithm or settings.sign_algorithm
    if algorithm == "ed25519":
        from cryptography.hazmat.primitives import serialization

        pub = _ed25519_private(settings).public_key()
        return pub.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
    if algorithm == "sm2":
        from yiwang.core.keys import key_ring

        return key_ring(settings).sm2_keypair()[1]
    raise ValueError(f"unknown signature algorithm: {algorithm}")


def key_id(settings: Settings, algorithm: str | None = None) -> str:
    """A short fingerprint naming the signing key (``algorithm:16 hex``)."""
    algorithm = algorithm or settings.sign_algorithm
    return _key_id(algorithm, public_key(settings, algorithm))


def public_key_id(algorithm: str, public: str) -> str:
    """The fingerprint of a published key, to match it with a signature's ``key_id``."""
    return _key_id(algorithm, public)


def sign(settings: Settings, data: bytes, algorithm: str | None = None) -> tuple[str, str, str]:
    """Sign ``data`` with the platform key: ``(algorithm, key_id, signature as base64)``."""
    algorithm = algorithm or settings.sign_algorithm
    if algorithm == "ed25519":
        signature = _ed25519_private(settings).sign(data)
    elif algorithm == "sm2":
        from yiwang.core.keys import key_ring
        from yiwang.core.sm2keys import sm2_sign

        private, public = key_ring(settings).sm2_keypair()
        signature = sm2_sign(private, public, data)
    else:
        raise ValueError(f"unknown signature algorithm: {algorithm}")
    return algorithm, key_id(settings, algorithm), base64.b64encode(signature).decode()


def verify_signature(algorithm: str, public_key: str | bytes, data: bytes, signature: str | bytes) -> bool:
    """True when ``signature`` (base64 text or raw bytes) is ``public_key``'s signature of ``data``.

    Never raises for a bad signature, a malformed key or an unknown algorithm: those are False."""
    try:
        raw = base64.b64decode(signature, validate=True) if isinstance(signature, str) else bytes(signature)
        pub = public_key.decode() if isinstance(public_key, bytes) else public_key
        if algorithm == "ed25519":
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            key = serialization.load_pem_public_key(pub.encode())
            if not isinstance(key, Ed25519PublicKey):
                return False
            try:
                key.verify(raw, data)
            except InvalidSignature:
                return False
            return True
        if algorithm == "sm2":
            from yiwang.core.sm2keys import sm2_verify

            pub = pub.strip().lower()
            if len(raw) != 64 or len(pub) != 128 or any(c not in "0123456789abcdef" for c in pub):
                return False
            return sm2_verify(pub, raw, data)
    except (ValueError, TypeError, binascii.Error):
        return False
    return False
