"""Masking (脱敏, GB/T 37964 de-identification at display time): a small vocabulary of rules.

``mask(value, rule)`` with ``rule`` one of:

- ``last4``       keep the last four characters, star the rest, keep the length
                  (``310101199003071230`` → ``**************1230``); four or fewer characters are
                  all starred, so a short value is never shown whole.
- ``first_last``  keep the first and the last character (``张三明`` → ``张*明``, ``13812345678`` →
                  ``1*********8``); two characters keep the first (``张三`` → ``张*``); one is
                  starred (``*``).
- ``hash``        a stable 12-hex-digit pseudonym, to tell records apart without showing them.
                  Keyed when settings are given: ``HMAC-SHA256(blind_index_key, "mask" ‖ 0x00 ‖
                  value)`` (HMAC-SM3 under ``hash_algorithm = "sm3"``), which an outsider cannot
                  reverse by hashing guesses; without settings it is the plain SHA-256 prefix,
                  which anyone can recompute from a guess — so pass settings for anything personal
                  (ID numbers and phones are easy to enumerate).
- ``redact``      always ``***``: reveals nothing, not even the length or whether it is empty.
- ``year_only``   a date (``date``/``datetime``, ``1985-03-07``, ``19850307``, ``1985年3月``) or
                  an ID number → the four-digit year (``1985``); anything else → ``***``.
- ``none``        the value unchanged.

``None`` stays ``None`` and the empty string stays empty for every rule except ``redact``.
Named presets (:data:`PRESETS`) say which rule each registry field uses in the masked view.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date, datetime
from typing import Any, Literal

from yiwang.core.settings import Settings

Rule = Literal["last4", "first_last", "hash", "redact", "year_only", "none"]
RULES: tuple[str, ...] = ("last4", "first_last", "hash", "redact", "year_only", "none")
STAR = "*"
REDACTED = "***"
HASH_CHARS = 12

_YEAR = re.compile(r"^(\d{4})(?:[-/.年].*|\d{4})?$")

#: Which rule each registry field uses in the masked (default) view.
PRESETS: dict[str, Rule] = {
    "person.name": "first_last",
    "person.id_number": "last4",
    "person.phone": "last4",
    "person.address": "redact",
    "person.birth_date": "year_only",
    "entity.legal_representative": "first_last",
    "entity.uscc": "none",
    "entity.registered_address": "none",
}


def _last4(s: str) -> str:
    if len(s) <= 4:
        return STAR * len(s)
    return STAR * (len(s) - 4) + s[-4:]


def _first_last(s: str) -> str:
    n = len(s)
    if n <= 1:
        return STAR * n
    if n == 2:
        return s[0] + STAR
    return s[0] + STAR * (n - 2) + s[-1]


def _hash(s: str, settings: Settings | None) -> str:
    data = s.encode("utf-8")
    if settings is None:
        return hashlib.sha256(data).hexdigest()[:HASH_CHARS]
    from yiwang.core.keys import key_ring

    key = key_ring(settings).blind_index_key()
    message = b"mask\x00" + data
    if settings.hash_algorithm == "sm3":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives import hmac as crypto_hmac

        mac = crypto_hmac.HMAC(key, hashes.SM3())
        mac.update(message)
        return mac.finalize().hex()[:HASH_CHARS]
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:HASH_CHARS]


def _year_only(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return f"{value.year:04d}"
    s = str(value).strip()
    if len(s) == 18 and s[:17].isdigit():  # a resident ID number carries the birth date
        return s[6:10]
    m = _YEAR.match(s)
    return m.group(1) if m else REDACTED


def mask(value: Any, rule: str, *, settings: Settings | None = None) -> str | None:
    """``value`` shown under ``rule`` (see the module docstring); unknown rules raise ValueError."""
    if rule not in RULES:
        raise ValueError(f"unknown masking rule: {rule}")
    if rule == "redact":
        return REDACTED
    if value is None:
        return None
    if rule == "year_only":
        return "" if value == "" else _year_only(value)
    s = str(value)
    if s == "":
        return ""
    if rule == "last4":
        return _last4(s)
    if rule == "first_last":
        return _first_last(s)
    if rule == "hash":
        return _hash(s, settings)
    return s


def mask_field(field: str, value: Any, *, settings: Settings | None = None) -> str | None:
    """``value`` masked by the preset of ``field`` (e.g. ``"person.id_number"``)."""
    return mask(value, PRESETS[field], settings=settings)


def mask_identifier(kind: str, s: str) -> str:
    """One identifier masked by its kind: an e-mail keeps its first letter and domain; others their
    first three and last four characters (``110***********1234``); seven or fewer are all starred."""
    if kind == "email":
        local, _, domain = s.rpartition("@")
        return local[:1] + "***@" + domain
    if len(s) <= 7:
        return STAR * len(s)
    return s[:3] + STAR * (len(s) - 7) + s[-4:]


def mask_identifiers(s: str, *, card_column: bool = False, whole: bool = True) -> str:
    """``s`` with every identifier found in it (ID and USCC numbers, mobiles, bank cards, e-mail
    addresses, each confirmed by its validator) masked; with none found, masked whole (first and
    last character kept) when ``whole``, else unchanged."""
    from yiwang.core.validators import find_identifiers

    found = find_identifiers(s, card_column=card_column)
    if not found:
        return (mask(s, "first_last") or "") if whole else s
    out, last = [], 0
    for kind, start, end in found:
        out.append(s[last:start])
        out.append(mask_identifier(kind, s[start:end]))
        last = end
    out.append(s[last:])
    return "".join(out)
