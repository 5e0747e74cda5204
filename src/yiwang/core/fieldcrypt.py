"""Field-level encryption (可用不可见) and blind indexes for exact look-ups on encrypted fields.

A token is ``v1.<alg>.<kid>.<base64url(nonce ‖ ciphertext ‖ tag)>``:

- ``alg`` is ``aes-gcm`` (AES-256-GCM, the default) or ``sm4-gcm`` (SM4 in GCM mode, the national
  block cipher, using the first 16 bytes of the 32-byte data key), chosen for new tokens by
  ``settings.cipher_algorithm``; decryption follows the token's own ``alg``, so switching the
  setting leaves old rows readable until they are re-encrypted.
- ``kid`` names the data key in the key ring (``core.keys``); decryption works with any key still
  in the ring, encryption always uses the active one.
- The nonce is 12 random bytes; the tag is GCM's 16 bytes.

Every token is bound to associated data (AAD), by convention ``f"{table}.{column}:{row_id}"``: a
ciphertext copied to another row or column fails to decrypt, so a database writer cannot move a
person's ID number onto someone else's record without the key.

Rotation: ``key_ring(settings).rotate_field_key()`` makes a new active key; rows whose token
``needs_rotation`` are then re-encrypted by their domain's re-encrypt command. The cipher looks at
the key file at most once a second (a ``stat`` per call would cost more than the encryption);
``active_kid`` and ``refresh()`` look at once.

A blind index is ``HMAC(blind_index_key, field ‖ 0x00 ‖ value)`` (HMAC-SHA256, or HMAC-SM3 when
``settings.hash_algorithm == "sm3"``), hex, truncated to 32 characters (128 bits): equal values give
equal indexes within one field and nothing links them across fields. Normalising the value (e.g.
upper-casing an ID number's check character) is the caller's job; this module only strips spaces.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from yiwang.core.errors import AppError
from yiwang.core.keys import FieldKeys, key_ring
from yiwang.core.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

VERSION = "v1"
ALGORITHMS = ("aes-gcm", "sm4-gcm")
NONCE_BYTES = 12
TAG_BYTES = 16
BLIND_INDEX_CHARS = 32
RECHECK_SECONDS = 1.0
"""How stale the cipher's view of the key file may get: a rotation made by another process is
used for new tokens within this time (tokens made meanwhile under the old key stay readable and are
picked up by the re-encrypt command)."""
_clock = time.monotonic


class DecryptionFailed(AppError):
    """A stored token could not be decrypted: wrong row or column (AAD), tampered, or its key is
    no longer in the key ring. Never shown with the token itself."""

    code = "decryption_failed"
    status = 500
    message = "Stored data could not be decrypted."


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_token(token: str) -> tuple[str, str, bytes]:
    """``(alg, kid, nonce‖ciphertext‖tag)`` of a token; raises :class:`DecryptionFailed` if malformed."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 4 or parts[0] != VERSION or parts[1] not in ALGORITHMS or not parts[2]:
        raise DecryptionFailed()
    try:
        blob = _b64d(parts[3])
    except (ValueError, TypeError) as exc:
        raise DecryptionFailed() from exc
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionFailed()
    return parts[1], parts[2], blob


def _sm4_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    enc = Cipher(algorithms.SM4(key[:16]), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    body = enc.update(plaintext) + enc.finalize()
    return body + enc.tag


def _sm4_decrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    body, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
    dec = Cipher(algorithms.SM4(key[:16]), modes.GCM(nonce, tag)).decryptor()
    dec.authenticate_additional_data(aad)
    return dec.update(body) + dec.finalize()


class FieldCipher:
    """Encrypts and decrypts field values with the key ring of one key directory."""

    def __init__(self, settings: Settings) -> None:
        self._ring = key_ring(settings)
        self.algorithm = settings.cipher_algorithm
        self.hash_algorithm = settings.hash_algorithm
        self._lock = threading.Lock()
        self._keys: FieldKeys | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._checked_at = 0.0
        self._path = str(self._ring.dir / "field-keys.json")
        self._aes: dict[str, AESGCM] = {}
        self._bi_key: bytes | None = None

    @classmethod
    def for_settings(cls, settings: Settings) -> FieldCipher:
        """The cipher of these settings' key directory and algorithms (one object per combination)."""
        return _cipher_for(settings)

    @classmethod
    def for_session(cls, session: Session) -> FieldCipher:
        """The cipher of the settings the session's database runs under (``core.jobs.settings_for``)."""
        from yiwang.core.jobs import settings_for

        return _cipher_for(settings_for(session))

    # -- keys -------------------------------------------------------------------------------
    def _current(self, *, force: bool = False) -> FieldKeys:
        """The ring's field keys. The key file is looked at again (one ``stat``) at most every
        :data:`RECHECK_SECONDS`, or at once when ``force``; it is re-read when it changed."""
        keys = self._keys
        now = _clock()
        if keys is not None and not force and now - self._checked_at < RECHECK_SECONDS:
            return keys
        try:
            st = os.stat(self._path)
            stamp: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if keys is not None and stamp is not None and stamp == self._stamp:
            self._checked_at = now
            return keys
        with self._lock:
            keys = self._ring.field_keys()  # creates the first key when there is none
            st = os.stat(self._path)
            self._keys, self._stamp, self._checked_at = keys, (st.st_ino, st.st_mtime_ns, st.st_size), now
            self._aes = {}
            return keys

    def refresh(self) -> FieldKeys:
        """Look at the key file now (after a rotation in this process, for instance)."""
        return self._current(force=True)

    def _key(self, kid: str) -> bytes:
        keys = self._current()
        key = keys.keys.get(kid)
        if key is None:
            key = self._current(force=True).keys.get(kid)
        if key is None:
            raise DecryptionFailed()
        return key

    @property
    def active_kid(self) -> str:
        """The key new tokens are encrypted under, as the key file says right now."""
        return self._current(force=True).active

    # -- encryption -------------------------------------------------------------------------
    def encrypt(self, plaintext: str, aad: str) -> str:
        """Encrypt ``plaintext`` under the active key, bound to ``aad`` (``table.column:row_id``)."""
        keys = self._current()
        kid = keys.active
        key = keys.keys[kid]
        nonce = os.urandom(NONCE_BYTES)
        data = plaintext.encode("utf-8")
        ad = aad.encode("utf-8")
        if self.algorithm == "sm4-gcm":
            body = _sm4_encrypt(key, nonce, data, ad)
        else:
            aes = self._aes.get(kid)
            if aes is None:
                aes = self._aes[kid] = AESGCM(key)
            body = aes.encrypt(nonce, data, ad)
        return f"{VERSION}.{self.algorithm}.{kid}.{_b64e(nonce + body)}"

    def decrypt(self, token: str, aad: str) -> str:
        """The plaintext of ``token``; raises :class:`DecryptionFailed` on a wrong AAD, tampering or
        an unknown key."""
        alg, kid, blob = parse_token(token)
        key = self._key(kid)
        nonce, body = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
        ad = aad.encode("utf-8")
        try:
            if alg == "sm4-gcm":
                data = _sm4_decrypt(key, nonce, body, ad)
            else:
                data = AESGCM(key).decrypt(nonce, body, ad)
            return data.decode("utf-8")
        except (InvalidTag, ValueError, UnicodeDecodeError) as exc:
            raise DecryptionFailed() from exc

    def needs_rotation(self, token: str) -> bool:
        """True when ``token`` is not under the active key and configured algorithm (re-encrypt it)."""
        alg, kid, _ = parse_token(token)
        return kid != self._current().active or alg != self.algorithm

    # -- blind index ------------------------------------------------------------------------
    def blind_index(self, value: str, field: str) -> str:
        """A keyed, field-separated digest of ``value`` for exact look-ups (32 hex characters)."""
        if self._bi_key is None:
            self._bi_key = self._ring.blind_index_key()
        message = field.encode("utf-8") + b"\x00" + value.strip().encode("utf-8")
        if self.hash_algorithm == "sm3":
            mac = crypto_hmac.HMAC(self._bi_key, hashes.SM3())
            mac.update(message)
            return mac.finalize().hex()[:BLIND_INDEX_CHARS]
        return hmac.new(self._bi_key, message, hashlib.sha256).hexdigest()[:BLIND_INDEX_CHARS]


_CIPHERS: dict[tuple[str, str, str], FieldCipher] = {}
_CIPHERS_LOCK = threading.Lock()


_BY_SETTINGS: dict[int, tuple[Settings, FieldCipher]] = {}


def _cipher_for(settings: Settings) -> FieldCipher:
    # The same settings object asks again and again (every request's session carries one): found
    # by identity without resolving its key directory's path each time.
    found = _BY_SETTINGS.get(id(settings))
    if found is not None and found[0] is settings:
        return found[1]
    cipher = _cipher_by_key(settings)
    if len(_BY_SETTINGS) > 64:
        _BY_SETTINGS.clear()
    _BY_SETTINGS[id(settings)] = (settings, cipher)
    return cipher


def _cipher_by_key(settings: Settings) -> FieldCipher:
    # Settings are not hashable: cache on the key directory and the two algorithm choices.
    cache_key = (str(settings.resolved_key_dir.resolve()), settings.cipher_algorithm, settings.hash_algorithm)
    cipher = _CIPHERS.get(cache_key)
    if cipher is None:
        with _CIPHERS_LOCK:
            cipher = _CIPHERS.get(cache_key)
            if cipher is None:
                cipher = _CIPHERS[cache_key] = FieldCipher(settings)
    return cipher
