"""The key ring: every secret the platform uses, kept in files outside the database.

Layout of ``settings.resolved_key_dir`` (created 0700 on first use, files 0600):

- ``field-keys.json``  ``{"active": kid, "keys": {kid: base64(32 bytes)}}`` — data keys for
  field-level encryption (AES-256-GCM, or SM4-GCM using the first 16 bytes). Rotation adds a key
  and makes it active; old keys stay until every row is re-encrypted.
- ``blind-index.key``  32 random bytes — HMAC key for blind indexes (exact look-ups on
  encrypted fields). Not rotated in place: a new one means re-indexing.
- ``signing-ed25519.pem`` / ``signing-sm2.json`` — the platform's signing key (audit
  checkpoints, certificates, receipts); the public half is published.
- ``secret.key``  signs cookies and CSRF tokens when ``YIWANG_SECRET_KEY`` is not set.

Production mounts this folder from a different volume (or a KMS-backed mount) from the database:
a stolen database dump alone decrypts nothing.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from yiwang.core.settings import Settings


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@dataclass(frozen=True)
class FieldKeys:
    active: str
    keys: dict[str, bytes]


class KeyRing:
    """Reads (and on first use creates) the keys in one key directory."""

    def __init__(self, key_dir: Path) -> None:
        self.dir = Path(key_dir)

    # -- field encryption -------------------------------------------------------------------
    @property
    def _field_path(self) -> Path:
        return self.dir / "field-keys.json"

    def field_keys(self) -> FieldKeys:
        if not self._field_path.exists():
            self.rotate_field_key()
        raw = json.loads(self._field_path.read_text())
        return FieldKeys(raw["active"], {k: base64.b64decode(v) for k, v in raw["keys"].items()})

    def rotate_field_key(self) -> str:
        """Add a new data key and make it the active one; returns its key id."""
        keys: dict[str, str] = {}
        if self._field_path.exists():
            keys = json.loads(self._field_path.read_text())["keys"]
        kid = f"k{len(keys) + 1}"
        while kid in keys:
            kid = f"k{secrets.token_hex(2)}"
        keys[kid] = base64.b64encode(secrets.token_bytes(32)).decode()
        _write_private(self._field_path, json.dumps({"active": kid, "keys": keys}, indent=1).encode())
        return kid

    # -- blind index ------------------------------------------------------------------------
    def blind_index_key(self) -> bytes:
        return self._random_file("blind-index.key", 32)

    # -- cookies ----------------------------------------------------------------------------
    def secret_key(self) -> bytes:
        return self._random_file("secret.key", 32)

    # -- signing ----------------------------------------------------------------------------
    def ed25519_private_pem(self) -> bytes:
        path = self.dir / "signing-ed25519.pem"
        if not path.exists():
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            _write_private(path, pem)
        return path.read_bytes()

    def sm2_keypair(self) -> tuple[str, str]:
        """(private hex, public hex) of the SM2 signing key."""
        path = self.dir / "signing-sm2.json"
        if not path.exists():
            from yiwang.core.sm2keys import sm2_new_private, sm2_public_from_private

            private = sm2_new_private()
            _write_private(path, json.dumps({"private": private, "public": sm2_public_from_private(private)}).encode())
        raw = json.loads(path.read_text())
        return raw["private"], raw["public"]

    def _random_file(self, name: str, size: int) -> bytes:
        path = self.dir / name
        if not path.exists():
            _write_private(path, secrets.token_bytes(size))
        return path.read_bytes()


@lru_cache(maxsize=16)
def _ring_for(path: str) -> KeyRing:
    return KeyRing(Path(path))


def key_ring(settings: Settings) -> KeyRing:
    """The key ring of these settings (one object per key directory)."""
    return _ring_for(str(settings.resolved_key_dir.resolve()))
