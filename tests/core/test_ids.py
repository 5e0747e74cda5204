"""Identifiers: the ULID layout in Crockford base32, sorting by creation time."""

from __future__ import annotations

import random
import time
from unittest import mock

from yiwang.core import ids

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _reference(value: int) -> str:
    """Crockford base32 of a 128-bit value, 26 characters, five bits at a time from the right."""
    return "".join(CROCKFORD[(value >> (5 * k)) & 31] for k in range(25, -1, -1))


def test_an_id_is_its_millisecond_and_random_bits_in_crockford_base32():
    rng = random.Random(7)
    for _ in range(2000):
        millis, noise = rng.getrandbits(48), rng.randbytes(10)
        with mock.patch.object(ids.time, "time", return_value=millis / 1000 + 0.0004), \
                mock.patch.object(ids.os, "urandom", return_value=noise):
            made = ids.new_id()
        assert made == _reference((millis << 80) | int.from_bytes(noise, "big"))


def test_ids_sort_by_creation_time_and_do_not_repeat():
    made = []
    for _ in range(3):
        made += [ids.new_id() for _ in range(500)]
        time.sleep(0.002)
    assert len(set(made)) == len(made)
    assert all(len(i) == 26 and set(i) <= set(CROCKFORD) for i in made)
    assert made[0] < made[500] < made[1000]
