"""Audit entries (审计日志 / 留痕), the head of each hash chain, and signed checkpoints.

Entries are append-only: the ORM refuses updates and deletes (``audit.guards``) and database
triggers refuse them too (``audit.ddl``). Each entry's ``hash`` is
``H(prev_hash ‖ canonical)`` where ``canonical`` is the JSON array of its fields (see
``audit.chain``), so any edit, deletion, insertion or reordering breaks the chain.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from yiwang.core.db import Base


class AuditEntry(Base):
    """审计日志条目: who did what to what, where, why, when, from where — one link of a chain."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_actor_user", "actor_user_id", "chain_id", "seq"),
        Index("ix_audit_entries_action", "action", "chain_id", "seq"),
        Index("ix_audit_entries_target", "target_type", "target_id", "chain_id", "seq"),
        Index("ix_audit_entries_area", "area_code", "chain_id", "seq",
              postgresql_ops={"area_code": "text_pattern_ops"}),
        Index("ix_audit_entries_at", "at"),
        # Clustered by (chain, seq): verification reads each chain in order straight off the table.
        {"sqlite_with_rowid": False},
    )

    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    actor_user_id: Mapped[str | None] = mapped_column(String(26))
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str | None] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(100))
    area_code: Mapped[str | None] = mapped_column(String(24))
    purpose: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(64))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    """Canonical JSON (sorted keys) of non-personal facts: ids, counts, field names."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """链头: the last entry of one chain. Writers lock this row, so a chain never forks."""

    __tablename__ = "audit_chain_heads"

    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    hash_algorithm: Mapped[str] = mapped_column(String(16))


class AuditCheckpoint(Base):
    """签名检查点: a signed statement "chain C had N entries ending in hash H at time T"."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = ({"sqlite_with_rowid": False},)

    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    hash_algorithm: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    algorithm: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)


def _install_guards_after_create(target, connection, **_kw) -> None:  # noqa: ANN001 - SQLAlchemy event
    from yiwang.audit.ddl import install_guards

    install_guards(connection, tables=(target.name,))


for _table in (AuditEntry.__table__, AuditChainHead.__table__, AuditCheckpoint.__table__):
    event.listen(_table, "after_create", _install_guards_after_create)

from yiwang.audit import guards as _guards  # noqa: E402,F401 - ORM refusals for entries
