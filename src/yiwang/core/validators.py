"""Validators for Chinese identifiers: resident ID numbers, unified social credit codes, mobiles.

- 居民身份证号码 (GB 11643-1999): 17 digits (6 address code, 8 birth date, 3 sequence, the last of
  which is odd for men) and a check character from ISO 7064 MOD 11-2.
- 统一社会信用代码 (GB 32100-2015): 18 characters over 31 symbols (no I, O, Z, S, V): registration
  authority, organisation type, 6-digit area code, 9-character organisation code, check character.
- Mainland mobile numbers: 11 digits starting 13–19, optionally written with +86/86 and spaces or
  hyphens.

Each ``validate_*`` returns the normalised value or raises a :class:`ValidationFailed` subclass
with its own stable code.
"""

from __future__ import annotations

import re
from datetime import date

from yiwang.core.errors import ValidationFailed

RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK = "10X98765432"

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_ALPHABET)}

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_MOBILE_SEPARATORS = re.compile(r"[\s\-]")


class InvalidResidentId(ValidationFailed):
    code = "invalid_resident_id"
    message = "This is not a valid resident ID number."


class InvalidUscc(ValidationFailed):
    code = "invalid_uscc"
    message = "This is not a valid unified social credit code."


class InvalidMobile(ValidationFailed):
    code = "invalid_mobile"
    message = "This is not a valid mainland mobile number."


# -- resident ID numbers --------------------------------------------------------------------
def resident_id_check_char(first17: str) -> str:
    """The GB 11643 check character (``0``–``9`` or ``X``) of the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise InvalidResidentId()
    total = sum(int(d) * w for d, w in zip(first17, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK[total % 11]


def _birth_date(first17: str) -> date | None:
    try:
        return date(int(first17[6:10]), int(first17[10:12]), int(first17[12:14]))
    except ValueError:
        return None


def validate_resident_id(value: str, *, today: date | None = None) -> str:
    """The ID number normalised (trimmed, check ``X`` upper-case); refuses a wrong length, a
    non-digit, an impossible or future birth date, or a wrong check character."""
    s = (value or "").strip().upper()
    if len(s) != 18 or not s.isascii() or not s[:17].isdigit() or not (s[17].isdigit() or s[17] == "X"):
        raise InvalidResidentId()
    born = _birth_date(s)
    if born is None or born > (today or date.today()) or born.year < 1850:
        raise InvalidResidentId()
    if resident_id_check_char(s[:17]) != s[17]:
        raise InvalidResidentId()
    return s


def is_valid_resident_id(value: str) -> bool:
    try:
        validate_resident_id(value)
    except InvalidResidentId:
        return False
    return True


def birth_date_from_id(value: str) -> date:
    """The date of birth encoded in a valid ID number."""
    s = validate_resident_id(value)
    born = _birth_date(s)
    assert born is not None  # validate_resident_id checked it
    return born


def gender_from_id(value: str) -> str:
    """``"M"`` or ``"F"`` from the sequence number's parity (odd is male)."""
    s = validate_resident_id(value)
    return "M" if int(s[16]) % 2 else "F"


# -- unified social credit codes -------------------------------------------------------------
def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character of the first 17 characters."""
    s = first17.upper()
    if len(s) != 17 or any(ch not in _USCC_VALUE for ch in s):
        raise InvalidUscc()
    total = sum(_USCC_VALUE[ch] * w for ch, w in zip(s, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str) -> str:
    """The code normalised (trimmed, upper-case); refuses a wrong length, a symbol outside the
    alphabet (I, O, Z, S, V …), a non-digit area code or a wrong check character."""
    s = (value or "").strip().upper()
    if len(s) != 18 or any(ch not in _USCC_VALUE for ch in s) or not s[2:8].isdigit():
        raise InvalidUscc()
    if uscc_check_char(s[:17]) != s[17]:
        raise InvalidUscc()
    return s


def is_valid_uscc(value: str) -> bool:
    try:
        validate_uscc(value)
    except InvalidUscc:
        return False
    return True


# -- mobiles ---------------------------------------------------------------------------------
def validate_mobile(value: str) -> str:
    """The 11 digits of a mainland mobile number written with or without +86/86, spaces, hyphens."""
    s = _MOBILE_SEPARATORS.sub("", value or "")
    if s.startswith("+86"):
        s = s[3:]
    elif s.startswith("0086"):
        s = s[4:]
    elif s.startswith("86") and len(s) == 13:
        s = s[2:]
    if not s.isascii() or not _MOBILE.fullmatch(s):
        raise InvalidMobile()
    return s


def is_valid_mobile(value: str) -> bool:
    try:
        validate_mobile(value)
    except InvalidMobile:
        return False
    return True
