"""Jobs of the applications domain: the daily escalation of overdue branches (超期督办)."""

from __future__ import annotations

from yiwang.applications import service
from yiwang.core.db import Database
from yiwang.core.jobs import job


@job("applications.escalate_overdue", periodic={"minute": "5", "hour": "*"})
def escalate_overdue(db: Database) -> int:
    """Escalate overdue branches to their departments' heads, once each, in batches."""
    total = 0
    while True:
        with db.transaction() as session:
            n = service.escalate_overdue(session, batch=service.ESCALATION_BATCH)
        total += n
        if n < service.ESCALATION_BATCH:
            return total
