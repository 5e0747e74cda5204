"""SQL of the audit trail's read side (the write side and verification live in service/verify)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, or_, select, tuple_
from sqlalchemy.orm import Session

from yiwang.audit.models import AuditCheckpoint, AuditEntry


@dataclass(frozen=True)
class EntryFilter:
    actor: str | None = None
    """A user id, or an actor label such as ``system``, ``anonymous`` or ``staff:<id>``."""
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    area_code: str | None = None
    """Area prefix: entries in this area's subtree."""
    since: datetime | None = None
    until: datetime | None = None


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def entries_query(f: EntryFilter) -> Select[tuple[AuditEntry]]:
    q = select(AuditEntry)
    if f.actor:
        if ":" in f.actor or f.actor in ("system", "anonymous"):
            q = q.where(AuditEntry.actor == f.actor)
        else:
            q = q.where(AuditEntry.actor_user_id == f.actor)
    if f.action:
        q = q.where(AuditEntry.action == f.action)
    if f.target_type:
        q = q.where(AuditEntry.target_type == f.target_type)
    if f.target_id:
        q = q.where(AuditEntry.target_id == f.target_id)
    if f.area_code:
        q = q.where(AuditEntry.area_code.like(_like_prefix(f.area_code), escape="\\"))
    if f.since:
        q = q.where(AuditEntry.at >= f.since)
    if f.until:
        q = q.where(AuditEntry.at < f.until)
    return q


def list_entries(
    session: Session,
    f: EntryFilter,
    *,
    after: tuple[int, int] | None,
    limit: int,
    area_prefixes: list[str] | None = None,
    include_no_area: bool = True,
) -> list[AuditEntry]:
    """Newest first by (chain, seq), keyset-paginated: ``after`` is the last (chain, seq) seen.

    ``area_prefixes`` (None: no limit) keeps entries in those subtrees, plus entries with no area
    when ``include_no_area``."""
    q = entries_query(f)
    if area_prefixes is not None:
        allowed = [AuditEntry.area_code.like(_like_prefix(p), escape="\\") for p in area_prefixes]
        if include_no_area:
            allowed.append(AuditEntry.area_code.is_(None))
        q = q.where(or_(*allowed)) if allowed else q.where(False)
    if after is not None:
        chain_id, seq = after
        # Written out rather than as a row-value comparison so every backend uses the index.
        q = q.where(or_(AuditEntry.chain_id < chain_id, and_(AuditEntry.chain_id == chain_id, AuditEntry.seq < seq)))
    q = q.order_by(AuditEntry.chain_id.desc(), AuditEntry.seq.desc()).limit(limit)
    return list(session.scalars(q))


def list_checkpoints(session: Session, *, chain_id: int | None, before: tuple[int, int] | None,
                     limit: int) -> list[AuditCheckpoint]:
    q = select(AuditCheckpoint)
    if chain_id is not None:
        q = q.where(AuditCheckpoint.chain_id == chain_id)
    if before is not None:
        q = q.where(tuple_(AuditCheckpoint.chain_id, AuditCheckpoint.seq) < tuple_(*before))
    q = q.order_by(AuditCheckpoint.chain_id.desc(), AuditCheckpoint.seq.desc()).limit(limit)
    return list(session.scalars(q))
