"""Verification of the hash chains against signed checkpoints: what was tampered with, and where.

For each chain, entries are streamed in seq order with plain SQL and every link is re-hashed. On
the first entry that does not fit, the evidence is examined to name the kind of tampering:

- ``deleted``      a seq is missing (or an entry was removed and the later ones renumbered);
- ``inserted``     an entry that the chain does not contain sits in it (or after the head);
- ``reordered``    an entry sits at another entry's place (its hash holds at another seq);
- ``edited``       an entry's fields no longer give its hash (or an earlier entry's hash was redone);
- ``truncated``    the chain ends before its head or a checkpoint says it reached;
- ``checkpoint_mismatch``  the chain was rewritten consistently, but a checkpoint remembers
  another hash: the rewrite lies in the interval since the previous checkpoint;
- ``bad_signature`` a checkpoint whose signature does not hold (it is then not trusted).

Checkpoints come from the export folder (outside the database, preferred) and the database. Only
the first problem of each chain is named: everything after it is suspect anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from yiwang.audit import chain, scan
from yiwang.audit.checkpoints import Checkpoint, KeyBook, load_exported, load_stored
from yiwang.core.crypto import hasher
from yiwang.core.jobs import settings_for
from yiwang.core.settings import Settings

KINDS = ("edited", "deleted", "inserted", "reordered", "truncated", "checkpoint_mismatch", "bad_signature")
BATCH = 20_000

_COLUMNS = ", ".join(chain.FIELDS)
# SQLite builds the hashed bytes itself (prev_hash ‖ json_array of the fields), handed over as
# bytes: no Python object per column, no decode and re-encode.
_SQLITE_STREAM = (
    f"SELECT seq, CAST(hash AS BLOB), CAST(prev_hash || json_array({_COLUMNS}) AS BLOB) FROM audit_entries "
    "WHERE chain_id = ? ORDER BY seq"
)
_STREAM = text(
    f"SELECT seq, prev_hash, hash, {_COLUMNS} FROM audit_entries WHERE chain_id = :c AND seq > :after "
    "ORDER BY seq"
)
_ROW_BY_SEQ = text(f"SELECT seq, prev_hash, hash, {_COLUMNS} FROM audit_entries WHERE chain_id = :c AND seq = :s")
_NEXT_ROW = text(
    f"SELECT seq, prev_hash, hash, {_COLUMNS} FROM audit_entries WHERE chain_id = :c AND seq > :s "
    "ORDER BY seq LIMIT 1"
)
_ROW_BY_HASH = text(f"SELECT seq, prev_hash, hash, {_COLUMNS} FROM audit_entries WHERE chain_id = :c AND hash = :h")
_ROWS_BY_PREV = text(
    f"SELECT seq, prev_hash, hash, {_COLUMNS} FROM audit_entries WHERE chain_id = :c AND prev_hash = :p"
)
_HEADS = text("SELECT chain_id, seq, hash_algorithm FROM audit_chain_heads")
_FIRST_CHAIN = text("SELECT MIN(chain_id) FROM audit_entries")
_NEXT_CHAIN = text("SELECT MIN(chain_id) FROM audit_entries WHERE chain_id > :c")


@dataclass(frozen=True)
class Problem:
    kind: str
    chain_id: int
    seq: int
    message: str

    def line(self) -> str:
        return f"chain {self.chain_id} seq {self.seq}: {self.kind}: {self.message}"


@dataclass
class VerifyReport:
    ok: bool
    entries_checked: int
    chains: int
    problems: list[Problem] = field(default_factory=list)
    checkpoints_checked: int = 0
    checkpoints_exported: int = 0
    heads: list[tuple[int, int]] = field(default_factory=list)
    """(chain, last seq checked) of each chain."""


@dataclass(frozen=True)
class _Row:
    seq: int
    prev: str
    hash: str
    canon: str


def _plain(value: Any) -> Any:
    """A stored value as the canonical encoding takes it (odd types a tamperer stored: as text)."""
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, bytes):
        return "blob:" + value.hex()
    return str(value)


def _python_row(raw: Any) -> _Row:
    values = [_plain(v) for v in raw[3:]]
    if isinstance(raw[5], datetime):
        values[2] = chain.at_text(raw[5])
    return _Row(raw[0], str(raw[1]), str(raw[2]), chain.canonical(values))


class _Chain:
    """Reads one chain for the slow path (only after something looked wrong)."""

    def __init__(self, conn: Connection, chain_id: int, h: Callable[..., Any]) -> None:
        self.conn = conn
        self.chain_id = chain_id
        self.h = h

    def valid_at(self, row: _Row, seq: int, prev: str | None = None) -> bool:
        canon = row.canon if seq == row.seq else chain.with_seq(row.canon, seq)
        return self.h(((row.prev if prev is None else prev) + canon).encode("utf-8", "replace")).hexdigest() == row.hash

    def row(self, seq: int) -> _Row | None:
        raw = self.conn.execute(_ROW_BY_SEQ, {"c": self.chain_id, "s": seq}).first()
        return _python_row(raw) if raw else None

    def next_row(self, seq: int) -> _Row | None:
        raw = self.conn.execute(_NEXT_ROW, {"c": self.chain_id, "s": seq}).first()
        return _python_row(raw) if raw else None

    def by_hash(self, hash_: str) -> _Row | None:
        raw = self.conn.execute(_ROW_BY_HASH, {"c": self.chain_id, "h": hash_}).first()
        return _python_row(raw) if raw else None

    def by_prev(self, prev: str) -> list[_Row]:
        return [_python_row(r) for r in self.conn.execute(_ROWS_BY_PREV, {"c": self.chain_id, "p": prev})]

    def belongs_at(self, expected: int, last_hash: str) -> _Row | None:
        """The entry (wherever it sits now) whose hash says it is the one at ``expected``."""
        for cand in self.by_prev(last_hash):
            if self.valid_at(cand, expected):
                return cand
        return None

    def true_seq(self, row: _Row) -> int | None:
        """The seq at which the row's own hash holds, when it is not where it sits."""
        for cand in (row.seq + 1, row.seq - 1):
            if cand > 0 and self.valid_at(row, cand):
                return cand
        before = self.by_hash(row.prev) if row.prev != chain.GENESIS else None
        guesses = [1] if row.prev == chain.GENESIS else []
        if before is not None:
            guesses += [before.seq + 1]
        for cand in guesses:
            if cand > 0 and cand != row.seq and self.valid_at(row, cand):
                return cand
        return None


def _classify(ch: _Chain, row: _Row, expected: int, last_hash: str) -> Problem:
    """Name the first bad entry, given the first row that does not fit at ``expected``."""
    cid = ch.chain_id

    def problem(kind: str, seq: int, message: str) -> Problem:
        return Problem(kind, cid, seq, message)

    if row.seq > expected:
        moved = ch.belongs_at(expected, last_hash)
        if moved is not None:
            return problem("reordered", expected,
                           f"entry {expected} is missing here and was found at seq {moved.seq}")
        if row.seq == expected + 1:
            return problem("deleted", expected, f"entry {expected} is missing")
        return problem("deleted", expected, f"entries {expected}–{row.seq - 1} are missing")

    if ch.valid_at(row, row.seq):
        # The entry is intact but does not follow the one before it.
        following = ch.next_row(row.seq)
        if following is not None and following.prev == last_hash and ch.valid_at(following, expected):
            return problem("inserted", expected, "this entry is not part of the chain; the next one belongs here")
        if expected > 1:
            return problem("edited", expected - 1,
                           "the entry's hash was recomputed after a change: the next entry no longer links to it")
        return problem("edited", expected, "the first entry does not start from the genesis hash")

    if row.prev != last_hash:
        moved_to = ch.true_seq(row)
        if moved_to == expected + 1:
            if ch.belongs_at(expected, last_hash) is not None:
                return problem("reordered", expected, f"this entry belongs at seq {moved_to}")
            return problem("deleted", expected,
                           "entry is missing and the later entries were renumbered to close the gap")
        if moved_to == expected - 1:
            return problem("inserted", expected - 1,
                           "this entry is not part of the chain; the entries after it were renumbered")
        if moved_to is not None:
            return problem("reordered", expected, f"this entry belongs at seq {moved_to}")

    following = ch.next_row(row.seq)
    if following is not None and following.prev == last_hash and ch.valid_at(following, expected):
        return problem("inserted", expected, "this entry is not part of the chain; the next one belongs here")
    if row.prev != last_hash:
        return problem("edited", expected, "the entry's fields and its link to the previous entry were changed")
    return problem("edited", expected, "the entry's fields no longer match its hash")


def _iter_chain_ids(conn: Connection, extra: set[int]) -> list[int]:
    found: set[int] = set(extra)
    cid = conn.execute(_FIRST_CHAIN).scalar()
    while cid is not None:
        found.add(int(cid))
        cid = conn.execute(_NEXT_CHAIN, {"c": cid}).scalar()
    return sorted(found)


def _stream(conn: Connection, chain_id: int) -> Iterator[list[tuple[int, bytes, bytes]]]:
    """Batches of (seq, hash, hashed bytes = prev_hash ‖ canonical) in seq order, as cheaply as the
    backend allows."""
    if conn.dialect.name != "sqlite":
        yield from _stream_python(conn, chain_id, -(2**62))
        return
    dbapi = conn.connection.dbapi_connection
    cursor = dbapi.cursor()  # type: ignore[union-attr]
    done = -(2**62)
    try:
        cursor.execute(_SQLITE_STREAM, (chain_id,))
        while batch := cursor.fetchmany(BATCH):
            done = batch[-1][0]
            yield batch
        return
    except dbapi.DatabaseError:  # type: ignore[union-attr]
        # A value json_array refuses (a BLOB stored behind the application's back): go on with
        # the slow, exact path, which reports it.
        pass
    finally:
        cursor.close()
    yield from _stream_python(conn, chain_id, done)


def _stream_python(conn: Connection, chain_id: int, after: int) -> Iterator[list[tuple[int, bytes, bytes]]]:
    result = conn.execute(_STREAM, {"c": chain_id, "after": after},
                          execution_options={"stream_results": True, "yield_per": BATCH})
    for part in result.partitions():
        out = []
        for r in part:
            row = _python_row(r)
            out.append((row.seq, row.hash.encode(), (row.prev + row.canon).encode("utf-8", "replace")))
        yield out


def _merge_checkpoints(
    exported: list[Checkpoint], stored: list[Checkpoint], keys: KeyBook, problems: list[Problem]
) -> dict[int, list[Checkpoint]]:
    """Trusted checkpoints per chain, sorted by seq; exported copies win over the database's."""
    chosen: dict[tuple[int, int], Checkpoint] = {}
    bad_reported: set[int] = set()
    seen: set[tuple[Any, ...]] = set()

    def take(cp: Checkpoint) -> None:
        same = (cp.chain_id, cp.seq, cp.hash, cp.hash_algorithm, cp.algorithm, cp.key_id, cp.signature)
        if same in seen:
            return  # the database's copy of an exported checkpoint: already judged
        seen.add(same)
        key = (cp.chain_id, cp.seq)
        if key in chosen:
            kept = chosen[key]
            if kept.hash != cp.hash and cp.chain_id not in bad_reported:
                problems.append(Problem("checkpoint_mismatch", cp.chain_id, cp.seq,
                                        f"the database's checkpoint at seq {cp.seq} disagrees with the exported one"))
                bad_reported.add(cp.chain_id)
            return
        reason = keys.check(cp)
        if reason is not None:
            problems.append(Problem("bad_signature", cp.chain_id, cp.seq,
                                    f"checkpoint at seq {cp.seq} ({cp.source}): {reason}"))
            return
        chosen[key] = cp

    for cp in exported:
        take(cp)
    for cp in stored:
        take(cp)
    out: dict[int, list[Checkpoint]] = {}
    for cp in sorted(chosen.values(), key=lambda c: (c.chain_id, c.seq)):
        out.setdefault(cp.chain_id, []).append(cp)
    return out


def verify_chain(
    session: Session, *, checkpoints_dir: Path | None = None, settings: Settings | None = None
) -> VerifyReport:
    """Check every chain entry by entry against the signed checkpoints; name each first bad entry.

    ``settings`` (default: those of the session's database) give the key dir and checkpoint dir."""
    settings = settings or settings_for(session)
    folder = checkpoints_dir if checkpoints_dir is not None else settings.resolved_checkpoint_dir
    conn = session.connection()
    problems: list[Problem] = []

    exported, unreadable = load_exported(folder)
    stored = load_stored(session)
    keys = KeyBook(settings)
    trusted = _merge_checkpoints(exported, stored, keys, problems)

    heads_before = {int(c): (int(s), a) for c, s, a in conn.execute(_HEADS).all()}
    chain_ids = _iter_chain_ids(conn, set(heads_before) | set(trusted))
    checked = 0
    last_seqs: list[tuple[int, int]] = []

    for chain_id in chain_ids:
        cps = trusted.get(chain_id, [])
        head_seq, algorithm = heads_before.get(chain_id, (None, None))
        algorithm = cps[-1].hash_algorithm if cps else (algorithm or settings.hash_algorithm)
        h = hasher(algorithm)
        found, count, last_seq = _fast_pass(conn, chain_id, algorithm, cps, head_seq) or \
            _verify_one(conn, chain_id, h, cps, head_seq)
        checked += count
        last_seqs.append((chain_id, last_seq))
        if found is not None:
            problems.append(found)

    # Entries beyond the head: the head only moves with an entry, so rows after it were added
    # behind the application's back. Read after streaming so concurrent appends are not counted.
    heads_after = {int(c): int(s) for c, s, _a in conn.execute(_HEADS).all()}
    flagged = {p.chain_id for p in problems if p.kind not in ("bad_signature",)}
    for chain_id, last_seq in last_seqs:
        head_after = heads_after.get(chain_id)
        if chain_id in flagged or head_after is None or last_seq <= head_after:
            continue
        problems.append(Problem("inserted", chain_id, head_after + 1,
                                f"entries {head_after + 1}–{last_seq} lie beyond the chain's head"))
    for chain_id, name in unreadable:
        problems.append(Problem("bad_signature", chain_id, 0, f"exported checkpoint {name} cannot be read"))

    problems.sort(key=lambda p: (p.chain_id, p.seq, KINDS.index(p.kind)))
    return VerifyReport(
        ok=not problems, entries_checked=checked, chains=len(chain_ids), problems=problems,
        checkpoints_checked=sum(len(v) for v in trusted.values()), checkpoints_exported=len(exported),
        heads=last_seqs,
    )


def _fast_pass(
    conn: Connection, chain_id: int, algorithm: str, cps: list[Checkpoint], head_seq: int | None
) -> tuple[None, int, int] | None:
    """The parallel first pass (``scan.py``) when it applies and finds the chain whole; None sends
    the caller to the exact sequential pass, which also names what is wrong."""
    path = conn.engine.url.database if conn.dialect.name == "sqlite" else None
    last_seq = conn.execute(text("SELECT max(seq) FROM audit_entries WHERE chain_id = :c"),
                            {"c": chain_id}).scalar()
    if not last_seq or not scan.usable(path, last_seq) or (head_seq is not None and head_seq != last_seq):
        return None
    if cps and cps[-1].seq > last_seq:
        return None
    for cp in cps:
        found = conn.execute(text("SELECT hash FROM audit_entries WHERE chain_id = :c AND seq = :s"),
                             {"c": chain_id, "s": cp.seq}).scalar()
        if found != cp.hash:
            return None
    if not scan.scan_chain(str(path), chain_id, int(last_seq), algorithm):
        return None
    return None, int(last_seq), int(last_seq)


def _verify_one(
    conn: Connection, chain_id: int, h: Callable[..., Any], cps: list[Checkpoint], head_seq: int | None
) -> tuple[Problem | None, int, int]:
    """(first problem or None, entries checked, last good seq) of one chain."""
    expected = 1
    last = chain.GENESIS
    cp_iter = iter(cps)
    cp = next(cp_iter, None)
    prev_cp_seq = 0
    ch = _Chain(conn, chain_id, h)
    last_b = last.encode()
    for batch in _stream(conn, chain_id):
        for seq, hx, data in batch:
            if seq != expected or not data or not data.startswith(last_b) or h(data).hexdigest().encode() != hx:
                # The fast path's canonical text comes from SQLite's json_array: confirm with the
                # Python definition before calling it tampering.
                last = last_b.decode()
                row = ch.row(seq)
                if row is None or seq != expected or row.prev != last or not ch.valid_at(row, seq):
                    bad = row or _Row(seq, "", hx.decode(), (data or b"").decode("utf-8", "replace"))
                    return _classify(ch, bad, expected, last), expected - 1, expected - 1
            if cp is not None and seq == cp.seq:
                if hx.decode() != cp.hash:
                    return (
                        Problem("checkpoint_mismatch", chain_id, prev_cp_seq + 1,
                                f"entries {prev_cp_seq + 1}–{cp.seq} were rewritten: the checkpoint signed at "
                                f"{cp.at:%Y-%m-%d %H:%M:%S}Z remembers another hash at seq {cp.seq}"),
                        expected, expected - 1,
                    )
                prev_cp_seq = cp.seq
                cp = next(cp_iter, None)
            last_b = hx
            expected += 1
        last = last_b.decode()
    last_seq = expected - 1
    if cp is not None:
        beyond = max(c.seq for c in cps)
        return (
            Problem("truncated", chain_id, last_seq + 1,
                    f"the chain ends at seq {last_seq} but a signed checkpoint says it reached seq {beyond}"),
            last_seq, last_seq,
        )
    if head_seq is not None and head_seq > last_seq:
        return (
            Problem("truncated", chain_id, last_seq + 1,
                    f"the chain ends at seq {last_seq} but its head says it reached seq {head_seq}"),
            last_seq, last_seq,
        )
    return None, last_seq, last_seq
