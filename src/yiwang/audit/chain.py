"""The hash chain's definition: which bytes an entry's hash covers, and how they are encoded.

An entry's ``canonical`` text is the compact JSON array (``json.dumps(..., ensure_ascii=False,
separators=(",", ":"))``) of, in this order::

    chain_id, seq, at, actor, actor_user_id, action, target_type, target_id, area_code,
    purpose, outcome, request_id, source_ip, detail

with ``at`` written ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC and absent values as ``null``. Its hash
is ``H(prev_hash ‖ canonical)`` over the UTF-8 bytes, as lowercase hex; the first entry of a chain
(seq 1) follows ``GENESIS`` (64 zeros). ``H`` is SHA-256 or SM3, fixed per chain when it starts.

JSON is unambiguous (no value can imitate a separator), is produced in C by Python and, for the
verifier's fast path, by SQLite's ``json_array`` over the stored columns, so checking a chain costs
little more than hashing it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64

#: The entry columns the hash covers, in canonical order.
FIELDS = (
    "chain_id", "seq", "at", "actor", "actor_user_id", "action", "target_type", "target_id",
    "area_code", "purpose", "outcome", "request_id", "source_ip", "detail",
)

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
_detail_encode = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str
).encode


def at_text(at: datetime | str) -> str:
    """The canonical text of an entry's time (also SQLite's storage format of the column)."""
    if isinstance(at, str):
        return at
    if at.tzinfo is not None and at.utcoffset():
        at = at.astimezone(UTC)
    return at.replace(tzinfo=None).isoformat(" ", "microseconds")


def parse_at(text: str) -> datetime:
    """The UTC time an ``at_text`` names."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def canonical(values: list[Any] | tuple[Any, ...]) -> str:
    """The canonical JSON text of an entry's field values given in ``FIELDS`` order (``at`` as text)."""
    return _encode(values if isinstance(values, list) else list(values))


def detail_text(detail: dict[str, Any] | None) -> str | None:
    """The canonical JSON of an entry's ``detail`` (sorted keys), or None."""
    if detail is None:
        return None
    return _detail_encode(detail)


def with_seq(canon: str, seq: int) -> str:
    """The same canonical text as if the entry sat at ``seq`` (used to recognise moved entries)."""
    first = canon.index(",")
    second = canon.index(",", first + 1)
    return f"{canon[: first + 1]}{seq}{canon[second:]}"
