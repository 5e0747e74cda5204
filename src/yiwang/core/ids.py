"""Time-ordered identifiers (ULID layout: 48-bit milliseconds, 80 random bits, Crockford base32)."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)
"""The two characters of every 10-bit value: an id is 13 look-ups (every write makes several)."""


def new_id() -> str:
    """A 26-character id that sorts by creation time."""
    v = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    p = _PAIRS
    return (p[v >> 120] + p[(v >> 110) & 1023] + p[(v >> 100) & 1023] + p[(v >> 90) & 1023] + p[(v >> 80) & 1023]
            + p[(v >> 70) & 1023] + p[(v >> 60) & 1023] + p[(v >> 50) & 1023] + p[(v >> 40) & 1023]
            + p[(v >> 30) & 1023] + p[(v >> 20) & 1023] + p[(v >> 10) & 1023] + p[v & 1023])
