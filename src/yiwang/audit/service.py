"""Use cases of the audit trail: record entries, checkpoint and verify the chains, read entries.

``record`` is what every other domain calls, in the SAME transaction as the change or the
personal-data read it records. It appends to one hash chain: it locks the chain's head row
(``UPDATE … RETURNING``, a row lock on PostgreSQL; SQLite's writer lock does the same), computes
the entry's hash from the head's, inserts the entry and moves the head. Concurrent writers on a
chain therefore queue and the chain never forks; ``settings.audit_chains`` > 1 spreads writers
over several chains, chosen from the request id so that one request's entries stay in order.
"""

from __future__ import annotations

import json
import logging
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from yiwang.audit import chain, checkpoints, repository, verify
from yiwang.audit.errors import BadCursor
from yiwang.audit.models import AuditEntry
from yiwang.audit.repository import EntryFilter
from yiwang.audit.schemas import CheckpointRead, EntryPage, EntryRead, PublicKeyRead
from yiwang.audit.verify import Problem, VerifyReport
from yiwang.core.actor import Actor
from yiwang.core.context import current_request_id, source_ip_var
from yiwang.core.crypto import hasher
from yiwang.core.db import utcnow
from yiwang.core.jobs import settings_for as settings_of
from yiwang.core.rows import Statement, cursor_of
from yiwang.core.settings import Settings

log = logging.getLogger("yiwang.audit")

__all__ = [
    "EntryFilter", "PreparedEntry", "Problem", "VerifyReport", "append", "chain_heads", "create_checkpoint",
    "list_checkpoints", "list_entries", "prepare", "record", "record_many", "run_verification", "verify_chain",
]

_ENTRIES = AuditEntry.__table__

_ADVANCE = Statement(
    "UPDATE audit_chain_heads SET seq = seq + :n WHERE chain_id = :c RETURNING seq, hash, hash_algorithm"
)
_START = Statement(
    "INSERT INTO audit_chain_heads (chain_id, seq, hash, hash_algorithm) VALUES (:c, 0, :h, :a) "
    "ON CONFLICT DO NOTHING"
)
_MOVE = Statement("UPDATE audit_chain_heads SET hash = :h WHERE chain_id = :c")
# The chain's own statements run on the driver's cursor (core.rows): an entry is appended inside
# nearly every write, often inside the group commit's single writer, where each microsecond counts.

# -- recording ---------------------------------------------------------------------------------

_COLUMNS = (*chain.FIELDS, "prev_hash", "hash")
_RAW_INSERT = {
    # Straight to the driver: the values are already in their stored form (see ``_append``).
    "sqlite": f"INSERT INTO audit_entries ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
    "postgresql": f"INSERT INTO audit_entries ({', '.join(_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})",
}


def _clean(value: Any, limit: int) -> str | None:
    if value is None or (type(value) is str and len(value) <= limit):
        return value
    value = value if isinstance(value, str) else str(value)
    return value[:limit]


def _chain_for(settings: Settings, request_id: str | None) -> int:
    n = settings.audit_chains
    if n <= 1 or not request_id:
        return 0
    return zlib.crc32(request_id.encode()) % n


def _advance(session: Session, chain_id: int, n: int, settings: Settings) -> tuple[int, str, str]:
    """Lock chain ``chain_id``'s head and reserve ``n`` seqs: (first seq, previous hash, algorithm)."""
    row = _ADVANCE.run(session, n=n, c=chain_id).fetchone()
    if row is None:
        _START.run(session, c=chain_id, h=chain.GENESIS, a=settings.hash_algorithm)
        row = _ADVANCE.run(session, n=n, c=chain_id).fetchone()
        assert row is not None
    return row[0] - n + 1, row[1], row[2]


def _sanitise(values: list[Any]) -> list[Any]:
    """Make text storable everywhere: no NUL (PostgreSQL refuses it), no lone surrogates."""
    out = list(values)
    for i, v in enumerate(out):
        if isinstance(v, str):
            out[i] = v.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return out


def _row(
    common: tuple[Any, ...],
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    area_code: str | None = None,
    purpose: str | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | str | None = None,
) -> list[Any]:
    """An entry's values in ``chain.FIELDS`` order; chain and seq are set when it is appended.

    ``common`` is (at text, actor label, actor user id, request id, source address)."""
    at, label, user_id, request_id, source_ip = common
    return [
        0, 0, at, label, user_id,
        _clean(action, 100), _clean(target_type, 50), _clean(target_id, 100), _clean(area_code, 24),
        _clean(purpose, 2000), _clean(outcome, 16), request_id, source_ip,
        detail if detail is None or isinstance(detail, str) else chain.detail_text(detail),
    ]


def _common(actor: Actor, request_id: str | None, source_ip: str | None) -> tuple[Any, ...]:
    return (
        chain.at_text(utcnow()), _clean(actor.label, 100), _clean(actor.user_id, 26),
        _clean(request_id, 64), _clean(source_ip, 64),
    )


def _append(session: Session, settings: Settings, chain_id: int, rows: list[list[Any]]) -> None:
    """Chain ``rows`` onto ``chain_id`` and insert them, in the session's transaction."""
    first, prev, algorithm = _advance(session, chain_id, len(rows), settings)
    conn = session.connection()
    dialect = conn.dialect.name
    h = hasher(algorithm)
    canonical = chain.canonical
    params = []
    seq = first
    for values in rows:
        values[0] = chain_id
        values[1] = seq
        canon = canonical(values)
        try:
            data = (prev + canon).encode()
        except UnicodeEncodeError:
            data = b""
        if not data or "\\u0000" in canon:
            values = _sanitise(values)
            canon = canonical(values)
            data = (prev + canon).encode()
        digest = h(data).hexdigest()
        values.append(prev)
        values.append(digest)
        params.append(values)
        prev = digest
        seq += 1
    if dialect == "postgresql":
        for values in params:
            values[2] = chain.parse_at(values[2])
    if dialect in _RAW_INSERT:
        cursor_of(session).executemany(_RAW_INSERT[dialect], [tuple(v) for v in params])
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        keyed = [dict(zip(_COLUMNS, v, strict=True)) for v in params]
        for v in keyed:
            v["at"] = chain.parse_at(v["at"])
        session.execute(insert(_ENTRIES), keyed)
    _MOVE.run(session, h=prev, c=chain_id)


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    area_code: str | None = None,
    purpose: str | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry in the caller's transaction (never commits).

    ``detail`` holds ids and non-personal facts only. The request id and source address come from
    ``core.context``."""
    append(session, [prepare(actor, action, target_type=target_type, target_id=target_id, area_code=area_code,
                             purpose=purpose, outcome=outcome, detail=detail)])


@dataclass(frozen=True, slots=True)
class PreparedEntry:
    """An entry made ready outside the write (:func:`prepare`), chained and inserted by :func:`append`."""

    request_id: str | None
    values: tuple[Any, ...]


def prepare(
    actor: Actor,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    area_code: str | None = None,
    purpose: str | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> PreparedEntry:
    """What :func:`record` would append, made now (its time, request id and source address are
    this moment's) so that the write itself only chains it: for hot paths that prepare their rows
    before the writer's turn (``core.rows``)."""
    rid = current_request_id()
    return PreparedEntry(rid, tuple(_row(_common(actor, rid, source_ip_var.get()), action, target_type, target_id,
                                         area_code, purpose, outcome, detail)))


def append(session: Session, entries: list[PreparedEntry]) -> None:
    """Chain and insert prepared entries in the caller's transaction (never commits)."""
    settings = settings_of(session)
    by_chain: dict[int, list[list[Any]]] = {}
    for entry in entries:
        by_chain.setdefault(_chain_for(settings, entry.request_id), []).append(list(entry.values))
    for chain_id, rows in by_chain.items():
        _append(session, settings, chain_id, rows)


def record_many(session: Session, actor: Actor, entries: list[dict[str, Any]]) -> None:
    """Append many entries in one go, in the caller's transaction (bulk imports, batch jobs).

    Each dict takes ``record``'s keywords plus ``action``; all share the request id and source."""
    if not entries:
        return
    settings = settings_of(session)
    rid = current_request_id()
    common = _common(actor, rid, source_ip_var.get())
    rows = [
        _row(common, e["action"], e.get("target_type"), e.get("target_id"), e.get("area_code"),
             e.get("purpose"), e.get("outcome", "ok"), e.get("detail"))
        for e in entries
    ]
    _append(session, settings, _chain_for(settings, rid), rows)


# -- reading -----------------------------------------------------------------------------------


def _cursor_text(chain_id: int, seq: int) -> str:
    return f"{chain_id}.{seq}"


def _parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    if not cursor:
        return None
    try:
        chain_id, seq = (int(p) for p in cursor.split(".", 1))
    except ValueError:
        raise BadCursor() from None
    if chain_id < 0 or seq < 0:
        raise BadCursor()
    return chain_id, seq


def list_entries(
    session: Session, actor: Actor, filters: EntryFilter, *, cursor: str | None = None, limit: int = 50
) -> EntryPage:
    """The auditor's view of the trail, newest first; refuses anyone without ``audit.read``.

    An auditor sees the entries of the areas their grants cover; entries with no area (sign-ins,
    accounts, settings) only a city-wide auditor. The read itself is recorded as ``audit.read``."""
    actor.require("audit.read", area_code=filters.area_code)
    after = _parse_cursor(cursor)
    limit = max(1, min(limit, 500))
    prefixes = [s.area_code for s in actor.scopes("audit.read")]
    everywhere = any(p == "" for p in prefixes)
    rows = repository.list_entries(
        session, filters, after=after, limit=limit + 1,
        area_prefixes=None if everywhere else prefixes,
        include_no_area=everywhere or any(len(p) <= 2 for p in prefixes),
    )
    items = rows[:limit]
    page = EntryPage(
        items=[_entry_read(e) for e in items],
        next_cursor=_cursor_text(items[-1].chain_id, items[-1].seq) if len(rows) > limit else None,
    )
    used = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in vars(filters).items() if v}
    record(session, actor, "audit.read", target_type="audit_entry", area_code=filters.area_code,
           detail={"filters": used, "returned": len(page.items), "cursor": cursor})
    return page


def _entry_read(e: AuditEntry) -> EntryRead:
    return EntryRead(
        chain_id=e.chain_id, seq=e.seq, at=e.at, actor=e.actor, actor_user_id=e.actor_user_id,
        action=e.action, target_type=e.target_type, target_id=e.target_id, area_code=e.area_code,
        purpose=e.purpose, outcome=e.outcome, request_id=e.request_id, source_ip=e.source_ip,
        detail=json.loads(e.detail) if e.detail else None, hash=e.hash,
    )


def list_checkpoints(
    session: Session, actor: Actor, *, chain_id: int | None = None, cursor: str | None = None, limit: int = 50
) -> list[CheckpointRead]:
    """Signed checkpoints, newest first; refuses anyone without ``audit.read``."""
    actor.require("audit.read")
    rows = repository.list_checkpoints(session, chain_id=chain_id, before=_parse_cursor(cursor),
                                       limit=max(1, min(limit, 500)))
    return [_checkpoint_read(r) for r in rows]


def _checkpoint_read(c: Any) -> CheckpointRead:
    return CheckpointRead(chain_id=c.chain_id, seq=c.seq, hash=c.hash, hash_algorithm=c.hash_algorithm,
                          at=c.at, algorithm=c.algorithm, key_id=c.key_id, signature=c.signature)


def chain_heads(session: Session) -> list[tuple[int, int, str]]:
    """(chain id, last seq, last hash) of every chain, as the head table has them."""
    rows = session.execute(text("SELECT chain_id, seq, hash FROM audit_chain_heads ORDER BY chain_id"))
    return [(int(c), int(s), str(h)) for c, s, h in rows]


def newest_entry_at(session: Session) -> datetime | None:
    """When the newest audit entry was written (None for an empty trail); uses the index on ``at``."""
    from sqlalchemy import func, select

    return session.execute(select(func.max(AuditEntry.at))).scalar()


# -- checkpoints and verification ----------------------------------------------------------------


def create_checkpoint(session: Session, actor: Actor, *, only_due: bool = False) -> list[CheckpointRead]:
    """Sign the head of every chain that moved since its last checkpoint and export it (after
    commit) to the checkpoint folder; refuses anyone without ``audit.verify``."""
    actor.require("audit.verify")
    return [_checkpoint_read(c) for c in checkpoints.create(session, only_due=only_due)]


def verify_chain(
    session: Session, *, checkpoints_dir: Path | None = None, settings: Settings | None = None
) -> VerifyReport:
    """Check every chain against the signed checkpoints (exported ones first) and name, for each
    chain, the first bad entry and the kind of tampering. Read-only: never creates a key.

    ``settings`` default to those the session's database was opened with (key dir, checkpoint
    dir); pass them when the session comes from a ``Database`` the audit trail was not told of."""
    return verify.verify_chain(session, checkpoints_dir=checkpoints_dir, settings=settings)


def run_verification(
    session: Session, actor: Actor, *, read_session: Session | None = None, checkpoints_dir: Path | None = None
) -> VerifyReport:
    """``verify_chain`` on an auditor's behalf, recorded as ``audit.verify`` in ``session``;
    refuses anyone without ``audit.verify``.

    ``read_session`` (a read-only session of the same database) does the reading, so that a long
    verification never holds SQLite's write lock."""
    actor.require("audit.verify")
    report = verify.verify_chain(read_session or session, checkpoints_dir=checkpoints_dir)
    record(session, actor, "audit.verify", target_type="audit_chain",
           detail={"ok": report.ok, "entries_checked": report.entries_checked, "chains": report.chains,
                   "problems": [[p.kind, p.chain_id, p.seq] for p in report.problems[:20]]})
    if not report.ok:
        log.warning("audit verification found problems",
                    extra={"problems": [[p.kind, p.chain_id, p.seq] for p in report.problems[:20]]})
    return report


def published_key(settings: Settings) -> PublicKeyRead:
    """The platform's public signing key and the chains' hash algorithm, for offline checks."""
    from yiwang.core.crypto import key_id, public_key

    return PublicKeyRead(algorithm=settings.sign_algorithm, key_id=key_id(settings),
                         public_key=public_key(settings), hash_algorithm=settings.hash_algorithm)
