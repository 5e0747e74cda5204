"""API shapes of the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class EntryRead(BaseModel):
    """One audit entry as the auditor sees it."""

    model_config = ConfigDict(from_attributes=True)

    chain_id: int
    seq: int
    at: datetime
    actor: str
    actor_user_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    area_code: str | None
    purpose: str | None
    outcome: str
    request_id: str | None
    source_ip: str | None
    detail: dict[str, Any] | None
    hash: str


class EntryPage(BaseModel):
    items: list[EntryRead]
    next_cursor: str | None
    """Pass as ``cursor`` for the next (older) page; absent on the last page."""


class CheckpointRead(BaseModel):
    """A signed checkpoint of one chain."""

    chain_id: int
    seq: int
    hash: str
    hash_algorithm: str
    at: datetime
    algorithm: str
    key_id: str
    signature: str


class ProblemRead(BaseModel):
    kind: str
    chain_id: int
    seq: int
    message: str


class VerifyRead(BaseModel):
    ok: bool
    entries_checked: int
    chains: int
    checkpoints_checked: int
    problems: list[ProblemRead]


class PublicKeyRead(BaseModel):
    """The platform's signing key, to check checkpoints offline."""

    algorithm: str
    key_id: str
    public_key: str
    hash_algorithm: str
