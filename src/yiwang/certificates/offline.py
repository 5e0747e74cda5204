"""Offline verification of a certificate file with the platform's published key.

Self-contained on purpose: only the standard library, ``cryptography`` (Ed25519) and ``gmssl``
(SM2), no database and no yiwang settings, so this one file can be handed to anyone who wants to
check a certificate without asking the platform. It says whether the signature is the published
key's and whether the dates hold; whether the certificate has since been revoked only the platform
knows (its public verification page and API).

The format (``yiwang-certificate/1``): an envelope ``{"document": {...}, "signature":
{"algorithm": "ed25519" | "sm2", "key_id": "...", "value": "<base64>"}}``. The signature covers
:func:`canonical_bytes` of the document: UTF-8 JSON with sorted keys and no insignificant
whitespace, so re-indenting the file does not matter but changing any value does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

FORMAT = "yiwang-certificate/1"
ALGORITHMS = ("ed25519", "sm2")


def canonical_bytes(document: Any) -> bytes:
    """The bytes that are signed: UTF-8 JSON, keys sorted, no whitespace between tokens."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


class MalformedEnvelope(ValueError):
    """The input is not a certificate envelope of a known format."""


def parse_envelope(data: str | bytes | dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``(document, signature)`` of an envelope; raises :class:`MalformedEnvelope` with a reason."""
    if isinstance(data, dict):
        envelope: Any = data
    else:
        try:
            envelope = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedEnvelope("not JSON") from exc
    if not isinstance(envelope, dict):
        raise MalformedEnvelope("not a JSON object")
    document, signature = envelope.get("document"), envelope.get("signature")
    if not isinstance(document, dict) or not isinstance(signature, dict):
        raise MalformedEnvelope("document or signature missing")
    if document.get("format") != FORMAT:
        raise MalformedEnvelope("unknown format")
    if not isinstance(document.get("id"), str) or not document["id"]:
        raise MalformedEnvelope("no certificate id")
    for key in ("algorithm", "key_id", "value"):
        if not isinstance(signature.get(key), str):
            raise MalformedEnvelope(f"signature {key} missing")
    if signature["algorithm"] not in ALGORITHMS:
        raise MalformedEnvelope("unknown signature algorithm")
    try:
        canonical_bytes(document)
    except ValueError as exc:
        raise MalformedEnvelope("document not representable") from exc
    return document, signature


def key_id(algorithm: str, public_key: str) -> str:
    """The fingerprint the platform writes as ``key_id`` (``algorithm:16 hex`` of SHA-256)."""
    return f"{algorithm}:{hashlib.sha256(public_key.strip().encode()).hexdigest()[:16]}"


def signature_valid(algorithm: str, public_key: str, data: bytes, signature_b64: str) -> bool:
    """True when ``signature_b64`` is ``public_key``'s signature of ``data``; never raises."""
    try:
        raw = base64.b64decode(signature_b64, validate=True)
        if algorithm == "ed25519":
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

            key = serialization.load_pem_public_key(public_key.encode())
            if not isinstance(key, Ed25519PublicKey):
                return False
            try:
                key.verify(raw, data)
            except InvalidSignature:
                return False
            return True
        if algorithm == "sm2":
            from gmssl import sm2

            pub = public_key.strip().lower()
            if len(raw) != 64 or len(pub) != 128 or any(c not in "0123456789abcdef" for c in pub):
                return False
            verifier = sm2.CryptSM2(private_key="", public_key="")
            verifier.public_key = pub  # the constructor's lstrip("04") would eat a key's own leading digits
            return bool(verifier.verify_with_sm3(raw.hex(), data))
    except (ValueError, TypeError, binascii.Error):
        return False
    return False


def algorithm_of_key(public_key: str) -> str:
    """``ed25519`` for a PEM key, ``sm2`` for 128 hex digits."""
    return "ed25519" if "BEGIN PUBLIC KEY" in public_key else "sm2"


@dataclass(frozen=True, slots=True)
class OfflineResult:
    valid: bool
    reason: str
    """``valid``, ``malformed``, ``wrong_key``, ``bad_signature``, ``expired`` or ``not_yet_valid``."""
    detail: str = ""
    document: dict[str, Any] | None = None


def verify(envelope: str | bytes, public_key: str, *, today: date | None = None) -> OfflineResult:
    """Check a certificate file against the published key and (when ``today`` is given, else the
    local date) its validity dates. Revocation cannot be checked offline."""
    try:
        document, signature = parse_envelope(envelope)
    except MalformedEnvelope as exc:
        return OfflineResult(False, "malformed", str(exc))
    algorithm = signature["algorithm"]
    if algorithm != algorithm_of_key(public_key) or signature["key_id"] != key_id(algorithm, public_key):
        return OfflineResult(False, "wrong_key", f"signed with {signature['key_id']}")
    if not signature_valid(algorithm, public_key, canonical_bytes(document), signature["value"]):
        return OfflineResult(False, "bad_signature", "the signature does not match the document")
    today = today or date.today()
    try:
        valid_from = date.fromisoformat(document["valid_from"])
        until = document.get("valid_until")
        valid_until = date.fromisoformat(until) if until else None
    except (KeyError, TypeError, ValueError):
        return OfflineResult(False, "malformed", "validity dates unreadable", document)
    if today < valid_from:
        return OfflineResult(False, "not_yet_valid", f"valid from {valid_from.isoformat()}", document)
    if valid_until is not None and today > valid_until:
        return OfflineResult(False, "expired", f"valid until {valid_until.isoformat()}", document)
    return OfflineResult(True, "valid", "signature and dates hold; check revocation online", document)
