"""Parallel first pass of verification over a SQLite file, for long chains.

Each entry can be checked on its own — its hash covers the previous hash it stores — and the
links between entries by comparing neighbours, so a chain splits into seq ranges checked in
separate processes (one per core), and the parent joins the ranges at their ends. This pass only
answers "clean or not": anything it doubts sends the caller to the exact sequential pass, which
names the first bad entry and the kind of tampering.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import NamedTuple

from yiwang.audit import chain
from yiwang.core.crypto import hasher

PARALLEL_MIN = 50_000
"""Chains shorter than this are checked sequentially (starting processes would cost more)."""
BATCH = 20_000
_RANGE = (
    f"SELECT seq, CAST(hash AS BLOB), CAST(prev_hash || json_array({', '.join(chain.FIELDS)}) AS BLOB) "
    "FROM audit_entries WHERE chain_id = ? AND seq BETWEEN ? AND ? ORDER BY seq"
)


class RangeResult(NamedTuple):
    clean: bool
    count: int
    first_prev: bytes
    last_hash: bytes


def scan_range(path: str, chain_id: int, lo: int, hi: int, algorithm: str) -> RangeResult:
    """Check entries ``lo``…``hi`` of one chain: contiguous, each hash right, each linked to the
    one before (the first one's link is returned for the caller to join)."""
    h = hasher(algorithm)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    first_prev, last, expected, count = b"", b"", lo, 0
    try:
        cur = conn.execute(_RANGE, (chain_id, lo, hi))
        while batch := cur.fetchmany(BATCH):
            for seq, hx, data in batch:
                if seq != expected or not data:
                    return RangeResult(False, count, first_prev, last)
                if count == 0:
                    first_prev = data[: len(hx)]
                elif not data.startswith(last):
                    return RangeResult(False, count, first_prev, last)
                if h(data).hexdigest().encode() != hx:
                    return RangeResult(False, count, first_prev, last)
                last = hx
                expected += 1
                count += 1
    except sqlite3.DatabaseError:
        return RangeResult(False, count, first_prev, last)
    finally:
        conn.close()
    return RangeResult(count == hi - lo + 1, count, first_prev, last)


def usable(path: str | None, entries: int) -> bool:
    """Worth it and safe: a file database, a long chain, several cores, and a process with no
    other threads (forking a threaded web server could copy a held lock into the children)."""
    return bool(path) and entries >= PARALLEL_MIN and (os.cpu_count() or 1) > 1 \
        and threading.active_count() == 1


def scan_chain(path: str, chain_id: int, last_seq: int, algorithm: str) -> bool:
    """True when entries 1…``last_seq`` of the chain are all present, right and linked."""
    workers = min(os.cpu_count() or 1, 8)
    step = -(-last_seq // workers)
    ranges = [(lo, min(lo + step - 1, last_seq)) for lo in range(1, last_seq + 1, step)]
    with ProcessPoolExecutor(len(ranges), mp_context=multiprocessing.get_context("fork")) as pool:
        results = list(pool.map(scan_range, *zip(*[(path, chain_id, lo, hi, algorithm) for lo, hi in ranges],
                                                 strict=True)))
    expected_prev = chain.GENESIS.encode()
    for r in results:
        if not r.clean or r.first_prev != expected_prev:
            return False
        expected_prev = r.last_hash
    return True
