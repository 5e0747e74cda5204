"""Worker jobs of the audit trail."""

from __future__ import annotations

from yiwang.audit import service as audit_service
from yiwang.core.actor import SYSTEM
from yiwang.core.db import Database
from yiwang.core.jobs import job


@job("audit.create_checkpoints", periodic={"minute": "*"})
def create_checkpoints(db: Database, *, force: bool = False) -> list[tuple[int, int]]:
    """Sign and export the head of each chain that is due (grown by ``audit_checkpoint_every``
    entries, or ten minutes old); ``force`` signs every chain that moved."""
    with db.transaction() as session:
        made = audit_service.create_checkpoint(session, SYSTEM, only_due=not force)
    return [(c.chain_id, c.seq) for c in made]
