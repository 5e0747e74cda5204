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


# -- bank cards and e-mail -------------------------------------------------------------------
_CARD_SEPARATORS = re.compile(r"[\s\-]")
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
)


_LUHN_DOUBLE = str.maketrans("0123456789", "0246813579")


def luhn_ok(digits: str) -> bool:
    """True when the ASCII digit string passes the Luhn (ISO/IEC 7812) check."""
    rev = digits[::-1]
    return (sum(map(int, rev[0::2])) + sum(map(int, rev[1::2].translate(_LUHN_DOUBLE)))) % 10 == 0


def is_valid_bank_card(value: str) -> bool:
    """13–19 digits (spaces and hyphens between groups allowed) that pass the Luhn check.

    Any number of that length passes Luhn one time in ten, so a hit on a code that is not a card is
    possible; the gate narrows it further (see :func:`find_identifiers`)."""
    s = _CARD_SEPARATORS.sub("", value or "")
    return 13 <= len(s) <= 19 and s.isascii() and s.isdigit() and luhn_ok(s)


def is_valid_email(value: str) -> bool:
    """An address ``local@domain.tld``: dot-atom local part (≤ 64), a dotted domain of letters,
    digits and inner hyphens, a letters-only top-level domain; 254 characters at most."""
    s = (value or "").strip()
    if len(s) > 254 or not s.isascii():
        return False
    if not _EMAIL.fullmatch(s):
        return False
    return len(s.rsplit("@", 1)[0]) <= 64


# -- finding identifiers inside text ---------------------------------------------------------
IDENTIFIER_KINDS = ("resident_id", "uscc", "mobile", "bank_card", "email")

#: One combined pattern for candidates of every kind; each candidate is confirmed by a validator
#: (:func:`classify_identifier`). The groups start only where a run of their characters starts
#: (the look-behinds), so scanning is linear in the text's length even on long runs.
IDENTIFIER_PATTERN = re.compile(
    # every candidate starts with one of these: the look-ahead turns away most positions (Chinese
    # text, spaces) in one test instead of five
    r"(?=[0-9A-Za-z+._%-])(?:"
    # a standalone run of 11–19 digits, perhaps ending in X (ID numbers): mobile (11, or 86 + 11),
    # resident ID (18), an all-digit USCC (18), a bank card (13–19)
    r"(?P<num>(?<![0-9])\d{11,19}(?:[Xx](?![0-9A-Za-z]))?(?![0-9]))"
    # a mobile written in groups: 138 1234 5678, 138-1234-5678, +86 138-1234-5678
    r"|(?P<mob>(?<![0-9])(?:\+?86[ -]?)?1[3-9]\d[ -]\d{4}[ -]\d{4}(?![0-9]))"
    # a card written in groups of four: 6222 0212 3456 7890 123
    r"|(?P<card>(?<![0-9])\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,4})?(?![0-9]))"
    # a USCC with letters (an all-digit one is a ``num``)
    r"|(?P<uscc>(?<![0-9A-Za-z])(?i:[0-9A-HJ-NP-RTUWXY]{2}\d{6}[0-9A-HJ-NP-RTUWXY]{10})(?![0-9A-Za-z]))"
    r"|(?P<email>(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+))"
)

#: Issuer prefixes (IIN) and lengths of the cards in use in China: UnionPay 62 (16–19), Visa 4
#: (13, 16, 19), Mastercard 51–55 and 2221–2720 (16), American Express 34/37 (15), JCB 3528–3589
#: (16–19). Outside a card column a number must carry one of them to count as a card.
_CARD_IIN = re.compile(
    r"62\d{14,17}|4(?:\d{12}|\d{15}|\d{18})|(?:5[1-5]\d{2}|222[1-9]|22[3-9]\d|2[3-6]\d{2}|27[01]\d|2720)\d{12}"
    r"|3[47]\d{13}|35(?:2[89]|[3-8]\d)\d{12,15}"
)


def card_issuer_ok(digits: str) -> bool:
    """True when a digit string has the prefix and length of a card issuer in use in China."""
    return _CARD_IIN.fullmatch(digits) is not None


def classify_identifier(group: str, text: str, *, card_column: bool = False) -> str | None:
    """The kind of a candidate found by :data:`IDENTIFIER_PATTERN` in group ``group``, confirmed by
    its validator, or None when it is not a valid identifier. ``card_column`` says the text comes
    from a column whose name says it holds card or account numbers: there any Luhn-valid
    13–19-digit number is a card; elsewhere the number must also carry a card issuer's prefix
    (:func:`card_issuer_ok`), which keeps most codes (bus stops, orders, area-based codes) out."""
    if group == "num":
        n = len(text)
        if n == 18:
            if is_valid_resident_id(text):
                return "resident_id"
            if text[-1] in "Xx":
                return None
            if is_valid_uscc(text):
                return "uscc"
        elif text[-1] in "Xx":
            return None
        if n == 11 or (n == 13 and text.startswith("86")):
            return "mobile" if _MOBILE.fullmatch(text[-11:]) else None
        if 13 <= n <= 19 and (card_column or card_issuer_ok(text)) and luhn_ok(text):
            return "bank_card"
        return None
    if group == "mob":
        return "mobile" if is_valid_mobile(text) else None
    if group == "card":
        digits = _CARD_SEPARATORS.sub("", text)
        if 13 <= len(digits) <= 19 and (card_column or card_issuer_ok(digits)) and luhn_ok(digits):
            return "bank_card"
        return None
    if group == "uscc":
        return "uscc" if is_valid_uscc(text) else None
    if group == "email":
        return "email" if is_valid_email(text) else None
    return None


def find_identifiers(text: str, *, card_column: bool = False) -> list[tuple[str, int, int]]:
    """Every valid identifier inside ``text`` as ``(kind, start, end)``, kind one of
    :data:`IDENTIFIER_KINDS`: candidates from one compiled pattern, each confirmed by its validator
    (ID check digit and birth date, USCC check character, mobile prefix, Luhn, e-mail syntax).
    ``card_column``: see :func:`classify_identifier`."""
    out: list[tuple[str, int, int]] = []
    for m in IDENTIFIER_PATTERN.finditer(text):
        group = m.lastgroup
        assert group is not None
        kind = classify_identifier(group, m.group(), card_column=card_column)
        if kind is not None:
            out.append((kind, m.start(), m.end()))
    return out
